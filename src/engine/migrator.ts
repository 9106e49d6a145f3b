import { MigrationError, Umzug, type UmzugStorage } from 'umzug';
import type { RunStore } from './ports.ts';
import { RunKind, RunStatus, type RunRecord } from './run-record.ts';
import { migrationName, TaskMode, type LoadedTask } from './task.ts';

/** What umzug hands each migration and its storage: the record of the run it executed. */
interface MigrationContext {
  record?: RunRecord;
}

/**
 * umzug's storage over the run records: a `once` task is executed when a
 * non-dry run of it succeeded and was not restored since.
 */
export function runRecordStorage(store: RunStore): UmzugStorage<MigrationContext> {
  return {
    executed: () => store.appliedMigrations(),
    async logMigration({ context }) {
      const record = context.record;
      if (record && appliesOnce(record)) await store.setApplied(record._id, true);
    },
    async unlogMigration({ context }) {
      const record = context.record;
      if (record?.kind === RunKind.restore && record.status === RunStatus.succeeded && !record.dryRun) {
        await store.setApplied(record.restoreOf, false);
      }
    },
  };
}

function appliesOnce(record: RunRecord): boolean {
  return (
    record.kind === RunKind.run && record.task.mode === TaskMode.once && !record.dryRun && record.status === RunStatus.succeeded
  );
}

/**
 * The task list as umzug's migration list: a task version is a migration,
 * running it is `up`, restoring one of its runs is `down`.
 */
export class TaskMigrator {
  constructor(
    private readonly tasks: readonly LoadedTask[],
    private readonly store: RunStore,
  ) {}

  async pending(): Promise<string[]> {
    const pending = await this.umzug([]).pending();
    return pending.map((migration) => migration.name);
  }

  async applied(): Promise<string[]> {
    return this.store.appliedMigrations();
  }

  /** Runs a task; `undefined` when it is a `once` task already applied (umzug skips it). */
  async up(loaded: LoadedTask, execute: () => Promise<RunRecord>): Promise<RunRecord | undefined> {
    const name = migrationName(loaded.task);
    const { umzug, context } = this.withTarget(name, execute);
    await unwrap(umzug.up({ migrations: [name], rerun: loaded.task.mode === TaskMode.once ? 'SKIP' : 'ALLOW' }));
    return context.record;
  }

  /** Restores a run of `migration`, a task version that may no longer be in the list. */
  async down(migration: string, execute: () => Promise<RunRecord>): Promise<RunRecord> {
    const { umzug, context } = this.withTarget(migration, execute);
    await unwrap(umzug.down({ migrations: [migration], rerun: 'ALLOW' }));
    return context.record!;
  }

  private withTarget(name: string, execute: () => Promise<RunRecord>) {
    const context: MigrationContext = {};
    const perform = async () => {
      context.record = await execute();
    };
    const extra = this.tasks.some((loaded) => migrationName(loaded.task) === name) ? [] : [name];
    return { umzug: this.umzug(extra, name, perform, context), context };
  }

  private umzug(extra: string[], target?: string, perform?: () => Promise<void>, context: MigrationContext = {}) {
    const names = [...this.tasks.map((loaded) => migrationName(loaded.task)), ...extra];
    const noop = async () => undefined;
    return new Umzug<MigrationContext>({
      migrations: names.map((name) => ({
        name,
        up: name === target && perform ? perform : noop,
        down: name === target && perform ? perform : noop,
      })),
      storage: runRecordStorage(this.store),
      context,
      logger: undefined,
    });
  }
}

/** umzug wraps a migration's error; ours already name the task and the step. */
async function unwrap<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw error instanceof MigrationError ? error.cause : error;
  }
}
