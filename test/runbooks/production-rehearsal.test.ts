import type { ChildProcess } from 'node:child_process';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/engine/run-record.ts';
import { tempStateDir } from '../support/cli.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { until } from '../support/until.ts';
import { auditOf, onlineCount, runRunbook, seedUsers, windowFromNow, writingRuns } from './runbook-process.ts';

const production = useTestDatabase('rb_production');
const staging = useTestDatabase('rb_staging');
let env: NodeJS.ProcessEnv;

function rehearse(args: string[], extraEnv: NodeJS.ProcessEnv = {}, onSpawn?: (child: ChildProcess) => void) {
  return runRunbook(
    'production-rehearsal',
    ['--staging-uri', staging.uri(), '--task', 'presence-stale', '--param', 'minutes=60', ...args],
    { env: { ...env, PRODUCTION_MONGODB_URI: production.uri(), ...extraEnv }, onSpawn },
  );
}

/** The staging run has started writing (it writes slowly, one user per batch at 2 a second). */
function untilStagingWrites(): Promise<void> {
  return until('the staging run writes', async () => (await writingRuns(staging.db())).length > 0, { withinMs: 20_000, everyMs: 50 });
}

async function checksums() {
  return [await collectionChecksum(production.db(), 'users'), await collectionChecksum(staging.db(), 'users')];
}

beforeEach(async () => {
  env = { PRESENCE_STATE_DIR: tempStateDir() };
  await seedUsers(production.db(), { active: 3, stale: 7, offline: 10 });
  await seedUsers(staging.db(), { active: 2, stale: 7, offline: 8 });
});

