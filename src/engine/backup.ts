import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, mkdir, open, readdir, readFile, rename, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { EJSON } from 'bson';
import { type Document } from 'mongodb';
import type { BackupEntry } from './document-state.ts';
import { BackupError, ExitCode, MaintenanceError, RefusedError, SafetyRule, UsageError } from './errors.ts';
import type { TargetInfo, WriteTargeting } from './run-record.ts';

export const BACKUP_FORMAT = 1;

/**
 * What a backup holds: pre-images of documents' fields (`documents`, an update), index definitions, or whole
 * documents a run deletes (`deletes`) or moves to an archive (`archive`).
 */
export type BackupKind = 'documents' | 'indexes' | 'deletes' | 'archive';
const DATA_FILE = 'documents.ejson.gz';
const MANIFEST_FILE = 'manifest.json';

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  runId: string;
  task: { id: string; version: number; checksum: string };
  target: TargetInfo;
  collection: string;
  /** What the entries are: documents (pre-images of fields) or indexes. */
  kind: BackupKind;
  fields: readonly string[];
  /** Which targeting fields the entries carry values of; absent from backups made before targeting existed. */
  targeting?: WriteTargeting;
  /** Of an archive: where its documents went, and the fields that find one there (the archive's shard key). */
  into?: ArchiveLocation;
  /** Of a run whose task planned several steps: which one this backup is (1-based), of how many. */
  step?: { index: number; of: number };
  /** False until every document is on disk: an incomplete backup is never used. */
  complete: boolean;
  count: number;
  bytes: number;
  sha256: string;
  createdAt: string;
  completedAt?: string;
}

export interface ArchiveLocation {
  database: string;
  collection: string;
  targeting: WriteTargeting;
}

export type BackupHeader = Pick<BackupManifest, 'runId' | 'task' | 'target' | 'collection' | 'kind' | 'fields' | 'targeting' | 'into' | 'step'>;

/** A run's backup directory; the backup of its step 2 and later, in a directory of its own inside. */
export function backupPaths(backupDir: string, runId: string, step = 1) {
  const dir = step === 1 ? join(backupDir, runId) : join(backupDir, runId, `step-${step}`);
  return { dir, data: join(dir, DATA_FILE), manifest: join(dir, MANIFEST_FILE) };
}

/** Fails early, before anything is written, when backups could not be kept. */
export async function assertWritableDir(backupDir: string): Promise<void> {
  try {
    await mkdir(backupDir, { recursive: true, mode: 0o700 });
    await access(backupDir, constants.W_OK);
  } catch (error) {
    throw new UsageError(`backup directory ${backupDir} is not writable (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
}

const bytes = (count: number) => `${Math.round(count).toLocaleString('en-US')} bytes`;

/**
 * Refuses, before anything is written, a backup the directory has no room for. The plan's estimate is the size
 * before compression, so a backup may be refused that would have fitted compressed; it is averaged from the
 * plan's sample, so a backup larger than the sample suggests can still fill the disk (writeBackup says so then).
 */
export async function assertRoomForBackup(backupDir: string, expectedBytes: number): Promise<void> {
  await mkdir(backupDir, { recursive: true, mode: 0o700 });
  // Where free space cannot be read, the write itself says when the disk is full.
  const space = await statfs(backupDir).catch(() => undefined);
  if (space === undefined) return;
  const free = space.bavail * space.bsize;
  if (free < expectedBytes) {
    throw new RefusedError(
      `backup needs about ${bytes(expectedBytes)} (the plan's estimate before compression) and ${backupDir} has ${bytes(free)} free: nothing written`,
      SafetyRule.backupSpace,
    );
  }
}

/** The disk filled up under the backup: said as such, not as the stream's "operation was aborted". */
export class BackupSpaceError extends MaintenanceError {
  constructor(path: string, options: { cause: unknown }) {
    super(`no space left on device writing ${path}; the incomplete backup was removed to give the space back, nothing written to the database`, ExitCode.failed, options);
  }
}

/** A stream that fails aborts the rest of its pipeline: the disk's error may sit below an abort. */
function isNoSpace(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOSPC') return true;
  }
  return false;
}

