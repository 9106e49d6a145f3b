/**
 * Socket.IO users of the load harness, its own process: sockets `LOAD_FROM` to `LOAD_TO` (exclusive) of the
 * population, socket i on node i mod N, each with its own connection and a realistic handshake of about 1 KB
 * (population.ts). Says `ready` once every one connected or failed, then holds them until the harness leaves.
 * Env: LOAD_URLS (comma-separated), LOAD_FROM, LOAD_TO.
 */
import { io, type Socket } from 'socket.io-client';
import type { FromClients } from './messages.ts';
import { socketOf } from './population.ts';

const urls = process.env.LOAD_URLS!.split(',');
const from = Number(process.env.LOAD_FROM);
const to = Number(process.env.LOAD_TO);
/** Handshakes in flight at once: enough to fill the nodes, few enough not to time out on 2 cores. */
const IN_FLIGHT = 100;

const sockets: Socket[] = [];
let connected = 0;
let failed = 0;
let firstError: string | undefined;

function connect(index: number): Promise<void> {
  const { auth, headers } = socketOf(index);
  return new Promise((done) => {
    const socket = io(urls[index % urls.length]!, { auth, extraHeaders: headers, transports: ['websocket'], reconnection: false, forceNew: true, timeout: 60_000 });
    sockets.push(socket);
    socket.once('connect', () => {
      connected++;
      done();
    });
    socket.once('connect_error', (error) => {
      failed++;
      firstError ??= error.message;
      done();
    });
  });
}

let next = from;
await Promise.all(
  Array.from({ length: IN_FLIGHT }, async () => {
    while (next < to) await connect(next++);
  }),
);
process.send!({ ready: true, connected, failed, firstError } satisfies FromClients);
process.on('disconnect', () => process.exit(0));
