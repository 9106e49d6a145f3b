import { EJSON } from 'bson';

/** Machine output: relaxed EJSON, so dates and ids stay readable and typed. */
export function jsonText(value: unknown): string {
  return EJSON.stringify(value, undefined, 2, { relaxed: true }) + '\n';
}
