import { MongoClient } from 'mongodb';
import { model, nestedModel } from './population.ts';
import { barePlan, naive, rawSafe, type CaseTiming } from './raw-cases.ts';

/**
 * One hand-written case in its own process, like the tool: its peak RSS is
 * its own, and its round trips are counted the same way (bench/command-log.ts).
 * Prints one JSON line: timings, peak RSS, CPU time.
 */
export interface WorkerRequest {
  kind: 'naive' | 'raw-safe' | 'plan';
  uri: string;
  database: string;
  collection: string;
  /** Presence in the sub-document `presence` rather than at the top level. */
  nested: boolean;
  cutoff: string;
  batchSize: number;
  backupFile: string;
}

export interface WorkerResult extends CaseTiming {
  count?: number;
  maxRssKb: number;
  cpuMs: number;
}

async function main(request: WorkerRequest): Promise<WorkerResult> {
  const client = new MongoClient(request.uri, { retryWrites: true });
  await client.connect();
  const users = client.db(request.database).collection(request.collection);
  try {
    const cutoff = new Date(request.cutoff);
    const presence = request.nested ? nestedModel : model;
    const timing =
      request.kind === 'naive'
        ? await naive(users, presence, cutoff)
        : request.kind === 'raw-safe'
          ? await rawSafe(users, presence, cutoff, request.batchSize, request.backupFile)
          : await barePlan(users, presence, cutoff);
    const usage = process.resourceUsage();
    return { ...timing, maxRssKb: usage.maxRSS, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000 };
  } finally {
    await client.close();
  }
}

const result = await main(JSON.parse(process.argv[2]!) as WorkerRequest);
process.stdout.write(JSON.stringify(result) + '\n');
