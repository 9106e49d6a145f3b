import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { startSandbox, type Sandbox } from '../src/db/sandbox.ts';

const REPO = resolve(import.meta.dirname, '..');
const PRESENCE_BIN = join(REPO, 'bin', 'presence.js');
const DATABASE = 'bench_startup';

const USAGE = `usage: npm run bench:startup -- [--runs N] [--uri mongodb://…]

Times, from spawn to exit, the median of N runs (default 9, after one unmeasured warm-up) of a bare \`node -e 0\`,
\`presence --help\`, and \`presence status\` on an empty collection of --uri, else $MONGODB_TEST_URI, else an
embedded FerretDB; exits 1 when a median misses its target.`;

interface Case {
  name: string;
  args: string[];
  /** Issue 10: the CLI starts without transpiling itself. */
  targetMs?: number;
}

function timeOnce(args: readonly string[]): Promise<number> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      const elapsed = performance.now() - started;
      if (code === 0) done(elapsed);
      else fail(new Error(`node ${args.join(' ')} exited ${code}: ${stderr.trim().slice(-300)}`));
    });
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function withDatabase(uri: string): string {
  const url = new URL(uri);
  url.pathname = `/${DATABASE}`;
  return url.toString();
}

async function measure(runs: number, uri: string): Promise<boolean> {
  const cases: Case[] = [
    { name: 'node -e 0', args: ['-e', '0'] },
    { name: 'presence --help', args: [PRESENCE_BIN, '--help'], targetMs: 400 },
    { name: 'presence status (empty collection)', args: [PRESENCE_BIN, 'status', '--uri', uri], targetMs: 800 },
  ];
  let allMet = true;
  console.log(`${'CASE'.padEnd(36)} ${'MEDIAN'.padStart(8)} ${'MIN'.padStart(8)} ${'MAX'.padStart(8)}  TARGET`);
  for (const { name, args, targetMs } of cases) {
    await timeOnce(args);
    const samples: number[] = [];
    for (let run = 0; run < runs; run++) samples.push(await timeOnce(args));
    const middle = median(samples);
    const met = targetMs === undefined || middle <= targetMs;
    allMet &&= met;
    const target = targetMs === undefined ? '-' : `≤ ${targetMs} ms ${met ? 'met' : 'MISSED'}`;
    const ms = (value: number) => `${Math.round(value)} ms`.padStart(8);
    console.log(`${name.padEnd(36)} ${ms(middle)} ${ms(Math.min(...samples))} ${ms(Math.max(...samples))}  ${target}`);
  }
  return allMet;
}

/** `npm run bench:startup`: how long the compiled CLI takes to start, against a bare node. */
async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { runs: { type: 'string', default: '9' }, uri: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) {
    console.error('bench:startup: --runs must be a whole number between 1 and 1000');
    return 2;
  }
  let sandbox: Sandbox | undefined;
  let client: MongoClient | undefined;
  try {
    const given = values.uri ?? process.env.MONGODB_TEST_URI;
    if (given === undefined) sandbox = await startSandbox({ log: (line) => console.log(line) });
    const uri = withDatabase(given ?? sandbox!.uri);
    client = await MongoClient.connect(uri, { serverSelectionTimeoutMS: 5000 });
    await client.db(DATABASE).dropDatabase();
    await client.db(DATABASE).createCollection('users');
    console.log(`${runs} runs per case, on ${process.platform} with node ${process.version}`);
    return (await measure(runs, uri)) ? 0 : 1;
  } finally {
    await client?.db(DATABASE).dropDatabase().catch(() => undefined);
    await client?.close();
    await sandbox?.stop();
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(`bench:startup: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS') ? 2 : 1;
}
