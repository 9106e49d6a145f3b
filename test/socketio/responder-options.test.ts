import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ObjectId } from 'mongodb';
import { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpointSource } from '../../src/presence/connected/endpoint-source.ts';
import { listenPresenceEndpoint, presenceResponder } from '../../src/socketio/index.ts';

// One app server alone (the in-memory adapter), its users as ObjectIds under its own key, counted on /chat only.
interface AppSocketData {
  user?: { id: ObjectId };
}
const token = randomBytes(24).toString('base64url');
let http: HttpServer;
let io: Server<Record<string, never>, Record<string, never>, Record<string, never>, AppSocketData>;
let appUrl: string;
let endpoint: { url: string; close(): Promise<void> };
const clients: Socket[] = [];

function connectTo(namespace: string, userId?: string): Promise<{ socket: Socket; error?: Error }> {
  const socket = connect(`${appUrl}${namespace}`, { auth: userId ? { userId } : {}, transports: ['websocket'], reconnection: false, forceNew: true });
  clients.push(socket);
  return new Promise((settled) => {
    socket.once('connect', () => settled({ socket }));
    socket.once('connect_error', (error) => settled({ socket, error }));
  });
}

beforeAll(async () => {
  http = createServer();
  io = new Server(http);
  io.of('/chat').use((socket, next) => {
    const { userId } = socket.handshake.auth as { userId?: string };
    if (userId) socket.data.user = { id: new ObjectId(userId) };
    next();
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  appUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  endpoint = await listenPresenceEndpoint(io, { token, namespace: '/chat' });
  // Installed after the endpoint: the endpoint looks for it at each request.
  presenceResponder(io, { namespace: '/chat', userIdOf: (socket) => socket.data.user?.id });
});
afterAll(async () => {
  for (const socket of clients) socket.close();
  await endpoint?.close();
  await io?.close();
});

describe("presenceResponder with an app's options", () => {
  it('answers ObjectIds as hex, counts visitors, on its namespace only, and the endpoint says it asked for ids', async () => {
    const alice = new ObjectId().toHexString();
    await connectTo('/chat', alice);
    await connectTo('/chat', alice);
    await connectTo('/chat');
    await connectTo('/', new ObjectId().toHexString());
    const set = await endpointSource(endpoint.url, { token }).fetch();
    expect({ ...set, userIds: [...set.userIds] }).toEqual({ userIds: [alice], sockets: 3, servers: 1, at: expect.any(Date), via: 'ids' });
  });

  it('turns away a client that tries to join its namespace', async () => {
    const { error } = await connectTo('/presence-maint/chat');
    expect(error?.message).toBe('not a namespace for clients');
  });

  it('refuses to be installed twice on one namespace', () => {
    expect(() => presenceResponder(io, { namespace: '/chat' })).toThrow(/already installed on namespace \/chat/);
  });
});
