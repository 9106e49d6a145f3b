/**
 * `npm run bench:connected`: what asking "who is connected" costs a Socket.IO deployment, by way of asking.
 * A real redis-server on 127.0.0.1, N node processes on @socket.io/redis-adapter with presenceResponder, client
 * processes holding S sockets with ~1 KB handshakes; then the tool's Redis source (its own process) asks K
 * times for ids, and K times with fetchSockets(), while every node measures its event-loop delay.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import { startRedis, type RedisServer } from '../../test/support/redis-server.ts';
import { count, machine, median } from '../report.ts';
import type { AskFigures, FromAsker, FromClients, FromNode, LoopReport, ToAsker, ToNode } from './messages.ts';
import { expectedPopulation } from './population.ts';

const HERE = import.meta.dirname;
const SOCKETS_PER_CLIENT_PROCESS = 5000;
/** Each ask: this long with no ask (the quiet window), then the ask and the rest of as long again (the asking window). */
const WINDOW_MS = 1000;
const USAGE = `usage: npm run bench:connected -- [--nodes N] [--sockets S] [--asks K] [--broadcasts-per-second B]

Starts redis-server on 127.0.0.1, N Socket.IO node processes (default 2) on @socket.io/redis-adapter with
presenceResponder, and client processes holding S sockets (default 20,000) with ~1 KB handshakes; then the tool's
Redis source asks K times (default 10) each way: for ids, and with fetchSockets(), each ask after ${WINDOW_MS} ms without
one, every node's event-loop delay recorded apart in both windows (the added delay is the difference). Then again while
every node sends B notifications a second (default 100) of 200 bytes, each to one user's room (through Redis
to every node): what a read copies to the tool meanwhile.
Prints a table, writes bench/results/connected-*.json, exits 1 when a target is missed.`;

interface Options {
  nodes: number;
  sockets: number;
  asks: number;
  broadcastsPerSecond: number;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string' },
      sockets: { type: 'string' },
      asks: { type: 'string' },
      'broadcasts-per-second': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const whole = (raw: string | undefined, flag: string, fallback: number, min: number) => {
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min) throw new Error(`${flag} must be a whole number of at least ${min}`);
    return Number(raw);
  };
  return {
    nodes: whole(values.nodes, '--nodes', 2, 2),
    sockets: whole(values.sockets, '--sockets', 20_000, 10),
    asks: whole(values.asks, '--asks', 10, 3),
    broadcastsPerSecond: whole(values['broadcasts-per-second'], '--broadcasts-per-second', 100, 0),
  };
}

/** A child on the IPC channel, with enough file descriptors for its sockets (the soft limit raised as far as allowed). */
function child(file: string, env: NodeJS.ProcessEnv, fds: number): ChildProcess {
  const script = `ulimit -n ${fds} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" --import tsx "$@"`;
  return spawn('/bin/sh', ['-c', script, process.execPath, join(HERE, file)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function nextMessage<T>(process: ChildProcess, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: T) => {
      process.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code: number | null) => {
      process.off('message', onMessage);
      reject(new Error(`${what}: the process exited (${code}) first`));
    };
    process.once('message', onMessage);
    process.once('exit', onExit);
  });
}

async function redisBytes(info: ReturnType<typeof createClient>): Promise<{ in: number; out: number }> {
  const text = await info.info('stats');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { in: field('total_net_input_bytes'), out: field('total_net_output_bytes') };
}

interface WayFigures {
  via: string;
  asks: AskFigures[];
  /** Per ask: bytes into Redis (published) and out of it (delivered to subscribers). */
  redisIn: number[];
  redisOut: number[];
  /** Per window, per node. */
  quiet: LoopReport[][];
  asking: LoopReport[][];
  askerPeakRssMb: number;
  askerRssBeforeMb: number;
  /** Asks while the nodes broadcast: bytes the asker read. */
  readWhileBroadcasting: number[];
  msWhileBroadcasting: number[];
  /** Asks that got no complete answer, with their reasons. */
  failed: string[];
  /** Times the nodes' Redis connections were closed under them during this way's asks. */
  nodeRedisDisconnects: number;
}

