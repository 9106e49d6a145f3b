import { createInterface } from 'node:readline';
import { RunbookError, RunbookExit } from './runbook.ts';

export interface ConfirmRequest {
  /** `--yes`: the operator said so on the command line. */
  yes: boolean;
  /** What is about to happen, in one sentence. */
  what: string;
  database: string;
}

const refused = (message: string) => new RunbookError(message, RunbookExit.refused, 'confirm');

/**
 * The operator's word before a write: `--yes`, or the database name typed in
 * a terminal (as the CLI asks on production). Without either, refused (exit
 * 4) and nothing is written.
 */
export async function confirmWrite(request: ConfirmRequest): Promise<'--yes' | 'typed database name'> {
  if (request.yes) return '--yes';
  if (!process.stdin.isTTY) {
    throw refused("confirmation required: run this in a terminal, or pass --yes (the dry run's count is passed as --expect)");
  }
  const answer = await ask(`${request.what}\nType the database name (${request.database}) to go on: `);
  if (answer.trim() !== request.database) throw refused('confirmation did not match the database name: nothing written');
  return 'typed database name';
}

function ask(question: string): Promise<string> {
  const terminal = createInterface({ input: process.stdin, output: process.stdout });
  return new Promise<string>((resolve, reject) => {
    let answered = false;
    terminal.on('SIGINT', () => terminal.close());
    terminal.on('close', () => {
      if (!answered) reject(refused('no answer: nothing written'));
    });
    terminal.question(question, (answer) => {
      answered = true;
      terminal.close();
      resolve(answer);
    });
  });
}
