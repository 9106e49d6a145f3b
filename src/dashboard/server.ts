import { Hono, type Context } from 'hono';
import { html } from 'hono/html';
import { secureHeaders } from 'hono/secure-headers';
import { z } from 'zod';
import { jsonText } from '../views/json.ts';
import { RunStatus } from '../engine/run-record.ts';
import { loopbackHostOnly, tokenRequired } from './access.ts';
import type { Asset } from './assets.ts';
import { DataUnavailable, type DashboardData, type RunsQuery } from './data.ts';
import { layout, Page } from './pages/layout.ts';
import { CHART_RANGES, presenceBody, rangeHolding, type ChartRange } from './pages/presence.ts';
import { runBody } from './pages/run.ts';
import { liveRun, runsBody } from './pages/runs.ts';
import { tasksBody } from './pages/tasks.ts';

export interface DashboardSettings {
  /** When set, every request must present it. */
  token?: string;
  /** Listening on a loopback address: requests must name a loopback host (see access.ts). */
  loopback: boolean;
  /** Seconds between a page's own refreshes of its figures and live runs. */
  refreshSeconds: number;
  assets: ReadonlyMap<string, Asset>;
}

/** Points a chart draws at most: about one per pixel of a wide screen, whatever the range. */
const CHART_POINTS = 1440;
const RUNS_PER_PAGE = 50;

class BadRequest extends Error {}

const runId = z.string().regex(/^[A-Za-z0-9][\w.-]{0,99}$/, 'not a run id');
const runsQuery = z.object({
  task: z.string().regex(/^[A-Za-z0-9][\w.-]{0,99}$/, 'not a task id').optional(),
  status: z.enum(Object.values(RunStatus) as [RunStatus, ...RunStatus[]], { error: `status must be one of ${Object.values(RunStatus).join(', ')}` }).optional(),
  before: z.iso.datetime({ error: 'before must be an ISO date and time' }).optional(),
  limit: z.coerce.number().int().min(1).max(500, 'limit must be 1 to 500').optional(),
});
const rangeQuery = z.object({
  range: z.enum(Object.keys(CHART_RANGES) as [ChartRange, ...ChartRange[]], { error: `range must be one of ${Object.keys(CHART_RANGES).join(', ')}` }).optional(),
});

function parsed<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (!result.success) throw new BadRequest(result.error.issues[0]?.message ?? 'bad request');
  return result.data;
}

/** Empty query parameters (a form submitted with "every task") mean no filter. */
function queryOf(c: Context): Record<string, string> {
  return Object.fromEntries(Object.entries(c.req.query()).filter(([, value]) => value !== ''));
}

function runsQueryOf(c: Context): RunsQuery {
  const query = parsed(runsQuery, queryOf(c));
  return { taskId: query.task, status: query.status, before: query.before ? new Date(query.before) : undefined, limit: query.limit ?? RUNS_PER_PAGE };
}

/**
 * The dashboard: three pages, their JSON, and their assets, all GET. It
 * offers no action: nothing here writes, and every other method is refused.
 */
