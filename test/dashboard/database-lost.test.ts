import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempStateDir } from '../support/cli.ts';
import { startDashboardProcess, type DashboardProcess } from '../support/dashboard.ts';
import { useTestDatabase } from '../support/database.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { until } from '../support/until.ts';
import { presenceUsers } from '../faults/faults.ts';

const database = useTestDatabase('dashlost');
let proxy: TcpProxy;
let dashboard: DashboardProcess;

beforeAll(async () => {
  await database.db().collection('users').insertMany(presenceUsers(50, new Date()));
  proxy = await startTcpProxy(database.uri());
  dashboard = await startDashboardProcess(['--uri', `${proxy.uri}&serverSelectionTimeoutMS=1500`, '--max-time', '1'], { PRESENCE_STATE_DIR: tempStateDir() });
});

afterAll(async () => {
  await dashboard?.stop();
  await proxy?.close();
});

describe('presence dashboard when the database goes away', () => {
  it('answers 503 without the server\'s words while the database is unreachable, logs why, and serves again once it is back', async () => {
    expect((await fetch(`${dashboard.url}/api/status`)).status).toBe(200);
    proxy.set('refuse');
    // Past the two seconds for which a measurement is shared between open pages.
    await sleep(2500);
    for (const route of ['/', '/runs', '/tasks', '/api/status', '/api/runs']) {
      const response = await fetch(dashboard.url + route);
      expect(response.status, route).toBe(503);
      const body = await response.text();
      expect(body, route).toMatch(/the target database did not answer this request/);
      expect(body, route).not.toMatch(/127\.0\.0\.1|ECONNRESET|Mongo/);
    }
    // The assets need no database: the pages' own script and style still load.
    expect((await fetch(`${dashboard.url}/assets/dashboard.js`)).status).toBe(200);
    expect(dashboard.output().stderr).toMatch(/presence dashboard: GET \/api\/status: /);

    proxy.set('pass');
    await until('the dashboard serves again', async () => (await fetch(`${dashboard.url}/api/status`)).status === 200, { withinMs: 30_000, everyMs: 500 });
    expect(dashboard.child.exitCode).toBeNull();
  });
});
