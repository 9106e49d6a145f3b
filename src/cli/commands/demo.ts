import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { startSandbox } from '../../db/sandbox.ts';
import { ExitCode } from '../../engine/errors.ts';
import { demoPopulation } from '../../presence/demo-population.ts';
import { CONNECTED_SETTINGS, PRESENCE_CONFIG_ENV, PRESENCE_SETTINGS, SAMPLE_SETTINGS } from '../../presence/config.ts';
import { printLines } from '../render/output.ts';
import { cleanupCommand } from './cleanup.ts';
import { startDashboard, type DashboardOptions } from './dashboard.ts';
import { crashThePlatform, type CrashedPlatform } from './demo-crash.ts';
import { reconcileCommand } from './reconcile.ts';
import { staleCommand } from './stale.ts';
import { statusCommand } from './status.ts';
import { testCommand } from './test.ts';

const DEMO_DATABASE = 'presence_demo';
const DEMO_SETTINGS = { collection: 'users', offlineSet: { socketId: null, currentRoom: null }, staleMinutes: 30 };

interface DemoStep {
  /** The command it runs, or what happens when it is a scene. */
  command: string;
  scene?: true;
  run(): Promise<number>;
  /** Exit codes that mean the step showed what it should. */
  expected: readonly number[];
  note?: string;
}

/**
 * `presence demo`: an embedded FerretDB, a seeded coworking population, then
 * status → stale dry-run → stale → a Socket.IO platform crashes → status
 * against who is connected → reconcile dry-run → reconcile → cleanup dry-run
 * → test → status, each through the same function its command runs.
 */
export interface DemoOptions {
  users: number;
  /** Serve the dashboard at the end even without a terminal, until Ctrl-C or SIGTERM. */
  dashboard?: boolean;
}

