/**
 * The app side of "presence from the truth": a read-only HTTP endpoint that
 * the platform mounts on its Socket.IO server and that the maintenance tool
 * asks who is connected (`--connected <url>`). Exported as `presence-maint/socketio`.
 *
 * It answers `{ complete, servers, sockets, at, via, userIds }` and nothing else:
 * never a handshake header, a cookie, a socket id or a room. When this node
 * runs `presenceResponder` and so does every other, it asks them for ids only
 * (`via: "ids"`); otherwise every socket with `fetchSockets()` (`via: "fetchSockets"`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RemoteSocket, Server } from 'socket.io';
import { abortable, isTimeout } from './abortable.ts';
import { askIds, responderNamespace, type AskedVia } from './ids-request.ts';
import { localAnswerOf } from './responder.ts';
import { userIdText } from './user-id.ts';

// Any app's event maps: the endpoint reads its sockets' data only, and a typed
// Server<MyEvents, ...> is not assignable to the default maps.
type AnyEvents = any;

export interface PresenceEndpointOptions<SocketData> {
  /** The secret the tool sends as `Authorization: Bearer <token>`; at least 16 characters. */
  token: string;
  /**
   * The user a socket belongs to: a string, number or ObjectId; anything else is a socket without a user.
   * Read from `fetchSockets()`; with the responder, the responder's own `userIdOf` is used.
   */
  userIdOf?: (socket: RemoteSocket<AnyEvents, SocketData>) => unknown;
  /** How long every server of the deployment has to answer (default 5000 ms). */
  timeoutMs?: number;
  /** The namespace whose sockets are counted (default `/`). */
  namespace?: string;
}

/** A Node request handler, also usable as Express middleware (it always answers). */
export type PresenceRequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

/** What a complete or partial answer carries; user ids are text, distinct. */
interface PresenceAnswer {
  complete: boolean;
  servers: number;
  sockets: number;
  at: Date;
  via: AskedVia;
  userIds: Iterable<string>;
}

const MIN_TOKEN_LENGTH = 16;
const USER_IDS_PER_CHUNK = 1000;

/**
 * The endpoint over `io`: GET only, Bearer token checked in constant time.
 * 200 with the answer (`complete: false` when a server joined or left during
 * the fetch); 503 `{ complete: false, error }` when a server did not answer in
 * time or the fetch failed; 401 without a detail for a missing or wrong token.
 */
export function presenceEndpoint<SocketData>(
  io: Server<AnyEvents, AnyEvents, AnyEvents, SocketData>,
  options: PresenceEndpointOptions<SocketData>,
): PresenceRequestHandler {
  const { token, timeoutMs = 5000, namespace = '/' } = options;
  const userIdOf = options.userIdOf ?? ((socket) => (socket.data as { userId?: unknown } | undefined)?.userId);
  if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH) {
    // An endpoint without a secret would tell anyone who is online: refused when the app starts, not at the first request.
    throw new TypeError(`presenceEndpoint needs a token of at least ${MIN_TOKEN_LENGTH} characters`);
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError('presenceEndpoint: timeoutMs must be a positive number');
  const expected = digest(token);

  const authorized = (header: string | undefined): boolean => {
    const given = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];
    // Digests have one length whatever was sent, so the comparison time says nothing about the token.
    return given !== undefined && timingSafeEqual(digest(given), expected);
  };

  const ask = async (): Promise<PresenceAnswer> => {
    const nsp = io.of(namespace);
    const at = new Date();
    // Looked up at each request: the responder may be installed after the endpoint.
    const own = localAnswerOf(nsp);
    if (own !== undefined) {
      const outcome = await askIds(io.of(responderNamespace(namespace)), () => nsp.adapter.serverCount(), own);
      if (outcome.kind === 'answered') {
        const { complete, servers, sockets, userIds } = outcome;
        return { complete, servers, sockets, at, via: 'ids', userIds };
      }
    }
    return fetchAll(nsp, at);
  };

  const fetchAll = async (nsp: ReturnType<typeof io.of>, at: Date): Promise<PresenceAnswer> => {
    const before = await nsp.adapter.serverCount();
    const sockets = await nsp.timeout(timeoutMs).fetchSockets();
    // Heartbeat-based adapters resolve without a node they dropped: a changed count means the answer may miss one.
    const after = await nsp.adapter.serverCount();
    const userIds = new Set<string>();
    for (const socket of sockets) {
      const id = userIdText(userIdOf(socket));
      if (id !== undefined) userIds.add(id);
    }
    return { complete: before === after, servers: after, sockets: sockets.length, at, via: 'fetchSockets', userIds };
  };

  const answer = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if (!authorized(request.headers.authorization)) {
      response.writeHead(401, { 'WWW-Authenticate': 'Bearer' }).end();
      return;
    }
    if (request.method !== 'GET') {
      response.writeHead(405, { Allow: 'GET' }).end();
      return;
    }
    let found: PresenceAnswer;
    try {
      found = await abortable(ask(), AbortSignal.timeout(timeoutMs));
    } catch (error) {
      const reason = isTimeout(error) ? `no complete answer within ${timeoutMs} ms` : oneLine(error);
      response.writeHead(503, headers).end(JSON.stringify({ complete: false, error: reason }));
      return;
    }
    response.writeHead(200, headers);
    await pipeline(Readable.from(answerJson(found)), response);
  };

  return (request, response) => {
    answer(request, response).catch(() => response.destroy());
  };
}

/**
 * The endpoint on a port of its own, for apps that keep it off their public
 * server; 127.0.0.1 unless `host` says otherwise, any free port unless `port` does.
 */
export async function listenPresenceEndpoint<SocketData>(
  io: Server<AnyEvents, AnyEvents, AnyEvents, SocketData>,
  options: PresenceEndpointOptions<SocketData> & { host?: string; port?: number },
): Promise<{ url: string; close(): Promise<void> }> {
  const { host = '127.0.0.1', port = 0 } = options;
  const server = createServer(presenceEndpoint(io, options));
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(port, host, () => listening());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    close: () =>
      new Promise<void>((closed, failed) => {
        server.close((error) => (error ? failed(error) : closed()));
        server.closeAllConnections();
      }),
  };
}

const headers = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' } as const;

/** The answer in pieces: a deployment with 100,000 users is never one string. */
function* answerJson(answer: PresenceAnswer): Generator<string> {
  const { complete, servers, sockets, at, via } = answer;
  yield `{"complete":${complete},"servers":${servers},"sockets":${sockets},"at":"${at.toISOString()}","via":"${via}","userIds":[`;
  let chunk: string[] = [];
  let first = true;
  for (const id of answer.userIds) {
    chunk.push(JSON.stringify(id));
    if (chunk.length === USER_IDS_PER_CHUNK) {
      yield (first ? '' : ',') + chunk.join(',');
      first = false;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield (first ? '' : ',') + chunk.join(',');
  yield ']}';
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** An adapter's reason on one line ("timeout reached: only 1 responses received out of 2"). */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? '').slice(0, 200) || 'the deployment could not be asked';
}
