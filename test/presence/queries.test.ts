import { describe, expect, it } from 'vitest';
import { classifyUser } from '../../src/presence/classify.ts';
import { presenceModelOf } from '../../src/presence/model.ts';
import { statusCounts } from '../../src/presence/figures.ts';
import { offlineFilter, onlineFilter, staleCutoff } from '../../src/presence/queries.ts';
import { malformedOnlineFilter, noPresenceFilter, nullOnlineValueFilter, unknownOnlineValueFilter } from '../../src/presence/status-queries.ts';
import { presenceModelParams } from '../../src/presence/settings.ts';
import { useTestDatabase } from '../support/database.ts';
import { population, PRESENCE_CASES } from './population.ts';

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
