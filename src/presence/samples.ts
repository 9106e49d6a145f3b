import { calculateObjectSize } from 'bson';
import { MongoError, MongoServerError, type Db, type Document, type Filter } from 'mongodb';
import { privilegeErrorOf } from '../engine/privileges.ts';
import type { ConnectedFigures } from './connected-figures.ts';
import type { PresenceFigures } from './figures.ts';

/** Where samples live, in the target database: the dashboard reads them from there. */
export const SAMPLES_COLLECTION = 'presence_samples';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const DUPLICATE_KEY = 11000;
/** The end of every range: a later date's ISO text (a six-digit year, signed) would not sort after the others. */
const LAST_MINUTE = new Date('9999-12-31T23:59:00.000Z');
/** A server's message may run long (it quotes the command): the reason stays one readable line. */
const MAX_REASON_LENGTH = 200;

/** One users collection's presence at one minute; null = not measured, unknown, or no connected-set source. */
export interface PresenceSample {
  /** `collection@minute-ISO`: one sample per minute per collection, and ranges in time are `_id` ranges. */
  _id: string;
  collection: string;
  /** The minute, truncated: what the chart plots. */
  at: Date;
  measuredAt: Date;
  total: number | null;
  online: number | null;
  stale: number | null;
  malformed: number | null;
  connected: number | null;
  onlineConnected: number | null;
  ghosts: number | null;
  missing: number | null;
}

/**
 * `off`: the retention is 0 days, so nothing is recorded, by choice. `notPruned`: the sample is in, but the samples
 * past the retention could not be deleted, and pile up until they can: why.
 */
export type SampleOutcome = { state: 'recorded'; notPruned?: string } | { state: 'already-recorded' } | { state: 'off' } | { state: 'not-recorded'; reason: string };

function minuteOf(time: Date): Date {
  return new Date(Math.floor(time.getTime() / MINUTE_MS) * MINUTE_MS);
}

/** ISO strings have a fixed width, so the `_id`s of one collection sort in time order. */
function sampleId(collection: string, time: Date): string {
  return `${collection}@${time.toISOString()}`;
}

/** Samples of one collection from `since` (inclusive) to `until` (exclusive), by `_id`: the index serves it. */
function rangeFilter(collection: string, since: Date, until: Date): Filter<PresenceSample> {
  // The equality keeps out a collection whose name extends this one ("users@x"), which the string range may cover.
  return { _id: { $gte: sampleId(collection, since), $lt: sampleId(collection, until) }, collection };
}

export function sampleOf(figures: PresenceFigures, connected?: ConnectedFigures): PresenceSample {
  const at = minuteOf(figures.measuredAt);
  const known = connected?.state === 'known' ? connected : undefined;
  return {
    _id: sampleId(figures.collection, at),
    collection: figures.collection,
    at,
    measuredAt: figures.measuredAt,
    total: figures.total,
    online: figures.online,
    stale: figures.stale,
    malformed: figures.malformed,
    connected: known?.connected ?? null,
    onlineConnected: known?.onlineConnected ?? null,
    ghosts: known?.ghosts ?? null,
    missing: known?.missing ?? null,
  };
}

/**
 * Records the sample unless its minute is already recorded, then prunes that
 * collection's samples older than the retention. The insert on a fixed `_id`
 * is what makes it one per minute across hosts: never check-then-insert. A
 * server's refusal is an outcome, never an exception: a sample is not worth
 * failing the command that measured it.
 */
export async function recordSample(db: Db, sample: PresenceSample, retentionDays: number): Promise<SampleOutcome> {
  if (retentionDays === 0) return { state: 'off' };
  const samples = db.collection<PresenceSample>(SAMPLES_COLLECTION);
  try {
    await samples.insertOne(sample);
  } catch (error) {
    if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return { state: 'already-recorded' };
    return notRecorded(error);
  }
  try {
    const cutoff = new Date(sample.at.getTime() - retentionDays * DAY_MS);
    await samples.deleteMany(rangeFilter(sample.collection, new Date(0), cutoff));
  } catch (error) {
    // The sample is in: saying "not recorded" would be untrue. The next recording prunes again.
    return { state: 'recorded', notPruned: refusalOf(error) };
  }
  return { state: 'recorded' };
}