/**
 * Streams entries to a gzip'd canonical-EJSON-lines file readable by its owner
 * only, flushes it to disk, then writes the manifest with its sha256 atomically.
 * A full disk removes what was written of this backup (it could never be used)
 * and says so.
 */
export async function writeBackup(
  backupDir: string,
  header: BackupHeader,
  entries: AsyncIterable<BackupEntry>,
): Promise<BackupManifest> {
  const paths = backupPaths(backupDir, header.runId, header.step?.index);
  let writing = paths.manifest;
  try {
    return await streamBackup(paths, header, entries, (path) => (writing = path));
  } catch (error) {
    if (!isNoSpace(error)) throw error;
    await rm(paths.dir, { recursive: true, force: true });
    throw new BackupSpaceError(writing, { cause: error });
  }
}

async function streamBackup(
  paths: ReturnType<typeof backupPaths>,
  header: BackupHeader,
  entries: AsyncIterable<BackupEntry>,
  writingTo: (path: string) => void,
): Promise<BackupManifest> {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    ...header,
    complete: false,
    count: 0,
    bytes: 0,
    sha256: '',
    createdAt: new Date().toISOString(),
  };
  await writeManifest(paths.manifest, manifest);

  writingTo(paths.data);
  const hash = createHash('sha256');
  const file = await open(paths.data, 'wx', 0o600);
  // The pipeline reports a failed write as the abort it causes upstream ("The operation was aborted"): keep the write's own error.
  let writeError: unknown;
  try {
    await pipeline(
      Readable.from(serialize(entries, () => manifest.count++)),
      createGzip({ level: 6 }),
      async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) {
          hash.update(chunk);
          manifest.bytes += chunk.length;
          await file.write(chunk).catch((error: unknown) => {
            writeError = error;
            throw error;
          });
        }
      },
    ).catch((error: unknown) => {
      throw writeError ?? error;
    });
    await file.sync();
  } finally {
    await file.close();
  }

  manifest.sha256 = hash.digest('hex');
  manifest.complete = true;
  manifest.completedAt = new Date().toISOString();
  writingTo(paths.manifest);
  await writeManifest(paths.manifest, manifest);
  return manifest;
}

async function* serialize(entries: AsyncIterable<BackupEntry>, counted: () => void): AsyncGenerator<string> {
  for await (const entry of entries) {
    counted();
    yield EJSON.stringify(entry, { relaxed: false }) + '\n';
  }
}

async function writeManifest(path: string, manifest: BackupManifest): Promise<void> {
  const temporary = `${path}.tmp`;
  const file = await open(temporary, 'w', 0o600);
  try {
    await file.writeFile(JSON.stringify(manifest, null, 2) + '\n');
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
}

/** Reads and checks a manifest: complete, and its data file's sha256 matches. */
export async function openBackup(backupDir: string, runId: string, step = 1): Promise<BackupManifest> {
  const paths = backupPaths(backupDir, runId, step);
  const of = step === 1 ? `run ${runId}` : `step ${step} of run ${runId}`;
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(paths.manifest, 'utf8')) as BackupManifest;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BackupError(
      code === 'ENOENT'
        ? `no backup for ${of} in ${backupDir}`
        : `backup manifest of ${of} is unreadable (${code ?? 'invalid JSON'})`,
    );
  }
  if (manifest.format !== BACKUP_FORMAT || manifest.runId !== runId || (manifest.step?.index ?? 1) !== step) {
    throw new BackupError(`backup manifest of ${of} does not belong to that run`);
  }
  if (!manifest.complete) {
    throw new BackupError(`backup of ${of} is incomplete (the run stopped while writing it); nothing was written from it`);
  }
  const actual = await sha256File(paths.data).catch(() => undefined);
  if (actual !== manifest.sha256) {
    throw new BackupError(`backup of ${of} is corrupt: its sha256 does not match the manifest`);
  }
  return manifest;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Every step's backup of a run, in order, from its first: each opened and checked like one. */
