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
 * Large pre-images make a backup held in memory show: 100 of them are 25 MB
 * of text, more once parsed. (Reading the backup back through `readline`,
 * which queues up to 1,024 lines ahead of apply, failed here: out of memory.)
 */
const SCORE_BYTES = 256 * 1024;
/**
 * V8 lets garbage pile up towards its heap limit, so an unbounded run's peak
 * RSS says how much it allocated, not how much it kept. Under a small heap, a
 * run that keeps its backup (or the collection) in memory dies of it or shows
 * it; one that streams stays where it started.
 */
const HEAP_MB = 48;

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
  it('stays flat when the collection grows tenfold: no step holds the backup or the collection', { timeout: 300_000 }, async () => {
    const small = await peakRssOfRun(10);
    const large = await peakRssOfRun(100);

    expect(large, `peak RSS ${small.toFixed(0)} MB at 250 users, ${large.toFixed(0)} MB at 2,500`).toBeLessThanOrEqual(small * 1.2);
    expect(large).toBeLessThan(250);
  });
});
