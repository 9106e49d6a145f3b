import type { Db } from 'mongodb';
import { planChanges } from '../engine/plan.ts';
import { PrivilegeError, privilegeErrorOf } from '../engine/privileges.ts';
import { NO_TARGETING } from '../engine/run-record.ts';
import { CheckResult, outcome, runCheck, skipped, type CheckOutcome, type HealthCheck } from './health-check.ts';
import { indexKeyText, validatePresenceIndexes } from './indexes.ts';
import type { PresenceModel } from './model.ts';
import { checkOperations } from './operations-check.ts';
import { planStaleUsers } from './plans.ts';
import { checkSchema } from './schema-check.ts';
import { collectionExists } from './target.ts';

/** A round trip slower than this and the connection check warns. */
export const SLOW_PING_MS = 250;
const PINGS = 3;

export interface HealthOptions {
  /** The clock of the update simulation's cut-off. */
  now: Date;
  /** The update simulation's stale threshold. */
  staleMinutes: number;
  sampleSize?: number;
  scratchCollection?: string;
}

async function checkConnection(db: Db): Promise<CheckOutcome> {
  const rounds: number[] = [];
  for (let ping = 0; ping < PINGS; ping++) {
    const started = performance.now();
    await db.command({ ping: 1 });
    rounds.push(performance.now() - started);
  }
  const median = [...rounds].sort((a, b) => a - b)[Math.floor(PINGS / 2)]!;
  const summary = `round trip ${median.toFixed(1)} ms (median of ${PINGS} pings)`;
  return outcome(median > SLOW_PING_MS ? CheckResult.warn : CheckResult.pass, summary);
}

async function checkCollection(db: Db, model: PresenceModel): Promise<CheckOutcome> {
  if (!(await collectionExists(db, model.collection))) {
    return outcome(CheckResult.fail, `collection "${model.collection}" does not exist in database "${db.databaseName}"`);
  }
  const documents = await db.collection(model.collection).countDocuments({});
  if (documents === 0) return outcome(CheckResult.warn, `collection "${model.collection}" is empty`);
  return outcome(CheckResult.pass, `"${model.collection}" holds ${documents} document(s)`);
}

async function checkIndexes(db: Db, model: PresenceModel): Promise<CheckOutcome> {
  const health = await validatePresenceIndexes(db.collection(model.collection), model).catch((error: unknown) => {
    // Index health is advice: a user who may not list indexes is warned, not failed.
    const refused = privilegeErrorOf(error);
    if (refused === undefined) throw error;
    return refused;
  });
  if (health instanceof PrivilegeError) return outcome(CheckResult.warn, `index health unknown: ${health.message}`);
  const details = health.indexes.map(({ spec, servedBy, conflict }) =>
    `${indexKeyText(spec)} ${servedBy ? `served by index ${servedBy}` : conflict ? `CONFLICT (${conflict})` : 'MISSING'}: ${spec.serves}`,
  );
  const blocked = health.indexes.find((entry) => entry.conflict !== undefined);
  if (blocked) {
    return outcome(
      CheckResult.fail,
      `presence index ${indexKeyText(blocked.spec)} blocked: ${blocked.conflict}; drop it, then: presence run presence-indexes`,
      details,
    );
  }
  if (health.missing.length > 0) {
    return outcome(
      CheckResult.fail,
      `missing presence index ${health.missing.map(indexKeyText).join(', ')}: create it with: presence run presence-indexes`,
      details,
    );
  }
  return outcome(CheckResult.pass, `presence index(es) in place: ${health.indexes.map((entry) => entry.servedBy).join(', ')}`, details);
}

/** The dry-run plan of `stale` through the engine's own planner: read-only. */
async function simulateStale(db: Db, model: PresenceModel, now: Date, staleMinutes: number): Promise<CheckOutcome> {
  const { cutoff, plan } = planStaleUsers(model, now, staleMinutes);
  // A count and a sample: nothing is written, so there is nothing to target.
  const report = await planChanges('presence-stale', db.collection(model.collection), plan, NO_TARGETING);
  return outcome(
    CheckResult.pass,
    `stale would set ${report.count} user(s) offline (inactive > ${staleMinutes} min, cut-off ${cutoff.toISOString()})`,
  );
}

/**
 * The daily health check: connection, collection, schema of a sample, presence
 * operations on a scratch document, indexes, and the stale plan. Checks that
 * need the collection are skipped when it is missing.
 */
export async function presenceHealthChecks(db: Db, model: PresenceModel, options: HealthOptions): Promise<HealthCheck[]> {
  const checks: HealthCheck[] = [];
  checks.push(await runCheck('connection', () => checkConnection(db)));
  const collection = await runCheck('collection', () => checkCollection(db, model));
  checks.push(collection);
  const noCollection = collection.result === CheckResult.fail;
  checks.push(
    noCollection
      ? skipped('schema', 'no collection')
      : await runCheck('schema', () => checkSchema(db.collection(model.collection), model, options.sampleSize)),
  );
  checks.push(await runCheck('operations', () => checkOperations(db, model, options.scratchCollection)));
  checks.push(noCollection ? skipped('indexes', 'no collection') : await runCheck('indexes', () => checkIndexes(db, model)));
  checks.push(
    noCollection
      ? skipped('update simulation', 'no collection')
      : await runCheck('update simulation', () => simulateStale(db, model, options.now, options.staleMinutes)),
  );
  return checks;
}

export function healthFailed(checks: readonly HealthCheck[]): boolean {
  return checks.some((check) => check.result === CheckResult.fail);
}
