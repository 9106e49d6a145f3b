import { defineTask, z } from 'presence-maint/task';

/**
 * Deletes the expired sessions of connect-mongo (express-session's MongoDB store): documents
 * `{ _id: <session id>, expires: Date, session: <JSON text> }` whose `expires` is in the past. For a store whose
 * TTL index is off (`autoRemove: 'disabled'`, or an engine without TTL indexes), run it from cron.
 *
 * What you change: `--param collection=…` if you set the store's `collectionName`, `--param graceMinutes=…` to
 * keep sessions that expired only just now. A session touched between the plan and the delete (its `expires`
 * moved: the user came back) is left alone, and `presence restore <runId>` puts every deleted session back.
 */
export default defineTask({
  id: 'purge-expired-sessions',
  version: 1,
  description: 'Delete connect-mongo sessions whose expires is in the past',
  mode: 'repeatable',
  params: z.object({
    collection: z.string().min(1).default('sessions'),
    graceMinutes: z.coerce.number().int().min(0).default(0),
  }),
  plan: ({ params, now }) => ({
    kind: 'delete',
    collection: params.collection,
    // A Date comparison matches Dates only: a session with no `expires`, or text in it, is left alone.
    filter: { expires: { $lt: new Date(now.getTime() - params.graceMinutes * 60_000) } },
  }),
});
