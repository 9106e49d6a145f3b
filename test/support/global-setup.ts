import type { TestProject } from 'vitest/node';
import { startSandbox, type Sandbox } from '../../src/db/sandbox.ts';
import { REPO } from './cli.ts';
import { assertFreshBuild } from './fresh-build.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUri: string;
  }
}

let sandbox: Sandbox | undefined;

/**
 * One database server for the whole suite: MONGODB_TEST_URI when given (any
 * real MongoDB), else the embedded FerretDB, built on first use. The CLI under
 * test is the compiled one, so it must be compiled from these sources.
 */
export async function setup(project: TestProject): Promise<void> {
  assertFreshBuild(REPO);
  const given = process.env.MONGODB_TEST_URI;
  if (given) {
    project.provide('mongoUri', given);
    return;
  }
  sandbox = await startSandbox({ log: (line) => console.log(line) });
  project.provide('mongoUri', sandbox.uri);
}

export async function teardown(): Promise<void> {
  await sandbox?.stop();
}
