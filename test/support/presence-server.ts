/**
 * A simulated presence server, run as its own process
 * (`node --import tsx test/support/presence-server.ts`): users connect and
 * send activity, as a Socket.IO server would write them, while a maintenance
 * run works on the same collection.
 *
 * Each write sets `isOnline: true` and a fresh `lastSeen` (strictly
 * increasing across the process, so every value is unique) on one user chosen
 * at random, and reads the document as it was just before (findOneAndUpdate):
 * that before-image says whether a maintenance run had set the user offline
 * first. Each worker has its own users, so no two of its writes on one user
 * are ever in flight together. One JSON line per write on stdout, with when
 * it was sent and acknowledged; `ready` first, `done` last, after SIGTERM.
 *
 * Settings (environment): PRESENCE_SERVER_URI, PRESENCE_SERVER_IDS (a JSON
 * array of user ids), PRESENCE_SERVER_CONCURRENCY (default 4),
 * PRESENCE_SERVER_RATE (writes per second, 0 for as fast as the database
 * answers; default 0).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient } from 'mongodb';

export interface PresenceWrite {
  id: string;
  /** The `lastSeen` written, ms since the epoch. */
  lastSeen: number;
  sentAt: number;
  ackAt: number;
  /** The user as the write found it; undefined when the user did not exist. */
  before?: { isOnline: unknown; lastSeen: number | null };
}

const uri = process.env.PRESENCE_SERVER_URI!;
const ids = JSON.parse(process.env.PRESENCE_SERVER_IDS ?? '[]') as string[];
const concurrency = Number(process.env.PRESENCE_SERVER_CONCURRENCY ?? 4);
const rate = Number(process.env.PRESENCE_SERVER_RATE ?? 0);

let stopping = false;
process.on('SIGTERM', () => (stopping = true));
let lastStamp = 0;
const stamp = () => (lastStamp = Math.max(Date.now(), lastStamp + 1));
const emit = (line: object) => process.stdout.write(JSON.stringify(line) + '\n');

const client = await MongoClient.connect(uri, { maxPoolSize: concurrency + 1 });
const users = client.db().collection<{ _id: string; isOnline?: unknown; lastSeen?: unknown }>('users');
let written = 0;
let errors = 0;
const started = Date.now();
emit({ ready: true, at: started });

async function worker(own: string[]): Promise<void> {
  // Each worker holds its share of the rate: a write every `spacing` ms, or back to back when the database is slower.
  const spacing = rate > 0 ? (concurrency * 1000) / rate : 0;
  let nextAt = Date.now();
  while (!stopping && own.length > 0) {
    const id = own[Math.floor(Math.random() * own.length)]!;
    const lastSeen = stamp();
    const sentAt = Date.now();
    try {
      const before = await users.findOneAndUpdate(
        { _id: id },
        { $set: { isOnline: true, lastSeen: new Date(lastSeen) } },
        // No projection: FerretDB 1.x refuses one on findAndModify.
        { returnDocument: 'before' },
      );
      const write: PresenceWrite = {
        id,
        lastSeen,
        sentAt,
        ackAt: Date.now(),
        before: before ? { isOnline: before.isOnline, lastSeen: before.lastSeen instanceof Date ? before.lastSeen.getTime() : null } : undefined,
      };
      written++;
      emit(write);
    } catch (error) {
      // A write whose outcome is unknown is logged as such: the test then cannot hold it to anything.
      errors++;
      emit({ id, lastSeen, sentAt, error: String((error as Error).message ?? error) });
    }
    nextAt = Math.max(nextAt + spacing, Date.now());
    if (spacing > 0) await sleep(nextAt - Date.now());
  }
}

await Promise.all(Array.from({ length: concurrency }, (_, k) => worker(ids.filter((_id, index) => index % concurrency === k))));
emit({ done: true, written, errors, seconds: (Date.now() - started) / 1000 });
await client.close();
