import type { Collection } from 'mongodb';
import { classifyUser } from './classify.ts';
import { CheckResult, outcome, type CheckOutcome } from './health-check.ts';
import { presenceFields, type PresenceModel } from './model.ts';
import { readPath, valueAt } from '../engine/paths.ts';
import { projectionOf } from '../engine/document-state.ts';

export const SCHEMA_SAMPLE_SIZE = 1000;
const EXAMPLES_SHOWN = 3;

function percent(part: number, whole: number): string {
  return `${((part / whole) * 100).toFixed(1)}%`;
}

/**
 * Reads a sample and checks every presence field's type, with the rules the
 * writes use. A malformed document fails the check: writes leave it alone, so
 * it stays wrong until someone fixes it.
 */
export async function checkSchema(users: Collection, model: PresenceModel, sampleSize = SCHEMA_SAMPLE_SIZE): Promise<CheckOutcome> {
  // The whole top-level field of each path: a dotted projection would hide a parent that is no sub-document.
  const projection = projectionOf(presenceFields(model));
  const sample = await users.find({}, { projection, limit: sampleSize }).toArray();
  if (sample.length === 0) return outcome(CheckResult.warn, 'no documents to check: the collection is empty');

  for (const field of [model.online.field, model.lastSeenField]) {
    if (!sample.some((user) => readPath(user, field).state === 'value')) {
      const setting = field === model.online.field ? 'onlineField' : 'lastSeenField';
      return outcome(CheckResult.fail, `no sampled document has the field "${field}" (check the ${setting} setting)`);
    }
  }

  const problems = new Map<string, number>();
  const examples: string[] = [];
  let malformed = 0;
  let withoutPresence = 0;
  let withoutActivity = 0;
  for (const user of sample) {
    const classified = classifyUser(model, user);
    if (classified.state === 'without-presence') withoutPresence++;
    if (classified.state === 'malformed') {
      malformed++;
      for (const problem of classified.problems) problems.set(problem, (problems.get(problem) ?? 0) + 1);
      if (examples.length < EXAMPLES_SHOWN) examples.push(`_id ${JSON.stringify(user._id)}: ${classified.problems.join(', ')}`);
    }
    if (classified.state === 'online' && valueAt(user, model.lastSeenField) == null) withoutActivity++;
  }

  const sampled = `${sample.length} sampled document(s)`;
  if (malformed > 0) {
    const byProblem = [...problems].map(([problem, count]) => `${problem} (${count})`).join(', ');
    return outcome(
      CheckResult.fail,
      `${malformed} of ${sampled} (${percent(malformed, sample.length)}) have presence fields of the wrong type: ${byProblem}`,
      examples.map((example) => `e.g. ${example}`),
    );
  }
  const notes: string[] = [];
  if (withoutPresence > 0) notes.push(`${withoutPresence} (${percent(withoutPresence, sample.length)}) have no ${model.online.field}`);
  if (withoutActivity > 0) notes.push(`${withoutActivity} online without a ${model.lastSeenField}`);
  if (notes.length > 0) return outcome(CheckResult.warn, `${sampled} well-typed; ${notes.join('; ')}`);
  return outcome(CheckResult.pass, `${sampled}, all with well-typed ${model.online.field} and ${model.lastSeenField}`);
}
