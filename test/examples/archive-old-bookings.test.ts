import { Double, Int32, Long, ObjectId, type Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestoreRecord, TaskRunRecord } from '../../src/engine/run-record.ts';
import { parseJson, tempStateDir } from '../support/cli.ts';
import { useTestDatabase } from '../support/database.ts';
import { reachedStep } from '../support/records.ts';
import { bytesOf, exampleInBareDirectory, presenceWith, storedDocuments } from './bare-directory.ts';

const database = useTestDatabase('example_bookings');
const presence = presenceWith(database.uri, exampleInBareDirectory('archive-old-bookings.ts'), tempStateDir());
const TASK = 'archive-old-bookings';

const DAY = 24 * 60 * 60_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY);

/**
 * A booking with the kinds of values a restore must give back exactly: numeric types, sub-documents, arrays.
 * (No Decimal128: FerretDB 1.24 closes the connection on one.)
 */
function booking(n: number, endsAt: unknown): Document {
  return {
    _id: new ObjectId(),
    room: `room-${n}`,
    guests: [{ name: `guest ${n}`, age: new Int32(30 + n) }],
    price: { amount: new Double(100 + n + 0.5), currency: 'EUR' },
    nights: new Long(n + 1),
    ...(endsAt === undefined ? {} : { endsAt }),
  };
}

const old = [booking(1, daysAgo(400)), booking(2, daysAgo(366)), booking(3, daysAgo(900))];
const recent = [
  booking(4, daysAgo(364)),
  booking(5, daysAgo(10)),
  booking(6, daysAgo(-30)),
  // Not a date: left in place rather than guessed.
  booking(7, undefined),
  booking(8, '2019-01-01'),
];
const idsOf = (documents: Document[]) => documents.map((document) => String(document._id)).sort();

const stored = (collection: string) => storedDocuments(database.db(), collection);
const byId = (documents: Document[]) => [...documents].sort((a, b) => String(a._id).localeCompare(String(b._id)));

// Several CLI processes a test, each a few seconds on a loaded machine.
describe('examples/tasks/archive-old-bookings.ts, from a bare directory', { timeout: 240_000 }, () => {
  let original: Document[];
  let firstRun: string;
  const cold = `${database.name}_cold`;
  beforeAll(async () => {
    await database.db().collection('bookings').insertMany([...old, ...recent]);
    original = await stored('bookings');
  });
  afterAll(async () => {
    await database.client().db(cold).dropDatabase().catch(() => undefined);
  });

  it('is listed, and names its parameters when given one it does not take', async () => {
    const tasks = await presence(['tasks', '--json']);
    expect(tasks.code, tasks.stderr).toBe(0);
    expect(parseJson<Array<{ task: string; mode: string }>>(tasks.stdout).find((row) => row.task === TASK)).toMatchObject({ mode: 'repeatable' });
    const wrong = await presence(['run', TASK, '--dry-run', '--param', 'olderThan=30']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/unknown parameter "olderThan" \(parameters: collection, field, days, archiveCollection, archiveDatabase\)/);
  });

  it('moves exactly the bookings that ended more than 365 days ago: gone from bookings, the same bytes in bookings_archive', async () => {
    const run = await presence(['run', TASK, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(run.stdout);
    expect(record.params).toEqual({ collection: 'bookings', field: 'endsAt', days: 365, archiveCollection: 'bookings_archive' });
    expect(reachedStep('plan', record.plan)).toMatchObject({ kind: 'archive', count: old.length, into: `${database.name}.bookings_archive` });
    expect(reachedStep('apply', record.result)).toMatchObject({ planned: old.length, written: old.length, skipped: 0, failed: 0 });
    firstRun = record._id;

    const oldIds = idsOf(old);
    expect(idsOf(await stored('bookings'))).toEqual(idsOf(recent));
    expect(bytesOf(byId(await stored('bookings')))).toBe(bytesOf(byId(original.filter((document) => !oldIds.includes(String(document._id))))));
    expect(bytesOf(byId(await stored('bookings_archive')))).toBe(bytesOf(byId(original.filter((document) => oldIds.includes(String(document._id))))));
  });

  it('run again, it finds nothing to move and duplicates nothing', async () => {
    const [bookings, archive] = [bytesOf(await stored('bookings')), bytesOf(await stored('bookings_archive'))];
    const again = await presence(['run', TASK, '--json']);
    expect(again.code, again.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(again.stdout);
    expect(record.status).toBe('succeeded');
    expect(reachedStep('plan', record.plan).count).toBe(0);
    expect(bytesOf(await stored('bookings'))).toBe(bookings);
    expect(bytesOf(await stored('bookings_archive'))).toBe(archive);
  });

  it('restore moves them back byte for byte and empties them from the archive; twice changes nothing', async () => {
    const restore = await presence(['restore', firstRun, '--json']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(reachedStep('restore', parseJson<RestoreRecord>(restore.stdout).restore)).toMatchObject({ restored: old.length, conflicts: 0 });
    expect(bytesOf(byId(await stored('bookings')))).toBe(bytesOf(byId(original)));
    expect(await stored('bookings_archive')).toEqual([]);

    const again = await presence(['restore', firstRun, '--json']);
    expect(reachedStep('restore', parseJson<RestoreRecord>(again.stdout).restore)).toMatchObject({ restored: 0, alreadyRestored: old.length, conflicts: 0 });
    expect(bytesOf(byId(await stored('bookings')))).toBe(bytesOf(byId(original)));
  });

  it('with days=7 and an archive database of its own, moves there what ended over a week ago, and back', async () => {
    const run = await presence(['run', TASK, '--json', '--param', 'days=7', '--param', `archiveDatabase=${cold}`]);
    expect(run.code, run.stderr).toBe(0);
    const record = parseJson<TaskRunRecord>(run.stdout);
    const moved = [...old, recent[0]!, recent[1]!];
    expect(reachedStep('apply', record.result)).toMatchObject({ written: moved.length, skipped: 0 });
    const archive = database.client().db(cold).collection('bookings_archive');
    expect(idsOf(await archive.find().toArray())).toEqual(idsOf(moved));
    expect(idsOf(await stored('bookings'))).toEqual(idsOf(recent.slice(2)));
    expect(await stored('bookings_archive')).toEqual([]);

    const restore = await presence(['restore', record._id, '--json']);
    expect(reachedStep('restore', parseJson<RestoreRecord>(restore.stdout).restore)).toMatchObject({ restored: moved.length, conflicts: 0 });
    expect(await archive.countDocuments()).toBe(0);
    expect(bytesOf(byId(await stored('bookings')))).toBe(bytesOf(byId(original)));
  });
});
