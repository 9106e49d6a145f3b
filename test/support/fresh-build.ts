import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const COMPILED = ['src', 'tasks'];

function filesIn(dir: string, extension: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith(extension) && !file.endsWith('.d.ts'));
}

/**
 * The tests spawn the CLI from dist/: a build older than a source, or one holding the output of a deleted source
 * (a leftover dist/tasks module is a task), would test code that is not the code. `npm test` builds first; this
 * stops a direct `npx vitest` on a stale build.
 */
export function assertFreshBuild(repo: string): void {
  const stale = (why: string) => new Error(`dist/ is stale (${why}): run \`npm run build\`, or \`npm test\` which builds first`);
  for (const dir of COMPILED) {
    for (const file of filesIn(join(repo, dir), '.ts')) {
      const built = statSync(join(repo, 'dist', dir, file.replace(/\.ts$/, '.js')), { throwIfNoEntry: false });
      if (!built) throw stale(`${dir}/${file} was never compiled`);
      if (built.mtimeMs < statSync(join(repo, dir, file)).mtimeMs) throw stale(`${dir}/${file} changed since`);
    }
    for (const file of filesIn(join(repo, 'dist', dir), '.js')) {
      if (!statSync(join(repo, dir, file.replace(/\.js$/, '.ts')), { throwIfNoEntry: false })) throw stale(`dist/${dir}/${file} has no source`);
    }
  }
}
