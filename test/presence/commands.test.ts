import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO, runCli } from '../support/cli.ts';

describe('presence help', () => {
  it('lists the presence commands with examples', async () => {
    const result = await runCli(['help']);
    expect(result.code).toBe(0);
    for (const command of ['status', 'cleanup', 'stale', 'test', 'demo']) expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(result.stdout).toContain('presence stale --scheduled --interval=15');
  });

  it.each(['status', 'cleanup', 'stale', 'test', 'demo'])('presence %s --help ends with examples', async (command) => {
    const result = await runCli([command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\nExamples:\n {2}(presence|0 3|npm)/);
  });
});

describe('presence demo', () => {
  it('walks a seeded embedded database through status, stale, a Socket.IO crash, reconcile, cleanup and test', async () => {
    const result = await runCli(['demo', '--users', '300'], { timeoutMs: 180_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toMatch(/^the dashboard: in a terminal \(or with --dashboard\) the demo ends by serving it/);
    const steps = [...result.stdout.matchAll(/^── \d+\/10 {2}(.+)$/gm)].map((match) => match[1]);
    expect(steps).toEqual([
      '$ presence status',
      '$ presence stale --dry-run',
      '$ presence stale',
      'the Socket.IO platform crashes and restarts',
      '$ presence status --connected <endpoint> --grace 0',
      '$ presence reconcile --connected <endpoint> --grace 0 --dry-run',
      '$ presence reconcile --connected <endpoint> --grace 0',
      '$ presence cleanup --dry-run',
      '$ presence test',
      '$ presence status --connected <endpoint> --grace 0',
    ]);
    expect(result.stdout).toMatch(/^presence-stale@1: succeeded in/m);
    expect(result.stdout).toMatch(/^schema\s+FAIL\s+/m);
    // After the stale run, the last status counts no stale user.
    expect(result.stdout.split('── 10/10')[1]).toMatch(/^\s+stale \(> 30 min\)\s+0\s/m);
    // Exactly the users who never came back after the crash are set offline, and then no ghost is left.
    const gone = Number(/(\d+) never come back/.exec(result.stdout)?.[1]);
    expect(gone).toBeGreaterThan(0);
    expect(result.stdout.split('── 5/10')[1]).toMatch(new RegExp(`^\\s+ghosts\\s+${gone}\\s`, 'm'));
    expect(result.stdout.split('── 7/10')[1]).toMatch(new RegExp(`^${gone} written, 0 skipped`, 'm'));
    expect(result.stdout.split('── 10/10')[1]).toMatch(/^\s+ghosts\s+0\s/m);
  }, 200_000);

  it('ends by offering the dashboard: without a terminal it only says so; with --dashboard it serves the demo database until SIGTERM', async () => {
    let served: (url: string) => void;
    const url = new Promise<string>((resolve) => (served = resolve));
    let child: ChildProcess | undefined;
    const running = runCli(['demo', '--users', '100', '--dashboard'], {
      timeoutMs: 180_000,
      onStdout: (text, process) => {
        child = process;
        const found = /dashboard on (http:\/\/\S+)/.exec(text)?.[1];
        if (found) served(found);
      },
    });
    const base = await Promise.race([url, running.then((result) => Promise.reject(new Error(`the demo ended first: ${result.stdout}${result.stderr}`)))]);
    const page = await (await fetch(base + '/')).text();
    // The last step reconciled every ghost: the page shows the connected set, and none left.
    expect(page).toMatch(/data-figure="connected\.ghosts" data-value="0"/);
    const runs = (await (await fetch(base + '/api/runs?task=presence-reconcile&status=succeeded')).json()) as unknown[];
    expect(runs).toHaveLength(2);
    child!.kill('SIGTERM');
    const result = await running;
    expect(result.code, result.stderr).toBe(0);
    await expect(fetch(base + '/')).rejects.toThrow();
  }, 200_000);

  it('in a terminal, serves the dashboard until Enter', async () => {
    // util-linux's `script` gives the demo a terminal, as an operator's; what is written to it is typed there.
    const child = spawn('script', ['-qfec', `${process.execPath} bin/presence.js demo --users 100`, '/dev/null'], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const base = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        // Both lines, which may come in two chunks: the address, then what stops it.
        const found = /dashboard on (http:\/\/\S+)[\s\S]*press Enter \(or Ctrl-C\) to stop it/.exec(output)?.[1];
        if (found) resolve(found);
      });
      void exited.then((code) => reject(new Error(`the demo ended first (${code}): ${output}`)));
    });
    try {
      expect((await fetch(base + '/tasks')).status).toBe(200);
      child.stdin.write('\r');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 200_000);
});
