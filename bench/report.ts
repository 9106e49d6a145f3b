import { cpus, totalmem } from 'node:os';

/** One measured case in one run. */
export interface Sample {
  written: number;
  /** The work's wall time: for the tool, its run record's duration (lock to audit). */
  totalMs: number;
  stepMs: Record<string, number>;
  processMs: number;
  peakRssMb: number;
  /** The process's CPU time, start-up included. */
  cpuMs: number;
  roundTrips: number;
  /** Write commands on the users collection: `update` statements travel in these. */
  updateCommands: number;
  /** `delete` commands on the users collection (a purge's or an archive's conditional deletes). */
  deleteCommands: number;
  /** `insert` commands on the archive collection (an archive's copies). */
  insertCommands: number;
  /** Every command, by name and collection (`update users`, `find maintenance_runs`). */
  commands: Record<string, number>;
  /** Time waited on the server, ms, by the same keys. */
  commandMs: Record<string, number>;
}

export interface CaseSummary {
  runs: number;
  written: number;
  docsPerSecond: number;
  totalMs: number;
  stepMs: Record<string, number>;
  processMs: number;
  peakRssMb: number;
  cpuMs: number;
  roundTrips: number;
  updateCommands: number;
  deleteCommands: number;
  insertCommands: number;
  commandMs: Record<string, number>;
}

