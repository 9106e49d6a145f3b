import { readFile } from 'node:fs/promises';
import { UsageError } from '../engine/errors.ts';
import { presenceModelOf, type PresenceModel } from './model.ts';
import {
  issueText,
  PRESENCE_SETTING_KEYS,
  presenceSettingsShape,
  type PresenceSettingKey,
  type PresenceSettings,
} from './settings.ts';

/** Where each setting can come from, besides the config file's key of the same name. */
export const PRESENCE_ENV: Readonly<Record<PresenceSettingKey, string>> = {
  collection: 'PRESENCE_COLLECTION',
  onlineField: 'PRESENCE_ONLINE_FIELD',
  offlineValue: 'PRESENCE_OFFLINE_VALUE',
  onlineValues: 'PRESENCE_ONLINE_VALUES',
  lastSeenField: 'PRESENCE_LAST_SEEN_FIELD',
  offlineSet: 'PRESENCE_OFFLINE_SET',
  staleMinutes: 'PRESENCE_STALE_MINUTES',
};
export const PRESENCE_CONFIG_ENV = 'PRESENCE_CONFIG';

export const PRESENCE_FLAGS: Readonly<Record<PresenceSettingKey, string>> = {
  collection: '--collection',
  onlineField: '--online-field',
  offlineValue: '--offline-value',
  onlineValues: '--online-values',
  lastSeenField: '--last-seen-field',
  offlineSet: '--offline-set',
  staleMinutes: '--minutes',
};

export interface PresenceSources {
  /** Flag values by setting key; undefined when not given. */
  flags: Partial<Record<PresenceSettingKey, unknown>>;
  /** `--config`, else $PRESENCE_CONFIG. */
  configPath?: string;
  env: NodeJS.ProcessEnv;
}

/** A setting's value and where it came from, to name it in an error. */
interface Sourced {
  value: unknown;
  source: string;
}

/**
 * The presence model from flags, then env vars, then the config file, then
 * defaults. Read and checked before anything connects: a bad key is a usage
 * error naming the key and where it was set.
 */
export async function loadPresenceModel(sources: PresenceSources): Promise<PresenceModel> {
  const configPath = sources.configPath ?? nonEmpty(sources.env[PRESENCE_CONFIG_ENV]);
  const file = configPath === undefined ? {} : await readConfigFile(configPath);
  const settings: Record<string, unknown> = {};
  const given = new Set<PresenceSettingKey>();
  for (const key of PRESENCE_SETTING_KEYS) {
    const sourced = pick(key, sources, file, configPath);
    if (sourced) given.add(key);
    const parsed = presenceSettingsShape[key].safeParse(sourced?.value);
    if (!parsed.success) {
      throw new UsageError(`presence setting ${key} (${sourced?.source ?? 'default'}): ${issueText(parsed.error)}${shown(sourced)}`);
    }
    settings[key] = parsed.data;
  }
  if (given.has('onlineValues') && !given.has('offlineValue')) {
    throw new UsageError(
      `presence setting onlineValues needs offlineValue: online values only apply to a status field (e.g. ${PRESENCE_ENV.offlineValue}=offline)`,
    );
  }
  return presenceModelOf(settings as PresenceSettings);
}

function pick(
  key: PresenceSettingKey,
  sources: PresenceSources,
  file: Record<string, unknown>,
  configPath: string | undefined,
): Sourced | undefined {
  const flag = sources.flags[key];
  if (flag !== undefined) return { value: flag, source: PRESENCE_FLAGS[key] };
  const env = nonEmpty(sources.env[PRESENCE_ENV[key]]);
  if (env !== undefined) return { value: env, source: PRESENCE_ENV[key] };
  if (Object.hasOwn(file, key)) return { value: file[key], source: `"${key}" in ${configPath}` };
  return undefined;
}

function shown(sourced: Sourced | undefined): string {
  if (sourced === undefined) return '';
  const text = typeof sourced.value === 'string' ? sourced.value : JSON.stringify(sourced.value);
  return `, got ${JSON.stringify((text ?? String(sourced.value)).slice(0, 60))}`;
}

/** Unset and empty env vars alike mean "not configured". */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read the presence config file ${path} (${code === 'ENOENT' ? 'no such file' : code ?? error})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`presence config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`presence config file ${path} must hold a JSON object of settings`);
  }
  const unknown = Object.keys(parsed).find((key) => !(PRESENCE_SETTING_KEYS as string[]).includes(key));
  if (unknown !== undefined) {
    throw new UsageError(`presence config file ${path}: unknown key "${unknown}" (keys: ${PRESENCE_SETTING_KEYS.join(', ')})`);
  }
  return parsed as Record<string, unknown>;
}
