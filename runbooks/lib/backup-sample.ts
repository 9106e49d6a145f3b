import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { EJSON, type Document } from 'bson';
import type { BackupManifest } from '../../src/engine/backup.ts';
import type { BackupEntry } from '../../src/engine/document-state.ts';

/**
 * The first few documents a restore would put back, read from the run's
 * backup as an operator would with zcat: `_id  field: now → restored`.
 * Empty when the backup is not on this host or holds no documents.
 */
export async function backupSample(backupDir: string, size: number): Promise<string[]> {
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(join(backupDir, 'manifest.json'), 'utf8')) as BackupManifest;
  } catch {
    return [];
  }
  if (manifest.format !== 1 || manifest.kind !== 'documents') return [];
  const source = createReadStream(join(backupDir, 'documents.ejson.gz'));
  const lines = createInterface({ input: source.pipe(createGunzip()), crlfDelay: Infinity });
  const sample: string[] = [];
  try {
    for await (const line of lines) {
      if (sample.length >= size) break;
      sample.push(describeEntry(EJSON.parse(line, { relaxed: false }) as BackupEntry));
    }
  } catch {
    return sample;
  } finally {
    lines.close();
    source.destroy();
  }
  return sample;
}

function describeEntry(entry: BackupEntry): string {
  const fields = [...Object.keys(entry.set), ...entry.unset.filter((field) => !(field in entry.set))];
  const changes = fields.map((field) => {
    const now = field in entry.set ? shown(entry.set[field]) : '(unset)';
    const restored = entry.absent.includes(field) ? '(unset)' : shown((entry.before as Document)[field]);
    return `${field}: ${now} → ${restored}`;
  });
  return `_id ${shown(entry._id)}  ${changes.join(', ')}`;
}

function shown(value: unknown): string {
  return EJSON.stringify(value, { relaxed: true });
}
