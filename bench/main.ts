import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MongoClient, type Db } from 'mongodb';
import { startSandbox, type Sandbox } from '../src/db/sandbox.ts';
import { serverFacts } from '../src/db/server-facts.ts';
import { serverLimits } from '../src/db/server.ts';
import { DEFAULT_BATCH_SIZE } from '../src/db/server.ts';
import { startWireProxy, type WireProxy } from '../test/support/wire-proxy.ts';
import { runTool, runWorker, scratchFile, type ToolRun, type WorkerRun } from './children.ts';
import { resetStale, seedUsers, STALE_MINUTES, type Population } from './population.ts';
import { checkTargets, count, machine, summarize, table, type Cases, type Sample } from './report.ts';

/**
 * On the embedded engine every compare-and-set statement decodes the
 * collection in Go up to its document (ENGINES.md): measured on 2 cores, about
 * 6 ms + 27 µs per user in the collection, per statement. A run writes 15% of
 * the users, so its cost grows with the square of the collection: 2,000 users
 * take about a minute per run of all cases; 10,000 would take about 7 minutes
 * per raw-safe run alone, some 45 minutes for the bench.
 */
const DEFAULT_EMBEDDED_USERS = 2_000;
const DEFAULT_MONGODB_USERS = 1_000_000;
const DATABASE = 'presence_bench';
const USAGE = `usage: npm run bench -- [--users N] [--runs N] [--batch-size N] [--uri mongodb://…]

Seeds a users collection (30% online, half of them stale) in the database "${DATABASE}" of --uri, else
$MONGODB_TEST_URI, else an embedded FerretDB; then times, on the same data reset between cases: one updateMany,
the same safe work written by hand with the driver, \`presence stale\` as a child process, and its plan against a
bare count + sample. Prints a table, writes bench/results/*.json, exits 1 when a target is missed.
Defaults: ${count(DEFAULT_EMBEDDED_USERS)} users on the embedded engine, ${count(DEFAULT_MONGODB_USERS)} on a MongoDB; 3 runs; the tool's batch size.`;

class UsageError extends Error {}

interface BenchOptions {
  users?: number;
  runs: number;
  batchSize?: number;
  uri?: string;
}

function positiveInteger(raw: string | undefined, flag: string, min = 1): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw new UsageError(`${flag} must be a whole number of at least ${min}, got "${raw.slice(0, 40)}"`);
  }
  return Number(raw);
}

/** `--users -5` is a bad number, not a missing value: joined so it is judged like any other. */
function joinNegativeValues(argv: readonly string[]): string[] {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (arg.startsWith('--') && !arg.includes('=') && next !== undefined && /^-\d/.test(next)) {
      args.push(`${arg}=${next}`);
      i++;
    } else {
      args.push(arg);
    }
  }
  return args;
}

function parseOptions(argv: string[]): BenchOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv),
      options: {
        users: { type: 'string' },
        runs: { type: 'string' },
        'batch-size': { type: 'string' },
        uri: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]!);
  }
  if (parsed.help) return 'help';
  return {
    users: positiveInteger(parsed.users, '--users'),
    runs: positiveInteger(parsed.runs, '--runs', 3) ?? 3,
    batchSize: positiveInteger(parsed['batch-size'], '--batch-size'),
    uri: parsed.uri ?? process.env.MONGODB_TEST_URI,
  };
}

async function engineOf(db: Db): Promise<{ name: string; embedded: boolean }> {
  const build = await db.admin().command({ buildInfo: 1 });
  const facts = await serverFacts(db);
  const topology = facts.replicaSet ? `replica set ${facts.replicaSet}` : facts.mongos ? 'mongos' : 'standalone';
  if (typeof build.ferretdbVersion === 'string') {
    return { name: `FerretDB ${build.ferretdbVersion === 'unknown' ? '1.24 (embedded, SQLite)' : build.ferretdbVersion}, ${topology}`, embedded: true };
  }
  return { name: `MongoDB ${build.version}, ${topology}`, embedded: false };
}

