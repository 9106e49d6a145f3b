/**
 * A sample of the platform's Socket.IO server, run as its own process by the
 * demo and the tests (`startSamplePlatform`), keeping presence in MongoDB the
 * way the platform's server does, and mounting the presence endpoint as an
 * app would:
 * - a client connects with `auth: { userId }` (an ObjectId's hex; users' `_id`
 *   are ObjectIds): `socket.data.userId` is set, the user's room joined, and
 *   the user written `isOnline: true, lastSeen: now`;
 * - when the user's last socket in the whole deployment disconnects: `isOnline:
 *   false, lastSeen: now`. If the deployment cannot say (a node stalled), the
 *   user is left online: an unknown is never offline;
 * - a client without `auth.userId` is an anonymous visitor: connected, no user.
 * After each write the client gets `presence:ready`, so a test knows the
 * database holds its connection. The presence endpoint is mounted at /presence.
 *
 * Settings (environment, so that the token is not in the process list):
 * PLATFORM_MONGODB_URI (the users' database in its path), PLATFORM_TOKEN,
 * PLATFORM_REDIS_URI (a cluster node on that Redis; else one server alone),
 * PLATFORM_TIMEOUT_MS (the endpoint's, default 5000), PLATFORM_RESPONDER=1 (installs
 * presenceResponder, so that the endpoint asks for ids).
 * Prints JSON lines: `{ "ready": true, "port": N }` first, then
 * `{ "online": id }` / `{ "offline": id }` after each write, `{ "stillOnline": id }`
 * when a user's socket left but another remains, `{ "error": ... }`.
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { MongoClient, ObjectId } from 'mongodb';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { presenceEndpoint } from './endpoint.ts';
import { presenceResponder } from './responder.ts';

const mongoUri = process.env.PLATFORM_MONGODB_URI!;
const token = process.env.PLATFORM_TOKEN!;
const redisUri = process.env.PLATFORM_REDIS_URI;
const timeoutMs = Number(process.env.PLATFORM_TIMEOUT_MS ?? 5000);
const responder = process.env.PLATFORM_RESPONDER === '1';

const emit = (line: object) => process.stdout.write(JSON.stringify(line) + '\n');

const mongo = await MongoClient.connect(mongoUri);
const users = mongo.db().collection<{ _id: ObjectId; isOnline?: boolean; lastSeen?: Date }>('users');

let adapter: ReturnType<typeof createAdapter> | undefined;
if (redisUri) {
  const publisher = createClient({ url: redisUri });
  const subscriber = publisher.duplicate();
  for (const client of [publisher, subscriber]) client.on('error', (error: Error) => emit({ error: `redis: ${error.message}` }));
  await Promise.all([publisher.connect(), subscriber.connect()]);
  // The app's defaults: the endpoint's own deadline must hold even when the adapter's requestsTimeout is longer.
  adapter = createAdapter(publisher, subscriber);
}

let endpoint: ReturnType<typeof presenceEndpoint> | undefined;
// Routes are in place before Socket.IO attaches, which then hands them every request not under /socket.io/.
const http = createServer((request, response) => {
  if (request.url === '/presence' && endpoint) endpoint(request, response);
  else response.writeHead(404).end();
});
const io = new Server<Record<string, never>, { 'presence:ready': () => void }, Record<string, never>, { userId?: string }>(http, {
  adapter,
  transports: ['websocket'],
});
endpoint = presenceEndpoint(io, { token, timeoutMs });
if (responder) presenceResponder(io);

const roomOf = (userId: string) => `user:${userId}`;

io.use((socket, next) => {
  const { userId } = socket.handshake.auth as { userId?: unknown };
  if (userId === undefined) return next();
  if (typeof userId !== 'string' || !/^[0-9a-f]{24}$/.test(userId)) return next(new Error('unknown user'));
  socket.data.userId = userId;
  next();
});

io.on('connection', (socket) => {
  const { userId } = socket.data;
  if (userId === undefined) {
    socket.emit('presence:ready');
    return;
  }
  void socket.join(roomOf(userId));
  const online = users
    .updateOne({ _id: new ObjectId(userId) }, { $set: { isOnline: true, lastSeen: new Date() } })
    .then(() => {
      emit({ online: userId });
      socket.emit('presence:ready');
    })
    .catch((error: Error) => emit({ error: `online write for ${userId}: ${error.message}` }));
  socket.on('disconnect', async () => {
    try {
      await online;
      const left = await io.in(roomOf(userId)).fetchSockets();
      if (left.length > 0) return emit({ stillOnline: userId });
      await users.updateOne({ _id: new ObjectId(userId) }, { $set: { isOnline: false, lastSeen: new Date() } });
      emit({ offline: userId });
    } catch (error) {
      emit({ error: `offline write for ${userId}: ${(error as Error).message}` });
    }
  });
});

await new Promise<void>((listening) => http.listen(0, '127.0.0.1', listening));
emit({ ready: true, port: (http.address() as { port: number }).port });
