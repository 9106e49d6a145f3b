import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { startDashboardProcess, type DashboardProcess } from '../support/dashboard.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { presenceUsers } from '../faults/faults.ts';

const database = useTestDatabase('dashroutes');
const stateDir = tempStateDir();
const env = { PRESENCE_STATE_DIR: stateDir };
const TOKEN = 'dashboard-token-of-this-test-0123';

let dashboard: DashboardProcess;
let runId: string;

const HTML = /^text\/html; charset=utf-8$/i;
const JSON_TYPE = /^application\/json/i;
const JS = /^text\/javascript; charset=utf-8$/i;
const CSS = /^text\/css; charset=utf-8$/i;
const TEXT = /^text\/plain; charset=utf-8$/i;

/** The headers every answer carries, refusals included. */
function expectSecurityHeaders(response: Response, where: string) {
  const csp = response.headers.get('content-security-policy') ?? '';
  expect(csp, where).toContain("default-src 'none'");
  expect(csp, where).toContain("script-src 'self'");
  expect(csp, where).toContain("connect-src 'self'");
  expect(csp, where).toContain("frame-ancestors 'none'");
  expect(csp, where).not.toContain('unsafe-inline');
  expect(response.headers.get('x-content-type-options'), where).toBe('nosniff');
  expect(response.headers.get('x-frame-options'), where).toBe('DENY');
  expect(response.headers.get('referrer-policy'), where).toBe('no-referrer');
  expect(response.headers.get('cross-origin-resource-policy'), where).toBe('same-origin');
  expect(response.headers.get('cache-control'), where).toBe('no-store');
}

beforeAll(async () => {
  await database.db().collection('users').insertMany(presenceUsers(300, new Date()));
  const stale = await runCli(['stale', '--uri', database.uri(), '--json'], { env });
  expect(stale.code, stale.stderr).toBe(0);
  runId = parseJson<TaskRunRecord>(stale.stdout)._id;
  dashboard = await startDashboardProcess(['--uri', database.uri()], env);
});

afterAll(async () => {
  await dashboard?.stop();
});