function p99(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

async function bench(options: Options, say: (line: string) => void): Promise<number> {
  const children: ChildProcess[] = [];
  let redis: RedisServer | undefined;
  let info: ReturnType<typeof createClient> | undefined;
  try {
    redis = await startRedis();
    info = createClient({ url: redis.uri });
    await info.connect();
    const redisUri = redis.uri;
    const fds = Math.ceil(options.sockets / options.nodes) + 1024;

    const nodes = Array.from({ length: options.nodes }, () => child('node.ts', { LOAD_REDIS_URI: redisUri }, fds));
    children.push(...nodes);
    const ports = await Promise.all(nodes.map(async (node) => (await nextMessage<Extract<FromNode, { ready: true }>>(node, 'a node')).port));
    const urls = ports.map((port) => `http://127.0.0.1:${port}`).join(',');
    say(`${options.nodes} nodes listening; connecting ${count(options.sockets)} sockets…`);
    const connecting = performance.now();
    const clientProcesses: Promise<FromClients>[] = [];
    for (let from = 0; from < options.sockets; from += SOCKETS_PER_CLIENT_PROCESS) {
      const to = Math.min(options.sockets, from + SOCKETS_PER_CLIENT_PROCESS);
      const clients = child('clients.ts', { LOAD_URLS: urls, LOAD_FROM: String(from), LOAD_TO: String(to) }, to - from + 1024);
      children.push(clients);
      clientProcesses.push(nextMessage<FromClients>(clients, 'a client process'));
    }
    const connected = await Promise.all(clientProcesses);
    const failed = connected.reduce((sum, part) => sum + part.failed, 0);
    if (failed > 0) throw new Error(`${failed} socket(s) could not connect: ${connected.find((part) => part.firstError)?.firstError}`);
    say(`${count(options.sockets)} sockets connected in ${((performance.now() - connecting) / 1000).toFixed(1)} s`);
    const expected = expectedPopulation(options.sockets);

    const loops = async (): Promise<LoopReport[]> =>
      Promise.all(
        nodes.map(async (node) => {
          const report = nextMessage<Extract<FromNode, { report: LoopReport }>>(node, 'a node report');
          node.send({ do: 'take' } satisfies ToNode);
          return (await report).report;
        }),
      );
    const broadcast = (perSecond: number) => nodes.forEach((node) => node.send({ do: 'broadcast', perSecond, bytes: 200 } satisfies ToNode));
    // Sockets settle (pings, joins) before measuring.
    await sleep(2000);

    const way = async (ask: 'auto' | 'fetchSockets'): Promise<WayFigures> => {
      const asker = child('asker.ts', { LOAD_REDIS_URI: redisUri, LOAD_ASK: ask }, 1024);
      children.push(asker);
      const failures: string[] = [];
      /** One ask, checked against the population; a failed one is counted, not fatal: it is a finding. */
      const askOnce = async (): Promise<AskFigures | undefined> => {
        const answer = nextMessage<FromAsker>(asker, 'the asker');
        asker.send({ do: 'ask' } satisfies ToAsker);
        const said = await answer;
        if ('failed' in said) {
          failures.push(said.failed);
          return undefined;
        }
        if (!('asked' in said)) throw new Error('the asker said something else');
        const { asked } = said;
        if (asked.users !== expected.users || asked.sockets !== expected.sockets || asked.servers !== options.nodes) {
          throw new Error(`the ${asked.via} answer was ${asked.users} users, ${asked.sockets} sockets, ${asked.servers} servers; expected ${expected.users}, ${expected.sockets}, ${options.nodes}`);
        }
        return asked;
      };
      await askOnce(); // warm-up: modules loaded, connections' first use
      const disconnectsBefore = (await loops()).map((node) => node.redisDisconnects);
      const figures: WayFigures = {
        via: ask === 'auto' ? 'ids' : 'fetchSockets',
        asks: [],
        failed: [],
        redisIn: [],
        redisOut: [],
        quiet: [],
        asking: [],
        askerPeakRssMb: 0,
        askerRssBeforeMb: 0,
        readWhileBroadcasting: [],
        msWhileBroadcasting: [],
        nodeRedisDisconnects: 0,
      };
      for (let i = 0; i < options.asks; i++) {
        await loops();
        await sleep(WINDOW_MS);
        figures.quiet.push(await loops());
        const started = performance.now();
        const start = await redisBytes(info!);
        const asked = await askOnce();
        const end = await redisBytes(info!);
        await sleep(Math.max(0, WINDOW_MS - (performance.now() - started)));
        figures.asking.push(await loops());
        if (asked !== undefined) {
          if (asked.via !== figures.via) throw new Error(`asked ${asked.via}, expected ${figures.via}`);
          figures.asks.push(asked);
          figures.redisIn.push(end.in - start.in);
          figures.redisOut.push(end.out - start.out);
        }
      }
      if (options.broadcastsPerSecond > 0) {
        broadcast(options.broadcastsPerSecond);
        await sleep(1000);
        for (let i = 0; i < options.asks; i++) {
          const asked = await askOnce();
          if (asked !== undefined) {
            figures.readWhileBroadcasting.push(asked.readBytes);
            figures.msWhileBroadcasting.push(asked.ms);
          }
          await sleep(WINDOW_MS / 10);
        }
        broadcast(0);
        await sleep(500);
      }
      figures.failed = failures;
      figures.nodeRedisDisconnects = (await loops()).reduce((sum, node, index) => sum + node.redisDisconnects - disconnectsBefore[index]!, 0);
      const exiting = nextMessage<FromAsker>(asker, 'the asker');
      asker.send({ do: 'exit' } satisfies ToAsker);
      const exit = await exiting;
      if (!('exiting' in exit)) throw new Error('the asker did not say its peak RSS');
      figures.askerPeakRssMb = exit.peakRssMb;
      figures.askerRssBeforeMb = exit.rssBeforeMb;
      return figures;
    };

    say(`asking ${options.asks} times each way…`);
    const ids = await way('auto');
    const fetched = await way('fetchSockets');
    const nodeRss = (await loops()).map((node) => node.rssMb);

    const summary = (figures: WayFigures): Summary => {
      const ms = figures.asks.map((asked) => asked.ms);
      const quietRead = median(figures.asks.map((asked) => asked.readBytes));
      return {
        via: figures.via,
        answerMs: { median: median(ms), p99: p99(ms), max: Math.max(...ms) },
        redisBytesPerAsk: { in: median(figures.redisIn), out: median(figures.redisOut), total: median(figures.redisIn.map((bytes, i) => bytes + figures.redisOut[i]!)) },
        askerReadBytesPerAsk: quietRead,
        askerPeakRssMb: figures.askerPeakRssMb,
        askerRssBeforeMb: figures.askerRssBeforeMb,
        loopDelayMs: nodes.map((_, node) => {
          // A window holds about 100 samples: an ask's stall is its p99 and its max. The typical ask is the
          // median window; the worst ask, the worst window (against the worst quiet one: the machine is shared).
          const of = (windows: LoopReport[][], pick: (report: LoopReport) => number) => windows.map((reports) => pick(reports[node]!));
          const quiet = { p99: median(of(figures.quiet, (report) => report.p99Ms)), max: Math.max(...of(figures.quiet, (report) => report.maxMs)) };
          const p99Ms = median(of(figures.asking, (report) => report.p99Ms));
          const maxMs = Math.max(...of(figures.asking, (report) => report.maxMs));
          return { node, quiet, p99: p99Ms, max: maxMs, addedP99: p99Ms - quiet.p99, addedMax: maxMs - quiet.max };
        }),
        windows: { quiet: figures.quiet.map((reports) => reports.map(({ p99Ms, maxMs }) => ({ p99Ms, maxMs }))), asking: figures.asking.map((reports) => reports.map(({ p99Ms, maxMs }) => ({ p99Ms, maxMs }))) },
        whileBroadcasting:
          figures.readWhileBroadcasting.length === 0
            ? undefined
            : {
                answerMsMedian: median(figures.msWhileBroadcasting),
                broadcastBytesCopiedToAsker: Math.max(0, median(figures.readWhileBroadcasting) - quietRead),
              },
        failedAsks: figures.failed.length,
        failures: [...new Set(figures.failed)],
        nodeRedisDisconnects: figures.nodeRedisDisconnects,
      };
    };
    const results = {
      at: new Date().toISOString(),
      machine: machine(),
      nodes: options.nodes,
      sockets: options.sockets,
      users: expected.users,
      asksPerWay: options.asks,
      broadcasts: { perSecondPerNode: options.broadcastsPerSecond, bytes: 200 },
      nodeRssMb: nodeRss,
      ids: summary(ids),
      fetchSockets: summary(fetched),
    };
    const targets = checkTargets(results.ids, results.fetchSockets);

    const host = results.machine;
    say('');
    say(`bench:connected · ${options.nodes} nodes · ${count(options.sockets)} sockets · ${count(expected.users)} users · ${options.asks} asks each way`);
    say(`machine: ${host.cpuModel}, ${host.cpus} CPUs, ${host.memoryGb} GB, ${host.platform}, node ${host.node}; redis ${(await info.info('server')).match(/redis_version:(\S+)/)?.[1]}`);
    say('');
    for (const line of table(results.ids, results.fetchSockets)) say(line);
    say('');
    say(`node RSS after: ${nodeRss.map((mb) => `${mb.toFixed(0)} MB`).join(', ')}`);
    say(`loop p99: the median ask's window (+ over the median quiet window); loop max: the worst ask's (+ over the worst quiet one); answer: the tool's whole read (join, ask, leave)`);
    for (const target of targets) say(`${target.met ? '✔' : '✘'} ${target.name}: ${target.detail}`);

    const dir = resolve(HERE, '..', 'results');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `connected-${results.at.replace(/[:.]/g, '-')}-${options.nodes}x${options.sockets}.json`);
    const text = JSON.stringify({ ...results, targets }, null, 2) + '\n';
    await writeFile(file, text);
    await writeFile(join(dir, 'connected-latest.json'), text);
    say(`\nfigures: ${file}`);
    return targets.every((target) => target.met) ? 0 : 1;
  } finally {
    for (const process of children) process.kill('SIGKILL');
    await Promise.all(children.map((process) => (process.exitCode === null && process.signalCode === null ? once(process, 'exit') : undefined)));
    await info?.close();
    await redis?.stop();
  }
}

