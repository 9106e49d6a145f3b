import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { launchChromium, SCREENSHOTS, watchPage } from '../support/browser.ts';
import { parseJson, runCli, tempStateDir, type CliResult } from '../support/cli.ts';
import { startDashboardProcess, type DashboardProcess } from '../support/dashboard.ts';
import { collectionChecksum, useTestDatabase } from '../support/database.ts';
import { until } from '../support/until.ts';
import { presenceUsers } from '../faults/faults.ts';

const database = useTestDatabase('dashbrowser');
const stateDir = tempStateDir();
const env = { PRESENCE_STATE_DIR: stateDir };
const TOKEN = 'browser-test-token-0123456789';
const FIGURES = ['total', 'online', 'offline', 'stale', 'onlineWithoutActivity', 'withoutPresence', 'malformed'] as const;

let browser: Browser;
let dashboard: DashboardProcess;

async function statusJson(): Promise<{ figures: Record<string, number | null> }> {
  const status = await runCli(['status', '--uri', database.uri(), '--json'], { env });
  expect(status.code, status.stderr).toBe(0);
  return parseJson(status.stdout);
}

async function openPage(path: string, options: Parameters<Browser['newPage']>[0] = {}): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, ...options });
  const { problems } = watchPage(page, dashboard.url);
  const response = await page.goto(dashboard.url + path);
  expect(response?.status(), path).toBe(200);
  return { page, problems };
}

/** ISO instants a reader sees as text, outside code (a plan's filter quotes its dates as EJSON, exactly). */
function visibleIsoText(page: Page): Promise<string[]> {
  // A string, run in the page: this file is not compiled with the DOM's types.
  return page.evaluate(`(() => {
    const body = document.body.cloneNode(true);
    for (const code of body.querySelectorAll('code, pre')) code.remove();
    return body.innerText.match(/\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d[:\\d.]*Z/g) ?? [];
  })()`);
}

const screenshot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  // About 300 online users inactive for more than 90 minutes: what a stale run sets offline.
  await database.db().collection('users').insertMany(presenceUsers(900, new Date()));
  browser = await launchChromium();
  dashboard = await startDashboardProcess(['--uri', database.uri(), '--refresh', '1'], env);
});

afterAll(async () => {
  await browser?.close();
  const stopped = await dashboard?.stop();
  expect(stopped?.code).toBe(0);
});

