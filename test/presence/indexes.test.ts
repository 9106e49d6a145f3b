import { describe, expect, it } from 'vitest';
import { presenceModelOf } from '../../src/presence/model.ts';
import { recommendedPresenceIndexes, validatePresenceIndexes } from '../../src/presence/indexes.ts';
import { presenceModelParams } from '../../src/presence/settings.ts';
import { useTestDatabase } from '../support/database.ts';

const database = useTestDatabase('presenceindexes');
const model = presenceModelOf(presenceModelParams.parse({ collection: 'accounts', onlineField: 'status', offlineValue: 'offline', lastSeenField: 'seenAt' }));

describe('presence index validation', () => {
  it('recommends online-then-last-activity, under the name MongoDB gives that key', () => {
    expect(recommendedPresenceIndexes(model).map(({ name, key }) => ({ name, key }))).toEqual([
      { name: 'status_1_seenAt_1', key: { status: 1, seenAt: 1 } },
    ]);
  });

  it('counts an index whose key starts with the same fields in order, whatever its name, and nothing else', async () => {
    const accounts = database.db().collection(model.collection);
    await accounts.insertOne({ status: 'offline', seenAt: new Date() });
    await accounts.createIndex({ seenAt: 1, status: 1 }, { name: 'wrong_order' });
    await accounts.createIndex({ status: 1 }, { name: 'online_only' });
    expect((await validatePresenceIndexes(accounts, model)).missing.map((spec) => spec.name)).toEqual(['status_1_seenAt_1']);

    await accounts.createIndex({ status: 1, seenAt: -1, team: 1 }, { name: 'presence_by_team' });
    const health = await validatePresenceIndexes(accounts, model);
    expect(health.missing).toEqual([]);
    expect(health.indexes.map((entry) => entry.servedBy)).toEqual(['presence_by_team']);
  });

  it('reports every recommendation missing on a missing collection', async () => {
    const health = await validatePresenceIndexes(database.db().collection('nobody'), model);
    expect(health).toMatchObject({ collectionExists: false, missing: [{ name: 'status_1_seenAt_1' }] });
  });
});
