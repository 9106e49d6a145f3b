import { ObjectId, type Db, type Document } from 'mongodb';
import { Deadline } from './deadline.ts';
import { ConnectedSourceError, type ConnectedSource } from './connected.ts';
import type { PresenceModel } from './model.ts';
import { valueAt } from '../engine/paths.ts';
import { offlineFilter, onlineFilter } from './queries.ts';
import type { AskedVia } from '../socketio/ids-request.ts';
import { userIdText } from '../socketio/user-id.ts';

/** Connected users per `$in` query: a few tens of kilobytes of ids per round trip. */
const IDS_PER_QUERY = 1000;

/** The database against who is really connected, as `status` reports it. */
export type ConnectedFigures =
  | {
      state: 'known';
      source: string;
      /** When the deployment was asked. */
      at: Date;
      /** How: the ids request (every node runs presenceResponder) or fetchSockets(). */
      via: AskedVia;
      connected: number;
      sockets: number;
      servers: number;
      /** Online in the database and connected. */
      onlineConnected: number;
      /** Online in the database, not connected, last active before the grace period: what reconcile sets offline. */
      ghosts: number;
      /** Connected, shown offline in the database: what reconcile --fix-missing sets online. */
      missing: number;
      graceSeconds: number;
    }
  /** The source did not answer completely, or the database not within --max-time: every figure unknown, never zero. */
  | { state: 'unknown'; source: string; reason: string };

/**
 * One pass over the online users (memory flat in them), then the connected
 * ids in `$in` batches for the missing: cost proportional to online and
 * connected users, never to the collection. Ghosts are counted by the rule
 * reconcile's plan applies, so a dry run plans exactly this many. The
 * database part has its own `--max-time` budget, from the source's answer on.
 */
export async function connectedFigures(
  db: Db,
  model: PresenceModel,
  source: ConnectedSource,
  now: Date,
  graceSeconds: number,
  maxTimeMs: number,
): Promise<ConnectedFigures> {
  let connected;
  try {
    connected = await source.fetch();
  } catch (error) {
    if (error instanceof ConnectedSourceError) return { state: 'unknown', source: source.description, reason: error.message };
    throw error;
  }
  const cutoff = new Date(now.getTime() - graceSeconds * 1000);
  const users = db.collection(model.collection);
  const counted = await new Deadline(maxTimeMs).measure(async (limit) => {
    let onlineConnected = 0;
    let ghosts = 0;
    const online = users.find(onlineFilter(model), { projection: { _id: 1, [model.lastSeenField]: 1 }, ...limit });
    for await (const user of online) {
      if (connected.userIds.has(userIdText(user._id) ?? '')) onlineConnected++;
      else {
        const lastSeen = valueAt(user, model.lastSeenField);
        if (lastSeen instanceof Date && lastSeen < cutoff) ghosts++;
      }
    }
    let missing = 0;
    for (const ids of inBatches(connected.userIds, IDS_PER_QUERY)) {
      const filter: Document = { $and: [offlineFilter(model), { _id: { $in: ids.flatMap(storedIdsOf) } }] };
      missing += await users.countDocuments(filter, limit);
    }
    return { onlineConnected, ghosts, missing };
  });
  if (!counted.known) return { state: 'unknown', source: source.description, reason: counted.reason };
  const { onlineConnected, ghosts, missing } = counted.value;
  return {
    state: 'known',
    source: source.description,
    at: connected.at,
    via: connected.via,
    connected: connected.userIds.size,
    sockets: connected.sockets,
    servers: connected.servers,
    onlineConnected,
    ghosts,
    missing,
    graceSeconds,
  };
}

/** How an id the app knows as text may be stored: as text, or as the ObjectId it spells. */
function storedIdsOf(id: string): (string | ObjectId)[] {
  return /^[0-9a-f]{24}$/i.test(id) ? [id, new ObjectId(id)] : [id];
}

function* inBatches<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let batch: T[] = [];
  for (const item of items) {
    batch.push(item);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
