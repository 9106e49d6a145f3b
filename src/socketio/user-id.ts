/**
 * A user id as the connected set carries it: text. Apps keep `socket.data.userId`
 * as a string, a number or an ObjectId (whose hex is what `String(_id)` gives);
 * anything else (no id, an empty one, an object) means a socket without a user.
 */
export function userIdText(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (isObjectIdLike(value)) return value.toHexString();
  return undefined;
}

// Duck-typed so that the app-side module does not tie the app to our copy of bson.
function isObjectIdLike(value: unknown): value is { toHexString(): string } {
  return typeof value === 'object' && value !== null && typeof (value as { toHexString?: unknown }).toHexString === 'function';
}
