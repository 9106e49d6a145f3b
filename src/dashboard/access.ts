import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { MiddlewareHandler } from 'hono';

/** Shorter is guessable; the Socket.IO endpoint asks the same. */
export const MIN_TOKEN_LENGTH = 16;

const REALM = 'Basic realm="presence dashboard", charset="UTF-8"';

/** 127.0.0.0/8, ::1 and localhost: where a dashboard may listen without a token. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/** Digests are compared, so the time taken tells nothing of the token, not even its length. */
function sameToken(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * The token an `Authorization` header presents: `Bearer <token>` from a
 * script, or Basic with the token as password, which is what a browser's
 * login prompt sends (the user name is ignored).
 */
function presentedToken(header: string | undefined): string | undefined {
  const match = /^(Bearer|Basic) +(\S+)$/i.exec(header?.trim() ?? '');
  if (!match) return undefined;
  const [, scheme, value] = match;
  if (scheme!.toLowerCase() === 'bearer') return value;
  const decoded = Buffer.from(value!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? undefined : decoded.slice(colon + 1);
}

/** Every request, pages and assets alike, presents the token; the refusal says how without echoing anything. */
export function tokenRequired(token: string): MiddlewareHandler {
  return async (c, next) => {
    const given = presentedToken(c.req.header('authorization'));
    if (given === undefined || !sameToken(given, token)) {
      return c.text('401 the dashboard asks for its token (Authorization: Bearer <token>, or as the password of the login prompt)\n', 401, {
        'WWW-Authenticate': REALM,
      });
    }
    await next();
  };
}

/**
 * On a loopback address without a token, a page of any web site could still
 * reach the dashboard by pointing its own host name at 127.0.0.1 (DNS
 * rebinding): only requests that name a loopback host are answered.
 */
export function loopbackHostOnly(): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host') ?? '';
    const name = host.replace(/:\d+$/, '');
    if (!isLoopbackHost(name)) return c.text('403 this dashboard answers only requests addressed to 127.0.0.1, [::1] or localhost\n', 403);
    await next();
  };
}
