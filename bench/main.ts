import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MongoClient, type Db } from 'mongodb';
import { startSandbox, type Sandbox } from '../src/db/sandbox.ts';
import { serverFacts } from '../src/db/server-facts.ts';
import { writeBatchSize } from '../src/db/server.ts';
import { appliedCounts } from '../src/engine/run-record.ts';
import { runTool, runWorker, scratchFile, type ToolRun, type WorkerRun } from './children.ts';
import type { WorkerKind } from './worker.ts';
import { connectedCase } from './connected.ts';
import { archiveOf, NESTED_FLAGS, putBackStale, resetStale, seedUsers, setAsideStale, STALE_MINUTES, type Population } from './population.ts';
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
const DEFAULT_CONNECTED_IDS = 100_000;
/** The bench's own task modules (purge and archive), loaded by the tool as an operator's `--tasks-dir`. */
const BENCH_TASKS_DIR = resolve(import.meta.dirname, 'tasks');
const USAGE = `usage: npm run bench -- [--users N] [--runs N] [--batch-size N] [--connected-ids N] [--uri mongodb://…]

Seeds a users collection (30% online, half of them stale) in the database "${DATABASE}" of --uri, else
$MONGODB_TEST_URI, else an embedded FerretDB; then times, on the same data reset between cases: one updateMany,
the same safe work written by hand with the driver, \`presence stale\` as a child process, and its plan against a
bare count + sample; the safe work by hand and the tool again with presence in a sub-document (presence.online);
the stale users purged and archived, by hand and by \`presence run\` with the bench's tasks (bench/tasks); then
\`presence reconcile --dry-run\` against an endpoint answering the active users plus
--connected-ids others (default ${count(DEFAULT_CONNECTED_IDS)}), for the memory each connected user costs.
Prints a table, writes bench/results/*.json, exits 1 when a target is missed.
Defaults: ${count(DEFAULT_EMBEDDED_USERS)} users on the embedded engine, ${count(DEFAULT_MONGODB_USERS)} on a MongoDB; 3 runs; the tool's batch size.`;

class UsageError extends Error {}

