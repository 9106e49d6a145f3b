import { defineTask } from '../src/engine/task.ts';
import { validatePresenceIndexes } from '../src/presence/indexes.ts';
import { presenceModelOf } from '../src/presence/model.ts';
import { presenceModelParams } from '../src/presence/settings.ts';

/** The recommended presence index, once per database, like a migration; a restore drops it again. */
export default defineTask({
  id: 'presence-indexes',
  version: 1,
  description: 'Create the recommended presence index (online field, then last activity)',
  mode: 'once',
  params: presenceModelParams,
  async plan({ db, params }) {
    const model = presenceModelOf(params);
    // An index someone made by hand that already serves the queries is kept, not duplicated.
    const { missing } = await validatePresenceIndexes(db.collection(model.collection), model);
    return { collection: model.collection, indexes: missing.map(({ name, key }) => ({ name, key })) };
  },
});
