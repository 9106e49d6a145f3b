import { defineTask, z, type DeletePlan } from 'presence-maint/task';

const fieldName = z.string().regex(/^[^.$][^.]*$/, 'must be a top-level field name');

/**
 * Deletes duplicate user accounts: users whose e-mail addresses are the same once trimmed and lower-cased. The
 * oldest of each address (earliest `createdAt`, then smallest `_id`) is kept; the others are deleted, each backed up
 * whole, and `presence restore <runId>` brings them back. Users without an address (missing, not text, blank) are
 * never touched. An address shared with a user whose `createdAt` is not a date is left for a person to decide, and
 * said in the run's notices.
 *
 * What you change: `--param collection=…`, `--param emailField=…`, `--param createdAtField=…`; and, before you
 * delete anything, whatever else refers to these users (their posts, memberships): this task does not merge them.
 *
 * Limits to know: the plan reads every user with an address, oldest first, and keeps each distinct address in
 * memory (about 100 bytes a user: 100 MB for a million); the deleted users' `_id`s are its filter, kept in the run's
 * record, so a run deletes at most some hundred thousand. Each delete is skipped if that user changed since the
 * plan, but nothing re-checks the user kept: do not run it while accounts are being merged or deleted elsewhere.
 */
export default defineTask({
  id: 'remove-duplicate-users',
  version: 1,
  description: 'Delete users whose e-mail (trimmed, lower-cased) is an older user\'s, keeping the oldest',
  mode: 'repeatable',
  params: z.object({
    collection: z.string().min(1).default('users'),
    emailField: fieldName.default('email'),
    createdAtField: fieldName.default('createdAt'),
  }),
  plan: async ({ db, params, log }) => {
    const users = db.collection(params.collection).find(
      { [params.emailField]: { $type: 'string' } },
      {
        // Oldest first, so the first user seen with an address is the one kept. A missing or non-date createdAt
        // sorts before every date (BSON order); such an address is set aside below rather than kept by accident.
        sort: { [params.createdAtField]: 1, _id: 1 },
        projection: { [params.emailField]: 1, [params.createdAtField]: 1 },
        allowDiskUse: true,
      },
    );
    const seen = new Set<string>();
    const undated = new Set<string>();
    const others: Array<{ address: string; _id: unknown }> = [];
    for await (const user of users) {
      const email: unknown = user[params.emailField];
      // `$type: 'string'` also matches an array holding one: not an address either.
      if (typeof email !== 'string') continue;
      const address = email.trim().toLowerCase();
      if (address === '') continue;
      if (!(user[params.createdAtField] instanceof Date)) undated.add(address);
      if (seen.has(address)) others.push({ address, _id: user._id });
      else seen.add(address);
    }
    const undecided = new Set(others.filter((user) => undated.has(user.address)).map((user) => user.address));
    if (undecided.size > 0) log.warn(`${undecided.size} shared address(es) left alone: one of their users has no ${params.createdAtField} date`);
    return {
      kind: 'delete',
      collection: params.collection,
      // The driver's types say an `_id` is an ObjectId; yours may be anything, and so may these.
      filter: { _id: { $in: others.filter((user) => !undecided.has(user.address)).map((user) => user._id) } } as DeletePlan['filter'],
    };
  },
});
