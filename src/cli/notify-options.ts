import type { Command } from 'commander';
import { receiversOf, type Receiver } from './notify/receivers.ts';

export interface NotifyOptions {
  notify?: string[];
}

export const NOTIFY_ENV = 'PRESENCE_NOTIFY';

export function addNotifyOption(command: Command): Command {
  return command.option(
    '--notify <url>',
    `post the run's events (started, succeeded, failed, refused, …) to this webhook: Slack, Teams or any JSON receiver (repeatable; default: $${NOTIFY_ENV}, comma-separated)`,
    // Collected as given and checked later, by receiversOf: commander's own error would quote the secret URL.
    (raw: string, previous: string[] = []) => [...previous, raw],
  );
}

/** The receivers: `--notify`, else $PRESENCE_NOTIFY; a bad URL is a usage error that never quotes it. */
export function notifyReceivers(options: NotifyOptions, env: NodeJS.ProcessEnv = process.env): Receiver[] {
  if (options.notify !== undefined) return receiversOf(options.notify, '--notify');
  const listed = (env[NOTIFY_ENV] ?? '').split(',').filter((entry) => entry.trim() !== '');
  return receiversOf(listed, NOTIFY_ENV);
}
