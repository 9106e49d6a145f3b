/**
 * One Socket.IO node of the load harness, its own process: @socket.io/redis-adapter on the harness's Redis,
 * presenceResponder installed, users authenticated from `auth.userId` into `socket.data.userId` and their room
 * joined, as an app does. Measures its own event-loop delay in the windows the harness marks with `take`.
 * Env: LOAD_REDIS_URI.
 */
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { presenceResponder } from '../../src/socketio/responder.ts';
import type { FromNode, ToNode } from './messages.ts';

const send = (message: FromNode) => process.send!(message);
const publisher = createClient({ url: process.env.LOAD_REDIS_URI! });
const subscriber = publisher.duplicate();
let redisDisconnects = 0;
for (const client of [publisher, subscriber]) {
  client.on('error', (error: Error) => console.error(`node ${process.pid}: redis: ${error.message}`));
  client.on('reconnecting', () => redisDisconnects++);
}
await Promise.all([publisher.connect(), subscriber.connect()]);

const http = createServer();
const io = new Server<Record<string, never>, { tick: (payload: string) => void }, Record<string, never>, { userId?: string }>(http, {
  adapter: createAdapter(publisher, subscriber),
  transports: ['websocket'],
});
io.use((socket, next) => {
  const { userId } = socket.handshake.auth as { userId?: unknown };
  if (typeof userId === 'string') socket.data.userId = userId;
  next();
});
io.on('connection', (socket) => {
  if (socket.data.userId !== undefined) void socket.join(`user:${socket.data.userId}`);
});
presenceResponder(io);

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let broadcasting: NodeJS.Timeout | undefined;
process.on('message', (message: ToNode) => {
  if (message.do === 'take') {
    const { rss } = process.memoryUsage();
    send({ report: { p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6, rssMb: rss / 2 ** 20, sockets: io.of('/').sockets.size, redisDisconnects } });
    delay.reset();
  } else if (message.do === 'broadcast') {
    clearInterval(broadcasting);
    broadcasting = undefined;
    if (message.perSecond > 0) {
      const payload = 'x'.repeat(message.bytes);
      // A notification to one user, wherever their sockets are: through Redis to every node.
      const users = [...io.of('/').sockets.values()].flatMap((socket) => socket.data.userId ?? []);
      let next = 0;
      broadcasting = setInterval(() => io.to(`user:${users[next++ % users.length]}`).emit('tick', payload), 1000 / message.perSecond);
    }
  }
});
process.on('disconnect', () => process.exit(0));

await new Promise<void>((listening) => http.listen(0, '127.0.0.1', listening));
send({ ready: true, port: (http.address() as { port: number }).port });