describe('the dashboard in Chromium', () => {
  it('Presence: the figures of presence status --json, kept current, and a chart of the samples', async () => {
    const { figures } = await statusJson();
    const { page, problems } = await openPage('/');
    for (const name of FIGURES) {
      expect(await page.getAttribute(`[data-figure="${name}"]`, 'data-value'), name).toBe(String(figures[name]));
      expect(await page.textContent(`[data-figure="${name}"]`), name).toBe(new Intl.NumberFormat('en-US').format(figures[name]!));
    }
    // status and the page each recorded this minute's sample (one of them did): the chart draws it.
    await page.waitForSelector('#presence-chart canvas');
    await until('the chart has its points', async () => Number(await page.getAttribute('#presence-chart', 'data-points')) >= 1);

    // Users come online: the page shows it without being reloaded.
    const comingOnline = await database.db().collection('users').find({ isOnline: false }).limit(7).toArray();
    await database.db().collection('users').updateMany({ _id: { $in: comingOnline.map((user) => user._id) } }, { $set: { isOnline: true, lastSeen: new Date() } });
    await until('the page shows the users who came online', async () => (await page.getAttribute('[data-figure="online"]', 'data-value')) === String(figures.online! + 7));
    expect(await page.getAttribute('[data-figure="online"]', 'data-value')).toBe(String((await statusJson()).figures.online));

    await screenshot(page, 'presence');
    expect(problems).toEqual([]);
    await page.close();
  });

  it("Runs: a run's progress bar moves while it writes; its page shows plan, backup and the restore command", async () => {
    const users = await collectionChecksum(database.db(), 'users');
    const writing = runCli(['stale', '--uri', database.uri(), '--rate', '40', '--batch-size', '5', '--json'], { env, timeoutMs: 120_000 });
    let ended: CliResult | undefined;
    void writing.then((result) => (ended = result));
    let runId = '';
    await until('the stale run writes and reports its progress', async () => {
      if (ended) throw new Error(`the run ended before it was seen writing (exit ${ended.code}): ${ended.stdout.slice(-500)}${ended.stderr}`);
      const runs = (await (await fetch(`${dashboard.url}/api/runs?status=running`)).json()) as Array<{ runId: string; progress: { done: number } | null }>;
      const run = runs.find((candidate) => candidate.progress !== null && candidate.progress.done > 0);
      runId = run?.runId ?? '';
      return run !== undefined;
    }, { withinMs: 60_000, everyMs: 200 });

    const { page, problems } = await openPage('/runs');
    const bar = `[data-run="${runId}"] progress`;
    // A progress element's value property and attribute are one: the script sets it, the attribute shows it.
    const valueNow = async () => Number(await page.getAttribute(bar, 'value'));
    const first = await valueNow();
    expect(Number(await page.getAttribute(bar, 'max'))).toBeGreaterThan(first);
    await screenshot(page, 'runs-while-writing');
    // Moves without a reload, from the page's own polling.
    await until('the progress bar moves', async () => (await valueNow()) > first, { withinMs: 30_000 });

    const result = await writing;
    expect(result.code, result.stderr).toBe(0);
    const afterRun = await collectionChecksum(database.db(), 'users');
    const record = parseJson<TaskRunRecord>(result.stdout);
    expect(record._id).toBe(runId);
    const row = page.locator('table.runs tbody tr', { has: page.locator(`[data-run="${runId}"]`) });
    await until('the page shows the run succeeded', async () => (await row.locator('[data-status]').textContent()) === 'succeeded', { withinMs: 10_000 });
    expect(await row.locator('[data-status]').getAttribute('class')).toBe('status status-succeeded');
    await screenshot(page, 'runs');
    expect(problems).toEqual([]);
    await page.close();

    const run = await openPage(`/runs/${runId}`);
    expect((await run.page.textContent('[data-restore-command]'))?.trim()).toBe(`presence restore ${runId}`);
    const html = await run.page.content();
    if (record.backup.state !== 'done') throw new Error('the run has no backup');
    expect(html).toContain(record.backup.sha256);
    expect(html).toContain(record.backup.path);
    expect(await run.page.locator('table.sample tbody tr').count()).toBeGreaterThan(0);
    expect(await run.page.locator('table.steps tbody tr').count()).toBe(7);
    await screenshot(run.page, 'run');
    expect(run.problems).toEqual([]);
    await run.page.close();
    // The run wrote, and the dashboard, open on the pages since, wrote nothing to the users.
    expect(users).not.toBe(afterRun);
    expect(await collectionChecksum(database.db(), 'users')).toBe(afterRun);
  }, 180_000);

  it('times read at a glance (local time and age, ISO in the tooltip), durations as 1 min 12 s, the chart on the range its samples fill', async () => {
    // A reader in New York, in British English: what the page shows is theirs, not the server's.
    const reader = { locale: 'en-GB', timezoneId: 'America/New_York' };
    const localClock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZone: reader.timezoneId });
    const localDay = new Intl.DateTimeFormat('en-GB', { dateStyle: 'short', timeZone: reader.timezoneId });
    const localDayAndClock = new Intl.DateTimeFormat('en-GB', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: reader.timezoneId });
    const local = (at: Date) => (localDay.format(at) === localDay.format(new Date()) ? localClock : localDayAndClock).format(at);
    // A deployment sampled for the last three hours only: the chart opens on 6 h, not on 24 h with a sliver at its edge.
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const oldest = new Date(minute - 3 * 3_600_000);
    const samples = [oldest, new Date(minute - 2 * 3_600_000), new Date(minute - 3_600_000)].map((at) => ({
      _id: `users@${at.toISOString()}`, collection: 'users', at, measuredAt: at,
      total: 900, online: 310, stale: 290, malformed: 0, connected: null, onlineConnected: null, ghosts: null, missing: null,
    }));
    await database.db().collection('presence_samples').insertMany(samples as never[]);

    const { page, problems } = await openPage('/', reader);
    expect(await page.getAttribute('.ranges a[aria-current]', 'href')).toBe('/?range=6h');
    expect(await page.getAttribute('#presence-chart', 'data-range')).toBe('6h');
    await until('the chart draws the samples', async () => Number(await page.getAttribute('#presence-chart', 'data-points')) >= 3);
    const since = page.locator('[data-samples-since] time');
    expect(await since.getAttribute('datetime')).toBe(oldest.toISOString());
    expect(await since.getAttribute('title')).toBe(oldest.toISOString());
    // Three hours from the start of the test's minute: a page drawn after that minute ended reads "3 h 1 min ago".
    expect(await since.textContent()).toMatch(new RegExp(`^${local(oldest)} \\(3 h( 1 min)? ago\\)$`));

    const measured = page.locator('[data-measured-at] time');
    const measuredAt = new Date((await measured.getAttribute('datetime'))!);
    expect(await measured.getAttribute('title')).toBe(measuredAt.toISOString());
    expect(await measured.textContent()).toMatch(new RegExp(`^${local(measuredAt)} \\(\\d+ s ago\\)$`));
    expect(await visibleIsoText(page)).toEqual([]);
    await screenshot(page, 'presence-times');
    expect(problems).toEqual([]);
    await page.close();

    const dryRun = await runCli(['stale', '--dry-run', '--uri', database.uri(), '--json'], { env });
    expect(dryRun.code, dryRun.stderr).toBe(0);
    const run = await openPage(`/runs/${parseJson<TaskRunRecord>(dryRun.stdout)._id}`, reader);
    const started = run.page.locator('.facts time').first();
    expect(await started.getAttribute('title')).toBe(await started.getAttribute('datetime'));
    expect(await started.textContent()).toMatch(/^\d\d:\d\d:\d\d \((\d+ s|\d+ min) ago\)$|^\d+ \w+, \d\d:\d\d \(/);
    const took = await run.page.locator('dt:text-is("duration") + dd').textContent();
    expect(took).toMatch(/^(\d+ ms|\d+\.\d s|\d+ min \d+ s)$/);
    expect(await visibleIsoText(run.page)).toEqual([]);
    await screenshot(run.page, 'run-times');
    expect(run.problems).toEqual([]);
    await run.page.close();
  });

  it('Tasks: every task with its version and state, as presence tasks --json says', async () => {
    const listed = await runCli(['tasks', '--uri', database.uri(), '--json'], { env });
    const tasks = parseJson<Array<{ task: string; version: number; state: string }>>(listed.stdout);
    const { page, problems } = await openPage('/tasks');
    const rows = await Promise.all(
      (await page.locator('table.tasks tbody tr').all()).map(async (row) => (await row.locator('td').allTextContents()).slice(0, 4).map((text) => text.trim())),
    );
    expect(rows).toEqual(tasks.map((task) => [task.task, String(task.version), expect.any(String), task.state]));
    await screenshot(page, 'tasks');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('refuses a browser without the token or with a wrong one, and lets the right one in', async () => {
    const guarded = await startDashboardProcess(['--uri', database.uri()], { ...env, PRESENCE_DASHBOARD_TOKEN: TOKEN });
    try {
      // Refused: a 401 page, or (credentials given and refused) Chromium giving up on them; either way no figure shown.
      const attempts: Array<[string, Parameters<Browser['newContext']>[0], number]> = [
        ['token-missing', {}, 401],
        ['token-wrong-bearer', { extraHTTPHeaders: { authorization: 'Bearer not-the-token-at-all' } }, 401],
        ['token-wrong-typed', { httpCredentials: { username: 'operator', password: 'not-the-token-at-all' } }, 401],
        ['token-right', { httpCredentials: { username: 'operator', password: TOKEN } }, 200],
      ];
      for (const [name, options, status] of attempts) {
        const context = await browser.newContext(options);
        const page = await context.newPage();
        const outcome = await page.goto(guarded.url + '/').then(
          (response) => ({ status: response?.status(), loaded: true }),
          (error: Error) => ({ status: /ERR_INVALID_AUTH_CREDENTIALS/.test(error.message) ? 401 : error.message, loaded: false }),
        );
        expect(outcome.status, name).toBe(status);
        if (outcome.loaded) {
          if (status === 200) expect(await page.getAttribute('[data-figure="online"]', 'data-value')).toMatch(/^\d+$/);
          else expect(await page.content()).not.toContain('data-figure');
          await screenshot(page, name);
        }
        await context.close();
      }
    } finally {
      await guarded.stop();
    }
  });
});
