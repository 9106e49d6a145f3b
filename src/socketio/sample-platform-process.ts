import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';

export interface PlatformOptions {
  /** The users' database (in the URI's path); users' `_id` are ObjectIds. */
  mongoUri: string;
  /** The presence endpoint's token. */
  token: string;
  /** A cluster node on this Redis (`@socket.io/redis-adapter`); else a server alone. */
  redisUri?: string;
  /** The endpoint's timeout (default 5000 ms). */
  timeoutMs?: number;
  /** Installs presenceResponder too (default: the endpoint alone, as apps mounted it before the responder). */
  responder?: boolean;
}

export type PresenceChange = 'online' | 'offline' | 'stillOnline';

/** One process of the sample platform's Socket.IO server (sample-platform.ts). */
export interface PlatformNode {
  /** Where clients connect: http://127.0.0.1:PORT */
  url: string;
  /** The presence endpoint, mounted by the app: http://127.0.0.1:PORT/presence */
  endpointUrl: string;
  /** Resolves once this node has written the user online or offline, or kept them online (another socket remains). */
  reported(change: PresenceChange, userId: string): Promise<void>;
  /** SIGSTOP to stall it, SIGCONT to resume, SIGKILL to crash it. */
  signal(signal: NodeJS.Signals): void;
  /** Resolves when the process is gone. */
  exited: Promise<unknown>;
  /** Crashes it if still running (SIGKILL works on a stopped process too) and waits. */
  stop(): Promise<void>;
}

// Compiled or run from its TypeScript source, the server sits next to this module.
const SERVER = fileURLToPath(new URL(`./sample-platform${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
const NODE_ARGS = SERVER.endsWith('.ts') ? ['--import', 'tsx', SERVER] : [SERVER];
const WAIT_MS = 15_000;

/** Starts a platform server process and resolves once it listens on 127.0.0.1. */
export async function startSamplePlatform(options: PlatformOptions): Promise<PlatformNode> {
  const child = spawn(process.execPath, NODE_ARGS, {
    env: {
      ...process.env,
      PLATFORM_MONGODB_URI: options.mongoUri,
      PLATFORM_TOKEN: options.token,
      PLATFORM_REDIS_URI: options.redisUri ?? '',
      PLATFORM_TIMEOUT_MS: String(options.timeoutMs ?? 5000),
      PLATFORM_RESPONDER: options.responder ? '1' : '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(JSON.parse(line) as Record<string, unknown>);
    for (const wake of waiters) wake();
  });

  const until = (what: string, found: () => boolean): Promise<void> =>
    new Promise((done, failed) => {
      const check = () => {
        if (!found()) return;
        cleanup();
        done();
      };
      const gone = () => {
        cleanup();
        failed(new Error(`platform server ${child.pid} exited before ${what}\n${stderr.slice(-2000)}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        failed(new Error(`platform server ${child.pid}: no ${what} within ${WAIT_MS} ms\n${stderr.slice(-2000)}`));
      }, WAIT_MS);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', gone);
      };
      waiters.add(check);
      child.once('exit', gone);
      check();
    });

  await until('ready', () => lines.some((line) => line.ready === true));
  const port = lines.find((line) => line.ready === true)!.port as number;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    endpointUrl: `${url}/presence`,
    reported: (change, userId) => until(`${change} for ${userId}`, () => lines.some((line) => line[change] === userId)),
    signal: (signal) => child.kill(signal),
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** A real socket.io-client connected as a user (or as an anonymous visitor). */
export interface PlatformClient {
  userId: string | undefined;
  socket: Socket;
}

/**
 * Connects one client per entry (an ObjectId's hex, or undefined for an
 * anonymous visitor) and resolves once the server has written each one online.
 * No reconnection: a client whose server dies stays gone, as its user does.
 */
export function connectUsers(
  node: Pick<PlatformNode, 'url'>,
  userIds: (string | undefined)[],
  options: { headers?: Record<string, string> } = {},
): Promise<PlatformClient[]> {
  return Promise.all(
    userIds.map(
      (userId) =>
        new Promise<PlatformClient>((connected, failed) => {
          const socket = io(node.url, {
            auth: userId === undefined ? {} : { userId },
            transports: ['websocket'],
            reconnection: false,
            extraHeaders: options.headers,
          });
          socket.once('presence:ready', () => connected({ userId, socket }));
          socket.once('connect_error', (error) => {
            socket.close();
            failed(error);
          });
        }),
    ),
  );
}
