import { z } from 'zod';
import { defineTask } from '../src/engine/task.ts';

const fieldName = z.string().regex(/^[^.$][^.]*$/, 'must be a top-level field name');

/** The example task: lower-case and trim e-mail addresses, stamping when it was done. */
export default defineTask({
  id: 'normalize-emails',
  version: 1,
  description: 'Lower-case and trim e-mail addresses, and stamp when it was done',
  mode: 'repeatable',
  params: z.object({
    collection: z.string().min(1).default('users'),
    field: fieldName.default('email'),
  }),
  plan: ({ params, now }) => ({
    collection: params.collection,
    // Only strings match a regex: documents with a malformed field are left alone.
    filter: { [params.field]: { $regex: '[A-Z]|^\\s|\\s$' } },
    fields: [params.field, 'emailNormalizedAt'],
    change: (user) => ({
      set: { [params.field]: String(user[params.field]).trim().toLowerCase(), emailNormalizedAt: now },
    }),
  }),
});
