import { MongoClient, type Db } from 'mongodb';
import { model, nestedModel } from './population.ts';
import { staleFilter } from '../src/presence/queries.ts';
import { barePlan, naive, rawArchive, rawPurge, rawSafe, type CaseTiming } from './raw-cases.ts';

/**
 * One hand-written case in its own process, like the tool: its peak RSS is
 * its own, and its round trips are counted the same way (bench/command-log.ts).
 * Prints one JSON line: timings, peak RSS, CPU time.
 */
export type WorkerKind = 'naive' | 'raw-safe' | 'plan' | 'raw-purge' | 'raw-archive';

export interface WorkerRequest {
  kind: WorkerKind;
  uri: string;
  database: string;
  collection: string;
  /** Presence in the sub-document `presence` rather than at the top level. */
  nested: boolean;
  cutoff: string;
  batchSize: number;
  backupFile: string;
  /** Where raw-archive moves the stale users. */
  archiveCollection?: string;
}

export interface WorkerResult extends CaseTiming {
  count?: number;
  maxRssKb: number;
  cpuMs: number;
}

/** The case's work, timed by the case itself. */
function work(request: WorkerRequest, db: Db): Promise<CaseTiming> {
  const users = db.collection(request.collection);
  const cutoff = new Date(request.cutoff);
  const presence = request.nested ? nestedModel : model;
  switch (request.kind) {
    case 'naive':
      return naive(users, presence, cutoff);
    case 'raw-safe':
      return rawSafe(users, presence, cutoff, request.batchSize, request.backupFile);
    case 'plan':
      return barePlan(users, presence, cutoff);
    case 'raw-purge':
      return rawPurge(users, staleFilter(presence, cutoff), request.batchSize, request.backupFile);
    case 'raw-archive':
      if (request.archiveCollection === undefined) throw new Error('raw-archive needs an archive collection');
      return rawArchive(users, db.collection(request.archiveCollection), staleFilter(presence, cutoff), request.batchSize, request.backupFile);
  }
}

async function main(request: WorkerRequest): Promise<WorkerResult> {
  const client = new MongoClient(request.uri, { retryWrites: true });
  await client.connect();
  try {
    const timing = await work(request, client.db(request.database));
    const usage = process.resourceUsage();
    return { ...timing, maxRssKb: usage.maxRSS, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000 };
  } finally {
    await client.close();
  }
}

const result = await main(JSON.parse(process.argv[2]!) as WorkerRequest);
process.stdout.write(JSON.stringify(result) + '\n');