export async function openRunBackups(backupDir: string, first: BackupManifest): Promise<BackupManifest[]> {
  const manifests = [first];
  for (let step = 2; step <= (first.step?.of ?? 1); step++) manifests.push(await openBackup(backupDir, first.runId, step));
  return manifests;
}

/** Reads a verified backup back in batches; the manifest's count must match. */
export async function* readBackupBatches(
  backupDir: string,
  manifest: BackupManifest,
  batchSize: number,
): AsyncGenerator<BackupEntry[]> {
  let batch: BackupEntry[] = [];
  let lineNumber = 0;
  for await (const line of backupLines(backupPaths(backupDir, manifest.runId, manifest.step?.index).data)) {
    lineNumber++;
    batch.push(parseEntry(line, manifest.runId, lineNumber));
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
  if (lineNumber !== manifest.count) {
    throw new BackupError(`backup of run ${manifest.runId} holds ${lineNumber} documents, its manifest says ${manifest.count}`);
  }
}

/**
 * The data file's lines, read a gunzipped chunk at a time as they are asked
 * for. Not `readline`: its async iterator queues up to 1,024 lines ahead of a
 * slow reader (apply waits on the database), which for large documents is a
 * whole backup in memory.
 */
async function* backupLines(path: string): AsyncGenerator<string> {
  const file = createReadStream(path);
  const gunzipped = file.pipe(createGunzip());
  file.once('error', (error) => gunzipped.destroy(error));
  const decoder = new StringDecoder('utf8');
  let pending: string[] = [];
  try {
    for await (const chunk of gunzipped) {
      const text = decoder.write(chunk as Buffer);
      let start = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        pending.push(text.slice(start, end));
        yield pending.join('');
        pending = [];
        start = end + 1;
      }
      if (start < text.length) pending.push(text.slice(start));
    }
  } finally {
    file.destroy();
  }
  const last = pending.join('') + decoder.end();
  if (last.length > 0) yield last;
}

function parseEntry(line: string, runId: string, lineNumber: number): BackupEntry {
  let entry: Document;
  try {
    entry = EJSON.parse(line, { relaxed: false }) as Document;
  } catch {
    throw new BackupError(`backup of run ${runId} is corrupt at document ${lineNumber}`);
  }
  if (!('_id' in entry) || typeof entry.before !== 'object' || !Array.isArray(entry.absent)) {
    throw new BackupError(`backup of run ${runId} is corrupt at document ${lineNumber}`);
  }
  return entry as BackupEntry;
}

export interface BackupListing {
  runId: string;
  dir: string;
  /** Undefined when the manifest is missing or unreadable. */
  manifest?: BackupManifest;
  createdAt: Date;
}

/** Every backup in the directory, newest first, readable or not. */
export async function listBackups(backupDir: string): Promise<BackupListing[]> {
  const names = await readdir(backupDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw new UsageError(`cannot read the backup directory ${backupDir} (${error.code})`);
  });
  const listings: BackupListing[] = [];
  for (const runId of names) {
    const paths = backupPaths(backupDir, runId);
    const info = await stat(paths.dir).catch(() => undefined);
    if (!info?.isDirectory()) continue;
    const manifest = await readFile(paths.manifest, 'utf8')
      .then((text) => JSON.parse(text) as BackupManifest)
      .catch(() => undefined);
    listings.push({ runId, dir: paths.dir, manifest, createdAt: manifest ? new Date(manifest.createdAt) : info.mtime });
  }
  return listings.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
}

/**
 * Backups older than the cut-off, except the newest backup of each task: the
 * latest run of a task can always be restored.
 */
export function prunableBackups(listings: readonly BackupListing[], olderThan: Date): BackupListing[] {
  const newestOfTask = new Set<string>();
  const kept = new Set<BackupListing>();
  for (const listing of listings) {
    const task = listing.manifest?.task.id;
    if (task !== undefined && !newestOfTask.has(task)) {
      newestOfTask.add(task);
      kept.add(listing);
    }
  }
  return listings.filter((listing) => !kept.has(listing) && listing.createdAt < olderThan);
}

export async function removeBackup(listing: BackupListing): Promise<void> {
  await rm(listing.dir, { recursive: true, force: true });
}
