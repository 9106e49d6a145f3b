import { randomBytes } from 'node:crypto';
import { ObjectId } from 'mongodb';
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { endpointSource } from '../../src/presence/connected/endpoint-source.ts';
import { listenPresenceEndpoint, presenceEndpoint } from '../../src/socketio/endpoint.ts';
import { startChatApp, type ChatApp } from '../support/chat-app.ts';

// An app's own Socket.IO server in this process, with real clients: the options an app may give the endpoint.
const token = randomBytes(24).toString('base64url');
let app: ChatApp;
let endpoint: { url: string; close(): Promise<void> };

/** Connects to the app as a user (an ObjectId's hex) or as a visitor, on a namespace. */
async function connectAs(userId: string | undefined, namespace = '/chat'): Promise<Socket> {
  return (await app.connect(namespace, userId)).socket;
}

beforeAll(async () => {
  app = await startChatApp();
  endpoint = await listenPresenceEndpoint(app.io, { token, namespace: '/chat', userIdOf: (socket) => socket.data.user?.id });
});
afterEach(() => app.disconnectAll());
afterAll(async () => {
  await endpoint?.close();
  await app?.close();
});

describe('presenceEndpoint with an app\'s options', () => {
  it('answers ObjectIds as hex, counts sockets without a user, and only on its namespace', async () => {
    const [alice, bob] = [new ObjectId().toHexString(), new ObjectId().toHexString()];
    await connectAs(alice);
    await connectAs(alice);
    await connectAs(undefined);
    await connectAs(bob, '/');

    expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const set = await endpointSource(endpoint.url, { token }).fetch();
    expect([...set.userIds]).toEqual([alice]);
    expect(set).toMatchObject({ sockets: 3, servers: 1 });
  });

  it('answers a thousand and one users in one well-formed body', async () => {
    const ids = Array.from({ length: 1001 }, () => new ObjectId().toHexString());
    for (let from = 0; from < ids.length; from += 100) await Promise.all(ids.slice(from, from + 100).map((id) => connectAs(id)));
    const response = await fetch(endpoint.url, { headers: { authorization: `Bearer ${token}` } });
    const answer = (await response.json()) as { userIds: string[]; sockets: number };
    expect(answer.sockets).toBe(1001);
    expect(answer.userIds.sort()).toEqual(ids.sort());
  });

  it('takes the token from the endpoint URL and never shows it', async () => {
    const withToken = endpoint.url.replace('http://', `http://:${token}@`);
    const source = endpointSource(withToken);
    expect(source.description).toBe(endpoint.url.replace('http://', 'http://<credentials>@'));
    expect((await source.fetch()).servers).toBe(1);
  });

  it('refuses to be set up without a token, or with a short one', () => {
    for (const weak of [undefined, '', 'short-token']) {
      expect(() => presenceEndpoint(app.io, { token: weak as unknown as string })).toThrow(/needs a token of at least 16 characters/);
    }
    expect(() => presenceEndpoint(app.io, { token, timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});
