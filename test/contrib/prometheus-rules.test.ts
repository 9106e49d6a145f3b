import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Server } from 'socket.io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { listenPresenceEndpoint } from '../../src/socketio/endpoint.ts';
import { REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { buildUsers } from '../support/users.ts';

const exec = promisify(execFile);
const database = useTestDatabase('promrules');
const RULES_DIR = join(REPO, 'contrib', 'prometheus');
const RULES = join(RULES_DIR, 'presence.rules.yml');
const RULE_TESTS = join(RULES_DIR, 'presence.rules.test.yml');

interface RuleFile {
  groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
}
interface RuleTests {
  rule_files: string[];
  tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

const alerts = (parse(readFileSync(RULES, 'utf8')) as RuleFile).groups.flatMap((group) => group.rules);
const ruleTests = parse(readFileSync(RULE_TESTS, 'utf8')) as RuleTests;

/** Debian's promtool (package `prometheus`, installed by .ci/run); its exit code and output. */
async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await exec('promtool', args, { cwd: RULES_DIR, timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

describe('contrib/prometheus/presence.rules.yml', () => {
  it('passes promtool check rules', async () => {
    const checked = await promtool('check', 'rules', RULES);
    expect(checked.code, checked.output).toBe(0);
    expect(checked.output).toContain(`SUCCESS: ${alerts.length} rules found`);
  });

  it('passes its unit tests (promtool test rules): each alert fires, stays silent, with its labels and annotations', async () => {
    const tested = await promtool('test', 'rules', RULE_TESTS);
    expect(tested.code, tested.output).toBe(0);
    expect(tested.output).toContain('SUCCESS');
  });

  it('has, for every alert, a unit test where it fires and one where it stays silent', () => {
    expect(ruleTests.rule_files).toEqual(['presence.rules.yml']);
    const checks = ruleTests.tests.flatMap((test) => test.alert_rule_test);
    for (const { alert } of alerts) {
      const own = checks.filter((check) => check.alertname === alert);
      expect(own.some((check) => check.exp_alerts.length > 0), `${alert} fires in a test`).toBe(true);
      expect(own.some((check) => check.exp_alerts.length === 0), `${alert} stays silent in a test`).toBe(true);
    }
  });

  describe('uses only metrics that presence status --format prometheus emits', () => {
    const token = randomBytes(24).toString('base64url');
    let http: HttpServer;
    let io: Server;
    let endpoint: { url: string; close(): Promise<void> };

    beforeAll(async () => {
      // An app's Socket.IO server with the presence endpoint mounted, nobody connected: every online user is a ghost.
      http = createServer();
      io = new Server(http);
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      endpoint = await listenPresenceEndpoint(io, { token });
      await database.db().collection('users').insertMany(
        buildUsers(new Date(), [
          { count: 3, online: () => true, minutesAgo: () => 90 },
          { count: 2, online: () => false, minutesAgo: () => 600 },
        ]),
      );
    });
    afterAll(async () => {
      await endpoint?.close();
      await io?.close();
    });

    it('every metric named in a rule has a series type in the exposition', async () => {
      const env = { PRESENCE_STATE_DIR: tempStateDir(), PRESENCE_CONNECTED_TOKEN: token };
      // A last run for the presence_last_run_* series.
      const stale = await runCli(['stale', '--uri', database.uri()], { env });
      expect(stale.code, stale.stderr).toBe(0);

      const status = await runCli(['status', '--format', 'prometheus', '--uri', database.uri(), '--connected', endpoint.url], { env });
      expect(status.code, status.stderr).toBe(0);

      const named = [...new Set(alerts.flatMap(({ expr }) => expr.match(/\bpresence_[a-z_]+\b/g) ?? []))].sort();
      expect(named.length).toBeGreaterThan(0);
      const emitted = new Set([...status.stdout.matchAll(/^# TYPE (\S+) gauge$/gm)].map((match) => match[1]));
      expect(named.filter((name) => !emitted.has(name))).toEqual([]);
      const measuredAt = Number(/^presence_measured_timestamp_seconds\{collection="users"\} (\S+)$/m.exec(status.stdout)?.[1]);
      expect(Math.abs(measuredAt - Date.now() / 1000)).toBeLessThan(60);
    });
  });
});
