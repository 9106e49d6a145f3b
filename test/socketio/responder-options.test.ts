import { randomBytes } from 'node:crypto';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpointSource } from '../../src/presence/connected/endpoint-source.ts';
import { listenPresenceEndpoint, presenceResponder } from '../../src/socketio/index.ts';
import { startChatApp, type ChatApp } from '../support/chat-app.ts';

// One app server alone (the in-memory adapter), its users as ObjectIds under its own key, counted on /chat only.
const token = randomBytes(24).toString('base64url');
let app: ChatApp;
let endpoint: { url: string; close(): Promise<void> };

beforeAll(async () => {
  app = await startChatApp();
  endpoint = await listenPresenceEndpoint(app.io, { token, namespace: '/chat' });
  // Installed after the endpoint: the endpoint looks for it at each request.
  presenceResponder(app.io, { namespace: '/chat', userIdOf: (socket) => socket.data.user?.id });
});
afterAll(async () => {
  await endpoint?.close();
  await app?.close();
});

describe("presenceResponder with an app's options", () => {
  it('answers ObjectIds as hex, counts visitors, on its namespace only, and the endpoint says it asked for ids', async () => {
    const alice = new ObjectId().toHexString();
    await app.connect('/chat', alice);
    await app.connect('/chat', alice);
    await app.connect('/chat');
    await app.connect('/', new ObjectId().toHexString());
    const set = await endpointSource(endpoint.url, { token }).fetch();
    expect({ ...set, userIds: [...set.userIds] }).toEqual({ userIds: [alice], sockets: 3, servers: 1, at: expect.any(Date), via: 'ids' });
  });

  it('turns away a client that tries to join its namespace', async () => {
    const { error } = await app.connect('/presence-maint/chat');
    expect(error?.message).toBe('not a namespace for clients');
  });

  it('refuses to be installed twice on one namespace', () => {
    expect(() => presenceResponder(app.io, { namespace: '/chat' })).toThrow(/already installed on namespace \/chat/);
  });
});
