import { defineTask, valueAt, z } from 'presence-maint/task';

const path = z.string().min(1).regex(/^[^.$][^$]*$/, 'must be a field path such as profile.mail');

/**
 * Renames a field inside a sub-document (by default profile.mail → profile.email), once, like a migration.
 * A document that already has the new field is left alone: which of the two is right is for a person to decide.
 */
export default defineTask({
  id: 'rename-nested-field',
  version: 1,
  description: 'Rename a nested field (default profile.mail to profile.email)',
  mode: 'once',
  params: z.object({
    collection: z.string().min(1).default('users'),
    from: path.default('profile.mail'),
    to: path.default('profile.email'),
  }),
  plan: ({ params }) => ({
    collection: params.collection,
    filter: { [params.from]: { $exists: true }, [params.to]: { $exists: false } },
    // Both paths are backed up and compared at write time: the old one's value, the new one's absence.
    fields: [params.from, params.to],
    change: (user) => ({ set: { [params.to]: valueAt(user, params.from) }, unset: [params.from] }),
  }),
});
