import { randomBytes } from 'node:crypto';
import { ObjectId } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/engine/errors.ts';
import { ConnectedSourceError } from '../../src/presence/connected.ts';
import { endpointSource } from '../../src/presence/connected/endpoint-source.ts';
import { useTestDatabase } from '../support/database.ts';
import { connectUsers, offlineUsers, startPlatform, type PlatformClient, type PlatformNode } from '../support/socketio-platform.ts';

// Users' _id are ObjectIds; the platform and the connected set name them by their hex.
const database = useTestDatabase('socketio_platform');
const token = randomBytes(24).toString('base64url');
const users = offlineUsers(6);
const [u0, u1, u2, u3, u4, u5] = users.map((user) => user._id.toHexString()) as [string, string, string, string, string, string];
let node: PlatformNode;
const clients: PlatformClient[] = [];

const presenceOf = async (id: string) => database.db().collection('users').findOne({ _id: new ObjectId(id) });
const ask = (headers: Record<string, string> = {}) => fetch(node.endpointUrl, { headers });

beforeAll(async () => {
  await database.db().collection('users').insertMany(users);
  node = await startPlatform({ mongoUri: database.uri(), token });
});
afterEach(() => {
  for (const client of clients.splice(0)) client.socket.close();
});
afterAll(async () => node?.stop());

describe('the test platform keeps presence the way the platform server does', () => {
  it('writes a user online on connect, and offline only when their last socket leaves', async () => {
    const before = new Date();
    const [first, second] = await connectUsers(node, [u0, u0]);
    const user = await presenceOf(u0);
    expect(user).toMatchObject({ isOnline: true });
    expect(user!.lastSeen.getTime()).toBeGreaterThanOrEqual(before.getTime() - 1000);

    first!.socket.close();
    await node.reported('stillOnline', u0);
    expect(await presenceOf(u0)).toMatchObject({ isOnline: true });

    second!.socket.close();
    await node.reported('offline', u0);
    expect(await presenceOf(u0)).toMatchObject({ isOnline: false });
  });
});

describe('presenceEndpoint mounted on the platform server', () => {
  it('answers exactly the connected users: a user with two sockets once in userIds and twice in sockets, a visitor in sockets only', async () => {
    const cookie = `session=${randomBytes(16).toString('hex')}`;
    clients.push(...(await connectUsers(node, [u1, u1, u2, undefined], { headers: { cookie } })));

    const response = await ask({ authorization: `Bearer ${token}` });
    const text = await response.text();
    expect(response.status).toBe(200);
    const answer = JSON.parse(text) as { userIds: string[] };
    expect({ ...answer, userIds: [...answer.userIds].sort() }).toEqual({
      complete: true,
      servers: 1,
      sockets: 4,
      at: expect.any(String),
      via: 'fetchSockets',
      userIds: [u1, u2].sort(),
    });
    // Nothing of the handshake: no cookie, header or socket id.
    expect(text).not.toContain(cookie.split('=')[1]);
    for (const { socket } of clients) expect(text).not.toContain(socket.id);
    expect(response.headers.get('cache-control')).toBe('no-store');

    const source = endpointSource(node.endpointUrl, { token });
    const set = await source.fetch();
    expect({ ...set, userIds: [...set.userIds].sort() }).toEqual({ userIds: [u1, u2].sort(), sockets: 4, servers: 1, at: expect.any(Date), via: 'fetchSockets' });
    await source.close();
  });

  it('refuses a missing or wrong token with a bare 401', async () => {
    const wrong = randomBytes(24).toString('base64url');
    const attempts: Record<string, string>[] = [{}, { authorization: `Bearer ${wrong}` }, { authorization: `Basic ${token}` }, { authorization: token }];
    for (const headers of attempts) {
      const response = await ask(headers);
      expect(response.status).toBe(401);
      expect(await response.text()).toBe('');
    }
    const post = await fetch(node.endpointUrl, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(post.status).toBe(405);

    const refused = await endpointSource(node.endpointUrl, { token: wrong }).fetch().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConnectedSourceError);
    // Like a database refusing credentials: unreachable for the tool.
    expect((refused as ConnectedSourceError).exitCode).toBe(ExitCode.database);
    expect((refused as Error).message).not.toContain(wrong);
  });
});

describe('a crashed platform server', () => {
  it('leaves its users online in the database (ghosts), and its endpoint unreachable (exit 3)', async () => {
    const crashing = await startPlatform({ mongoUri: database.uri(), token });
    clients.push(...(await connectUsers(crashing, [u3, u4])));
    crashing.signal('SIGKILL');
    await crashing.exited;

    for (const id of [u3, u4]) expect(await presenceOf(id)).toMatchObject({ isOnline: true });
    expect(await presenceOf(u5)).toMatchObject({ isOnline: false });

    const unreachable = await endpointSource(crashing.endpointUrl, { token }).fetch().catch((error: unknown) => error);
    expect(unreachable).toBeInstanceOf(ConnectedSourceError);
    expect((unreachable as ConnectedSourceError).exitCode).toBe(ExitCode.database);
    expect((unreachable as Error).message).toMatch(/unreachable \(ECONNREFUSED\)/);
  });
});
