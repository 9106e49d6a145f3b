import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RunRecord } from '../engine/run-record.ts';

export type AuditEvent = 'started' | 'completed' | 'marked-interrupted' | 'reconciled' | 'notified';

export interface AuditLine {
  event: AuditEvent;
  at: string;
  /** The release of the tool that appended the line; absent from lines of earlier releases. */
  toolVersion?: string;
  record: RunRecord;
}

/** The append-only local mirror of the audit, one JSON line per event, owner-readable only. */
export class AuditFile {
  constructor(
    readonly path: string,
    /** Stamped on every line this process appends. */
    readonly toolVersion?: string,
  ) {}

  async append(event: AuditEvent, record: RunRecord): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const line: AuditLine = { event, at: new Date().toISOString(), ...(this.toolVersion === undefined ? {} : { toolVersion: this.toolVersion }), record };
    await appendFile(this.path, JSON.stringify(line) + '\n', { mode: 0o600 });
  }

  /** The last `completed` line of each of these runs that has one: how they ended, as this host saw it. */
  async endsOf(runIds: readonly string[]): Promise<Map<string, AuditLine>> {
    const wanted = new Set(runIds);
    const ends = new Map<string, AuditLine>();
    for (const line of await this.lines()) {
      if (line.event === 'completed' && wanted.has(line.record?._id)) ends.set(line.record._id, line);
    }
    return ends;
  }

  /** The last line this host appended of a run; undefined when the run never ran here. */
  async lastOf(runId: string): Promise<AuditLine | undefined> {
    return (await this.lines()).findLast((line) => line.record?._id === runId);
  }

  /** A line cut short (the host died while appending it) tells nothing and is passed over. */
  private async lines(): Promise<AuditLine[]> {
    const text = await readFile(this.path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    return text.split('\n').flatMap((line) => {
      try {
        return line.trim() === '' ? [] : [JSON.parse(line) as AuditLine];
      } catch {
        return [];
      }
    });
  }
}
