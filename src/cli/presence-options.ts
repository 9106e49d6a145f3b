import { InvalidArgumentError, Option, type Command } from 'commander';
import type { z } from 'zod';
import { findTask, loadTasks } from '../engine/task-catalog.ts';
import type { LoadedTask } from '../engine/task.ts';
import { loadConnectedSettings, loadPresenceParams, loadSampleSettings } from '../presence/config.ts';
import type { ConnectedSource } from '../presence/connected.ts';
import { connectedSourceOf } from '../presence/connected-source.ts';
import { MAX_MINUTES } from '../presence/settings.ts';
import type { PresenceTaskId } from '../presence/task-ids.ts';
import { integerIn } from './options.ts';
import { localPaths, type TargetOptions } from './session.ts';

/** Presence settings as flags; each overrides its env var and the config file. */
export interface PresenceOptions {
  config?: string;
  collection?: string;
  onlineField?: string;
  offlineValue?: string;
  onlineValues?: string;
  lastSeenField?: string;
  offlineSet?: string;
  minutes?: number;
  grace?: string;
  fixMissing?: boolean;
}

/** Where the connected set comes from, as flags; each overrides its env var and the config file. */
export interface ConnectedOptions {
  config?: string;
  connected?: string;
  connectedRedis?: string;
  connectedNamespace?: string;
  connectedAdapterKey?: string;
  connectedUserIdField?: string;
  connectedTimeout?: string;
}

export function addConnectedOptions(command: Command): Command {
  return command
    .option('--connected <url>', "the app's presence endpoint, token in $PRESENCE_CONNECTED_TOKEN ($PRESENCE_CONNECTED_URL)")
    .option('--connected-redis <uri>', "or the deployment's Socket.IO Redis adapter ($PRESENCE_CONNECTED_REDIS)")
    .option('--connected-namespace <name>', 'the Socket.IO namespace users connect to (default: /)')
    .option('--connected-adapter-key <key>', "the Redis adapter's key prefix (default: socket.io)")
    .option('--connected-user-id-field <path>', "where the Redis adapter's sockets hold the user id in socket.data (default: userId)")
    .option('--connected-timeout <seconds>', 'how long the deployment may take to answer (default: 5)');
}

/** How long presence samples are kept, as a flag; it overrides its env var and the config file. */
export interface SampleOptions {
  config?: string;
  samplesRetention?: string;
}

/** Checked by the settings' schema, not here, so a bad flag is named like a bad env var or config key. */
export function addSampleOptions(command: Command): Command {
  return command.option(
    '--samples-retention <days>',
    'days presence samples are kept, 0 records none (default: 30; $PRESENCE_SAMPLES_RETENTION_DAYS)',
  );
}

/** Days samples are kept, from the flag, the env or the config file; a bad value is a usage error naming the setting. */
export async function sampleRetentionFromOptions(options: SampleOptions, env: NodeJS.ProcessEnv): Promise<number> {
  const settings = await loadSampleSettings({ configPath: options.config, env, flags: { retentionDays: options.samplesRetention } });
  return settings.retentionDays;
}

export function graceOption(): Option {
  return new Option('--grace <seconds>', 'a ghost is inactive longer than this (default: 120; $PRESENCE_GHOST_GRACE_SECONDS)');
}

export function addPresenceOptions(command: Command): Command {
  return command
    .option('--config <file>', 'presence settings as JSON (default: $PRESENCE_CONFIG)')
    .option('--collection <name>', 'the users collection (default: users; $PRESENCE_COLLECTION)')
    .option('--online-field <field>', 'where online is stored (default: isOnline; $PRESENCE_ONLINE_FIELD)')
    .option('--offline-value <value>', 'online is a status field, offline when it holds this value ($PRESENCE_OFFLINE_VALUE)')
    .option('--online-values <list>', 'status values that mean online, comma-separated (default: online; $PRESENCE_ONLINE_VALUES)')
    .option('--last-seen-field <field>', 'the last-activity date field (default: lastSeen; $PRESENCE_LAST_SEEN_FIELD)')
    .option('--offline-set <json>', 'companion fields going offline also sets, e.g. \'{"socketId":null}\' ($PRESENCE_OFFLINE_SET)');
}

export function minutesOption(description: string): Option {
  return new Option('--minutes <n>', description).argParser(integerIn(1, MAX_MINUTES, '--minutes'));
}

export const MAX_INTERVAL_MINUTES = 1440;
const MIN_INTERVAL_MINUTES = 0.01;

/** Minutes, decimals allowed (0.5 is thirty seconds), from 0.01 to a day. */
export function parseInterval(raw: string): number {
  if (!/^\d+(\.\d+)?$/.test(raw.trim())) {
    throw new InvalidArgumentError(`--interval must be a number of minutes, got "${raw.slice(0, 40)}"`);
  }
  const minutes = Number(raw);
  if (minutes < MIN_INTERVAL_MINUTES || minutes > MAX_INTERVAL_MINUTES) {
    throw new InvalidArgumentError(`--interval must be between ${MIN_INTERVAL_MINUTES} and ${MAX_INTERVAL_MINUTES} minutes, got ${raw}`);
  }
  return minutes;
}

/** The presence flags given, by the task parameter each fills. */
function presenceFlags(options: PresenceOptions): Record<string, unknown> {
  return {
    collection: options.collection,
    onlineField: options.onlineField,
    offlineValue: options.offlineValue,
    onlineValues: options.onlineValues,
    lastSeenField: options.lastSeenField,
    offlineSet: options.offlineSet,
    minutes: options.minutes,
    graceSeconds: options.grace,
    fixMissing: options.fixMissing,
  };
}

/** The configured connected-set source (opened on first use), or undefined; a bad setting is a usage error naming it. */
export async function connectedSourceFromOptions(options: ConnectedOptions, env: NodeJS.ProcessEnv): Promise<ConnectedSource | undefined> {
  const settings = await loadConnectedSettings({
    configPath: options.config,
    env,
    flags: {
      url: options.connected,
      redis: options.connectedRedis,
      namespace: options.connectedNamespace,
      adapterKey: options.connectedAdapterKey,
      userIdField: options.connectedUserIdField,
      timeoutSeconds: options.connectedTimeout,
    },
  });
  return connectedSourceOf(settings);
}

/** The parameters `schema` declares, from these flags, the env and the config file; a bad one is a usage error naming it. */
export function presenceParamsFromOptions<Schema extends z.ZodObject>(
  schema: Schema,
  options: PresenceOptions,
  env: NodeJS.ProcessEnv,
): Promise<z.output<Schema>> {
  return loadPresenceParams(schema, { configPath: options.config, env, flags: presenceFlags(options) });
}

export interface PresenceTaskRun {
  tasks: LoadedTask[];
  loaded: LoadedTask;
  params: Record<string, unknown>;
}

/** A presence task with its parameters from the presence settings, checked before anything connects. */
export async function loadPresenceTask(
  taskId: PresenceTaskId,
  options: PresenceOptions & TargetOptions,
  env: NodeJS.ProcessEnv,
): Promise<PresenceTaskRun> {
  const tasks = await loadTasks(localPaths(options).tasksDir);
  const loaded = findTask(tasks, taskId);
  const params = await presenceParamsFromOptions(loaded.task.params as z.ZodObject, options, env);
  return { tasks, loaded, params };
}
