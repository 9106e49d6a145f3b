import { defineTask, z } from 'presence-maint/task';

const path = z.string().min(1).regex(/^[^.$][^$]*$/, 'must be a field path such as endsAt or slot.end');

/**
 * Moves bookings that ended more than a year ago out of `bookings` into `bookings_archive`: each is copied, the copy
 * confirmed, and only then deleted from `bookings`, so it is never in neither. Run it as often as you like: what
 * was moved is no longer matched, and a document already in the archive is never overwritten.
 *
 * What you change: `--param days=…` (how old), `--param field=…` (the date that says when a booking is over),
 * `--param collection=…`, `--param archiveCollection=…`, and `--param archiveDatabase=…` to keep the archive in
 * another database of the same deployment. `presence restore <runId>` moves a run's bookings back.
 */
export default defineTask({
  id: 'archive-old-bookings',
  version: 1,
  description: 'Move bookings that ended more than N days ago (default 365) into an archive collection',
  mode: 'repeatable',
  params: z.object({
    collection: z.string().min(1).default('bookings'),
    field: path.default('endsAt'),
    days: z.coerce.number().int().min(1).default(365),
    archiveCollection: z.string().min(1).default('bookings_archive'),
    archiveDatabase: z.string().min(1).optional(),
  }),
  plan: ({ params, now }) => ({
    kind: 'archive',
    collection: params.collection,
    // A Date comparison matches Dates only: a booking whose end is missing or not a date stays where it is.
    filter: { [params.field]: { $lt: new Date(now.getTime() - params.days * 24 * 60 * 60_000) } },
    into: { collection: params.archiveCollection, database: params.archiveDatabase },
  }),
});
