import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { UsageError } from '../engine/errors.ts';
import { parseParams, type ParamNaming } from '../engine/task-catalog.ts';
import { connectedSettingsSchema, type ConnectedSettings } from './connected-settings.ts';
import { sampleSettingsSchema, type SampleSettings } from './sample-settings.ts';
import { everyPresenceSetting } from './settings.ts';

/** One presence setting: its config file key, environment variable and flag, and the parameter it fills. */
interface PresenceSetting {
  key: string;
  env: string;
  /** None for a secret: a flag would show it to every user of `ps`. */
  flag?: string;
  param: string;
  /** Never quoted back in an error. */
  secret?: true;
}

/** Every presence setting, in the order of the README's table. */
export const PRESENCE_SETTINGS: readonly PresenceSetting[] = [
  { key: 'collection', env: 'PRESENCE_COLLECTION', flag: '--collection', param: 'collection' },
  { key: 'onlineField', env: 'PRESENCE_ONLINE_FIELD', flag: '--online-field', param: 'onlineField' },
  { key: 'offlineValue', env: 'PRESENCE_OFFLINE_VALUE', flag: '--offline-value', param: 'offlineValue' },
  { key: 'onlineValues', env: 'PRESENCE_ONLINE_VALUES', flag: '--online-values', param: 'onlineValues' },
  { key: 'lastSeenField', env: 'PRESENCE_LAST_SEEN_FIELD', flag: '--last-seen-field', param: 'lastSeenField' },
  { key: 'offlineSet', env: 'PRESENCE_OFFLINE_SET', flag: '--offline-set', param: 'offlineSet' },
  { key: 'staleMinutes', env: 'PRESENCE_STALE_MINUTES', flag: '--minutes', param: 'minutes' },
  { key: 'ghostGraceSeconds', env: 'PRESENCE_GHOST_GRACE_SECONDS', flag: '--grace', param: 'graceSeconds' },
  { key: 'fixMissing', env: 'PRESENCE_FIX_MISSING', flag: '--fix-missing', param: 'fixMissing' },
];

/** Where the connected set comes from: not task parameters (they are audited), and some are secret. */
export const CONNECTED_SETTINGS: readonly PresenceSetting[] = [
  { key: 'connectedUrl', env: 'PRESENCE_CONNECTED_URL', flag: '--connected', param: 'url', secret: true },
  { key: 'connectedToken', env: 'PRESENCE_CONNECTED_TOKEN', param: 'token', secret: true },
  { key: 'connectedRedis', env: 'PRESENCE_CONNECTED_REDIS', flag: '--connected-redis', param: 'redis', secret: true },
  { key: 'connectedNamespace', env: 'PRESENCE_CONNECTED_NAMESPACE', flag: '--connected-namespace', param: 'namespace' },
  { key: 'connectedAdapterKey', env: 'PRESENCE_CONNECTED_ADAPTER_KEY', flag: '--connected-adapter-key', param: 'adapterKey' },
  { key: 'connectedUserIdField', env: 'PRESENCE_CONNECTED_USER_ID_FIELD', flag: '--connected-user-id-field', param: 'userIdField' },
  { key: 'connectedTimeoutSeconds', env: 'PRESENCE_CONNECTED_TIMEOUT_SECONDS', flag: '--connected-timeout', param: 'timeoutSeconds' },
];

/** How long presence samples are kept: not a task parameter either, and the same for every command that records. */
export const SAMPLE_SETTINGS: readonly PresenceSetting[] = [
  { key: 'samplesRetentionDays', env: 'PRESENCE_SAMPLES_RETENTION_DAYS', flag: '--samples-retention', param: 'retentionDays' },
];

export const PRESENCE_CONFIG_ENV = 'PRESENCE_CONFIG';
/** Keys of the same file that are not presence settings, read by src/cli: notifications apply to every command. */
export const TOOL_CONFIG_KEYS = ['notify'] as const;
const CONFIG_KEYS: readonly string[] = [...[...PRESENCE_SETTINGS, ...CONNECTED_SETTINGS, ...SAMPLE_SETTINGS].map((setting) => setting.key), ...TOOL_CONFIG_KEYS];

