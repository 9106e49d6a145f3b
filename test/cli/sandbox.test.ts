import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/cli.ts';

describe('presence sandbox', () => {
  it('prints a loopback URI first, serves it, keeps data with --data, and stops on SIGINT', async () => {
    const data = mkdtempSync(join(tmpdir(), 'presence-sandbox-'));
    const child = spawn(process.execPath, [join(REPO, 'bin', 'presence.js'), 'sandbox', '--data', data], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const [uri] = (await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next()).value.split('\n');
    expect(uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/$/);

    const client = await MongoClient.connect(`${uri}kept`);
    await client.db().collection('things').insertOne({ kept: true });
    await client.close();

    const exited = new Promise<number | null>((done) => child.on('exit', done));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(readdirSync(data).some((file) => file.startsWith('kept'))).toBe(true);
  });
});
