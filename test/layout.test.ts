import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO } from './support/cli.ts';

/** Every relative import (static, dynamic, `export … from`) of every source file under src/, resolved to a path from the repository. */
function importsUnder(dir: string): Array<{ file: string; imported: string }> {
  const files = readdirSync(join(REPO, dir), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  return files.flatMap((file) => {
    const path = join(REPO, dir, file);
    const { importedFiles } = ts.preProcessFile(readFileSync(path, 'utf8'), true, true);
    return importedFiles
      .filter(({ fileName }) => fileName.startsWith('.'))
      .map(({ fileName }) => ({ file: relative(REPO, path), imported: relative(REPO, resolve(dirname(path), fileName)) }));
  });
}

/** The imports of `from` that land in any of `forbidden`, as `file → imported`. */
function crossings(from: string, forbidden: readonly string[]): string[] {
  return importsUnder(from)
    .filter(({ imported }) => forbidden.some((dir) => imported.startsWith(`${dir}/`)))
    .map(({ file, imported }) => `${file} → ${imported}`);
}

describe('the source layout: dependencies point inward', () => {
  it('src/dashboard imports nothing from src/cli (what both render is in src/views)', () => {
    expect(crossings('src/dashboard', ['src/cli'])).toEqual([]);
  });

  it('nothing outside src/cli imports it: only bin/ starts the CLI', () => {
    const outside = ['src/dashboard', 'src/views', 'src/engine', 'src/db', 'src/presence', 'src/socketio', 'tasks'];
    expect(outside.flatMap((dir) => crossings(dir, ['src/cli']))).toEqual([]);
  });

  it('src/views, which the CLI and the dashboard stand on, imports neither', () => {
    expect(crossings('src/views', ['src/cli', 'src/dashboard'])).toEqual([]);
  });

  it('the engine knows nothing of presence, the CLI, the dashboard or their views', () => {
    expect(crossings('src/engine', ['src/presence', 'src/cli', 'src/dashboard', 'src/views', 'src/socketio'])).toEqual([]);
  });

  it('finds imports at all: a crossing would be seen', () => {
    expect(importsUnder('src/dashboard').some(({ imported }) => imported.startsWith('src/views/'))).toBe(true);
    expect(crossings('src/cli', ['src/dashboard']).length).toBeGreaterThan(0);
  });
});
