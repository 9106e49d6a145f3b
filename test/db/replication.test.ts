import { describe, expect, it } from 'vitest';
import { lagOf } from '../../src/db/replication.ts';
import { factsOf } from '../../src/db/server-facts.ts';

const at = (seconds: number) => new Date(Date.UTC(2026, 10, 25, 2, 0, seconds));

describe('replication lag from replSetGetStatus', () => {
  const status = {
    members: [
      { name: 'db1:27017', state: 1, optimeDate: at(40) },
      { name: 'db2:27017', state: 2, optimeDate: at(35) },
      { name: 'db3:27017', state: 2, optimeDate: at(10) },
      { name: 'db4:27017', state: 8, optimeDate: at(0) },
      { name: 'arbiter:27017', state: 7 },
    ],
  };

  it('is the most lagging secondary; members that are down or arbiters do not count', () => {
    expect(lagOf(status)).toEqual({ seconds: 30, member: 'db3:27017' });
  });

  it('judges a delayed member against its configured delay', () => {
    expect(lagOf(status, new Map([['db3:27017', 3600]]))).toEqual({ seconds: 5, member: 'db2:27017' });
  });

  it('is unknown while the set has no primary', () => {
    expect(lagOf({ members: status.members.filter((member) => member.state !== 1) })).toBeUndefined();
  });
});

describe('server facts from hello', () => {
  it('know a replica set, a mongos, and the largest write batch', () => {
    expect(factsOf({ maxWriteBatchSize: 100_000, setName: 'rs0' })).toEqual({ maxWriteBatchSize: 100_000, replicaSet: 'rs0', mongos: false });
    expect(factsOf({ maxWriteBatchSize: 1000, msg: 'isdbgrid' })).toEqual({ maxWriteBatchSize: 1000, replicaSet: undefined, mongos: true });
  });
});
