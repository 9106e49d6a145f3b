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

/** The stale count: the one status query with a `$lt` on last activity. */
function isStaleCount(request: SeenCommand): boolean {
  if (request.command !== 'aggregate' || request.collection !== presence.collection) return false;
  return EJSON.stringify(messageDocuments(request.message)[0]).includes('"$lt"');
}

describe('presence status within --max-time', () => {
  let proxy: TcpProxy;
  let slow = false;
  let pop: ReturnType<typeof population>;

  beforeAll(async () => {
    pop = population(presence, new Date());
    await database.db().collection(presence.collection).insertMany(pop.users);
    // The embedded engine answers a few hundred users at once: the proxy stands in for a slow count on a large collection.
    proxy = await startTcpProxy(database.uri(), { delayReply: (request) => (slow && isStaleCount(request) ? REPLY_DELAY_MS : 0) });
  });
  afterAll(() => proxy?.close());

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
});