export interface Target {
  name: string;
  met: boolean;
  detail: string;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Medians, metric by metric, over the runs of a case. */
export function summarize(samples: readonly Sample[]): CaseSummary {
  const of = (pick: (sample: Sample) => number | undefined) => {
    const values = samples.map(pick).filter((value): value is number => value !== undefined);
    return values.length === samples.length ? median(values) : undefined;
  };
  const steps = [...new Set(samples.flatMap((sample) => Object.keys(sample.stepMs)))];
  const commandKeys = [...new Set(samples.flatMap((sample) => Object.keys(sample.commandMs)))];
  return {
    runs: samples.length,
    written: of((sample) => sample.written)!,
    docsPerSecond: of((sample) => (sample.written * 1000) / sample.totalMs)!,
    totalMs: of((sample) => sample.totalMs)!,
    stepMs: Object.fromEntries(steps.map((step) => [step, of((sample) => sample.stepMs[step]) ?? 0])),
    processMs: of((sample) => sample.processMs)!,
    peakRssMb: of((sample) => sample.peakRssMb)!,
    cpuMs: of((sample) => sample.cpuMs)!,
    roundTrips: of((sample) => sample.roundTrips)!,
    updateCommands: of((sample) => sample.updateCommands)!,
    deleteCommands: of((sample) => sample.deleteCommands)!,
    insertCommands: of((sample) => sample.insertCommands)!,
    commandMs: Object.fromEntries(commandKeys.map((key) => [key, of((sample) => sample.commandMs[key] ?? 0)!])),
  };
}

export interface Cases {
  naive: CaseSummary;
  rawSafe: CaseSummary;
  tool: CaseSummary;
  bare: CaseSummary;
  dryRun: CaseSummary;
  toolSmall: CaseSummary;
  /** The same safe work with presence in a sub-document (`presence.online`, `presence.lastSeen`). */
  rawSafeNested: CaseSummary;
  toolNested: CaseSummary;
  /** The stale users deleted: by hand (whole-document backup, conditional deletes) and by `presence run purge-stale`. */
  rawPurge: CaseSummary;
  toolPurge: CaseSummary;
  toolPurgeSmall: CaseSummary;
  /** The stale users moved to an archive collection: copy (majority), then conditional deletes. */
  rawArchive: CaseSummary;
  toolArchive: CaseSummary;
  toolArchiveSmall: CaseSummary;
}

/** The targets, each with the figures that decide it. */
export function checkTargets(cases: Cases, expectedBatches: number, users: number): Target[] {
  const throughput = cases.tool.docsPerSecond / cases.rawSafe.docsPerSecond;
  const nestedThroughput = cases.toolNested.docsPerSecond / cases.rawSafeNested.docsPerSecond;
  const plan = (cases.dryRun.stepMs.plan ?? 0) / cases.bare.totalMs;
  const growth = cases.tool.peakRssMb / cases.toolSmall.peakRssMb - 1;
  const commands = cases.tool.updateCommands;
  return [
    {
      name: 'tool throughput ≥ 0.9 × raw-safe',
      met: throughput >= 0.9,
      detail: `${throughput.toFixed(2)} × (${rate(cases.tool.docsPerSecond)} against ${rate(cases.rawSafe.docsPerSecond)})`,
    },
    {
      name: 'nested paths: tool throughput ≥ 0.9 × raw-safe',
      met: nestedThroughput >= 0.9,
      detail: `${nestedThroughput.toFixed(2)} × (${rate(cases.toolNested.docsPerSecond)} against ${rate(cases.rawSafeNested.docsPerSecond)})`,
    },
    {
      name: 'one bulk command per batch',
      met: commands === expectedBatches,
      detail: `${commands} update commands on the users collection for ${expectedBatches} batches`,
    },
    {
      name: 'plan ≤ 1.2 × count + sample',
      met: plan <= 1.2,
      detail: `${plan.toFixed(2)} × (plan step ${ms(cases.dryRun.stepMs.plan ?? 0)} against ${ms(cases.bare.totalMs)})`,
    },
    {
      name: 'peak RSS +≤ 20% at 10× the users, < 250 MB',
      met: growth <= 0.2 && cases.tool.peakRssMb < 250,
      detail: memoryDetail(cases.toolSmall, cases.tool, users),
    },
    ...removalTargets('purge', cases.toolPurge, cases.rawPurge, cases.toolPurgeSmall, expectedBatches, users),
    ...removalTargets('archive', cases.toolArchive, cases.rawArchive, cases.toolArchiveSmall, expectedBatches, users),
  ];
}

/** A purge's or an archive's targets: throughput against the same work by hand, one command of each write per batch, flat memory. */
function removalTargets(name: 'purge' | 'archive', tool: CaseSummary, raw: CaseSummary, small: CaseSummary, expectedBatches: number, users: number): Target[] {
  const throughput = tool.docsPerSecond / raw.docsPerSecond;
  const growth = tool.peakRssMb / small.peakRssMb - 1;
  const inserts = name === 'archive' ? tool.insertCommands : expectedBatches;
  return [
    {
      name: `${name}: tool throughput ≥ 0.9 × raw-safe`,
      met: throughput >= 0.9,
      detail: `${throughput.toFixed(2)} × (${rate(tool.docsPerSecond)} against ${rate(raw.docsPerSecond)})`,
    },
    {
      name: name === 'archive' ? 'archive: one bulk insert and one bulk delete command per batch' : 'purge: one bulk delete command per batch',
      met: tool.deleteCommands === expectedBatches && inserts === expectedBatches,
      detail:
        `${tool.deleteCommands} delete commands on the purged collection` +
        (name === 'archive' ? `, ${tool.insertCommands} insert commands on the archive` : '') +
        ` for ${expectedBatches} batches`,
    },
    {
      name: `${name}: peak RSS +≤ 20% at 10× the users`,
      met: growth <= 0.2,
      detail: memoryDetail(small, tool, users),
    },
  ];
}

function memoryDetail(small: CaseSummary, large: CaseSummary, users: number): string {
  const growth = large.peakRssMb / small.peakRssMb - 1;
  return `${mb(small.peakRssMb)} at ${count(users / 10)} users → ${mb(large.peakRssMb)} at ${count(users)} (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%)`;
}

export function machine() {
  const cpu = cpus();
  return {
    platform: `${process.platform} ${process.arch}`,
    cpus: cpu.length,
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

const TIMES = ['docs/s', 'total', 'plan', 'backup', 'apply', 'verify', 'round trips'];
const COSTS = ['process', 'CPU', 'peak RSS'];

export function table(cases: Cases, targets: readonly Target[]): string[] {
  const updates = aligned(
    [...TIMES, 'update cmds', ...COSTS],
    [
      ['naive (updateMany)', cases.naive],
      ['raw-safe (driver)', cases.rawSafe],
      ['tool (presence stale)', cases.tool],
      ['plan: count + sample', cases.bare],
      ['plan: tool --dry-run', cases.dryRun],
      ['tool at 1/10 the users', cases.toolSmall],
      ['raw-safe, presence.online', cases.rawSafeNested],
      ['tool, presence.online', cases.toolNested],
    ],
    (summary) => [count(summary.updateCommands)],
  );
  const removals = aligned(
    [...TIMES, 'delete cmds', 'insert cmds', ...COSTS],
    [
      ['purge: raw-safe (driver)', cases.rawPurge],
      ['purge: tool (run purge-stale)', cases.toolPurge],
      ['purge: tool at 1/10', cases.toolPurgeSmall],
      ['archive: raw-safe (driver)', cases.rawArchive],
      ['archive: tool (run archive-stale)', cases.toolArchive],
      ['archive: tool at 1/10', cases.toolArchiveSmall],
    ],
    (summary) => [count(summary.deleteCommands), count(summary.insertCommands)],
  );
  const ratio = (tool: CaseSummary, raw: CaseSummary) => (tool.docsPerSecond / raw.docsPerSecond).toFixed(2);
  return [
    ...updates,
    '',
    ...removals,
    '',
    'time waiting on the server, by command (medians):',
    ...(
      [
        ['purge: raw-safe', cases.rawPurge],
        ['purge: tool', cases.toolPurge],
        ['archive: raw-safe', cases.rawArchive],
        ['archive: tool', cases.toolArchive],
      ] as const
    ).map(([name, summary]) => `  ${name.padEnd(17)} ${waits(summary)}`),
    '',
    `tool / raw-safe: ${ratio(cases.tool, cases.rawSafe)} × the throughput · tool / naive: ${(cases.tool.docsPerSecond / cases.naive.docsPerSecond).toFixed(3)} × · ` +
      `purge: ${ratio(cases.toolPurge, cases.rawPurge)} × · archive: ${ratio(cases.toolArchive, cases.rawArchive)} ×`,
    ...targets.map((target) => `${target.met ? '✔' : '✘'} ${target.name}: ${target.detail}`),
  ];
}

/** Rows of cases under a header: the timings, the case's own write-command columns, then the process's costs. */
function aligned(
  columns: readonly string[],
  cases: ReadonlyArray<readonly [string, CaseSummary]>,
  writeCommands: (summary: CaseSummary) => string[],
): string[] {
  const header = ['case', ...columns];
  const rows = [
    header,
    ...cases.map(([name, summary]) => [
      name,
      summary.written > 0 ? rate(summary.docsPerSecond) : '–',
      ms(summary.totalMs),
      step(summary, 'plan'),
      step(summary, 'backup'),
      step(summary, 'apply'),
      step(summary, 'verify'),
      count(summary.roundTrips),
      ...writeCommands(summary),
      ms(summary.processMs),
      ms(summary.cpuMs),
      mb(summary.peakRssMb),
    ]),
  ];
  const widths = header.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  return rows.map((cells) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  '));
}

/** The commands that took the most of a case's time, longest first, and the rest together. */
function waits(summary: CaseSummary): string {
  const sorted = Object.entries(summary.commandMs).sort(([, a], [, b]) => b - a);
  const rest = sorted.slice(4).reduce((sum, [, value]) => sum + value, 0);
  return [...sorted.slice(0, 4).map(([key, value]) => `${key} ${ms(value)}`), `other ${ms(rest)}`].join(' · ');
}

function step(summary: CaseSummary, name: string): string {
  return summary.stepMs[name] === undefined ? '–' : ms(summary.stepMs[name]);
}

function rate(docsPerSecond: number): string {
  return docsPerSecond >= 100 ? count(Math.round(docsPerSecond)) : docsPerSecond.toFixed(1);
}

function ms(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

function mb(value: number): string {
  return `${value.toFixed(0)} MB`;
}

export function count(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}
