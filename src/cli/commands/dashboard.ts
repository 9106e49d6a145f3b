import { databaseError, isDatabaseFailure } from '../../db/connect.ts';
import { UsageError } from '../../engine/errors.ts';
import { loadTasks } from '../../engine/task-catalog.ts';
import { isLoopbackHost, MIN_TOKEN_LENGTH } from '../../dashboard/access.ts';
import { DataUnavailable } from '../../dashboard/data.ts';
import { loadAssets } from '../../dashboard/assets.ts';
import { listen, listenProblem } from '../../dashboard/listen.ts';
import { dashboardApp } from '../../dashboard/server.ts';
import { presenceModelOf } from '../../presence/model.ts';
import { statusPresenceParams } from '../../presence/settings.ts';
import { sessionData } from '../../dashboard/session-data.ts';
import { DEFAULT_STATUS_MAX_TIME_SECONDS } from '../options.ts';
import { connectedSourceFromOptions, presenceParamsFromOptions, sampleRetentionFromOptions, type ConnectedOptions, type PresenceOptions, type SampleOptions } from '../presence-options.ts';
import { localPaths, openSession, targetOf, type TargetOptions } from '../session.ts';

const DASHBOARD_TOKEN_ENV = 'PRESENCE_DASHBOARD_TOKEN';
const DEFAULT_DASHBOARD_PORT = 8080;
const DEFAULT_DASHBOARD_HOST = '127.0.0.1';
const DEFAULT_REFRESH_SECONDS = 10;

export interface DashboardOptions extends TargetOptions, PresenceOptions, ConnectedOptions, SampleOptions {
  port?: number;
  host?: string;
  token?: string;
  /** Seconds between the pages' own refreshes. */
  refresh?: number;
  maxTime?: number;
}

interface RunningDashboard {
  url: string;
  close(): Promise<void>;
}

/** `presence dashboard`: serves the pages until Ctrl-C or SIGTERM. */
export async function dashboardCommand(options: DashboardOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const dashboard = await startDashboard(options, env);
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stdout.write(`dashboard on ${dashboard.url} (read-only; Ctrl-C stops)\n`);
  const signal = await stopped;
  process.stdout.write(`${signal}: dashboard stopped\n`);
  await dashboard.close();
  return 0;
}

/**
 * Checks every setting, connects, measures once (so a bad target fails now,
 * with the exit code `status` would give), then listens.
 */
export async function startDashboard(options: DashboardOptions, env: NodeJS.ProcessEnv = process.env): Promise<RunningDashboard> {
  const host = options.host ?? DEFAULT_DASHBOARD_HOST;
  const port = options.port ?? DEFAULT_DASHBOARD_PORT;
  const token = options.token ?? env[DASHBOARD_TOKEN_ENV];
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new UsageError(`the dashboard token must be at least ${MIN_TOKEN_LENGTH} characters (--token or $${DASHBOARD_TOKEN_ENV})`);
  }
  const loopback = isLoopbackHost(host);
  if (!loopback && token === undefined) {
    throw new UsageError(`--host ${host} is reachable from other machines: give a token (--token or $${DASHBOARD_TOKEN_ENV}, ${MIN_TOKEN_LENGTH}+ characters), or keep the default 127.0.0.1`);
  }
  const params = await presenceParamsFromOptions(statusPresenceParams, options, env);
  const retentionDays = await sampleRetentionFromOptions(options, env);
  const source = await connectedSourceFromOptions(options, env);
  const tasks = await loadTasks(localPaths(options).tasksDir);
  const assets = loadAssets();
  const target = targetOf(options);
  const session = await openSession(target, options).catch(async (error: unknown) => {
    await source?.close();
    throw error;
  });
  try {
    const data = sessionData(session, tasks, {
      model: presenceModelOf(params),
      staleMinutes: params.minutes,
      graceSeconds: params.graceSeconds,
      maxTimeMs: (options.maxTime ?? DEFAULT_STATUS_MAX_TIME_SECONDS) * 1000,
      source,
      retentionDays,
    });
    // Measured once before listening: a target status would refuse is refused now, with status's exit code.
    await data.presence().catch((error: unknown) => {
      if (!(error instanceof DataUnavailable)) throw error;
      throw isDatabaseFailure(error.cause) ? databaseError(error.cause, target) : error.cause;
    });
    const app = dashboardApp(data, { token, loopback, refreshSeconds: options.refresh ?? DEFAULT_REFRESH_SECONDS, assets });
    const listening = await listen(app, host, port).catch((error: NodeJS.ErrnoException) => {
      const problem = listenProblem(error, host, port);
      throw problem ? new UsageError(problem) : error;
    });
    return {
      url: listening.url,
      close: async () => {
        await listening.close();
        await Promise.all([session.close(), source?.close()]);
      },
    };
  } catch (error) {
    await Promise.all([session.close(), source?.close()]);
    throw error;
  }
}
