import { randomBytes } from 'node:crypto';
import { ObjectId, type Db, type Document } from 'mongodb';
import { CheckResult, outcome, type CheckOutcome } from './health-check.ts';
import { offlineValueOf, onlineValueOf, type PresenceModel } from './model.ts';
import { offlineChange } from './plans.ts';
import { valueAt } from '../engine/paths.ts';
import { nestedDocument } from './paths.ts';
import { offlineFilter, onlineFilter } from './queries.ts';

/** Slower than this for one presence write or read, and the check warns. */
export const SLOW_OPERATION_MS = 500;

export function scratchCollectionName(): string {
  return `presence_healthcheck_${randomBytes(4).toString('hex')}`;
}

/**
 * Presence operations done for real, as the Socket.IO server does them, on a
 * scratch document in a scratch collection dropped afterwards: real users are
 * never touched.
 */
export async function checkOperations(db: Db, model: PresenceModel, scratchName = scratchCollectionName()): Promise<CheckOutcome> {
  const scratch = db.collection(scratchName);
  const timings: [string, number][] = [];
  const time = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    timings.push([name, performance.now() - started]);
    return result;
  };
  const _id = new ObjectId();
  const companions = Object.keys(model.offlineSet);
  const exercise = async (): Promise<CheckOutcome | undefined> => {
    await time('insert', () =>
      scratch.insertOne({ _id, ...nestedDocument({ [model.online.field]: offlineValueOf(model), [model.lastSeenField]: null, ...model.offlineSet }) }),
    );
    // Coming online also fills the companion fields, so going offline has something to clear.
    const connected: Document = { [model.online.field]: onlineValueOf(model), [model.lastSeenField]: new Date() };
    for (const field of companions) connected[field] = 'presence-healthcheck';
    await time('set online', () => scratch.updateOne({ _id }, { $set: connected }));
    if ((await time('read online', () => scratch.findOne({ _id, ...onlineFilter(model) }))) === null) {
      return outcome(CheckResult.fail, 'a user set online is not found by the online query');
    }
    const wentOffline = await time('set offline', () =>
      scratch.updateOne({ _id, ...onlineFilter(model) }, { $set: offlineChange(model).set! }),
    );
    if (wentOffline.matchedCount !== 1) return outcome(CheckResult.fail, 'setting the scratch user offline matched nothing');
    const offline = await time('read offline', () => scratch.findOne({ _id, ...offlineFilter(model) }));
    if (offline === null) return outcome(CheckResult.fail, 'a user set offline is not found by the offline query');
    const uncleared = companions.filter((field) => JSON.stringify(valueAt(offline, field)) !== JSON.stringify(model.offlineSet[field]));
    if (uncleared.length > 0) return outcome(CheckResult.fail, `going offline did not set ${uncleared.join(', ')}`);
    return undefined;
  };
  let failure: CheckOutcome | undefined;
  try {
    failure = await exercise();
  } finally {
    const dropped = await scratch.drop().then(
      () => true,
      () => false,
    );
    if (!dropped) failure ??= outcome(CheckResult.warn, `the scratch collection ${scratchName} could not be dropped: drop it by hand`);
  }
  if (failure) return failure;
  const line = timings.map(([name, ms]) => `${name} ${ms.toFixed(1)} ms`).join(', ');
  const slow = timings.filter(([, ms]) => ms > SLOW_OPERATION_MS).map(([name]) => name);
  if (slow.length > 0) return outcome(CheckResult.warn, `slow presence operations (> ${SLOW_OPERATION_MS} ms): ${slow.join(', ')}`, [line]);
  return outcome(CheckResult.pass, `set online, set offline, read back on a scratch document: ${line}`, [
    `scratch collection ${scratchName} dropped`,
  ]);
}
