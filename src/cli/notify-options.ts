import type { Command } from 'commander';
import { UsageError } from '../engine/errors.ts';
import { PRESENCE_CONFIG_ENV, readConfigFile } from '../presence/config.ts';
import { receiversOf, type Receiver } from './notify/receivers.ts';

export interface NotifyOptions {
  notify?: string[];
  /** The config file, on the commands that take `--config`; else $PRESENCE_CONFIG. */
  config?: string;
}

export const NOTIFY_ENV = 'PRESENCE_NOTIFY';
const NOTIFY_KEY = 'notify';

export function addNotifyOption(command: Command): Command {
  return command.option(
    '--notify <url>',
    `post the run's events (started, succeeded, failed, refused, …) to this webhook: Slack, Teams or any JSON receiver (repeatable; default: $${NOTIFY_ENV}, comma-separated, else "${NOTIFY_KEY}" in the config file)`,
    // Collected as given and checked by receiversOf: commander's own error would quote the secret URL.
    (raw: string, previous: string[] = []) => [...previous, raw],
  );
}

/**
 * The receivers: `--notify`, else $PRESENCE_NOTIFY, else the config file's `notify` (a list of URLs). Not a
 * presence setting (it applies to every task), but kept in the same file, so an operator has one. A bad URL is
 * a usage error that never quotes it.
 */
export async function notifyReceivers(options: NotifyOptions, env: NodeJS.ProcessEnv = process.env): Promise<Receiver[]> {
  if (options.notify !== undefined) return receiversOf(options.notify, '--notify');
  const listed = (env[NOTIFY_ENV] ?? '').split(',').filter((entry) => entry.trim() !== '');
  if (listed.length > 0) return receiversOf(listed, NOTIFY_ENV);
  const configPath = options.config ?? (env[PRESENCE_CONFIG_ENV]?.trim() || undefined);
  if (configPath === undefined) return [];
  const configured = (await readConfigFile(configPath))[NOTIFY_KEY];
  if (configured === undefined) return [];
  const source = `"${NOTIFY_KEY}" in ${configPath}`;
  if (!Array.isArray(configured) || !configured.every((entry): entry is string => typeof entry === 'string')) {
    throw new UsageError(`${source} must be a list of webhook URLs`);
  }
  return receiversOf(configured, source);
}