interface BenchOptions {
  users?: number;
  runs: number;
  batchSize?: number;
  connectedIds: number;
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
        'connected-ids': { type: 'string' },
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
    connectedIds: positiveInteger(parsed['connected-ids'], '--connected-ids') ?? DEFAULT_CONNECTED_IDS,
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

function withDatabase(uri: string, database: string): string {
  const url = new URL(uri);
  url.pathname = `/${database}`;
  return url.toString();
}

function cutoff(): string {
  return new Date(Date.now() - STALE_MINUTES * 60_000).toISOString();
}

/** Write commands on the case's collection (and the archive it moves documents to): one per batch of each kind. */
function writeCommandsOf(commands: Record<string, number>, collection: string, archive?: string) {
  return {
    updateCommands: commands[`update ${collection}`] ?? 0,
    deleteCommands: commands[`delete ${collection}`] ?? 0,
    insertCommands: archive === undefined ? 0 : (commands[`insert ${archive}`] ?? 0),
  };
}

function fromWorker(run: WorkerRun, collection = 'users', archive?: string): Sample {
  return {
    written: run.written,
    totalMs: run.totalMs,
    stepMs: run.stepMs,
    processMs: run.processMs,
    peakRssMb: run.peakRssMb,
    cpuMs: run.cpuMs,
    roundTrips: run.roundTrips,
    ...writeCommandsOf(run.commands, collection, archive),
    commands: run.commands,
    commandMs: run.commandMs,
  };
}

function fromTool(run: ToolRun, collection: string, archive?: string): Sample {
  const { record } = run;
  if (record.status !== 'succeeded') throw new Error(`the tool's run ${record._id} ${record.status}: ${record.error?.message}`);
  return {
    written: appliedCounts(record)?.written ?? 0,
    totalMs: record.durationMs ?? run.processMs,
    stepMs: record.stepMs as Record<string, number>,
    processMs: run.processMs,
    peakRssMb: run.peakRssMb,
    cpuMs: run.cpuMs,
    roundTrips: run.roundTrips,
    ...writeCommandsOf(run.commands, collection, archive),
    commands: run.commands,
    commandMs: run.commandMs,
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
    const batchSize = await writeBatchSize(db, options.batchSize === undefined ? undefined : { size: options.batchSize, flag: '--batch-size' });

    say(`engine: ${engine.name} · ${count(users)} users · batch ${batchSize} · ${options.runs} runs`);
    await db.dropDatabase();
    const population = await seedUsers(db, 'users', users, (done) => done % 100_000 === 0 && say(`  seeded ${count(done)}`));
    const small = await seedUsers(db, 'users_small', Math.max(1, Math.round(users / 10)));
    const nested = await seedUsers(db, 'users_nested', users, () => undefined, true);
    // Purged and archived in collections of their own: they leave the stale users at the end of the collection.
    const removal = await seedUsers(db, 'users_removal', users);
    const removalSmall = await seedUsers(db, 'users_removal_small', small.users);
    await setAsideStale(db, removal);
    await setAsideStale(db, removalSmall);
    say(
      `seeded ${count(users)} users (${count(population.stale)} stale), ${count(small.users)} (${count(small.stale)} stale), ${count(nested.users)} with presence in a sub-document, ` +
        `and ${count(removal.users)} and ${count(removalSmall.users)} to purge and archive`,
    );

    const worker = (kind: WorkerKind, target: Population = population) =>
      runWorker({
        kind,
        uri: serverUri,
        database: DATABASE,
        collection: target.collection,
        nested: target === nested,
        cutoff: cutoff(),
        batchSize,
        backupFile: backup.path,
        archiveCollection: archiveOf(target),
      });
    const tool = (target: Population, ...extra: string[]) =>
      runTool([
        'stale',
        '--minutes',
        String(STALE_MINUTES),
        '--uri',
        serverUri,
        '--collection',
        target.collection,
        '--batch-size',
        String(batchSize),
        ...(target === nested ? NESTED_FLAGS : []),
        ...extra,
      ]);
    /** `presence run purge-stale|archive-stale` with the bench's tasks, confirmed as a script confirms a known count. */
    const toolRun = (task: 'purge-stale' | 'archive-stale', target: Population) =>
      runTool([
        'run',
        task,
        '--tasks-dir',
        BENCH_TASKS_DIR,
        '--param',
        `collection=${target.collection}`,
        '--param',
        `minutes=${STALE_MINUTES}`,
        '--uri',
        serverUri,
        '--batch-size',
        String(batchSize),
        '--yes',
        '--expect',
        String(target.stale),
      ]);

    const samples: Record<keyof Cases, Sample[]> = {
      naive: [],
      rawSafe: [],
      tool: [],
      bare: [],
      dryRun: [],
      toolSmall: [],
      rawSafeNested: [],
      toolNested: [],
      rawPurge: [],
      toolPurge: [],
      toolPurgeSmall: [],
      rawArchive: [],
      toolArchive: [],
      toolArchiveSmall: [],
    };
    for (let run = 1; run <= options.runs; run++) {
      await resetStale(db, population);
      const bare = await worker('plan');
      if (bare.count !== population.stale) throw new Error(`the bare plan counted ${bare.count}, expected ${population.stale}`);
      samples.bare.push(fromWorker(bare));
      samples.dryRun.push(fromTool(await tool(population, '--dry-run'), 'users'));
      samples.naive.push(expectWritten('naive', fromWorker(await worker('naive')), population));
      await resetStale(db, population);
      samples.rawSafe.push(expectWritten('raw-safe', fromWorker(await worker('raw-safe')), population));
      await resetStale(db, population);
      samples.tool.push(
        expectWritten('tool', fromTool(await tool(population, '--yes', '--expect', String(population.stale)), 'users'), population),
      );
      await resetStale(db, small);
      samples.toolSmall.push(
        expectWritten('tool (small)', fromTool(await tool(small, '--yes', '--expect', String(small.stale)), 'users_small'), small),
      );
      await resetStale(db, nested);
      samples.rawSafeNested.push(expectWritten('raw-safe (nested)', fromWorker(await worker('raw-safe', nested), 'users_nested'), nested));
      await resetStale(db, nested);
      samples.toolNested.push(
        expectWritten('tool (nested)', fromTool(await tool(nested, '--yes', '--expect', String(nested.stale)), 'users_nested'), nested),
      );
      // Each purge or archive removes the stale users; they are put back (and the archive dropped) after it.
      const removed = async (name: string, target: Population, sample: Sample) => {
        expectWritten(name, sample, target);
        await putBackStale(db, target);
        return sample;
      };
      const moved = (target: Population) => [target.collection, archiveOf(target)] as const;
      samples.rawPurge.push(await removed('raw-safe purge', removal, fromWorker(await worker('raw-purge', removal), removal.collection)));
      samples.toolPurge.push(await removed('tool purge', removal, fromTool(await toolRun('purge-stale', removal), removal.collection)));
      samples.toolPurgeSmall.push(
        await removed('tool purge (small)', removalSmall, fromTool(await toolRun('purge-stale', removalSmall), removalSmall.collection)),
      );
      samples.rawArchive.push(await removed('raw-safe archive', removal, fromWorker(await worker('raw-archive', removal), ...moved(removal))));
      samples.toolArchive.push(await removed('tool archive', removal, fromTool(await toolRun('archive-stale', removal), ...moved(removal))));
      samples.toolArchiveSmall.push(
        await removed('tool archive (small)', removalSmall, fromTool(await toolRun('archive-stale', removalSmall), ...moved(removalSmall))),
      );
      say(
        `run ${run}/${options.runs}: naive ${seconds(samples.naive.at(-1)!)} · raw-safe ${seconds(samples.rawSafe.at(-1)!)} · ` +
          `tool ${seconds(samples.tool.at(-1)!)} · nested: raw-safe ${seconds(samples.rawSafeNested.at(-1)!)}, tool ${seconds(samples.toolNested.at(-1)!)} · plan ${seconds(samples.bare.at(-1)!)} vs dry-run plan step ${Math.round(samples.dryRun.at(-1)!.stepMs.plan ?? 0)} ms · ` +
          `purge: raw-safe ${seconds(samples.rawPurge.at(-1)!)}, tool ${seconds(samples.toolPurge.at(-1)!)} · archive: raw-safe ${seconds(samples.rawArchive.at(-1)!)}, tool ${seconds(samples.toolArchive.at(-1)!)}`,
      );
    }

    await resetStale(db, population);
    const connected = await connectedCase(db, serverUri, population, options.connectedIds);

    const cases = Object.fromEntries(Object.entries(samples).map(([name, list]) => [name, summarize(list)])) as unknown as Cases;
    const expectedBatches = Math.ceil(population.stale / batchSize);
    const targets = checkTargets(cases, expectedBatches, users);
    const host = machine();
    say('');
    say(`presence bench · ${engine.name} · ${count(users)} users, ${count(population.stale)} stale · batch ${batchSize} · medians of ${options.runs} runs`);
    say(`machine: ${host.cpuModel}, ${host.cpus} CPUs, ${host.memoryGb} GB, ${host.platform}, node ${host.node}`);
    say("round trips: commands each process sent, from its driver's command log (handshakes and server monitoring aside); total: the work (tool: its run record, lock to audit)");
    say('');
    for (const line of table(cases, targets)) say(line);
    say('');
    say(
      `connected set: ${count(connected.connectedIds)} connected ids cost ${count(connected.bytesPerConnectedUser)} B each at peak ` +
        `(peak RSS ${connected.few.peakRssMb.toFixed(0)} MB with ${count(connected.few.ids)} → ${connected.many.peakRssMb.toFixed(0)} MB); ` +
        `plan ${Math.round(connected.few.planMs)} → ${Math.round(connected.many.planMs)} ms; ${count(connected.planned)} ghosts planned both times`,
    );

    const results = {
      at: new Date().toISOString(),
      engine: engine.name,
      machine: host,
      users,
      stale: population.stale,
      smallUsers: small.users,
      batchSize,
      runs: options.runs,
      roundTripsCountedBy: "each process's driver command log (MONGODB_LOG_COMMAND=debug)",
      cases,
      samples,
      targets,
      connected,
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
    await sandbox?.stop();
  }
}

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