/** The tool's own default on this server, or --batch-size if it fits: raw-safe uses the same. */
async function batchSizeFor(db: Db, requested: number | undefined): Promise<number> {
  const limits = await serverLimits(db);
  const limit = Math.min((await serverFacts(db)).maxWriteBatchSize, limits?.maxStatementsPerWrite ?? Number.POSITIVE_INFINITY);
  if (requested !== undefined && requested > limit) {
    throw new UsageError(`--batch-size ${requested} is more than this server takes in one write batch (${limit})`);
  }
  return requested ?? Math.min(DEFAULT_BATCH_SIZE, limit);
}

function withDatabase(uri: string, database: string): string {
  const url = new URL(uri);
  url.pathname = `/${database}`;
  return url.toString();
}

function cutoff(): string {
  return new Date(Date.now() - STALE_MINUTES * 60_000).toISOString();
}

function fromWorker(run: WorkerRun, proxied: boolean): Sample {
  return {
    written: run.written,
    totalMs: run.totalMs,
    stepMs: run.stepMs,
    processMs: run.processMs,
    peakRssMb: run.peakRssMb,
    cpuMs: run.cpuMs,
    roundTrips: proxied ? run.roundTrips : Object.values(run.monitored).reduce((sum, n) => sum + n, 0),
    updateCommands: proxied ? (run.commands['update users'] ?? 0) : run.monitored.update,
    commands: proxied ? run.commands : run.monitored,
    monitored: run.monitored,
  };
}

function fromTool(run: ToolRun, proxied: boolean, collection: string): Sample {
  const { record } = run;
  if (record.status !== 'succeeded') throw new Error(`the tool's run ${record._id} ${record.status}: ${record.error?.message}`);
  return {
    written: record.result?.written ?? 0,
    totalMs: record.durationMs ?? run.processMs,
    stepMs: record.stepMs as Record<string, number>,
    processMs: run.processMs,
    peakRssMb: run.peakRssMb,
    cpuMs: run.cpuMs,
    roundTrips: proxied ? run.roundTrips : undefined,
    updateCommands: proxied ? (run.commands[`update ${collection}`] ?? 0) : undefined,
    commands: run.commands,
  };
}

function expectWritten(name: string, sample: Sample, population: Population): Sample {
  if (sample.written !== population.stale) {
    throw new Error(`${name} changed ${sample.written} documents, expected the ${population.stale} stale users`);
  }
  return sample;
}

