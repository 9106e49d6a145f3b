import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EJSON } from 'bson';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { messageDocuments, startTcpProxy, type SeenCommand, type TcpProxy } from '../support/tcp-proxy.ts';
import { count, population, PRESENCE_CASES, writeConfig } from './population.ts';

const database = useTestDatabase('presencestatuscost');
const stateDir = tempStateDir();
const presence = PRESENCE_CASES[0]!;
const REPLY_DELAY_MS = 4000;

/** The pass over online users that counts ghosts: the one find projecting `_id` and last activity. */
function isConnectedPass(request: SeenCommand): boolean {
  if (request.command !== 'find' || request.collection !== presence.collection) return false;
  const projection = messageDocuments(request.message)[0]?.projection as Record<string, unknown> | undefined;
  return projection?._id === 1 && projection[presence.lastSeenField] === 1;
}

/** The stale count: the one status query with a `$lt` on last activity. */
function isStaleCount(request: SeenCommand): boolean {
  if (request.command !== 'aggregate' || request.collection !== presence.collection) return false;
  return EJSON.stringify(messageDocuments(request.message)[0]).includes('"$lt"');
}

describe('presence status within --max-time', () => {
  let proxy: TcpProxy;
  let slow = false;
  let slowConnectedPass = false;
  let endpoint: Server;
  let endpointUrl: string;
  let pop: ReturnType<typeof population>;

  beforeAll(async () => {
    pop = population(presence, new Date());
    await database.db().collection(presence.collection).insertMany(pop.users);
    // The embedded engine answers a few hundred users at once: the proxy stands in for a slow count on a large collection.
    proxy = await startTcpProxy(database.uri(), {
      delayReply: (request) => ((slow && isStaleCount(request)) || (slowConnectedPass && isConnectedPass(request)) ? REPLY_DELAY_MS : 0),
    });
    // The app's presence endpoint, answering at once that two users are connected.
    endpoint = createServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ complete: true, servers: 1, sockets: 2, at: new Date().toISOString(), userIds: ['user-0040', 'user-0041'] }));
    });
    await new Promise<void>((done) => endpoint.listen(0, '127.0.0.1', done));
    endpointUrl = `http://127.0.0.1:${(endpoint.address() as { port: number }).port}/presence`;
  });
  afterAll(async () => {
    await proxy?.close();
    endpoint?.close();
  });

  const status = (...args: string[]) =>
    runCli(['status', '--uri', proxy.uri, '--config', writeConfig(stateDir, presence), ...args], { env: { PRESENCE_STATE_DIR: stateDir } });

  it('reports a count that did not answer in time as unknown (JSON null with a reason, text "unknown", no Prometheus sample), the others exact', async () => {
    slow = true;
    const started = Date.now();
    const json = await status('--json', '--max-time', '1');
    expect(Date.now() - started).toBeLessThan(REPLY_DELAY_MS);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const { figures } = parseJson<{ figures: Record<string, unknown> & { unknown: Record<string, string> } }>(json.stdout);
    expect(figures.stale).toBeNull();
    expect(figures.unknown).toEqual({ stale: 'not measured within --max-time 1 s' });
    expect(figures).toMatchObject({
      total: pop.users.length,
      online: count(pop, 'active', 'stale', 'onlineWithoutActivity'),
      offline: count(pop, 'offline'),
      malformed: count(pop, 'malformed'),
      maxTimeMs: 1000,
    });

    const text = await status('--max-time', '1');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^\s+stale \(> 30 min\)\s+unknown\s+not measured within --max-time 1 s$/m);
    expect(text.stdout).toMatch(/^\s+online\s+[\d,]+\s*$/m);

    const prometheus = await status('--format', 'prometheus', '--max-time', '1');
    expect(prometheus.code).toBe(0);
    expect(prometheus.stdout).toMatch(/^# TYPE presence_stale_users gauge$/m);
    expect(prometheus.stdout).not.toMatch(/^presence_stale_users\{/m);
    expect(prometheus.stdout).toMatch(new RegExp(`^presence_figure_unknown\\{collection="${presence.collection}",figure="stale"\\} 1$`, 'm'));
    expect(prometheus.stdout).toMatch(/^presence_online_users\{[^}]*\} \d+$/m);
  });

  it('waits for the same slow count when --max-time leaves it the time', async () => {
    slow = true;
    const result = await status('--json', '--max-time', String((REPLY_DELAY_MS + 3000) / 1000));
    expect(result.code).toBe(0);
    const { figures } = parseJson<{ figures: { stale: unknown; unknown: object } }>(result.stdout);
    expect(figures.unknown).toEqual({});
    expect(figures.stale).toBe(count(pop, 'stale'));
  });

  it('refuses a --max-time that is not a positive number of seconds, in one line, exit 2', async () => {
    slow = false;
    for (const bad of ['0', '-1', 'soon', '601']) {
      const result = await status('--max-time', bad);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^presence: .*--max-time must be a number of seconds above 0/)]);
    }
  });

  it('reports the ghosts unknown, never zero, when the pass over online users outlasts --max-time', async () => {
    slow = false;
    slowConnectedPass = true;
    const env = { PRESENCE_STATE_DIR: stateDir, PRESENCE_CONNECTED_TOKEN: randomBytes(24).toString('base64url') };
    const args = ['status', '--uri', proxy.uri, '--config', writeConfig(stateDir, presence), '--connected', endpointUrl, '--max-time', '1'];
    const json = await runCli([...args, '--json'], { env });
    expect(json.code, json.stderr).toBe(0);
    const parsed = parseJson<{ figures: { online: number }; connected: Record<string, unknown> }>(json.stdout);
    expect(parsed.connected).toEqual({ state: 'unknown', source: endpointUrl, reason: 'not measured within --max-time 1 s' });
    expect(parsed.figures.online).toBe(count(pop, 'active', 'stale', 'onlineWithoutActivity'));

    const prometheus = await runCli([...args, '--format', 'prometheus'], { env });
    expect(prometheus.stdout).toMatch(/^presence_connected_source_up\{source="[^"]+"\} 0$/m);
    expect(prometheus.stdout).not.toMatch(/^presence_ghost_users/m);

    slowConnectedPass = false;
    const known = parseJson<{ connected: Record<string, unknown> }>((await runCli([...args, '--json'], { env })).stdout);
    expect(known.connected).toMatchObject({ state: 'known', connected: 2 });
  });
});
