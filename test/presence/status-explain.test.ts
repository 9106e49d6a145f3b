import { describe, expect, it } from 'vitest';
import { EJSON, type Document } from 'bson';
import type { Collection } from 'mongodb';
import { OWN_INDEXES } from '../../src/db/own-indexes.ts';
import { RUNS_COLLECTION } from '../../src/db/run-store.ts';
import { SCHEDULES_COLLECTION } from '../../src/db/schedule-claim.ts';
import { oldestOnlineActivityQuery, statusCounts } from '../../src/presence/figures.ts';
import { recommendedPresenceIndexes } from '../../src/presence/indexes.ts';
import { presenceModelOf } from '../../src/presence/model.ts';
import { onlineFilter, staleCutoff } from '../../src/presence/queries.ts';
import { presenceModelParams } from '../../src/presence/settings.ts';
import { useTestDatabase } from '../support/database.ts';
import { population, PRESENCE_CASES } from './population.ts';
import { subDocumentPopulation, SUB_DOCUMENT_SETTINGS } from './sub-document-population.ts';

const database = useTestDatabase('presencestatusexplain');

/** The plan's stages, wherever this server version puts them (classic or slot-based engine, pushed-down pipeline or not). */
function stagesOf(explain: Document): string[] {
  return [...EJSON.stringify(explain).matchAll(/"stage":"([A-Z_]+)"/g)].map((match) => match[1]!);
}

/** What `countDocuments` sends: the pipeline's plan. */
async function countPlan(collection: Collection, filter: Document): Promise<string[]> {
  return stagesOf(await collection.aggregate([{ $match: filter }, { $group: { _id: 1, n: { $sum: 1 } } }]).explain('queryPlanner'));
}

// Only MongoDB's planner says what it would do: FerretDB 1.x never reads through a secondary index (ENGINES.md).
describe.skipIf(!process.env.MONGODB_TEST_URI)('status reads no whole collection when the presence index exists (real MongoDB)', () => {
  const cases = [
    ...PRESENCE_CASES.map((presence) => ({ name: presence.name, settings: presence.settings, users: () => population(presence, new Date()).users })),
    { name: 'presence in a sub-document', settings: SUB_DOCUMENT_SETTINGS, users: () => subDocumentPopulation(new Date()).map((user) => user.document) },
  ];

  it.each(cases)('every status query of $name is bounded by an index', async (presence) => {
    const model = presenceModelOf(presenceModelParams.parse(presence.settings));
    const users = database.db().collection(model.collection);
    await users.insertMany(presence.users());
    for (const { name, key } of recommendedPresenceIndexes(model)) await users.createIndex(key, { name });

    const plans: Record<string, string[]> = {};
    for (const [figure, filter] of Object.entries(statusCounts(model, staleCutoff(new Date(), 30)))) plans[figure] = await countPlan(users, filter);
    const oldest = oldestOnlineActivityQuery(model);
    plans.oldestOnlineActivity = stagesOf(await users.find(oldest.filter).project(oldest.projection).sort(oldest.sort).limit(1).explain('queryPlanner'));
    plans.connectedPass = stagesOf(await users.find(onlineFilter(model), { projection: { _id: 1, [model.lastSeenField]: 1 } }).explain('queryPlanner'));
    plans.total = stagesOf(await database.db().command({ explain: { count: model.collection }, verbosity: 'queryPlanner' }));

    for (const [query, stages] of Object.entries(plans)) {
      expect({ query, planned: stages.length > 0, collectionScan: stages.includes('COLLSCAN') }).toEqual({ query, planned: true, collectionScan: false });
    }
    expect(plans.total).toContain('RECORD_STORE_FAST_COUNT');
  });

  it("the tool's own queries are bounded by the indexes it creates", async () => {
    const db = database.db();
    for (const { collection, name, key } of OWN_INDEXES) await db.collection(collection).createIndex(key, { name });
    await db.collection(RUNS_COLLECTION).insertOne({ _id: 'r1' as never, task: { id: 'presence-stale', version: 1 }, status: 'succeeded', startedAt: new Date() });
    await db.collection(SCHEDULES_COLLECTION).insertOne({ _id: 's @ t' as never, schedule: 's', intervalStart: new Date() });
    const runs = db.collection<{ _id: string }>(RUNS_COLLECTION);
    const plans = {
      lastRuns: stagesOf(await runs.find({ 'task.id': 'presence-stale' }).sort({ startedAt: -1 }).limit(20).explain('queryPlanner')),
      history: stagesOf(await runs.find({}).sort({ startedAt: -1 }).limit(20).explain('queryPlanner')),
      staleRuns: stagesOf(
        await runs.find({ _id: { $ne: 'r2' }, status: 'running', $or: [{ lockHeld: true }, { startedAt: { $lt: new Date() } }] }).explain('queryPlanner'),
      ),
      oldClaims: stagesOf(
        await db.command({ explain: { delete: SCHEDULES_COLLECTION, deletes: [{ q: { schedule: 's', intervalStart: { $lt: new Date() } }, limit: 0 }] }, verbosity: 'queryPlanner' }),
      ),
    };
    for (const [query, stages] of Object.entries(plans)) {
      expect({ query, planned: stages.length > 0, collectionScan: stages.includes('COLLSCAN') }).toEqual({ query, planned: true, collectionScan: false });
    }
  });
});
