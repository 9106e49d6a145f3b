import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO, type CliResult } from './cli.ts';

export interface DashboardProcess {
  url: string;
  child: ChildProcess;
  output(): { stdout: string; stderr: string };
  /** SIGTERM, then the process's exit. */
  stop(): Promise<CliResult>;
}

/** `presence dashboard …` as an operator starts it, once it says where it listens. */
export function startDashboardProcess(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<DashboardProcess> {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'presence.js'), 'dashboard', '--port', '0', ...args], {
    cwd: REPO,
    env: { ...process.env, MONGODB_URI: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the dashboard did not start in ${timeoutMs} ms: ${stdout}${stderr}`));
    }, timeoutMs);
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /dashboard on (http:\/\/\S+)/.exec(stdout)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({
          url,
          child,
          output: () => ({ stdout, stderr }),
          stop: () => {
            if (child.exitCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    void exited.then((result) => {
      clearTimeout(timer);
      reject(new Error(`the dashboard exited ${result.code}: ${result.stdout}${result.stderr}`));
    });
  });
}