async function bench(options: BenchOptions, say: (line: string) => void): Promise<number> {
  let sandbox: Sandbox | undefined;
  let proxy: WireProxy | undefined;
  let client: MongoClient | undefined;
  const backup = scratchFile('raw-safe.ejson.gz');
  try {
    if (options.uri === undefined) {
      say('starting the embedded FerretDB (no --uri, no MONGODB_TEST_URI)…');
      sandbox = await startSandbox({ log: say });
    }
    const serverUri = withDatabase(options.uri ?? sandbox!.uri, DATABASE);
    client = await MongoClient.connect(serverUri, { serverSelectionTimeoutMS: 5000 });
    const db = client.db(DATABASE);
    const engine = await engineOf(db);
    const users = options.users ?? (engine.embedded ? DEFAULT_EMBEDDED_USERS : DEFAULT_MONGODB_USERS);
    const batchSize = await batchSizeFor(db, options.batchSize);
    proxy = await startWireProxy(serverUri).catch(() => undefined);
    const childUri = proxy?.uri ?? serverUri;
    const proxied = proxy !== undefined;

    say(`engine: ${engine.name} · ${count(users)} users · batch ${batchSize} · ${options.runs} runs`);
    await db.dropDatabase();
    const population = await seedUsers(db, 'users', users, (done) => done % 100_000 === 0 && say(`  seeded ${count(done)}`));
    const small = await seedUsers(db, 'users_small', Math.max(1, Math.round(users / 10)));
    say(`seeded ${count(users)} users (${count(population.stale)} stale) and ${count(small.users)} (${count(small.stale)} stale)`);

    const worker = (kind: 'naive' | 'raw-safe' | 'plan') =>
      runWorker(
        { kind, uri: childUri, database: DATABASE, collection: 'users', cutoff: cutoff(), batchSize, backupFile: backup.path },
        proxy ?? inert,
      );
    const tool = (target: Population, ...extra: string[]) =>
      runTool(
        ['stale', '--minutes', String(STALE_MINUTES), '--uri', childUri, '--collection', target.collection, '--batch-size', String(batchSize), ...extra],
        proxy ?? inert,
      );

    const samples: Record<keyof Cases, Sample[]> = { naive: [], rawSafe: [], tool: [], bare: [], dryRun: [], toolSmall: [] };
    for (let run = 1; run <= options.runs; run++) {
      await resetStale(db, population);
      const bare = await worker('plan');
      if (bare.count !== population.stale) throw new Error(`the bare plan counted ${bare.count}, expected ${population.stale}`);
      samples.bare.push(fromWorker(bare, proxied));
      samples.dryRun.push(fromTool(await tool(population, '--dry-run'), proxied, 'users'));
      samples.naive.push(expectWritten('naive', fromWorker(await worker('naive'), proxied), population));
      await resetStale(db, population);
      samples.rawSafe.push(expectWritten('raw-safe', fromWorker(await worker('raw-safe'), proxied), population));
      await resetStale(db, population);
      samples.tool.push(
        expectWritten('tool', fromTool(await tool(population, '--yes', '--expect', String(population.stale)), proxied, 'users'), population),
      );
      await resetStale(db, small);
      samples.toolSmall.push(
        expectWritten('tool (small)', fromTool(await tool(small, '--yes', '--expect', String(small.stale)), proxied, 'users_small'), small),
      );
      say(
        `run ${run}/${options.runs}: naive ${seconds(samples.naive.at(-1)!)} · raw-safe ${seconds(samples.rawSafe.at(-1)!)} · ` +
          `tool ${seconds(samples.tool.at(-1)!)} · plan ${seconds(samples.bare.at(-1)!)} vs dry-run plan step ${Math.round(samples.dryRun.at(-1)!.stepMs.plan ?? 0)} ms`,
      );
    }

    const cases = Object.fromEntries(Object.entries(samples).map(([name, list]) => [name, summarize(list)])) as unknown as Cases;
    const expectedBatches = Math.ceil(population.stale / batchSize);
    const targets = checkTargets(cases, expectedBatches, users);
    const host = machine();
    say('');
    say(`presence bench · ${engine.name} · ${count(users)} users, ${count(population.stale)} stale · batch ${batchSize} · medians of ${options.runs} runs`);
    say(`machine: ${host.cpuModel}, ${host.cpus} CPUs, ${host.memoryGb} GB, ${host.platform}, node ${host.node}`);
    say(
      proxied
        ? 'round trips: commands counted by a loopback proxy (handshakes and server monitoring aside); total: the work (tool: its run record, lock to audit)'
        : 'round trips: the workers\' command monitoring; the tool\'s are not counted (no proxy in front of a server off this machine)',
    );
    say('');
    for (const line of table(cases, targets)) say(line);

    const results = {
      at: new Date().toISOString(),
      engine: engine.name,
      machine: host,
      users,
      stale: population.stale,
      smallUsers: small.users,
      batchSize,
      runs: options.runs,
      roundTripsCountedBy: proxied ? 'loopback proxy' : 'worker command monitoring only',
      cases,
      samples,
      targets,
    };
    const dir = resolve(import.meta.dirname, 'results');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${results.at.replace(/[:.]/g, '-')}-${engine.embedded ? 'ferretdb' : 'mongodb'}-${users}.json`);
    await writeFile(file, JSON.stringify(results, null, 2) + '\n');
    await writeFile(join(dir, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
    say(`\nfigures: ${file}`);
    await db.dropDatabase();
    return targets.every((target) => target.met) ? 0 : 1;
  } finally {
    backup.remove();
    await client?.close();
    await proxy?.close();
    await sandbox?.stop();
  }
}

/** Stands in for the proxy when the server is not on this machine: counts nothing. */
const inert: WireProxy = {
  uri: '',
  counts: () => ({}),
  countsByTarget: () => ({}),
  roundTrips: () => 0,
  reset: () => {},
  close: async () => {},
};

function seconds(sample: Sample): string {
  return `${(sample.totalMs / 1000).toFixed(1)} s`;
}

export async function main(argv: string[]): Promise<number> {
  let options: BenchOptions | 'help';
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  try {
    return await bench(options, (line) => process.stdout.write(line + '\n'));
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
