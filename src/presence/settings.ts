import { z } from 'zod';
import { nestedPair, pathProblem } from '../engine/paths.ts';
import { BETWEEN_PARAMS } from '../engine/task.ts';
import { leafPaths, nestedDocument } from './paths.ts';

/** A year: a stale threshold beyond it is a typo, not a policy. */
export const MAX_MINUTES = 525_600;
export const DEFAULT_STALE_MINUTES = 30;

/** A field, or a dotted path into a sub-document (`presence.online`), by the engine's rule for paths. */
function fieldPathProblem(path: string): string | undefined {
  const problem = pathProblem(path);
  return problem === undefined ? undefined : `must be a field or a dotted path (e.g. presence.online), and this one ${problem}`;
}

const fieldName = z.string({ error: 'must be a field name' }).superRefine((name, context) => {
  const problem = fieldPathProblem(name);
  if (problem) context.addIssue({ code: 'custom', message: problem });
});

const collectionName = z
  .string({ error: 'must be a collection name' })
  .min(1, 'must not be empty')
  .max(120, 'must be at most 120 characters')
  .regex(/^[^$\0]+$/, 'must not contain "$"')
  .refine((name) => !name.startsWith('system.'), 'must not be a system collection');

/** Flags and env vars are text: "60" means 60; anything else is left for the schema to refuse. */
function numberFromText(value: unknown): unknown {
  return typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
}

function listFromText(value: unknown): unknown {
  return typeof value === 'string' ? value.split(',').map((item) => item.trim()) : value;
}

/** An env var or flag carries a JSON object; a file carries it already parsed. */
function objectFromJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

/** Whole minutes, from a flag, an env var or JSON alike. */
const minutesSchema = z.preprocess(
  numberFromText,
  z
    .number({ error: 'must be a whole number of minutes' })
    .int('must be a whole number of minutes')
    .min(1, 'must be at least 1 minute')
    .max(MAX_MINUTES, `must be at most ${MAX_MINUTES} minutes (a year)`),
);

const companionValue = z.union([z.null(), z.string(), z.number(), z.boolean()], {
  error: 'values must be null, text, a number or true/false',
});

/** A path that holds another (`presence` and `presence.lastSeen`): a write to one would overwrite the other. */
function pathHoldingAnother(named: readonly (readonly [setting: string, path: string])[]): string | undefined {
  const pair = nestedPair(named.map(([, path]) => path));
  if (pair === undefined) return undefined;
  const settingOf = (path: string) => named.find(([, candidate]) => candidate === path)![0];
  const [outer, inner] = pair;
  return `${settingOf(outer)} "${outer}" holds ${settingOf(inner)} "${inner}"; no setting's path may be inside another's`;
}

/**
 * Given as field: value, paths allowed; kept as the document the fields make
 * (`{"presence.socketId": null}` → `{presence: {socketId: null}}`), which is
 * how the audit stores it: FerretDB and MongoDB before 5.0 refuse a key with a dot.
 */
const offlineSet = z.preprocess(
  objectFromJson,
  z
    .record(z.string(), companionValue, { error: 'must be a JSON object of field: value, e.g. {"socketId": null} or {"presence.socketId": null}' })
    .superRefine((fields, context) => {
      for (const name of Object.keys(fields)) {
        const problem = fieldPathProblem(name);
        if (problem) context.addIssue({ code: 'custom', message: `field "${name}" ${problem}` });
      }
      const nested = pathHoldingAnother(Object.keys(fields).map((field) => ['offlineSet', field] as const));
      if (nested) context.addIssue({ code: 'custom', message: nested });
    })
    .transform((fields) => nestedDocument(fields) as CompanionFields),
);

/** The companion fields as a document: each leaf a value going offline sets. */
export interface CompanionFields {
  [field: string]: CompanionValue | CompanionFields;
}

/** The companion fields by path: `{"presence.socketId": null}`. */
export function companionPaths(fields: CompanionFields): Record<string, CompanionValue> {
  return leafPaths(fields) as Record<string, CompanionValue>;
}

/** Seconds, decimals allowed, from 0 to a day. */
const graceSecondsSchema = z.preprocess(
  numberFromText,
  z
    .number({ error: 'must be a number of seconds' })
    .min(0, 'must be 0 or more seconds')
    .max(86_400, 'must be at most 86400 seconds (a day)'),
);

/** true/false from a flag, an env var or JSON alike. */
const switchSchema = z.preprocess(
  (value) => (value === 'true' ? true : value === 'false' ? false : value),
  z.boolean({ error: 'must be true or false' }),
);