export interface PresenceSources {
  /** Flag values by task parameter; undefined when not given. */
  flags: Readonly<Record<string, unknown>>;
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
 * The parameters `schema` declares, each from its flag, else its environment
 * variable, else the config file, else the schema's default; then checked
 * once, by the task catalog's parser, before anything connects. A bad value
 * is a usage error naming the setting and where it was set.
 */
export function loadPresenceParams<Schema extends z.ZodObject>(schema: Schema, sources: PresenceSources): Promise<z.output<Schema>> {
  return loadSettings(PRESENCE_SETTINGS, everyPresenceSetting, schema, sources);
}

/** Where the connected set comes from, by the same rules; undefined values when none is configured. */
export function loadConnectedSettings(sources: PresenceSources): Promise<ConnectedSettings> {
  return loadSettings(CONNECTED_SETTINGS, connectedSettingsSchema, connectedSettingsSchema, sources);
}

/** How long presence samples are kept, by the same rules. */
export function loadSampleSettings(sources: PresenceSources): Promise<SampleSettings> {
  return loadSettings(SAMPLE_SETTINGS, sampleSettingsSchema, sampleSettingsSchema, sources);
}

/** Every setting of `table` that is given is checked against `every`; those `schema` declares are returned, defaults filled. */
async function loadSettings<Schema extends z.ZodObject>(
  table: readonly PresenceSetting[],
  every: z.ZodObject,
  schema: Schema,
  sources: PresenceSources,
): Promise<z.output<Schema>> {
  const configPath = sources.configPath ?? nonEmpty(sources.env[PRESENCE_CONFIG_ENV]);
  const file = configPath === undefined ? {} : await readConfigFile(configPath);
  const values: Record<string, unknown> = {};
  const given = new Map<string, Sourced>();
  for (const setting of table) {
    const sourced = pick(setting, sources, file, configPath);
    if (sourced === undefined) continue;
    values[setting.param] = sourced.value;
    given.set(setting.param, sourced);
  }
  const naming = settingNaming(table, given);
  parseParams(every, values, naming);
  const taken = Object.fromEntries(Object.entries(values).filter(([param]) => Object.hasOwn(schema.shape, param)));
  return parseParams(schema, taken, naming) as z.output<Schema>;
}

function settingNaming(table: readonly PresenceSetting[], given: ReadonlyMap<string, Sourced>): ParamNaming {
  const settingOf = (param: string) => table.find((setting) => setting.param === param);
  const keyOf = (param: string) => settingOf(param)?.key ?? param;
  return {
    badValue: ([param = ''], message) => {
      const sourced = given.get(param);
      const quoted = settingOf(param)?.secret ? '' : shown(sourced);
      return `presence setting ${keyOf(param)} (${sourced?.source ?? 'default'}): ${message}${quoted}`;
    },
    brokenRule: (message, [param] = []) =>
      param === undefined ? `presence settings: ${message}` : `presence setting ${keyOf(param)} ${message}`,
    unknown: (param) => `unknown presence setting "${param}"`,
  };
}

function pick(setting: PresenceSetting, sources: PresenceSources, file: Record<string, unknown>, configPath: string | undefined): Sourced | undefined {
  const flag = sources.flags[setting.param];
  if (flag !== undefined && setting.flag !== undefined) return { value: flag, source: setting.flag };
  const env = nonEmpty(sources.env[setting.env]);
  if (env !== undefined) return { value: env, source: setting.env };
  if (Object.hasOwn(file, setting.key)) return { value: file[setting.key], source: `"${setting.key}" in ${configPath}` };
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

/** The config file's settings; a file that cannot be read, is not a JSON object or has an unknown key is a usage error. */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
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
    // V8 quotes the text around the error ("…https://ho"…), which may be part of a secret: only its words are kept.
    const message = (error as Error).message.replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, '');
    throw new UsageError(`presence config file ${path} is not valid JSON: ${message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`presence config file ${path} must hold a JSON object of settings`);
  }
  const unknown = Object.keys(parsed).find((key) => !CONFIG_KEYS.includes(key));
  if (unknown !== undefined) {
    throw new UsageError(`presence config file ${path}: unknown key "${unknown}" (keys: ${CONFIG_KEYS.join(', ')})`);
  }
  return parsed as Record<string, unknown>;
}
