import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { connectUsers, startSamplePlatform, type PlatformClient, type PlatformNode } from '../../socketio/sample-platform-process.ts';

/** The platform after its crash, for the demo's next steps; `stop` ends its server and clients. */
export interface CrashedPlatform {
  endpointUrl: string;
  token: string;
  stop(): Promise<void>;
}

/**
 * The story of ghost statuses, for real: the sample Socket.IO platform starts
 * and the users the database shows active connect to it; it is killed
 * (SIGKILL, no disconnect handler runs), a new one starts, and only half of
 * them come back. The other half stay online in the database: ghosts.
 */
export async function crashThePlatform(uri: string, collection: string, say: (line: string) => void): Promise<CrashedPlatform> {
  const token = randomBytes(24).toString('base64url');
  const active = await activeUserIds(uri, collection);
  const first = await startSamplePlatform({ mongoUri: uri, token });
  let second: PlatformNode | undefined;
  let clients: PlatformClient[] = [];
  try {
    const before = await connectUsers(first, active);
    say(`a Socket.IO platform server starts on ${first.url}; the ${active.length} active users connect to it`);
    first.signal('SIGKILL');
    await first.exited;
    for (const client of before) client.socket.close();
    say('it crashes (SIGKILL): no disconnect handler runs, so the database still shows them all online');
    second = await startSamplePlatform({ mongoUri: uri, token });
    const returning = active.filter((_, index) => index % 2 === 0);
    clients = await connectUsers(second, returning);
    say(`a new server starts on ${second.url}; ${returning.length} of them reconnect, ${active.length - returning.length} never come back`);
    say(`it mounts the presence endpoint at ${second.endpointUrl} (its token is in $PRESENCE_CONNECTED_TOKEN for the next steps)`);
  } catch (error) {
    await Promise.all([first.stop(), second?.stop()]);
    throw error;
  }
  const node = second;
  return {
    endpointUrl: node.endpointUrl,
    token,
    async stop() {
      for (const client of clients) client.socket.close();
      await node.stop();
    },
  };
}

/** The ids of the users the database shows online and active in the last half hour. */
async function activeUserIds(uri: string, collection: string): Promise<string[]> {
  const client = await MongoClient.connect(uri);
  try {
    const since = new Date(Date.now() - 30 * 60_000);
    const users = await client.db().collection(collection).find({ isOnline: true, lastSeen: { $gte: since } }, { projection: { _id: 1 } }).toArray();
    return users.map((user) => String(user._id));
  } finally {
    await client.close();
  }
}
