import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  /** redis://[:password@]127.0.0.1:PORT */
  uri: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * A real `redis-server` (Debian's package) on 127.0.0.1 and a free port,
 * nothing kept on disk, in a temporary directory removed by stop().
 * With `password`, clients must AUTH with it (`requirepass`).
 */
export async function startRedis(options: { password?: string } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'presence-redis-'));
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no'];
  const child = spawn('redis-server', options.password ? [...args, '--requirepass', options.password] : args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const exited = once(child, 'exit');
  await new Promise<void>((ready, failed) => {
    child.on('error', (error: NodeJS.ErrnoException) =>
      failed(error.code === 'ENOENT' ? new Error('redis-server is not installed (Debian: apt-get install redis-server)') : error),
    );
    child.stdout.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('Ready to accept connections')) ready();
    });
    exited.then(
      () => failed(new Error(`redis-server exited before it was ready:\n${log.slice(-2000)}`)),
      () => undefined, // not started at all: said by the 'error' handler
    );
  });
  const credentials = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  return {
    uri: `redis://${credentials}127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A port nothing listens on right now; redis-server takes it a moment later. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}
