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
  /** Whatever else the process wrote on stderr. */
  otherOutput: string;
}

/** A driver log line is util.inspect of an object: `{ t: …, c: 'command', …, commandName: 'update', …, command: '{"update":"users",…' }`. */
const STARTED = /^\{ t: .*message: 'Command started'/;
const COMMAND_NAME = /commandName: '([^']+)'/;
const COLLECTION = /command: '\{"[^"]+":"([^"]*)"/;
const DRIVER_LOG = /^\{ t: .* c: '\w+', s: '\w+'/;

export function countCommands(stderr: string): CommandCounts {
  const commands: Record<string, number> = {};
  const other: string[] = [];
  for (const line of stderr.split('\n')) {
    if (STARTED.test(line)) {
      const key = `${COMMAND_NAME.exec(line)?.[1] ?? 'unknown'} ${COLLECTION.exec(line)?.[1] ?? ''}`.trim();
      commands[key] = (commands[key] ?? 0) + 1;
    } else if (!DRIVER_LOG.test(line)) {
      other.push(line);
    }
  }
  return {
    roundTrips: Object.values(commands).reduce((sum, n) => sum + n, 0),
    commands,
    otherOutput: other.join('\n'),
  };
}
