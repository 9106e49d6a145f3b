import { describe, expect, it } from 'vitest';
import type { HealthCheck } from '../../src/presence/health-check.ts';
import { parseJson, runCli, tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { population, PRESENCE_CASES, staleIds, writeConfig, type Category, type PresenceCase } from './population.ts';

const database = useTestDatabase('presencehealth');
const stateDir = tempStateDir();
const CHECKS = ['connection', 'collection', 'schema', 'operations', 'indexes', 'update simulation'];

interface HealthJson {
  ok: boolean;
  checks: HealthCheck[];
}

/** Users of these categories only: a healthy platform has no malformed documents. */
async function seed(presence: PresenceCase, categories: Category[], withIndex: boolean) {
  const pop = population(presence, new Date());
  const users = database.db().collection(presence.collection);
  await users.drop().catch(() => undefined);
  await users.insertMany(pop.users.filter((user) => categories.includes(pop.categoryOf.get(user._id as string)!)));
  if (withIndex) await users.createIndex({ [presence.onlineField]: 1, [presence.lastSeenField]: 1 });
  return pop;
}

function healthCheck(presence: PresenceCase, ...args: string[]) {
  return runCli(['test', '--uri', database.uri(), '--config', writeConfig(stateDir, presence), ...args], {
    env: { PRESENCE_STATE_DIR: stateDir },
  });
}

async function scratchCollections(): Promise<string[]> {
  const collections = await database.db().listCollections({}, { nameOnly: true }).toArray();
  return collections.map((collection) => collection.name).filter((name) => name.startsWith('presence_healthcheck_'));
}

const HEALTHY: Category[] = ['offline', 'active', 'stale'];

describe.each(PRESENCE_CASES)('presence test ($name)', (presence) => {
  it('passes on a healthy database, touching no user and leaving no scratch collection', async () => {
    const pop = await seed(presence, HEALTHY, true);
    const checksum = await collectionChecksum(database.db(), presence.collection);
    const result = await healthCheck(presence, '--json');
    expect(result.code).toBe(0);
    const report = parseJson<HealthJson>(result.stdout);
    expect(report.ok).toBe(true);
    expect(report.checks.map((check) => [check.check, check.result])).toEqual(CHECKS.map((check) => [check, 'pass']));
    const simulation = report.checks.find((check) => check.check === 'update simulation')!;
    expect(simulation.summary).toMatch(new RegExp(`^stale would set ${staleIds(pop, presence, 30).length} user\\(s\\) offline`));
    expect(await collectionChecksum(database.db(), presence.collection)).toBe(checksum);
    expect(await scratchCollections()).toEqual([]);

    const table = await healthCheck(presence);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^operations\s+PASS\s+/m);
    expect(table.stdout).toMatch(/^all checks passed$/m);
  });

  it('fails on a missing presence index, naming the check', async () => {
    await seed(presence, HEALTHY, false);
    const result = await healthCheck(presence);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      new RegExp(`^indexes\\s+FAIL\\s+.*missing presence index \\{${presence.onlineField}: 1, ${presence.lastSeenField}: 1\\}`, 'm'),
    );
    expect(result.stdout).toMatch(/^FAILED: indexes$/m);
  });

  it('fails on malformed documents, naming the check, the share and the wrong types', async () => {
    await seed(presence, [...HEALTHY, 'malformed'], true);
    const result = await healthCheck(presence, '--json');
    expect(result.code).toBe(1);
    const report = parseJson<HealthJson>(result.stdout);
    const failed = report.checks.filter((check) => check.result === 'fail');
    expect(failed.map((check) => check.check)).toEqual(['schema']);
    const malformed = presence.malformedOnline.length + 3;
    expect(failed[0]!.summary).toMatch(new RegExp(`^${malformed} of \\d+ sampled document\\(s\\) \\(\\d+\\.\\d%\\) have presence fields of the wrong type`));
    expect(failed[0]!.summary).toContain(`${presence.lastSeenField} is text (1)`);
    expect(failed[0]!.summary).toContain(`${presence.onlineField} is an array (1)`);
    expect(await scratchCollections()).toEqual([]);
  });
});

describe('presence test when the basics are missing', () => {
  const presence = PRESENCE_CASES[0]!;

  it('fails the collection check and skips what needs it when the collection is missing', async () => {
    await database.db().collection(presence.collection).drop().catch(() => undefined);
    const result = await healthCheck(presence, '--json');
    expect(result.code).toBe(1);
    const results = Object.fromEntries(parseJson<HealthJson>(result.stdout).checks.map((check) => [check.check, check.result]));
    expect(results).toEqual({
      connection: 'pass',
      collection: 'fail',
      schema: 'skip',
      operations: 'pass',
      indexes: 'skip',
      'update simulation': 'skip',
    });
  });

  it('says which field no document has', async () => {
    await seed(presence, HEALTHY, true);
    const result = await healthCheck(presence, '--last-seen-field', 'lastSeenAt');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^schema\s+FAIL\s+.*no sampled document has the field "lastSeenAt" \(check the lastSeenField setting\)/m);
  });

  it('exits 3 with the connection check failed when the database cannot be reached', async () => {
    const result = await runCli(['test', '--uri', 'mongodb://127.0.0.1:9/app'], { env: { PRESENCE_STATE_DIR: stateDir } });
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(/^connection\s+FAIL\s+.*cannot reach the database/m);
    expect(result.stdout).toMatch(/^schema\s+SKIP\s+.*no connection/m);
  });
});
