import { startSandbox } from '../../db/sandbox.ts';

/** `presence sandbox`: an embedded FerretDB to try the tool on, until Ctrl-C. */
export async function sandboxCommand(options: { data?: string }): Promise<number> {
  const sandbox = await startSandbox({ dataDir: options.data, log: (line) => process.stderr.write(line + '\n') });
  process.stdout.write(sandbox.uri + '\n');
  process.stderr.write(
    `embedded FerretDB on ${sandbox.uri} (${options.data ? `data kept in ${options.data}` : 'temporary data'}); Ctrl-C to stop\n`,
  );
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await sandbox.stop();
  return 0;
}
