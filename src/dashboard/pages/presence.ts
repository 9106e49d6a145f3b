import { html } from 'hono/html';
import { bytes, count } from '../../views/format.ts';
import { indexKeyText } from '../../presence/indexes.ts';
import { describeOnline } from '../../presence/model.ts';
import type { PresenceReport } from '../data.ts';
import { instant, table, type Html } from './layout.ts';

/** The chart's time ranges; the samples are thinned to about one point per pixel of a wide chart. */
export const CHART_RANGES = { '1h': 3_600_000, '6h': 21_600_000, '24h': 86_400_000, '7d': 604_800_000, '30d': 2_592_000_000 } as const;
export type ChartRange = keyof typeof CHART_RANGES;

/** The smallest range that holds every sample since `oldest` (the widest when none does; the narrowest before any). */
export function rangeHolding(oldest: Date | undefined, now: Date): ChartRange {
  const ranges = Object.entries(CHART_RANGES) as Array<[ChartRange, number]>;
  const age = oldest === undefined ? 0 : now.getTime() - oldest.getTime();
  return (ranges.find(([, span]) => span >= age) ?? ranges.at(-1)!)[0];
}

/**
 * One figure of `presence status`: its number (`data-value` holds it raw, for
 * the page's refresh and for tests), or "unknown" with why, never a zero.
 */
function figure(name: string, value: number | null, unknownReason: string | undefined): Html {
  return value === null
    ? html`<span class="figure unknown" data-figure="${name}" data-value="" title="${unknownReason ?? ''}">unknown</span>`
    : html`<span class="figure" data-figure="${name}" data-value="${value}">${count(value)}</span>`;
}

export function presenceBody(report: PresenceReport, range: ChartRange, oldestSample: Date | undefined): Html {
  const { model, figures, connected } = report.status;
  const unknown = figures.unknown;
  const row = (label: string, name: keyof typeof figures & string, note: Html | string) =>
    html`<tr><th scope="row">${label}</th><td class="number">${figure(name, figures[name] as number | null, unknown[name])}</td><td>${unknown[name] ?? note}</td></tr>`;
  return html`
<p>Online in ${describeOnline(model)}, last activity in <code>${model.lastSeenField}</code>, in <code>${figures.database}.${figures.collection}</code>.
Measured <span data-measured-at>${instant(figures.measuredAt)}</span>; refreshed every few seconds while this page is open.</p>
<section aria-labelledby="figures-title">
<h2 id="figures-title">Now</h2>
<table class="figures">
<tbody>
${row('users', 'total', 'estimated from collection metadata')}
${row('online', 'online', '')}
${row(`stale (> ${figures.staleMinutes} min)`, 'stale', html`online, last active before ${instant(figures.staleCutoff)}`)}
${row('no activity time', 'onlineWithoutActivity', `online without a ${model.lastSeenField}`)}
${row('offline', 'offline', '')}
${row('no presence field', 'withoutPresence', `no ${model.online.field}`)}
${row('malformed presence', 'malformed', 'left alone by every write (presence test shows which)')}
<tr><th scope="row">oldest online activity</th><td class="number">${
    figures.oldestOnlineActivity ? instant(figures.oldestOnlineActivity) : unknown.oldestOnlineActivity ? 'unknown' : '-'
  }</td><td>${unknown.oldestOnlineActivity ?? ''}</td></tr>
${indexRows(report)}
</tbody>
</table>
</section>
<section aria-labelledby="connected-title">
<h2 id="connected-title">Against who is connected</h2>
${connectedBody(connected)}
</section>
<section aria-labelledby="runs-title">
<h2 id="runs-title">Last presence runs</h2>
${lastRuns(report)}
</section>
<section aria-labelledby="chart-title">
<h2 id="chart-title">Over time</h2>
<nav class="ranges">${Object.keys(CHART_RANGES).map(
    (key) => html`<a href="/?range=${key}"${key === range ? html` aria-current="true"` : ''}>${key}</a>`,
  )}</nav>
${oldestSample ? html`<p data-samples-since>Samples go back to ${instant(oldestSample)}.</p>` : ''}
<div id="presence-chart" class="chart" data-range="${range}" role="img" aria-label="users online in the database, connected users and ghosts over the last ${range}"></div>
<p class="chart-empty" data-chart-empty hidden>No samples in this range yet: every <code>presence status</code>, scheduled run and refresh of this page records one a minute at most.</p>
<noscript><p>The chart is drawn by this dashboard's own script (nothing is fetched from elsewhere); the figures above need none.</p></noscript>
<p class="note">Samples: one a minute at most per users collection, recorded by <code>presence status</code>, scheduled runs and this page,
in <code>presence_samples</code> of the target; kept ${report.samples.retentionDays} days (about ${bytes(report.samples.bytesPerDay)} a day).
This measurement: <span data-sample-note>${report.sampleNote}</span>.</p>
</section>`;
}