describe('production-rehearsal', () => {
  it('inside the window: dry run on production, the same run on staging, counts compared, production run with --expect', async () => {
    const open = windowFromNow(-30);
    const result = await rehearse(['--window', open, '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(await onlineCount(production.db())).toBe(3);
    expect(await onlineCount(staging.db())).toBe(2);
    expect(result.stdout).toMatch(/ok {4}compare: staging planned 7, production 7 \(difference 0\)/);

    const [dryRun, run, ...more] = await auditOf(production.db());
    expect(more).toEqual([]);
    expect(dryRun).toMatchObject({ migration: 'presence-stale@1', dryRun: true, env: 'production', params: { minutes: 60 }, plan: { count: 7 } });
    expect(dryRun?.window).toEqual({ inside: true, windows: [open] });
    expect(run).toMatchObject({
      dryRun: false,
      status: 'succeeded',
      env: 'production',
      params: { minutes: 60 },
      confirmation: { by: 'expected-count', expected: 7 },
      window: { inside: true, windows: [open] },
      result: { written: 7 },
    });
    const [rehearsal, ...others] = await auditOf(staging.db());
    expect(others).toEqual([]);
    // Staging is rehearsed at any time: production's windows are not its own.
    expect(rehearsal).toMatchObject({ dryRun: false, status: 'succeeded', env: 'staging', params: { minutes: 60 }, result: { written: 7 }, window: { windows: [] } });
    expect(result.stdout).toContain(`summary: production ${production.name}: 7 written, run ${run!._id}`);
    expect(result.stdout).toContain(`rehearsed on staging ${staging.name}: 7 written, run ${rehearsal!._id}`);
  });

  it('outside the window: refused (exit 4) before writing anywhere', async () => {
    const before = await checksums();
    const result = await rehearse(['--window', windowFromNow(120), '--yes']);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/stopped at window \(exit 4\): outside the maintenance window .*pass --outside-window "<reason>"; nothing written/);
    expect(await checksums()).toEqual(before);
    expect(await writingRuns(production.db())).toEqual([]);
    expect(await auditOf(staging.db())).toEqual([]);
  });

  it('outside the window with --outside-window: runs, and production audits the override with its reason', async () => {
    const closed = windowFromNow(120);
    const result = await rehearse(['--yes', '--outside-window', 'CHG-1234 approved by on-call'], { PRESENCE_MAINTENANCE_WINDOWS: closed });
    expect(result.code, result.stderr).toBe(0);
    const [run] = await writingRuns(production.db());
    expect(run).toMatchObject({ status: 'succeeded', result: { written: 7 } });
    expect(run?.window).toEqual({ inside: false, windows: [closed], overrideReason: 'CHG-1234 approved by on-call' });
    const stored = await production.db().collection<RunRecord>('maintenance_runs').findOne({ _id: run!._id });
    expect(stored?.window?.overrideReason).toBe('CHG-1234 approved by on-call');
    expect(await onlineCount(production.db())).toBe(3);
  });

  it('refuses the production run (exit 4) with nothing written when its plan no longer matches the dry run (--expect)', async () => {
    let changedProduction = false;
    let afterChange = '';
    // While staging is rehearsed (slowly), two more production users go stale.
    const watchStaging = untilStagingWrites().then(async () => {
      await production.db().collection<{ _id: string }>('users').updateMany(
        { _id: { $in: ['offline-0', 'offline-1'] } },
        { $set: { isOnline: true } },
      );
      afterChange = await collectionChecksum(production.db(), 'users');
      changedProduction = true;
    });
    const result = await rehearse(['--window', windowFromNow(-30), '--yes', '--batch-size', '1', '--rate', '2']);
    await watchStaging;
    expect(changedProduction).toBe(true);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/stopped at production run \(exit 4\): the plan counts 9 document\(s\), the operator expected 7: nothing written \(--expect\)/);
    expect(await onlineCount(production.db())).toBe(12);
    expect(await collectionChecksum(production.db(), 'users')).toBe(afterChange);
    const [refused, ...none] = await writingRuns(production.db());
    expect(none).toEqual([]);
    expect(refused).toMatchObject({ status: 'refused', plan: { count: 9 }, error: { step: 'confirm' } });
    expect(refused).toMatchObject({ result: { state: 'not-reached' } });
  });

  it('SIGTERM during the staging run: staging stops after its batch (audited as interrupted), production is not touched', async () => {
    let signalled = false;
    let watchStaging: Promise<void> | undefined;
    const result = await rehearse(['--window', windowFromNow(-30), '--yes', '--batch-size', '1', '--rate', '2'], {}, (child) => {
      watchStaging = untilStagingWrites().then(() => {
        child.kill('SIGTERM');
        signalled = true;
      });
    });
    await watchStaging;
    expect(signalled).toBe(true);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/stopped at staging run \(exit \d+\)/);
    expect(result.stdout).not.toMatch(/production run/);
    const [interrupted] = await writingRuns(staging.db());
    expect(interrupted).toMatchObject({ status: 'interrupted' });
    expect(await onlineCount(staging.db())).toBeGreaterThan(2);
    expect(await writingRuns(production.db())).toEqual([]);
    expect(await onlineCount(production.db())).toBe(10);
  });

  it('refuses (exit 4) when staging and production counts differ by more than --max-drift; production untouched', async () => {
    await seedUsers(staging.db(), { stale: 4, offline: 8 });
    const result = await rehearse(['--window', windowFromNow(-30), '--yes', '--max-drift', '20%']);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/stopped at compare \(exit 4\): staging planned 4, production 7 \(difference 3\), more than --max-drift 20%/);
    expect(await writingRuns(production.db())).toEqual([]);
    expect(await onlineCount(production.db())).toBe(10);
  });

  it('without --yes and without a terminal: refused at the confirmation (exit 4), production untouched', async () => {
    const result = await rehearse(['--window', windowFromNow(-30)]);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/stopped at confirm \(exit 4\): confirmation required/);
    expect(await writingRuns(production.db())).toEqual([]);
    expect(await onlineCount(production.db())).toBe(10);
  });

  it('bad input is one line and exit 2, before anything runs', async () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, string]> = [
      [['--window', '02:00-05:00 UTC'], { PRODUCTION_MONGODB_URI: undefined }, 'no target: pass --production-uri <uri> or set PRODUCTION_MONGODB_URI'],
      [['--window', '02:00-05:00 UTC', '--production-uri', staging.uri()], {}, '--production-uri and --staging-uri name the same target'],
      [[], {}, 'production runs only inside a maintenance window: pass --window "<spec>" or set PRESENCE_MAINTENANCE_WINDOWS'],
      [['--window', 'at night'], {}, 'maintenance window "at night" is not like "02:00-05:00 Europe/Paris"'],
      [['--window', '02:00-05:00 UTC', '--env', 'staging'], {}, 'unknown option --env (see --help)'],
    ];
    for (const [args, extraEnv, message] of cases) {
      const result = await rehearse(args, extraEnv);
      expect(result, args.join(' ')).toMatchObject({ code: 2, stdout: '', stderr: `production-rehearsal: ${message}\n` });
    }
    const noTask = await runRunbook('production-rehearsal', ['--staging-uri', staging.uri(), '--production-uri', production.uri(), '--window', '02:00-05:00 UTC'], { env });
    expect(noTask).toMatchObject({ code: 2, stderr: 'production-rehearsal: --task is required (see --help)\n' });
    expect(await auditOf(production.db())).toEqual([]);
    expect(await auditOf(staging.db())).toEqual([]);
  });
});
