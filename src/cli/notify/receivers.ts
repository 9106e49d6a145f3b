import { UsageError } from '../../engine/errors.ts';

/** Where notifications go. `url` is a secret (Slack and Teams carry their token in it): only `name` is ever shown. */
export interface Receiver {
  readonly url: string;
  /** The scheme and host, numbered: enough to tell receivers apart, nothing of the path, query or credentials. */
  readonly name: string;
}

/**
 * Checks each URL (http or https) and names it. A bad one is a usage error that says where it was set and
 * which entry, never the value: even a mistyped webhook URL holds its token.
 */
export function receiversOf(urls: readonly string[], source: string): Receiver[] {
  return urls.map((raw, index) => {
    const where = urls.length > 1 ? `${source} (entry ${index + 1})` : source;
    let url: URL;
    try {
      url = new URL(raw.trim());
    } catch {
      throw new UsageError(`${where}: not a URL (the value is not shown: a webhook URL is a secret)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError(`${where}: a notification URL must be http or https, got ${url.protocol.slice(0, 20)}`);
    }
    return { url: url.toString(), name: `#${index + 1} ${url.protocol}//${url.host}/…` };
  });
}