export async function demoCommand(options: DemoOptions): Promise<number> {
  const say = (line: string) => process.stdout.write(line + '\n');
  say('starting the embedded database (FerretDB on SQLite, in a temporary directory)…');
  const sandbox = await startSandbox({ log: say });
  const stateDir = await mkdtemp(join(tmpdir(), 'presence-demo-'));
  let platform: CrashedPlatform | undefined;
  try {
    const uri = `${sandbox.uri.replace(/\/$/, '')}/${DEMO_DATABASE}`;
    const config = join(stateDir, 'presence.json');
    await writeFile(config, JSON.stringify(DEMO_SETTINGS, null, 2) + '\n');
    const kinds = await seed(uri, options.users);
    say(`seeded ${options.users} users in ${DEMO_DATABASE}.users: ${Object.entries(kinds).map(([kind, n]) => `${n} ${kind}`).join(', ')}`);
    say(`presence settings (${config}): ${JSON.stringify(DEMO_SETTINGS)}`);

    // The demo's own settings and paths, whatever the operator's environment says.
    const env = withoutPresenceSettings(process.env);
    const target = { uri, config, stateDir, backupDir: join(stateDir, 'backups') };
    // The sandbox is a development target by definition, whatever $PRESENCE_ENV says.
    const writes = { ...target, env: 'development' };
    const connected = () => ({ connected: platform!.endpointUrl });
    const envWithToken = () => ({ ...env, PRESENCE_CONNECTED_TOKEN: platform!.token });
    // The crash was seconds ago: with the default grace (2 minutes) nobody would be a ghost yet.
    const justCrashed = { grace: '0' };
    const steps: DemoStep[] = [
      { command: 'presence status', run: () => statusCommand(target, env), expected: [0] },
      { command: 'presence stale --dry-run', run: () => staleCommand({ ...writes, dryRun: true }, env), expected: [0] },
      { command: 'presence stale', run: () => staleCommand(writes, env), expected: [0] },
      {
        command: 'the Socket.IO platform crashes and restarts',
        scene: true,
        run: async () => {
          platform = await crashThePlatform(uri, DEMO_SETTINGS.collection, say);
          return 0;
        },
        expected: [0],
      },
      {
        command: 'presence status --connected <endpoint> --grace 0',
        run: () => statusCommand({ ...target, ...connected(), ...justCrashed }, envWithToken()),
        expected: [0],
      },
      {
        command: 'presence reconcile --connected <endpoint> --grace 0 --dry-run',
        run: () => reconcileCommand({ ...writes, ...connected(), ...justCrashed, dryRun: true }, envWithToken()),
        expected: [0],
      },
      {
        command: 'presence reconcile --connected <endpoint> --grace 0',
        run: () => reconcileCommand({ ...writes, ...connected(), ...justCrashed }, envWithToken()),
        expected: [0],
        note: 'only the users who never came back were set offline; the connected ones were left alone',
      },
      { command: 'presence cleanup --dry-run', run: () => cleanupCommand({ ...writes, dryRun: true }, env), expected: [0] },
      {
        command: 'presence test',
        run: () => testCommand(target, env),
        expected: [ExitCode.success, ExitCode.failed],
        note: 'the seeded malformed documents fail the schema check, and no presence index exists yet: both on purpose',
      },
      {
        command: 'presence status --connected <endpoint> --grace 0',
        run: () => statusCommand({ ...target, ...connected(), ...justCrashed }, envWithToken()),
        expected: [0],
      },
    ];
    const surprises: string[] = [];
    for (const [index, step] of steps.entries()) {
      printLines(['', `── ${index + 1}/${steps.length}  ${step.scene ? step.command : `$ ${step.command}`}`, '']);
      const exitCode = await step.run();
      if (step.note) say(`(exit ${exitCode}: ${step.note})`);
      if (!step.expected.includes(exitCode)) surprises.push(`${step.command} exited ${exitCode}`);
    }
    say('');
    if (surprises.length > 0) {
      say(`the demo did not go as expected: ${surprises.join('; ')}`);
      return ExitCode.failed;
    }
    say('demo done: the stale and reconcile runs are in the audit (presence history) and undoable (presence restore <runId>)');
    say('while the database runs. Against your own database: presence status --uri mongodb://HOST/DB (see the README);');
    say('ghosts from who is really connected: docs/socketio.md.');
    await offerDashboard(options, { ...target, ...connected(), ...justCrashed }, envWithToken(), say);
    return ExitCode.success;
  } finally {
    await platform?.stop();
    await sandbox.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}

/**
 * In a terminal (or with --dashboard), the demo ends by serving the dashboard
 * on its database until Enter, Ctrl-C or SIGTERM: the database is thrown away
 * after. Without a terminal it only says so, and ends: a script never waits.
 */
async function offerDashboard(options: DemoOptions, dashboardOptions: DashboardOptions, env: NodeJS.ProcessEnv, say: (line: string) => void): Promise<void> {
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
  if (!interactive && !options.dashboard) {
    say('the dashboard: in a terminal (or with --dashboard) the demo ends by serving it on this database; on yours: presence dashboard');
    return;
  }
  const dashboard = await startDashboard({ ...dashboardOptions, port: 0, refresh: 2 }, env);
  say('');
  say(`dashboard on ${dashboard.url} (read-only): presence, the runs above, the tasks`);
  say(interactive ? 'press Enter (or Ctrl-C) to stop it and end the demo; the database is thrown away' : 'Ctrl-C or SIGTERM stops it and ends the demo; the database is thrown away');
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      if (interactive) process.stdin.pause();
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (interactive) process.stdin.once('data', done);
  });
  await dashboard.close();
}

async function seed(uri: string, size: number) {
  const client = await MongoClient.connect(uri);
  try {
    const { users, kinds } = demoPopulation(size, new Date());
    await client.db().collection(DEMO_SETTINGS.collection).insertMany(users, { ordered: false });
    return kinds;
  } finally {
    await client.close();
  }
}

function withoutPresenceSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const names = new Set<string>([...[...PRESENCE_SETTINGS, ...CONNECTED_SETTINGS, ...SAMPLE_SETTINGS].map((setting) => setting.env), PRESENCE_CONFIG_ENV]);
  return Object.fromEntries(Object.entries(env).filter(([name]) => !names.has(name)));
}
