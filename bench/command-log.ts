/**
 * Round trips, counted by the process that makes them: with
 * MONGODB_LOG_COMMAND=debug the driver writes one "Command started" line to
 * stderr for every command it sends (connection handshakes and server
 * monitoring are not logged as commands). It counts any child that uses the
 * driver, the tool run as an operator runs it included, whatever server it
 * talks to, with nothing standing between that process and the server.
 */
export const COMMAND_LOG_ENV = {
  MONGODB_LOG_COMMAND: 'debug',
  MONGODB_LOG_PATH: 'stderr',
  // Enough to read the command's name and collection; less text to write per command.
  MONGODB_LOG_MAX_DOCUMENT_LENGTH: '120',
};

export interface CommandCounts {
  /** Commands sent. */
  roundTrips: number;
  /** By command and collection, e.g. `update users`. */
  commands: Record<string, number>;
  /** Time from sending to the reply, ms, summed by the same keys: where a process waits on the server. */
  commandMs: Record<string, number>;
  /** Whatever else the process wrote on stderr. */
  otherOutput: string;
}

/** A driver log line is util.inspect of an object: `{ t: …, c: 'command', …, commandName: 'update', …, command: '{"update":"users",…' }`. */
const STARTED = /^\{ t: .*message: 'Command started'/;
const COMMAND_NAME = /commandName: '([^']+)'/;
const COLLECTION = /command: '\{"[^"]+":"([^"]*)"/;
const DRIVER_LOG = /^\{ t: .* c: '\w+', s: '\w+'/;
const ENDED = /^\{ t: .*message: 'Command (succeeded|failed)'/;
const REQUEST_ID = /requestId: (\d+)/;
const DURATION = /durationMS: ([\d.e+-]+)/;

export function countCommands(stderr: string): CommandCounts {
  const commands: Record<string, number> = {};
  const commandMs: Record<string, number> = {};
  /** The key of each command sent, by request id, until its reply names it. */
  const sent = new Map<string, string>();
  const other: string[] = [];
  for (const line of stderr.split('\n')) {
    if (STARTED.test(line)) {
      const key = `${COMMAND_NAME.exec(line)?.[1] ?? 'unknown'} ${COLLECTION.exec(line)?.[1] ?? ''}`.trim();
      commands[key] = (commands[key] ?? 0) + 1;
      const id = REQUEST_ID.exec(line)?.[1];
      if (id !== undefined) sent.set(id, key);
    } else if (ENDED.test(line)) {
      const id = REQUEST_ID.exec(line)?.[1];
      const key = id === undefined ? undefined : sent.get(id);
      const duration = Number(DURATION.exec(line)?.[1]);
      if (key !== undefined && Number.isFinite(duration)) commandMs[key] = (commandMs[key] ?? 0) + duration;
    } else if (!DRIVER_LOG.test(line)) {
      other.push(line);
    }
  }
  return {
    roundTrips: Object.values(commands).reduce((sum, n) => sum + n, 0),
    commands,
    commandMs,
    otherOutput: other.join('\n'),
  };
}
