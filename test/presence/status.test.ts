import { describe, expect, it } from 'vitest';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { count, oldestOnlineActivity, population, PRESENCE_CASES, staleIds, writeConfig, type PresenceCase } from './population.ts';

const database = useTestDatabase('presencestatus');
const stateDir = tempStateDir();

interface StatusJson {
  figures: Record<string, unknown> & { oldestOnlineActivity: { $date: string } | null; indexes: { missing: unknown[] } };
}

async function seeded(presence: PresenceCase) {
  const pop = population(presence, new Date());
  const users = database.db().collection(presence.collection);
  await users.deleteMany({});
  await users.insertMany(pop.users);
  return pop;
}

function status(presence: PresenceCase, ...args: string[]) {
  return runCli(['status', '--uri', database.uri(), '--config', writeConfig(stateDir, presence), ...args], {
    env: { PRESENCE_STATE_DIR: stateDir },
  });
}

describe.each(PRESENCE_CASES)('presence status ($name)', (presence) => {
  it('prints counts equal to the seeded truth, in JSON, text and Prometheus', async () => {
    const pop = await seeded(presence);
    const truth = {
      total: pop.users.length,
      online: count(pop, 'active', 'stale', 'onlineWithoutActivity'),
      offline: count(pop, 'offline'),
      stale: staleIds(pop, presence, 30).length,
      onlineWithoutActivity: count(pop, 'onlineWithoutActivity'),
      withoutPresence: count(pop, 'withoutPresence'),
      malformed: count(pop, 'malformed'),
    };
    expect(truth.stale).toBe(count(pop, 'stale'));

    const json = await status(presence, '--json');
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const { figures } = parseJson<StatusJson>(json.stdout);
    expect(figures).toMatchObject({ ...truth, staleMinutes: 30, collection: presence.collection });
    expect(figures.oldestOnlineActivity?.$date).toBe(oldestOnlineActivity(pop, presence).toISOString());
    expect(figures.indexes.missing).toHaveLength(1);

    const text = await status(presence);
    expect(text.code).toBe(0);
    const figureOf = (label: string) => Number(new RegExp(`^\\s+${label}\\s+([\\d,]+)`, 'm').exec(text.stdout)?.[1]?.replace(/,/g, ''));
    expect(figureOf('users')).toBe(truth.total);
    expect(figureOf('online')).toBe(truth.online);
    expect(figureOf('stale \\(> 30 min\\)')).toBe(truth.stale);
    expect(figureOf('no activity time')).toBe(truth.onlineWithoutActivity);
    expect(figureOf('offline')).toBe(truth.offline);
    expect(figureOf('no presence field')).toBe(truth.withoutPresence);
    expect(figureOf('malformed presence')).toBe(truth.malformed);
    expect(text.stdout).toMatch(/presence index\s+MISSING/);

    const prometheus = await status(presence, '--format', 'prometheus', '--minutes', '60');
    expect(prometheus.code).toBe(0);
    const metric = (line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(prometheus.stdout)?.[1]);
    const collection = `collection="${presence.collection}"`;
    expect(metric(`presence_online_users{${collection}}`)).toBe(truth.online);
    expect(metric(`presence_stale_users{${collection},threshold_minutes="60"}`)).toBe(staleIds(pop, presence, 60).length);
    expect(metric(`presence_users{${collection},state="malformed"}`)).toBe(truth.malformed);
    expect(metric(`presence_documents{${collection}}`)).toBe(truth.total);
    expect(prometheus.stdout).toMatch(/^# TYPE presence_operation_latency_seconds gauge$/m);
    expect(prometheus.stdout).toMatch(/^presence_operation_latency_seconds\{operation="count_online"\} \d/m);
  });

  it('reports an empty collection as zeros', async () => {
    await database.db().collection(presence.collection).deleteMany({});
    const result = await status(presence, '--json');
    expect(result.code).toBe(0);
    expect(parseJson<StatusJson>(result.stdout).figures).toMatchObject({ total: 0, online: 0, stale: 0, malformed: 0 });
  });
});

describe('presence status on a target that cannot be what was meant', () => {
  it('refuses a missing collection in one line, exit 2', async () => {
    const result = await runCli(['status', '--uri', database.uri(), '--collection', 'no_such_users'], {
      env: { PRESENCE_STATE_DIR: stateDir },
    });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([
      `presence: collection "no_such_users" does not exist in database "${database.name}" (check the collection setting)`,
    ]);
  });

  it('refuses a configured field that no document has, naming it, exit 2', async () => {
    const presence = PRESENCE_CASES[0]!;
    await seeded(presence);
    const result = await runCli(['status', '--uri', database.uri(), '--config', writeConfig(stateDir, presence), '--online-field', 'isOnlin'], {
      env: { PRESENCE_STATE_DIR: stateDir },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^presence: no document in "members" has the field "isOnlin" \(check the onlineField setting\)\n$/);
  });

  it('exits 3 in one line when the database cannot be reached', async () => {
    const result = await runCli(['status', '--uri', 'mongodb://127.0.0.1:9/app'], { env: { PRESENCE_STATE_DIR: stateDir } });
    expect(result.code).toBe(3);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/cannot reach the database/);
  });
});
