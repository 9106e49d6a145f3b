import type { Collection, Db, Filter } from 'mongodb';
import type { RunQuery, RunStore, StaleRuns, SteerAnswer } from '../engine/ports.ts';
import {
  activeStatuses,
  allowedTransitions,
  canBecome,
  RunKind,
  RunStatus,
  type RunProgress,
  type RunRecord,
  type SteerRequest,
  type TaskRunRecord,
} from '../engine/run-record.ts';
import { steerRules } from '../engine/steering.ts';
import { TaskMode } from '../engine/task.ts';
import type { AuditFile, AuditLine } from './audit-file.ts';
import { recordAsRead, type StoredRunRecord } from './earlier-records.ts';

export const RUNS_COLLECTION = 'maintenance_runs';

/** Statuses a record may be in for `status` to follow (read off the transition table). */
function predecessorsOf(status: RunStatus): RunStatus[] {
  return (Object.keys(allowedTransitions) as RunStatus[]).filter((from) => allowedTransitions[from].includes(status));
}

/**
 * What a run's end changed in its record, read back from a JSON line (dates as text): only these fields are
 * taken, the rest of the record stays as the database has it.
 */
function endOf(ended: RunRecord) {
  const steps = ended.kind === RunKind.restore ? { restore: ended.restore } : { backup: ended.backup, result: ended.result };
  return {
    status: ended.status,
    endedAt: ended.endedAt === null ? null : new Date(ended.endedAt),
    durationMs: ended.durationMs,
    stepMs: ended.stepMs,
    notices: ended.notices,
    backoff: ended.backoff,
    error: ended.error,
    verify: ended.verify,
    ...steps,
  };
}

