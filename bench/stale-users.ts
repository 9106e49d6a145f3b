import { z } from 'zod';
import type { Document, Filter } from 'mongodb';
import { presenceModelOf } from '../src/presence/model.ts';
import { staleCutoff, staleFilter } from '../src/presence/queries.ts';
import { presenceModelParams } from '../src/presence/settings.ts';

/**
 * The users the bench's purge and archive tasks remove: the same stale users
 * `presence stale` sets offline (the default presence model, inactive for more
 * than `minutes`), in a collection named by a parameter.
 */
export const staleUsersParams = z.object({
  collection: z.string().min(1).default('users'),
  minutes: z.coerce.number().int().positive().default(1440),
});

const defaultModel = presenceModelOf(presenceModelParams.parse({}));

export function staleUsers(now: Date, minutes: number): Filter<Document> {
  return staleFilter(defaultModel, staleCutoff(now, minutes));
}
