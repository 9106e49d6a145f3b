import { defineTask, z } from 'presence-maint/task';

/**
 * Two steps in one run: delete the memberships of teams that no longer exist, then clear those teams' id from the
 * users who still carry it. One lock, one run id, one `presence restore <runId>` that undoes both (the users first,
 * then the memberships). Change the collection and field names to your schema's.
 *
 * The orphaned team ids are found when the run plans, before anything is written: the distinct team ids the
 * memberships name, less those still in `teams`. Only the orphaned ids are held in memory, never the documents.
 */
export default defineTask({
  id: 'orphan-cleanup',
  version: 1,
  description: 'Delete the memberships of deleted teams, then clear their users\' teamId',
  mode: 'repeatable',
  params: z.object({
    teams: z.string().min(1).default('teams'),
    memberships: z.string().min(1).default('memberships'),
    users: z.string().min(1).default('users'),
    /** The field that names a team, in memberships and in users alike. */
    teamField: z.string().min(1).regex(/^[^.$]+$/, 'must be a top-level field name').default('teamId'),
  }),
  plan: async ({ db, params, log }) => {
    const named = await db.collection(params.memberships).distinct(params.teamField);
    const existing = new Set<string>();
    for (let start = 0; start < named.length; start += 1000) {
      const slice = named.slice(start, start + 1000);
      for await (const team of db.collection(params.teams).find({ _id: { $in: slice } }, { projection: { _id: 1 } })) {
        existing.add(JSON.stringify(team._id));
      }
    }
    const orphans = named.filter((teamId) => teamId !== null && !existing.has(JSON.stringify(teamId)));
    log.info(`${orphans.length} team id(s) named by ${params.memberships} are not in ${params.teams}`);
    const ofOrphans = { [params.teamField]: { $in: orphans } };
    return [
      { kind: 'delete', collection: params.memberships, filter: ofOrphans },
      {
        collection: params.users,
        filter: ofOrphans,
        fields: [params.teamField],
        change: () => ({ unset: [params.teamField] }),
      },
    ];
  },
});
