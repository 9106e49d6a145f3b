import { jsonText } from '../../views/json.ts';

export type OutputMode = 'tty' | 'plain' | 'json';

export function outputMode(json: boolean | undefined, stream: NodeJS.WriteStream = process.stdout): OutputMode {
  if (json) return 'json';
  return stream.isTTY ? 'tty' : 'plain';
}

export function printLines(lines: string[]): void {
  for (const line of lines) process.stdout.write(line + '\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(jsonText(value));
}
