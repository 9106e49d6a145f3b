import { TaskPlanError } from '../src/engine/errors.ts';
import { defineTask } from '../src/engine/task.ts';
import { indexKeyText, validatePresenceIndexes } from '../src/presence/indexes.ts';
import { presenceModelOf } from '../src/presence/model.ts';
import { presenceModelParams } from '../src/presence/settings.ts';

/** The recommended presence index, once per database, like a migration; a restore drops it again. */
export default defineTask({
  id: 'presence-indexes',
  version: 2,
  description: 'Create the recommended presence index (online field, then last activity)',
  mode: 'once',
  params: presenceModelParams,
  async plan({ db, params }) {
    const model = presenceModelOf(params);
    // An index someone made by hand that already serves the queries is kept, not duplicated.
    const { missing, indexes } = await validatePresenceIndexes(db.collection(model.collection), model);
    // Planning nothing would leave status saying MISSING for ever: the operator must drop the impostor first.
    const blocked = indexes.find((entry) => entry.conflict !== undefined);
    if (blocked) {
      throw new TaskPlanError(
        `task presence-indexes: ${blocked.conflict} on ${model.collection}, so it cannot serve the presence queries and blocks the recommended index ${indexKeyText(blocked.spec)}; drop it first (db.${model.collection}.dropIndex("${blocked.spec.name}"))`,
      );
    }
    return { kind: 'indexes', collection: model.collection, indexes: missing.map(({ name, key }) => ({ name, key })) };
  },
});
