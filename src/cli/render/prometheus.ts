import { appliedCounts, RunStatus, type RunRecord } from '../../engine/run-record.ts';
import type { ConnectedFigures } from '../../presence/connected-figures.ts';
import type { PresenceFigures } from '../../presence/figures.ts';
import { indexKeyText } from '../../presence/indexes.ts';

type Labels = Record<string, string>;

interface Metric {
  name: string;
  help: string;
  samples: { labels?: Labels; value: number }[];
}

/** Milliseconds as seconds, to the microsecond: no floating-point noise in the exposition. */
function seconds(ms: number): number {
  return Math.round(ms * 1000) / 1_000_000;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function sampleLine(name: string, labels: Labels | undefined, value: number): string {
  const entries = Object.entries(labels ?? {});
  const text = entries.length === 0 ? '' : `{${entries.map(([key, v]) => `${key}="${escapeLabel(v)}"`).join(',')}}`;
  return `${name}${text} ${Number.isFinite(value) ? value : 'NaN'}`;
}

/**
 * The Prometheus text exposition (format 0.0.4) of `status`, for a
 * textfile collector or a scrape wrapper: every figure a gauge.
 */
export function prometheusText(
  figures: PresenceFigures,
  lastRuns: ReadonlyMap<string, RunRecord>,
  connected?: ConnectedFigures,
): string {
  const collection = { collection: figures.collection };
  const known = (value: number | null, labels: Labels) => (value === null ? [] : [{ labels, value }]);
  const oldest = figures.oldestOnlineActivity;
  const metrics: Metric[] = [
    {
      // Always there, known or not: a textfile left behind by a status that no longer runs keeps its old value, and an
      // alert on its age (or its absence) says that no figure is fresh.
      name: 'presence_measured_timestamp_seconds',
      help: 'When this status measured, Unix time.',
      samples: [{ labels: collection, value: figures.measuredAt.getTime() / 1000 }],
    },
    {
      name: 'presence_users',
      help: 'Users by presence state (online, offline, without a presence field, malformed).',
      samples: [
        ...known(figures.online, { ...collection, state: 'online' }),
        ...known(figures.offline, { ...collection, state: 'offline' }),
        ...known(figures.withoutPresence, { ...collection, state: 'without_presence' }),
        ...known(figures.malformed, { ...collection, state: 'malformed' }),
      ],
    },
    {
      name: 'presence_documents',
      help: 'Documents in the presence collection, from the collection metadata.',
      samples: known(figures.total, collection),
    },
    { name: 'presence_online_users', help: 'Users online.', samples: known(figures.online, collection) },
    {
      name: 'presence_stale_users',
      help: 'Users online and inactive longer than the stale threshold.',
      samples: known(figures.stale, { ...collection, threshold_minutes: String(figures.staleMinutes) }),
    },
    {
      name: 'presence_online_without_activity_users',
      help: 'Users online with no last-activity time.',
      samples: known(figures.onlineWithoutActivity, collection),
    },
    {
      name: 'presence_oldest_online_activity_age_seconds',
      help: 'Age of the oldest last activity among online users (0 when none).',
      samples: known(
        figures.unknown.oldestOnlineActivity !== undefined
          ? null
          : oldest
            ? seconds(Math.max(0, figures.measuredAt.getTime() - oldest.getTime()))
            : 0,
        collection,
      ),
    },
    {
      // A figure not measured within --max-time has no sample rather than NaN: NaN compares false, so an alert
      // such as `presence_stale_users > 100` would read as healthy; a missing series is caught by absent(), and this says why.
      name: 'presence_figure_unknown',
      help: '1 for each figure this status could not measure within --max-time (its sample is left out).',
      samples: Object.keys(figures.unknown).map((figure) => ({ labels: { ...collection, figure }, value: 1 })),
    },
    {
      name: 'presence_index_missing',
      help: '1 when a recommended presence index is missing.',
      samples: (figures.indexes?.indexes ?? []).map(({ spec, servedBy }) => ({
        labels: { ...collection, index: indexKeyText(spec) },
        value: servedBy ? 0 : 1,
      })),
    },
    {
      name: 'presence_index_conflict',
      help: '1 when an index holding the recommended name cannot serve (partial, hidden, sparse, another key): drop it.',
      samples: (figures.indexes?.indexes ?? []).map(({ spec, conflict }) => ({
        labels: { ...collection, index: indexKeyText(spec) },
        value: conflict ? 1 : 0,
      })),
    },
    {
      name: 'presence_operation_latency_seconds',
      help: 'How long each presence query of this status took.',
      samples: Object.entries(figures.latencyMs).map(([operation, ms]) => ({ labels: { operation }, value: seconds(ms) })),
    },
    ...(connected === undefined ? [] : connectedMetrics(connected, collection)),
    ...runMetrics(lastRuns),
  ];
  const lines: string[] = [];
  for (const metric of metrics) {
    lines.push(`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} gauge`);
    for (const sample of metric.samples) lines.push(sampleLine(metric.name, sample.labels, sample.value));
  }
  return lines.join('\n') + '\n';
}

/** Against who is really connected; when the source did not answer completely, only its health: unknown is never 0. */
function connectedMetrics(connected: ConnectedFigures, collection: Labels): Metric[] {
  const source = { source: connected.source };
  const health: Metric = {
    name: 'presence_connected_source_up',
    help: '1 when the connected figures are known; 0 when the source answered partially, late or not at all, or the database not within --max-time.',
    samples: [{ labels: source, value: connected.state === 'known' ? 1 : 0 }],
  };
  if (connected.state === 'unknown') return [health];
  const gauge = (name: string, help: string, value: number, labels: Labels = collection): Metric => ({ name, help, samples: [{ labels, value }] });
  return [
    health,
    gauge('presence_connected_source_info', 'How the connected set was asked for: via="ids" (presenceResponder) or via="fetchSockets".', 1, {
      ...source,
      via: connected.via,
    }),
    gauge('presence_connected_users', 'Users connected to the Socket.IO deployment.', connected.connected, source),
    gauge('presence_connected_sockets', 'Sockets connected to the Socket.IO deployment.', connected.sockets, source),
    gauge('presence_connected_servers', 'Socket.IO servers that answered.', connected.servers, source),
    gauge('presence_online_connected_users', 'Users online in the database and connected.', connected.onlineConnected),
    gauge(
      'presence_ghost_users',
      'Users online in the database, not connected, inactive longer than the grace period.',
      connected.ghosts,
      { ...collection, grace_seconds: String(connected.graceSeconds) },
    ),
    gauge('presence_missing_users', 'Users connected but shown offline in the database.', connected.missing),
  ];
}

function runMetrics(lastRuns: ReadonlyMap<string, RunRecord>): Metric[] {
  const runs = [...lastRuns];
  const perTask = (value: (run: RunRecord) => number) => runs.map(([task, run]) => ({ labels: { task }, value: value(run) }));
  return [
    {
      name: 'presence_last_run_success',
      help: '1 when the last (non-dry) run of the task succeeded.',
      samples: perTask((run) => (run.status === RunStatus.succeeded ? 1 : 0)),
    },
    {
      name: 'presence_last_run_status',
      help: 'The status of the last (non-dry) run of the task, as a label.',
      samples: runs.map(([task, run]) => ({ labels: { task, status: run.status }, value: 1 })),
    },
    {
      name: 'presence_last_run_timestamp_seconds',
      help: 'When the last (non-dry) run of the task started, Unix time.',
      samples: perTask((run) => run.startedAt.getTime() / 1000),
    },
    {
      name: 'presence_last_run_duration_seconds',
      help: 'How long the last (non-dry) run of the task took.',
      samples: perTask((run) => seconds(run.durationMs ?? 0)),
    },
    {
      name: 'presence_last_run_written_documents',
      help: 'Users the last run set offline.',
      samples: perTask((run) => appliedCounts(run)?.written ?? 0),
    },
    {
      name: 'presence_last_run_skipped_documents',
      help: 'Users the last run left alone because they changed since its plan.',
      samples: perTask((run) => appliedCounts(run)?.skipped ?? 0),
    },
    {
      name: 'presence_last_run_update_errors',
      help: 'Failed writes of the last run, plus 1 when the run itself failed.',
      samples: perTask((run) => (appliedCounts(run)?.failed ?? 0) + (run.status === RunStatus.failed ? 1 : 0)),
    },
  ];
}
