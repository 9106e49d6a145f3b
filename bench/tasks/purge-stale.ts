import { defineTask } from '../../src/engine/task.ts';
import { staleUsers, staleUsersParams } from '../stale-users.ts';

/** The bench's purge: the stale users deleted, each backed up whole first. */
export default defineTask({
  id: 'purge-stale',
  version: 1,
  description: 'Delete the users inactive for more than `minutes` and still shown online',
  mode: 'repeatable',
  params: staleUsersParams,
  plan: ({ params, now }) => ({ kind: 'delete', collection: params.collection, filter: staleUsers(now, params.minutes) }),
});