/** The default online values of a status field. */
export const DEFAULT_ONLINE_VALUES: readonly string[] = ['online'];

/**
 * How presence is stored, key by key. The same schemas read a config file,
 * env vars, flags and `--param`, so every source is held to one rule.
 */
const presenceModelShape = {
  collection: collectionName.default('users'),
  onlineField: fieldName.default('isOnline'),
  /** Given: presence is a status field with this offline value; absent: a boolean field. */
  offlineValue: z.string({ error: 'must be text' }).min(1, 'must not be empty').optional(),
  /** Status values meaning online (default `online`); only with `offlineValue`. */
  onlineValues: z
    .preprocess(
      listFromText,
      z
        .array(z.string({ error: 'must be a list of text values' }).min(1, 'must not contain an empty value'), {
          error: 'must be a list of text values',
        })
        .min(1, 'must name at least one value'),
    )
    .optional(),
  lastSeenField: fieldName.default('lastSeen'),
  /** Companion fields the offline write also sets, e.g. {"socketId": null}. */
  offlineSet: offlineSet.default({}),
};

/** The rules between settings: a model that contradicts itself is refused with the settings it is made of. */
function checkModelRules(settings: z.output<typeof presenceModelObject>, context: z.RefinementCtx): void {
  const { onlineField, lastSeenField, offlineValue, onlineValues } = settings;
  const broken = (path: string[], message: string) => context.addIssue({ code: 'custom', path, message, params: BETWEEN_PARAMS });
  if (onlineValues !== undefined && offlineValue === undefined) {
    broken(['onlineValues'], 'needs offlineValue: online values only apply to a status field (e.g. offlineValue "offline")');
  }
  if (onlineField === lastSeenField) broken([], `onlineField and lastSeenField are both "${onlineField}"; they must differ`);
  const companions = Object.keys(companionPaths(settings.offlineSet));
  for (const field of companions) {
    if (field === onlineField || field === lastSeenField) {
      broken([], `offlineSet may not set "${field}", which is the ${field === onlineField ? 'onlineField' : 'lastSeenField'}`);
    }
  }
  const nested = pathHoldingAnother([
    ['onlineField', onlineField],
    ['lastSeenField', lastSeenField],
    ...companions.map((field) => ['offlineSet', field] as const),
  ]);
  if (nested) broken([], nested);
  if (offlineValue !== undefined && onlineValues?.includes(offlineValue)) {
    broken([], `onlineValues contains the offlineValue "${offlineValue}"`);
  }
}

const presenceModelObject = z.object(presenceModelShape);

/** The parameters of a presence task that takes nothing but the model (cleanup, indexes). */
export const presenceModelParams = presenceModelObject.superRefine(checkModelRules);

/** The model plus the stale threshold: a parameter of each run (stale, status, test), not part of the model. */
export const stalePresenceParams = presenceModelObject
  .extend({ minutes: minutesSchema.default(DEFAULT_STALE_MINUTES) })
  .superRefine(checkModelRules);

/** A ghost's last activity is older than this: a user who just connected is not yet in the connected set the plan read. */
export const DEFAULT_GHOST_GRACE_SECONDS = 120;

/** The model plus what reconciling with the connected set takes. */
export const reconcilePresenceParams = presenceModelObject
  .extend({
    graceSeconds: graceSecondsSchema.default(DEFAULT_GHOST_GRACE_SECONDS),
    /** Also set online the connected users the database shows offline. */
    fixMissing: switchSchema.default(false),
  })
  .superRefine(checkModelRules);

/** What `status` takes: the stale threshold and the ghosts' grace period. */
export const statusPresenceParams = presenceModelObject
  .extend({
    minutes: minutesSchema.default(DEFAULT_STALE_MINUTES),
    graceSeconds: graceSecondsSchema.default(DEFAULT_GHOST_GRACE_SECONDS),
  })
  .superRefine(checkModelRules);

/**
 * Every presence setting at once: whatever a command takes, every setting that
 * is configured is checked, so a bad value never waits for the command that reads it.
 */
export const everyPresenceSetting = presenceModelObject
  .extend({ minutes: minutesSchema.optional(), graceSeconds: graceSecondsSchema.optional(), fixMissing: switchSchema.optional() })
  .superRefine(checkModelRules);

export type PresenceSettings = z.output<typeof presenceModelParams>;
export type StalePresenceParams = z.output<typeof stalePresenceParams>;
export type CompanionValue = z.output<typeof companionValue>;