/** One way of asking, medians over its asks. */
interface Summary {
  via: string;
  answerMs: { median: number; p99: number; max: number };
  redisBytesPerAsk: { in: number; out: number; total: number };
  askerReadBytesPerAsk: number;
  askerPeakRssMb: number;
  askerRssBeforeMb: number;
  /** Per node: p99 of the median window and max of the worst, asking and quiet, and the differences. */
  loopDelayMs: { node: number; quiet: { p99: number; max: number }; p99: number; max: number; addedP99: number; addedMax: number }[];
  /** Every window's figures, per node. */
  windows: { quiet: { p99Ms: number; maxMs: number }[][]; asking: { p99Ms: number; maxMs: number }[][] };
  whileBroadcasting?: { answerMsMedian: number; broadcastBytesCopiedToAsker: number };
  failedAsks: number;
  failures: string[];
  nodeRedisDisconnects: number;
}

function checkTargets(ids: Summary, fetched: Summary) {
  const ratio = fetched.redisBytesPerAsk.total / ids.redisBytesPerAsk.total;
  const worstAdded = Math.max(...ids.loopDelayMs.map((loop) => loop.addedP99));
  const worstMax = Math.max(...ids.loopDelayMs.map((loop) => loop.addedMax));
  return [
    { name: 'ids move ≥ 10× fewer bytes through Redis than fetchSockets()', met: ratio >= 10, detail: `${ratio.toFixed(1)}× (${bytes(ids.redisBytesPerAsk.total)} against ${bytes(fetched.redisBytesPerAsk.total)} per ask)` },
    { name: 'ids add ≤ 20 ms p99 event-loop delay to any node', met: worstAdded <= 20, detail: `worst node +${worstAdded.toFixed(1)} ms (worst single ask: +${worstMax.toFixed(1)} ms max)` },
    {
      name: 'ids answer within 1 s, every time',
      met: ids.failedAsks === 0 && ids.answerMs.max <= 1000,
      detail: `p99 ${ms(ids.answerMs.p99)}, max ${ms(ids.answerMs.max)}, ${ids.failedAsks} failed${ids.failures.length > 0 ? ` (${ids.failures[0]})` : ''}`,
    },
  ];
}

