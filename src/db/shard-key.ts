import type { Db, Document } from 'mongodb';
import { errorMessage } from '../engine/errors.ts';
import type { TargetingResolver } from '../engine/ports.ts';
import { NO_TARGETING, TargetingSource, type WriteTargeting } from '../engine/run-record.ts';
import { serverFacts } from './server-facts.ts';

/**
 * A collection's shard key, so every write carries it and mongos sends each
 * to the one shard that holds its document, instead of to every shard in
 * turn. Through a mongos it is read from `config.collections` (which needs
 * read on the `config` database); where that is refused, or the target is
 * no mongos, the fields the operator gave (`--shard-key`) are used: on an
 * unsharded target they only narrow a filter that already holds `_id`.
 */
export function shardKeyTargeting(db: Db, given: readonly string[] | undefined): TargetingResolver {
  const fallback: WriteTargeting = given === undefined ? NO_TARGETING : { fields: given, source: TargetingSource.flag };
  return async (collection) => {
    if (!(await serverFacts(db)).mongos) return { targeting: fallback };
    const namespace = `${db.databaseName}.${collection}`;
    let entry: Document | null;
    try {
      entry = await db.client
        .db('config')
        .collection<{ _id: string }>('collections')
        .findOne({ _id: namespace }, { projection: { key: 1, dropped: 1, unsplittable: 1 } });
    } catch (error) {
      const why = `the shard key of ${namespace} is not readable (config.collections: ${errorMessage(error).split('\n')[0]})`;
      return {
        targeting: fallback,
        notice:
          given === undefined
            ? `${why}: each write goes to every shard; grant read on the config database or give --shard-key`
            : `${why}: using the given --shard-key ${given.join(',')}`,
      };
    }
    if (!isSharded(entry)) return { targeting: fallback };
    const fields = Object.keys(entry.key as Document);
    const differs = given !== undefined && given.join(',') !== fields.join(',');
    return {
      targeting: { fields, source: TargetingSource.detected },
      notice: differs ? `--shard-key ${given.join(',')} ignored: ${namespace} is sharded on ${fields.join(',')}` : undefined,
    };
  };
}

/**
 * Not sharded: no entry (mongos sends its writes to the database's primary
 * shard), an entry left by a drop (before 5.0), or one MongoDB 8.0 keeps for
 * an unsharded collection it tracks (`unsplittable`, keyed on `_id`).
 */
function isSharded(entry: Document | null): entry is Document {
  return entry !== null && entry.dropped !== true && entry.unsplittable !== true && typeof entry.key === 'object' && entry.key !== null;
}
