import { listBackups, prunableBackups, removeBackup, type BackupListing } from '../../engine/backup.ts';
import { bytes, count, table } from '../../views/format.ts';
import { outputMode, printJson, printLines } from '../render/output.ts';
import { localPaths, type TargetOptions } from '../session.ts';

function rows(listings: readonly BackupListing[]): string[][] {
  return listings.map((listing) => [
    listing.createdAt.toISOString(),
    listing.runId,
    listing.manifest ? `${listing.manifest.task.id}@${listing.manifest.task.version}` : '?',
    listing.manifest ? `${listing.manifest.target.database}.${listing.manifest.collection}` : '?',
    listing.manifest ? count(listing.manifest.count) : '-',
    listing.manifest ? bytes(listing.manifest.bytes) : '-',
    !listing.manifest ? 'unreadable' : listing.manifest.complete ? 'complete' : 'incomplete',
  ]);
}

const HEADER = ['CREATED', 'RUN', 'TASK', 'TARGET', 'DOCUMENTS', 'SIZE', 'STATE'];

function summary(listing: BackupListing) {
  return {
    runId: listing.runId,
    dir: listing.dir,
    createdAt: listing.createdAt,
    task: listing.manifest?.task,
    target: listing.manifest?.target,
    collection: listing.manifest?.collection,
    count: listing.manifest?.count,
    bytes: listing.manifest?.bytes,
    complete: listing.manifest?.complete ?? false,
  };
}

/** `presence backups list`: what can be restored from this host. */
export async function listBackupsCommand(options: TargetOptions): Promise<number> {
  const listings = await listBackups(localPaths(options).backupDir);
  if (outputMode(options.json) === 'json') printJson(listings.map(summary));
  else printLines(listings.length === 0 ? ['no backups'] : table(HEADER, rows(listings)));
  return 0;
}

/** `presence backups prune --older-than 30d`: never the backup of a task's latest run. */
export async function pruneBackupsCommand(options: TargetOptions & { olderThan: Date; dryRun?: boolean }): Promise<number> {
  const listings = await listBackups(localPaths(options).backupDir);
  const prunable = prunableBackups(listings, options.olderThan);
  if (!options.dryRun) for (const listing of prunable) await removeBackup(listing);
  if (outputMode(options.json) === 'json') {
    printJson({ dryRun: options.dryRun === true, pruned: prunable.map(summary) });
    return 0;
  }
  const verb = options.dryRun ? 'would prune' : 'pruned';
  printLines(prunable.length === 0 ? ['nothing to prune'] : [`${verb} ${prunable.length} backup(s):`, ...table(HEADER, rows(prunable))]);
  return 0;
}