function table(ids: Summary, fetched: Summary): string[] {
  const rows: string[][] = [['way', 'failed', 'answer median', 'p99', 'Redis in/ask', 'Redis out/ask', 'asker read/ask', 'asker peak RSS', 'loop p99 (added) per node', 'loop max (added) per node', 'broadcasts copied/ask', 'node Redis drops']];
  for (const summary of [ids, fetched]) {
    rows.push([
      summary.via,
      String(summary.failedAsks),
      ms(summary.answerMs.median),
      ms(summary.answerMs.p99),
      bytes(summary.redisBytesPerAsk.in),
      bytes(summary.redisBytesPerAsk.out),
      bytes(summary.askerReadBytesPerAsk),
      `${summary.askerPeakRssMb.toFixed(0)} MB`,
      summary.loopDelayMs.map((loop) => `${loop.p99.toFixed(1)} (+${loop.addedP99.toFixed(1)})`).join(', '),
      summary.loopDelayMs.map((loop) => `${loop.max.toFixed(0)} (+${loop.addedMax.toFixed(0)})`).join(", "),
      summary.whileBroadcasting ? bytes(summary.whileBroadcasting.broadcastBytesCopiedToAsker) : '–',
      String(summary.nodeRedisDisconnects),
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  return rows.map((cells) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  '));
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

function bytes(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value >= 2 ** 20) return `${(value / 2 ** 20).toFixed(1)} MB`;
  if (value >= 1024) return `${(value / 1024).toFixed(0)} KB`;
  return `${Math.round(value)} B`;
}

const options = (() => {
  try {
    return parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench:connected: ${(error as Error).message.split('\n')[0]}\n${USAGE}\n`);
    process.exit(2);
  }
})();
if (options === 'help') process.stdout.write(USAGE + '\n');
else {
  try {
    process.exitCode = await bench(options, (line) => process.stdout.write(line + '\n'));
  } catch (error) {
    process.stderr.write(`bench:connected: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