/** Drops undefined values: `$set` would otherwise store them as null. */
function defined<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * Run records in the target database (the audit, and umzug's storage), each
 * start and completion mirrored first to the local append-only file, so a
 * record survives a database that went away mid-run.
 */
export class MongoRunStore implements RunStore {
  /** Holds records of earlier versions too: every read goes through `recordAsRead`. */
  private readonly runs: Collection<StoredRunRecord>;

  constructor(
    db: Db,
    private readonly mirror: AuditFile,
  ) {
    this.runs = db.collection<StoredRunRecord>(RUNS_COLLECTION);
  }

  async start(record: RunRecord): Promise<void> {
    await this.mirror.append('started', record);
    await this.runs.insertOne(record);
  }

  async update(runId: string, patch: Partial<RunRecord>): Promise<void> {
    await this.runs.updateOne({ _id: runId, status: { $in: [...activeStatuses] } }, { $set: defined(patch) });
  }

  async checkIn(runId: string, progress: RunProgress): Promise<SteerRequest | null> {
    const record = await this.runs.findOneAndUpdate(
      { _id: runId, status: { $in: [...activeStatuses] } },
      { $set: { progress } },
      // No projection: FerretDB 1.x refuses one on findAndModify (ENGINES.md); a record is a few kilobytes.
      { returnDocument: 'after' },
    );
    return record?.request ?? null;
  }

  async acknowledge(runId: string, request: SteerRequest, from: RunStatus, to: RunStatus): Promise<boolean> {
    if (from !== to && !canBecome(from, to)) throw new Error(`run ${runId} cannot become ${to}: it is ${from}`);
    // Only the request acted on is cleared: one that replaced it meanwhile stays for the next check-in.
    const result = await this.runs.updateOne(
      { _id: runId, status: from, 'request.action': request.action, 'request.at': request.at },
      { $set: { status: to, request: null } },
    );
    return result.matchedCount === 1;
  }

  async transition(runId: string, from: RunStatus, to: RunStatus, patch: Partial<RunRecord> = {}): Promise<boolean> {
    if (!canBecome(from, to)) throw new Error(`run ${runId} cannot become ${to}: it is ${from}`);
    const result = await this.runs.updateOne({ _id: runId, status: from }, { $set: { ...defined(patch), status: to } });
    return result.matchedCount === 1;
  }

  async request(runId: string, request: SteerRequest): Promise<SteerAnswer> {
    const rule = steerRules[request.action];
    const pendingMayBe: Filter<StoredRunRecord>[] = [{ request: null }];
    if (rule.replaces.length > 0) pendingMayBe.push({ 'request.action': { $in: [...rule.replaces] } });
    const result = await this.runs.updateOne(
      { _id: runId, status: { $in: [...rule.from] }, $or: pendingMayBe },
      { $set: { request }, $push: { requests: request } },
    );
    if (result.matchedCount === 1) return { accepted: true };
    const current = await this.runs.findOne({ _id: runId }, { projection: { status: 1, request: 1 } });
    return current === null ? { accepted: false } : { accepted: false, status: current.status, pending: current.request ?? null };
  }

  async complete(record: RunRecord): Promise<void> {
    await this.mirror.append('completed', record);
    const { _id, ...fields } = record;
    const result = await this.runs.updateOne(
      { _id, status: { $in: predecessorsOf(record.status) } },
      { $set: defined(fields) },
    );
    if (result.matchedCount === 0) {
      const current = await this.runs.findOne({ _id }, { projection: { status: 1 } });
      throw new Error(`run ${_id} cannot become ${record.status}: it is ${current?.status ?? 'missing'}`);
    }
  }

  /** Adds how its notifications went to a record, whatever its status: they settle after the run has ended. */
  async recordNotifications(record: RunRecord): Promise<void> {
    await this.mirror.append('notified', record);
    await this.runs.updateOne({ _id: record._id }, { $set: { notifications: record.notifications ?? [] } });
  }

  async closeStaleRuns(closedBy: string, startedBefore: Date): Promise<StaleRuns> {
    const stale: Filter<StoredRunRecord> = {
      _id: { $ne: closedBy },
      status: { $in: [...activeStatuses] },
      $or: [{ lockHeld: true }, { startedAt: { $lt: startedBefore } }],
    };
    const records = (await this.runs.find(stale).toArray()).map(recordAsRead);
    const closed: StaleRuns = { interrupted: [], reconciled: [] };
    if (records.length === 0) return closed;
    const endedHere = await this.mirror.endsOf(records.map((record) => record._id));
    for (const record of records) {
      const ended = endedHere.get(record._id);
      if (ended !== undefined) {
        if (await this.reconcile(record, ended, closedBy)) closed.reconciled.push(record._id);
        continue;
      }
      const endedAt = new Date();
      const patch = {
        status: RunStatus.interrupted,
        endedAt,
        durationMs: endedAt.getTime() - record.startedAt.getTime(),
        error: {
          step: 'audit' as const,
          message: `the runner stopped without finishing (process killed or host lost); found by run ${closedBy}`,
          code: 1 as const,
        },
      };
      const result = await this.runs.updateOne({ _id: record._id, status: record.status }, { $set: patch });
      if (result.modifiedCount === 1) {
        await this.mirror.append('marked-interrupted', { ...record, ...patch });
        closed.interrupted.push(record._id);
      }
    }
    return closed;
  }

  /**
   * Completes a record its database never saw end with the end this host's audit file kept (a run that lost its
   * database writes its end there first): the database and the file then tell the same story.
   */
  private async reconcile(record: RunRecord, ended: AuditLine, closedBy: string): Promise<boolean> {
    const patch = { ...endOf(ended.record), reconciled: { by: closedBy, at: new Date(), from: this.mirror.path } };
    const result = await this.runs.updateOne(
      { _id: record._id, status: { $in: predecessorsOf(patch.status) } },
      { $set: defined(patch) },
    );
    if (result.modifiedCount !== 1) return false;
    await this.mirror.append('reconciled', { ...record, ...patch } as RunRecord);
    return true;
  }

  async lastRun(taskId: string, version: number): Promise<RunRecord | undefined> {
    const record = await this.runs.findOne(
      { 'task.id': taskId, 'task.version': version, kind: 'run', status: { $nin: [...activeStatuses] } },
      { sort: { startedAt: -1 } },
    );
    return record === null ? undefined : recordAsRead(record);
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    const record = await this.runs.findOne({ _id: runId });
    return record === null ? undefined : recordAsRead(record);
  }

  /**
   * The latest run that continues this one (`resume` of a run whose runner was gone), if any. A continuation refused
   * (outside its window, lock held, no confirmation) wrote nothing: the run is still there to be continued.
   */
  async continuationOf(runId: string): Promise<TaskRunRecord | undefined> {
    const record = await this.runs.findOne(
      { kind: RunKind.run, 'continues.runId': runId, status: { $ne: RunStatus.refused } },
      { sort: { startedAt: -1 } },
    );
    return record === null ? undefined : (recordAsRead(record) as TaskRunRecord);
  }

  async list(query: RunQuery): Promise<RunRecord[]> {
    const filter: Filter<StoredRunRecord> = {};
    if (query.taskId) filter['task.id'] = query.taskId;
    if (query.status) filter.status = query.status;
    if (query.statuses) filter.$and = [{ status: { $in: [...query.statuses] } }];
    if (query.env) filter.env = query.env;
    if (query.since || query.before) filter.startedAt = { ...(query.since && { $gte: query.since }), ...(query.before && { $lt: query.before }) };
    const records = await this.runs.find(filter, { sort: { startedAt: -1 }, limit: query.limit }).toArray();
    return records.map(recordAsRead);
  }

  async appliedMigrations(): Promise<string[]> {
    const names = await this.runs.distinct('migration', { applied: true, 'task.mode': TaskMode.once });
    return names as string[];
  }

  async setApplied(runId: string, applied: boolean): Promise<void> {
    await this.runs.updateOne({ _id: runId }, { $set: { applied } });
  }
}
