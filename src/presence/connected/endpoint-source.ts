import { z } from 'zod';
import { UsageError } from '../../engine/errors.ts';
import { isTimeout } from '../../socketio/abortable.ts';
import { ConnectedSourceError, type ConnectedSet, type ConnectedSource } from '../connected.ts';
import { redactUrl } from './redact.ts';

export interface EndpointSourceOptions {
  /** The endpoint's Bearer token; else the password of the URL (`https://:TOKEN@host/presence`). */
  token?: string;
  /** The whole request, body included (default 10 s: longer than the endpoint's own 5 s, so its 503 says why). */
  timeoutMs?: number;
}

/** What `presenceEndpoint` answers (src/socketio/endpoint.ts). */
const answerSchema = z
  .object({
    complete: z.boolean(),
    servers: z.number().int().nonnegative(),
    sockets: z.number().int().nonnegative(),
    at: z.iso.datetime(),
    // Endpoints before the ids request said nothing: they asked with fetchSockets().
    via: z.enum(['ids', 'fetchSockets']).default('fetchSockets'),
    userIds: z.array(z.string().min(1)),
  })
  .refine((answer) => new Set(answer.userIds).size === answer.userIds.length && answer.userIds.length <= answer.sockets, {
    message: 'user ids repeated, or more of them than sockets',
  });

/**
 * The connected set from the app's endpoint (`presence-maint/socketio`). A
 * source that cannot be reached or refuses the token is unreachable (exit 3);
 * a late, partial, failed or malformed answer is refused (exit 4).
 */
export function endpointSource(url: string, options: EndpointSourceOptions = {}): ConnectedSource {
  const { timeoutMs = 10_000 } = options;
  const description = redactUrl(url);
  const { requestUrl, token } = requestOf(url, options.token);

  const refused = (reason: string, cause?: unknown) => new ConnectedSourceError(`${description}: ${reason}`, { cause });

  return {
    description,
    async fetch(signal?: AbortSignal): Promise<ConnectedSet> {
      const deadline = AbortSignal.timeout(timeoutMs);
      const aborts = signal ? AbortSignal.any([deadline, signal]) : deadline;
      const late = (error: unknown) => (signal?.aborted ? signal.reason : refused(`no answer within ${timeoutMs} ms`, error));
      let response: Response;
      try {
        // `manual`: a redirect is an answer we refuse, never a place to send the token.
        response = await fetch(requestUrl, {
          headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
          redirect: 'manual',
          signal: aborts,
        });
      } catch (error) {
        if (aborts.aborted) throw late(error);
        throw new ConnectedSourceError(`${description}: unreachable (${networkReason(error)})`, { cause: error, unreachable: true });
      }
      let body: string;
      try {
        body = await response.text();
      } catch (error) {
        if (aborts.aborted) throw late(error);
        throw refused(`answer cut off (${networkReason(error)})`, error);
      }
      if (response.status === 401 || response.status === 403) {
        // Like a database refusing our credentials: unreachable for us, whatever the deployment holds.
        throw new ConnectedSourceError(`${description}: token refused (HTTP ${response.status})`, { unreachable: true });
      }
      if (response.status === 503) throw refused(`the deployment's answer is unknown: ${errorOf(body)}`);
      if (response.status !== 200) throw refused(`answered HTTP ${response.status}`);
      const answer = parseAnswer(body);
      if (answer === undefined) throw refused('malformed answer (not the presence endpoint?)');
      if (!answer.complete) throw refused(`partial answer: a Socket.IO server joined or left while it was asked (${answer.servers} now)`);
      const { sockets, servers, via } = answer;
      return { userIds: new Set(answer.userIds), sockets, servers, at: new Date(answer.at), via };
    },
    async close(): Promise<void> {
      // Nothing held: every fetch is one request on Node's shared connection pool.
    },
  };
}

/** The URL the request goes to (no userinfo: fetch refuses it) and the token it carries. */
function requestOf(url: string, given: string | undefined): { requestUrl: URL; token: string } {
  let requestUrl: URL;
  try {
    requestUrl = new URL(url);
  } catch {
    // Never quote the URL: it may carry the token.
    throw new UsageError('malformed connected-set endpoint URL: it must be http(s)://host[:port]/path');
  }
  if (requestUrl.protocol !== 'http:' && requestUrl.protocol !== 'https:') {
    throw new UsageError(`connected-set endpoint URL must start with http:// or https://, not ${requestUrl.protocol}//`);
  }
  const token = given ?? decodeURIComponent(requestUrl.password);
  if (token === '') throw new UsageError('no token for the connected-set endpoint: give it, or put it in the URL (https://:TOKEN@host/path)');
  requestUrl.username = '';
  requestUrl.password = '';
  return { requestUrl, token };
}

function parseAnswer(body: string): z.infer<typeof answerSchema> | undefined {
  try {
    const parsed = answerSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The endpoint's own reason, on one line and short: it is printed and audited. */
function errorOf(body: string): string {
  try {
    const { error } = JSON.parse(body) as { error?: unknown };
    if (typeof error === 'string' && error !== '') return error.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 200);
  } catch {
    // Not JSON: a proxy's 503 page, say.
  }
  return 'service unavailable';
}

/** undici's "fetch failed" hides the reason in its cause: ECONNREFUSED, ENOTFOUND, a certificate error. */
function networkReason(error: unknown): string {
  if (isTimeout(error)) return 'timeout';
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message.split('\n')[0]!;
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}