describe('presence dashboard over HTTP', () => {
  it('answers every route with its content type and the security headers, and writes nothing to the users', async () => {
    const checksum = await collectionChecksum(database.db(), 'users');
    const routes: Array<[string, RegExp]> = [
      ['/', HTML],
      ['/?range=7d', HTML],
      ['/runs', HTML],
      ['/runs?task=presence-stale&status=succeeded', HTML],
      ['/runs?task=&status=', HTML],
      [`/runs/${runId}`, HTML],
      ['/tasks', HTML],
      ['/api/status', JSON_TYPE],
      ['/api/samples', JSON_TYPE],
      ['/api/samples?range=30d', JSON_TYPE],
      ['/api/runs', JSON_TYPE],
      ['/api/runs?status=succeeded&limit=5', JSON_TYPE],
      [`/api/runs/${runId}`, JSON_TYPE],
      ['/assets/dashboard.js', JS],
      ['/assets/dashboard.css', CSS],
      ['/assets/uPlot.iife.min.js', JS],
      ['/assets/uPlot.min.css', CSS],
    ];
    for (const [route, type] of routes) {
      const response = await fetch(dashboard.url + route);
      expect(response.status, route).toBe(200);
      expect(response.headers.get('content-type'), route).toMatch(type);
      expectSecurityHeaders(response, route);
      expect((await response.text()).length, route).toBeGreaterThan(0);
    }
    const head = await fetch(dashboard.url + '/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect(await collectionChecksum(database.db(), 'users')).toBe(checksum);
  });

  it('refuses what is not a page, a bad parameter, a write and a foreign host, each with its status', async () => {
    const refusals: Array<[string, RequestInit & { headers?: Record<string, string> }, number, RegExp]> = [
      ['/nowhere', {}, 404, TEXT],
      ['/api/nowhere', {}, 404, JSON_TYPE],
      ['/assets/other.js', {}, 404, TEXT],
      ['/runs/20200101T000000Z-000000', {}, 404, HTML],
      ['/api/runs/20200101T000000Z-000000', {}, 404, JSON_TYPE],
      ['/runs/not%20a%20run', {}, 400, TEXT],
      ['/runs?status=finished', {}, 400, TEXT],
      ['/runs?task=%24where', {}, 400, TEXT],
      ['/api/runs?before=yesterday', {}, 400, JSON_TYPE],
      ['/api/runs?limit=100000', {}, 400, JSON_TYPE],
      ['/api/samples?range=2y', {}, 400, JSON_TYPE],
      ['/', { method: 'POST', body: 'x' }, 405, TEXT],
      [`/api/runs/${runId}`, { method: 'DELETE' }, 405, TEXT],
      ['/', { method: 'PUT', body: 'x' }, 405, TEXT],
    ];
    for (const [route, init, status, type] of refusals) {
      const response = await fetch(dashboard.url + route, init);
      const where = `${init.method ?? 'GET'} ${route}`;
      expect(response.status, where).toBe(status);
      expect(response.headers.get('content-type'), where).toMatch(type);
      expectSecurityHeaders(response, where);
      if (status === 405) expect(response.headers.get('allow')).toBe('GET, HEAD');
      expect(await response.text(), where).not.toMatch(/at \w+ \(|node_modules/);
    }
    // Another host name pointed at 127.0.0.1 (DNS rebinding) is not answered.
    const rebound = await rawGet(dashboard.url, '/api/status', 'evil.example:80');
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain('"figures"');
  });

  it('serves exactly the figures of presence status --json', async () => {
    const status = await runCli(['status', '--uri', database.uri(), '--json'], { env });
    expect(status.code, status.stderr).toBe(0);
    const printed = parseJson<{ figures: Record<string, unknown> }>(status.stdout);
    const served = (await (await fetch(dashboard.url + '/api/status')).json()) as { figures: Record<string, unknown> };
    for (const name of ['total', 'online', 'offline', 'stale', 'onlineWithoutActivity', 'withoutPresence', 'malformed', 'oldestOnlineActivity', 'indexes']) {
      expect(served.figures[name], name).toEqual(printed.figures[name]);
    }
    expect(served.figures.online).toBeGreaterThan(0);
  });

  it("shows a run's record through its JSON and page", async () => {
    const live = (await (await fetch(`${dashboard.url}/api/runs/${runId}`)).json()) as Record<string, unknown>;
    expect(live).toMatchObject({ runId, status: 'succeeded', active: false });
    const page = await (await fetch(`${dashboard.url}/runs/${runId}`)).text();
    expect(page).toContain(`presence restore ${runId}`);
    // Which release wrote the run, as its record says.
    const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(page).toMatch(new RegExp(`<dt>written by</dt>\\s*<dd>presence-maint ${version.replaceAll('.', '\\.')}</dd>`));
    // The Presence page lists it among the last presence runs, as status does.
    expect(await (await fetch(`${dashboard.url}/`)).text()).toContain(`href="/runs/${runId}"`);
    expect(page).toContain('sha256');
    const runs = (await (await fetch(`${dashboard.url}/api/runs?task=presence-stale`)).json()) as Array<{ runId: string }>;
    expect(runs.map((run) => run.runId)).toContain(runId);
    expect(await (await fetch(`${dashboard.url}/api/runs?task=presence-cleanup`)).json()).toEqual([]);
  });
});

describe('presence dashboard and what the records hold', () => {
  it('escapes every value it shows: a collection named as HTML stays text', async () => {
    const name = '<img src=x onerror=alert(1)>';
    await database.db().collection(name).insertMany(presenceUsers(20, new Date()));
    const run = await runCli(['stale', '--uri', database.uri(), '--collection', name, '--json'], { env });
    expect(run.code, run.stderr).toBe(0);
    const id = parseJson<TaskRunRecord>(run.stdout)._id;
    for (const route of ['/runs', `/runs/${id}`]) {
      const page = await (await fetch(dashboard.url + route)).text();
      expect(page, route).not.toContain('<img src=x');
    }
    expect(await (await fetch(`${dashboard.url}/runs/${id}`)).text()).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('presence dashboard pages through runs and shows drift', () => {
  it('pages the runs newest first, the next page from the last one shown', async () => {
    const all = (await (await fetch(`${dashboard.url}/api/runs`)).json()) as Array<{ runId: string }>;
    expect(all.length).toBeGreaterThanOrEqual(2);
    const first = await (await fetch(`${dashboard.url}/runs?limit=1`)).text();
    expect(first).toContain(all[0]!.runId);
    expect(first).not.toContain(all[1]!.runId);
    const older = /href="(\/runs\?[^"]*before=[^"]+)" rel="next"/.exec(first)?.[1]?.replace(/&amp;/g, '&');
    expect(older).toBeDefined();
    expect(older).toContain('limit=1');
    const second = await (await fetch(dashboard.url + older!)).text();
    expect(second).toContain(all[1]!.runId);
    expect(second).not.toContain(all[0]!.runId);
  });

  it('shows the page of every kind of run: a dry run, a restore, a refusal', async () => {
    expect((await runCli(['stale', '--uri', database.uri(), '--dry-run'], { env })).code).toBe(0);
    expect((await runCli(['restore', runId, '--uri', database.uri()], { env })).code).toBe(0);
    expect((await runCli(['cleanup', '--uri', database.uri(), '--env', 'production'], { env })).code).toBe(4);
    const runs = (await (await fetch(`${dashboard.url}/api/runs`)).json()) as Array<{ runId: string; status: string }>;
    expect(new Set(runs.map((run) => run.status))).toEqual(new Set(['succeeded', 'refused']));
    for (const run of runs) {
      const response = await fetch(`${dashboard.url}/runs/${run.runId}`);
      expect(response.status, run.runId).toBe(200);
      expect(await response.text()).toContain(run.runId);
    }
    const restorePage = await (await fetch(`${dashboard.url}/runs/${runs[1]!.runId}`)).text();
    expect(restorePage).toContain(`restore of run <a href="/runs/${runId}">`);
    const refusedPage = await (await fetch(`${dashboard.url}/runs/${runs[0]!.runId}`)).text();
    expect(refusedPage).toMatch(/error<\/dt><dd>at confirm: /);
  });

  it("flags a task whose source changed since its last run without a version bump", async () => {
    const before = await (await fetch(`${dashboard.url}/tasks`)).text();
    expect(before).not.toContain('data-drift');
    // As if the run had been made by another version of the source (see the run-path test of drift).
    await database.db().collection('maintenance_runs').updateMany({ 'task.id': 'presence-stale' }, { $set: { 'task.checksum': 'older' } });
    const after = await (await fetch(`${dashboard.url}/tasks`)).text();
    expect(after).toMatch(/presence-stale[\s\S]*data-drift/);
  });
});

describe('presence dashboard with a token', () => {
  it('refuses a missing or wrong token and serves with the right one (Bearer, or Basic as a browser sends it)', async () => {
    const guarded = await startDashboardProcess(['--uri', database.uri()], { ...env, PRESENCE_DASHBOARD_TOKEN: TOKEN });
    try {
      const basic = (password: string) => `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}`;
      const cases: Array<[Record<string, string>, number]> = [
        [{}, 401],
        [{ authorization: 'Bearer wrong-token-wrong-token' }, 401],
        [{ authorization: `Bearer ${TOKEN}x` }, 401],
        [{ authorization: basic('wrong') }, 401],
        [{ authorization: 'Basic !!!' }, 401],
        [{ authorization: `Bearer ${TOKEN}` }, 200],
        [{ authorization: basic(TOKEN) }, 200],
      ];
      for (const route of ['/', '/api/status', '/assets/dashboard.js']) {
        for (const [headers, status] of cases) {
          const response = await fetch(guarded.url + route, { headers });
          expect(response.status, `${route} ${JSON.stringify(headers)}`).toBe(status);
          expectSecurityHeaders(response, route);
          if (status === 401) {
            expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm="presence dashboard"/);
            expect(await response.text()).not.toContain(TOKEN);
          }
        }
      }
    } finally {
      const result = await guarded.stop();
      expect(result.code).toBe(0);
      expect(result.stdout + result.stderr).not.toContain(TOKEN);
    }
  });
});

describe('presence dashboard refuses bad settings with one line and a distinct exit code', () => {
  const dashboardCli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    runCli(['dashboard', '--uri', database.uri(), ...args], { env: { ...env, ...extraEnv }, timeoutMs: 30_000 });

  it.each([
    [['--host', '0.0.0.0'], {}, 2, /--host 0\.0\.0\.0 is reachable from other machines: give a token/],
    [['--host', '::'], {}, 2, /--host :: is reachable from other machines/],
    [['--token', 'short'], {}, 2, /token must be at least 16 characters/],
    [[], { PRESENCE_DASHBOARD_TOKEN: 'short' }, 2, /token must be at least 16 characters/],
    [['--port', '70000'], {}, 2, /--port/],
    [['--port', 'eighty'], {}, 2, /--port/],
    [['--refresh', '0'], {}, 2, /--refresh/],
    [['--minutes', '-5'], {}, 2, /minutes/],
  ] as const)('%j %j → exit %i', async (args, extraEnv, code, message) => {
    const result = await dashboardCli([...args], extraEnv);
    expect(result.code, result.stdout + result.stderr).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stdout).not.toContain('dashboard on');
  });

  it('says a port in use is in use (exit 2)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      const result = await dashboardCli(['--port', String(port)]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`));
    } finally {
      taken.close();
    }
  });

  it('exits 3 when the database is unreachable, before listening', async () => {
    const result = await runCli(['dashboard', '--port', '0', '--uri', 'mongodb://127.0.0.1:1/app?serverSelectionTimeoutMS=500'], { env });
    expect(result.code).toBe(3);
    expect(result.stdout).not.toContain('dashboard on');
  });
});

/** A GET with a Host header of our choosing (fetch sets its own). */
async function rawGet(base: string, path: string, host: string): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
