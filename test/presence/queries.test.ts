import { describe, expect, it } from 'vitest';
import { classifyUser } from '../../src/presence/classify.ts';
import { presenceModelOf } from '../../src/presence/model.ts';
import { statusCounts } from '../../src/presence/figures.ts';
import { offlineFilter, onlineFilter, staleCutoff } from '../../src/presence/queries.ts';
import { malformedOnlineFilter, noPresenceFilter, nullOnlineValueFilter, unknownOnlineValueFilter } from '../../src/presence/status-queries.ts';
import { presenceModelParams } from '../../src/presence/settings.ts';
import { useTestDatabase } from '../support/database.ts';
import { population, PRESENCE_CASES } from './population.ts';
import { subDocumentPopulation, SUB_DOCUMENT_SETTINGS } from './sub-document-population.ts';

const database = useTestDatabase('presencequeries');

describe.each(PRESENCE_CASES)('presence queries ($name)', (presence) => {
  it('put every seeded user where the truth says, and agree with the per-document schema check', async () => {
    const model = presenceModelOf(presenceModelParams.parse(presence.settings));
    const pop = population(presence, new Date());
    const users = database.db().collection(presence.collection);
    await users.insertMany(pop.users);
    const matching = async (filter: object) => new Set((await users.find(filter, { projection: { _id: 1 } }).toArray()).map((user) => user._id));
    const found = {
      online: await matching(onlineFilter(model)),
      offline: await matching(offlineFilter(model)),
      'without-presence': await matching(noPresenceFilter(model)),
      malformed: await matching({ $or: [malformedOnlineFilter(model), unknownOnlineValueFilter(model), nullOnlineValueFilter(model)] }),
    };
    const truth = { active: 'online', stale: 'online', onlineWithoutActivity: 'online', offline: 'offline', withoutPresence: 'without-presence', malformed: 'malformed' };
    for (const user of await users.find({}, { promoteValues: false }).toArray()) {
      const expected = truth[pop.categoryOf.get(String(user._id))!];
      const inFilters = Object.entries(found).filter(([, ids]) => ids.has(user._id)).map(([state]) => state);
      expect({ id: user._id, states: inFilters }).toEqual({ id: user._id, states: [expected] });
      expect({ id: user._id, state: classifyUser(model, user).state }).toEqual({ id: user._id, state: expected });
    }
  });

  it('status counts bounded by the presence index put each seeded user in exactly one figure: the same as the write filters', async () => {
    const model = presenceModelOf(presenceModelParams.parse(presence.settings));
    const pop = population(presence, new Date());
    const users = database.db().collection(`${presence.collection}_status`);
    await users.insertMany(pop.users);
    const counts = statusCounts(model, staleCutoff(pop.now, 30));
    const figures = {
      online: counts.online,
      offline: counts.offline,
      'without-presence': counts.withoutPresence,
      malformed: { $or: [counts.malformedOnline, counts.unknownOnlineValue, counts.nullOnlineValue] },
    };
    const found = Object.fromEntries(
      await Promise.all(Object.entries(figures).map(async ([state, filter]) => [state, new Set((await users.find(filter).toArray()).map((user) => user._id))] as const)),
    );
    const truth = { active: 'online', stale: 'online', onlineWithoutActivity: 'online', offline: 'offline', withoutPresence: 'without-presence', malformed: 'malformed' };
    for (const user of pop.users) {
      const inFigures = Object.entries(found).filter(([, ids]) => ids.has(user._id)).map(([state]) => state);
      expect({ id: user._id, states: inFigures }).toEqual({ id: user._id, states: [truth[pop.categoryOf.get(String(user._id))!]] });
    }
    // The malformed counts never see the same document here: status adds them.
    const malformedCounts = [counts.malformedOnline, counts.unknownOnlineValue, counts.nullOnlineValue];
    const separately = await Promise.all(malformedCounts.map((filter) => users.countDocuments(filter)));
    expect(separately.reduce((sum, n) => sum + n, 0)).toBe(await users.countDocuments({ $or: malformedCounts }));
  });
});

describe('presence queries (presence in a sub-document)', () => {
  const model = presenceModelOf(presenceModelParams.parse(SUB_DOCUMENT_SETTINGS));
  const truth = {
    offline: 'offline',
    active: 'online',
    recent: 'online',
    stale: 'online',
    onlineWithoutActivity: 'online',
    withoutPresence: 'without-presence',
    malformed: 'malformed',
  } as const;

  it('status counts, write filters and the schema check put each user, every malformed shape included, in exactly one place', async () => {
    const users = subDocumentPopulation(new Date());
    const collection = database.db().collection('accounts');
    await collection.insertMany(users.map((user) => ({ ...user.document })));
    const counts = statusCounts(model, staleCutoff(new Date(), 30));
    const malformedCounts = [counts.malformedOnline, counts.unknownOnlineValue, counts.nullOnlineValue, counts.malformedParents!];
    const matching = async (filter: object) => new Set((await collection.find(filter, { projection: { _id: 1 } }).toArray()).map((user) => String(user._id)));
    const figures = {
      online: await matching(counts.online),
      offline: await matching(counts.offline),
      'without-presence': await matching(counts.withoutPresence),
      malformed: await matching({ $or: malformedCounts }),
    };
    const writable = { online: await matching(onlineFilter(model)), offline: await matching(offlineFilter(model)) };
    for (const user of users) {
      const id = String(user.document._id);
      const expected = truth[user.kind];
      const where = (found: Record<string, Set<string>>) => Object.entries(found).filter(([, ids]) => ids.has(id)).map(([state]) => state);
      expect({ id, kind: user.kind, figures: where(figures) }).toEqual({ id, kind: user.kind, figures: [expected] });
      expect({ id, kind: user.kind, writable: where(writable) }).toEqual({ id, kind: user.kind, writable: expected === 'online' || expected === 'offline' ? [expected] : [] });
      expect({ id, kind: user.kind, state: classifyUser(model, user.document).state }).toEqual({ id, kind: user.kind, state: expected });
    }
    // Disjoint, so status may add them.
    const separately = await Promise.all(malformedCounts.map((filter) => collection.countDocuments(filter)));
    expect(separately.reduce((sum, n) => sum + n, 0)).toBe(await collection.countDocuments({ $or: malformedCounts }));
  });
});
