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
  /** Every command, by name and collection (`update users`, `find maintenance_runs`). */
  commands: Record<string, number>;
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
      detail: `${mb(cases.toolSmall.peakRssMb)} at ${count(users / 10)} users → ${mb(cases.tool.peakRssMb)} at ${count(users)} (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%)`,
    },
  ];
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

export function table(cases: Cases, targets: readonly Target[]): string[] {
  const header = ['case', 'docs/s', 'total', 'plan', 'backup', 'apply', 'verify', 'round trips', 'update cmds', 'process', 'CPU', 'peak RSS'];
  const row = (name: string, summary: CaseSummary) => [
    name,
    summary.written > 0 ? rate(summary.docsPerSecond) : '–',
    ms(summary.totalMs),
    step(summary, 'plan'),
    step(summary, 'backup'),
    step(summary, 'apply'),
    step(summary, 'verify'),
    count(summary.roundTrips),
    count(summary.updateCommands),
    ms(summary.processMs),
    ms(summary.cpuMs),
    mb(summary.peakRssMb),
  ];
  const rows = [
    header,
    row('naive (updateMany)', cases.naive),
    row('raw-safe (driver)', cases.rawSafe),
    row('tool (presence stale)', cases.tool),
    row('plan: count + sample', cases.bare),
    row('plan: tool --dry-run', cases.dryRun),
    row('tool at 1/10 the users', cases.toolSmall),
    row('raw-safe, presence.online', cases.rawSafeNested),
    row('tool, presence.online', cases.toolNested),
  ];
  const widths = header.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  const lines = rows.map((cells) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  '));
  return [
    ...lines,
    '',
    `tool / raw-safe: ${(cases.tool.docsPerSecond / cases.rawSafe.docsPerSecond).toFixed(2)} × the throughput · tool / naive: ${(cases.tool.docsPerSecond / cases.naive.docsPerSecond).toFixed(3)} ×`,
    ...targets.map((target) => `${target.met ? '✔' : '✘'} ${target.name}: ${target.detail}`),
  ];
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