export function dashboardApp(data: DashboardData, settings: DashboardSettings): Hono {
  const app = new Hono();
  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
      },
      xFrameOptions: 'DENY',
      // Served over plain HTTP (behind a TLS proxy when exposed): HSTS would be the proxy's to send.
      strictTransportSecurity: false,
      referrerPolicy: 'no-referrer',
      crossOriginResourcePolicy: 'same-origin',
      crossOriginOpenerPolicy: 'same-origin',
    }),
  );
  app.use(async (c, next) => {
    // Figures and runs change by the second, and some are an operator's business only: never cached.
    c.header('Cache-Control', 'no-store');
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      return c.text('405 the dashboard is read-only: GET only\n', 405, { Allow: 'GET, HEAD' });
    }
    await next();
  });
  if (settings.loopback) app.use(loopbackHostOnly());
  if (settings.token !== undefined) app.use(tokenRequired(settings.token));

  const page = (c: Context, title: string, which: Page | undefined, body: ReturnType<typeof layout>, chart = false) =>
    c.html(layout({ title, page: which, target: data.target, refreshSeconds: settings.refreshSeconds, chart, body }));

  // Opens on the smallest range that holds the samples: a new deployment's few minutes fill the chart, not a sliver.
  app.get('/', async (c) => {
    const asked = parsed(rangeQuery, queryOf(c)).range;
    // In turn: the measurement may record the first sample of all.
    const report = await data.presence();
    const oldest = await data.oldestSample();
    return page(c, 'Presence', Page.presence, presenceBody(report, asked ?? rangeHolding(oldest, new Date()), oldest), true);
  });
  app.get('/runs', async (c) => {
    const query = runsQueryOf(c);
    return page(c, 'Runs', Page.runs, runsBody(await data.runs(query), query, data.taskIds));
  });
  app.get('/runs/:id', async (c) => {
    const id = parsed(runId, c.req.param('id'));
    const record = await data.run(id);
    if (!record) return c.html(layout({ title: 'No such run', target: data.target, refreshSeconds: settings.refreshSeconds, body: html`<p>No run ${id} is recorded on this target.</p>` }), 404);
    return page(c, `Run ${id}`, Page.runs, runBody(record));
  });
  app.get('/tasks', async (c) => page(c, 'Tasks', Page.tasks, tasksBody(await data.tasks())));

  // Byte for byte what `presence status --json` prints (relaxed EJSON: dates as {"$date": …}).
  app.get('/api/status', async (c) => c.body(jsonText((await data.presence()).status), 200, { 'Content-Type': 'application/json; charset=utf-8' }));
  app.get('/api/samples', async (c) => {
    const range = parsed(rangeQuery, queryOf(c)).range ?? rangeHolding(await data.oldestSample(), new Date());
    const until = new Date();
    const since = new Date(until.getTime() - CHART_RANGES[range]);
    const samples = await data.samples(since, until, CHART_POINTS);
    return c.json({
      range,
      since,
      until,
      // uPlot's columns: seconds since the epoch, then one series per line, null where not measured.
      at: samples.map((sample) => Math.floor(sample.at.getTime() / 1000)),
      online: samples.map((sample) => sample.online),
      connected: samples.map((sample) => sample.connected),
      ghosts: samples.map((sample) => sample.ghosts),
      stale: samples.map((sample) => sample.stale),
    });
  });
  app.get('/api/runs', async (c) => c.json((await data.runs(runsQueryOf(c))).map(liveRun)));
  app.get('/api/runs/:id', async (c) => {
    const record = await data.run(parsed(runId, c.req.param('id')));
    return record ? c.json(liveRun(record)) : c.json({ error: 'no such run' }, 404);
  });

  app.get('/assets/:name', (c) => {
    const asset = settings.assets.get(c.req.param('name'));
    if (!asset) return c.text('404 no such asset\n', 404);
    return c.body(new Uint8Array(asset.body), 200, { 'Content-Type': asset.type });
  });

  app.notFound((c) => (isApi(c) ? c.json({ error: 'not found' }, 404) : c.text('404 not found: the pages are /, /runs and /tasks\n', 404)));
  app.onError((error, c) => {
    if (error instanceof BadRequest) return isApi(c) ? c.json({ error: error.message }, 400) : c.text(`400 ${error.message}\n`, 400);
    // The server's own words stay in the dashboard's log; the page says what failed without them.
    process.stderr.write(`presence dashboard: ${c.req.method} ${c.req.path}: ${oneLine(error)}\n`);
    const [message, code] =
      error instanceof DataUnavailable
        ? ['the target database did not answer this request (see the dashboard log)', 503 as const]
        : ['the dashboard failed on this request (see its log)', 500 as const];
    return isApi(c) ? c.json({ error: message }, code) : c.text(`${code} ${message}\n`, code);
  });
  return app;
}

function isApi(c: Context): boolean {
  return c.req.path.startsWith('/api/');
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').slice(0, 500);
}