function notRecorded(error: unknown): SampleOutcome {
  return { state: 'not-recorded', reason: refusalOf(error) };
}

/** The server's refusal as one line; anything that is not the server's is a bug, thrown. */
function refusalOf(error: unknown): string {
  const refused = privilegeErrorOf(error);
  // Ours, one line, and what to grant: said in full.
  if (refused !== undefined) return refused.message;
  if (error instanceof MongoServerError) return shortLine(`${error.codeName ?? `code ${String(error.code)}`}: ${error.message}`);
  if (error instanceof MongoError) return shortLine(error.message);
  throw error;
}

function shortLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > MAX_REASON_LENGTH ? `${line.slice(0, MAX_REASON_LENGTH - 1)}…` : line;
}

/** Whether this minute is sampled already: a scheduler then skips measuring. */
export async function sampledThisMinute(db: Db, collection: string, now: Date): Promise<boolean> {
  const found = await db
    .collection<PresenceSample>(SAMPLES_COLLECTION)
    .findOne({ _id: sampleId(collection, minuteOf(now)) }, { projection: { _id: 1 } });
  return found !== null;
}

/** The minute of the oldest sample kept of a collection; undefined when none is. One `_id` index lookup. */
export async function oldestSampleAt(db: Db, collection: string): Promise<Date | undefined> {
  const oldest = await db
    .collection<PresenceSample>(SAMPLES_COLLECTION)
    .find(rangeFilter(collection, new Date(0), LAST_MINUTE), { projection: { at: 1 } })
    .sort({ _id: 1 })
    .limit(1)
    .next();
  return oldest?.at;
}

/**
 * The samples of `since`..`until` in time order, at most `maxPoints`. While
 * they fit, every one is kept; past that, the range is cut into `maxPoints`
 * buckets and the last sample of each is kept. Streamed: memory is bounded by
 * `maxPoints`, never by the collection or the range.
 */
export async function readSamples(db: Db, collection: string, since: Date, until: Date, maxPoints: number): Promise<PresenceSample[]> {
  if (maxPoints < 1 || until <= since) return [];
  const bucketMs = (until.getTime() - since.getTime()) / maxPoints;
  const bucketOf = (sample: PresenceSample) => Math.min(maxPoints - 1, Math.floor((sample.at.getTime() - since.getTime()) / bucketMs));
  let kept: PresenceSample[] = [];
  let bucketed = false;
  const keep = (sample: PresenceSample) => {
    const last = kept.at(-1);
    // Samples come in time order: one in the same bucket as the last kept replaces it.
    if (bucketed && last !== undefined && bucketOf(last) === bucketOf(sample)) kept[kept.length - 1] = sample;
    else kept.push(sample);
  };
  const cursor = db.collection<PresenceSample>(SAMPLES_COLLECTION).find(rangeFilter(collection, since, until)).sort({ _id: 1 });
  for await (const sample of cursor) {
    keep(sample);
    if (!bucketed && kept.length > maxPoints) {
      bucketed = true;
      const all = kept;
      kept = [];
      all.forEach(keep);
    }
  }
  return kept;
}

/**
 * Bytes a day of samples takes for one users collection, before the storage
 * engine's compression: 1440 samples of realistic size (counts in the
 * millions are stored as doubles) plus, for each, its `_id` index entry (the
 * key's text with its type and end bytes, and an 8-byte record id). Measured:
 * 249 bytes a sample (BSON 209 + index entry 40), 358,560 bytes a day (about
 * 350 KiB; 10.3 MiB for the default 30 days).
 */
export function bytesPerDay(): number {
  const at = new Date('2026-12-01T03:58:00.000Z');
  const sample: PresenceSample = {
    _id: sampleId('users', at),
    collection: 'users',
    at,
    measuredAt: new Date('2026-12-01T03:58:41.512Z'),
    total: 2_400_000,
    online: 183_512,
    stale: 4_211,
    malformed: 17,
    connected: 181_730,
    onlineConnected: 179_301,
    ghosts: 4_002,
    missing: 2_429,
  };
  const indexEntry = Buffer.byteLength(sample._id) + 2 + 8;
  return 1440 * (calculateObjectSize(sample as Document) + indexEntry);
}