function indexRows(report: PresenceReport): Html {
  const { indexes, unknown } = report.status.figures;
  if (indexes === null) return html`<tr><th scope="row">presence index</th><td class="number">unknown</td><td>${unknown.indexes ?? ''}</td></tr>`;
  return html`${indexes.indexes.map(({ spec, servedBy, conflict }) =>
    servedBy
      ? html`<tr><th scope="row">presence index</th><td class="number ok">ok</td><td><code>${indexKeyText(spec)}</code> (${servedBy})</td></tr>`
      : conflict
        ? html`<tr><th scope="row">presence index</th><td class="number bad">CONFLICT</td><td><code>${indexKeyText(spec)}</code>: ${conflict}; drop it, then: <code>presence run presence-indexes</code></td></tr>`
        : html`<tr><th scope="row">presence index</th><td class="number bad">MISSING</td><td><code>${indexKeyText(spec)}</code>: create it with <code>presence run presence-indexes</code></td></tr>`,
  )}`;
}

function connectedBody(connected: PresenceReport['status']['connected']): Html {
  if (connected.state === 'not-configured') {
    return html`<p>No connected-set source is configured, so ghosts are guessed from inactivity. Start the dashboard with
<code>--connected &lt;url&gt;</code> (the app's presence endpoint, token in <code>$PRESENCE_CONNECTED_TOKEN</code>) or <code>--connected-redis &lt;uri&gt;</code>.</p>`;
  }
  if (connected.state === 'unknown') return html`<p class="bad">Connected users: UNKNOWN (${connected.reason}). Nothing is counted as offline from an incomplete answer.</p>`;
  const row = (label: string, name: string, value: number, note: string) =>
    html`<tr><th scope="row">${label}</th><td class="number"><span class="figure" data-figure="connected.${name}" data-value="${value}">${count(value)}</span></td><td>${note}</td></tr>`;
  return html`<p>Against ${connected.source}, asked ${instant(connected.at)}.</p>
<table class="figures"><tbody>
${row('connected users', 'connected', connected.connected, `${count(connected.sockets)} socket(s) on ${count(connected.servers)} server(s)`)}
${row('online in the database', 'onlineConnected', connected.onlineConnected, '')}
${row('ghosts', 'ghosts', connected.ghosts, `online in the database, not connected, inactive > ${connected.graceSeconds} s: presence reconcile`)}
${row('missing', 'missing', connected.missing, 'connected, shown offline: presence reconcile --fix-missing')}
</tbody></table>`;
}

function lastRuns(report: PresenceReport): Html {
  const runs = report.status.lastRuns;
  if (runs.length === 0) return html`<p>No presence run recorded yet. <a href="/tasks">The tasks</a> say what can run.</p>`;
  return table(
    ['started', 'run', 'task', 'status', 'result'],
    runs.map((run) => [
      instant(run.startedAt),
      html`<a href="/runs/${run.runId}">${run.runId}</a>`,
      `${run.task}${run.dryRun ? ' (dry run)' : ''}`,
      html`<span class="status status-${run.status}">${run.status}</span>`,
      run.result ? `${count(run.result.written)} written, ${count(run.result.skipped)} skipped, ${count(run.result.failed)} failed` : (run.error ?? '-'),
    ]),
    'runs',
  );
}
