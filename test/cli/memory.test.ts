import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';
import type { TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, REPO, runCli, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('memory');
const FIXTURES = join(REPO, 'test', 'fixtures', 'tasks');
const PEAK_RSS_HOOK = pathToFileURL(join(REPO, 'bench', 'peak-rss.mjs')).href;
/**
 * Pre-images that together outweigh the heap: 100 of 512 KiB are 50 MiB of text, more once parsed, under a 48 MiB heap.
 * A step that held the backup (or the documents it backs up) dies of it, however loaded the machine; one that streams
 * completes. (Reading the backup back through `readline`, which queues up to 1,024 lines ahead of apply, failed here:
 * out of memory.) How flat memory stays as the collection grows is a figure of `npm run bench` ("tool at 1/10"), where
 * both runs are measured side by side: a ratio of two timed runs here would fail under load, not for a leak.
 */
const SCORE_BYTES = 512 * 1024;
const MATCHED = 100;
const HEAP_MB = 48;
/** A ceiling far above a streaming run's peak (the bench prints it), not a target: load cannot reach it, a leak can. */
const RSS_CEILING_MB = 300;

/** `matched` users for flag-users to change (each with a large score it backs up), in a collection 25 times as large. */
async function seed(matched: number): Promise<void> {
  const users = database.db().collection('users');
  await database.db().dropDatabase();
  for (let i = 0; i < matched; i++) {
    await users.insertOne({ _id: new ObjectId(), score: randomBytes(SCORE_BYTES / 2).toString('hex') });
  }
  await users.insertMany(Array.from({ length: matched * 24 }, () => ({ _id: new ObjectId(), flagged: true })));
}

async function peakRssOfRun(matched: number): Promise<number> {
  await seed(matched);
  const stateDir = tempStateDir();
  const rssFile = join(stateDir, 'peak-rss');
  const result = await runCli(
    ['run', 'flag-users', '--batch-size', '10', '--uri', database.uri(), '--tasks-dir', FIXTURES, '--state-dir', stateDir, '--json'],
    {
      env: { NODE_OPTIONS: `--import=${PEAK_RSS_HOOK} --max-old-space-size=${HEAP_MB}`, BENCH_PEAK_RSS_FILE: rssFile },
      timeoutMs: 150_000,
    },
  );
  expect(result.code, result.stderr.slice(-600)).toBe(0);
  expect(parseJson<TaskRunRecord>(result.stdout).result).toMatchObject({ written: matched, remaining: 0 });
  return Number(readFileSync(rssFile, 'utf8')) / 1024;
}

describe('memory', () => {
  it('a run completes under a heap smaller than its backup: no step holds the backup or the collection', { timeout: 300_000 }, async () => {
    expect((MATCHED * SCORE_BYTES) / 2 ** 20).toBeGreaterThan(HEAP_MB);

    const peak = await peakRssOfRun(MATCHED);

    expect(peak, `peak RSS ${peak.toFixed(0)} MB`).toBeLessThan(RSS_CEILING_MB);
  });
});
