import { defineTask } from '../../src/engine/task.ts';
import { staleUsers, staleUsersParams } from '../stale-users.ts';

/** The bench's archive: the stale users moved to `<collection>_archive`. */
export default defineTask({
  id: 'archive-stale',
  version: 1,
  description: 'Move the users inactive for more than `minutes` and still shown online to <collection>_archive',
  mode: 'repeatable',
  params: staleUsersParams,
  plan: ({ params, now }) => ({
    kind: 'archive',
    collection: params.collection,
    filter: staleUsers(now, params.minutes),
    into: { collection: `${params.collection}_archive` },
  }),
});
