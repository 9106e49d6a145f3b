import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { deserialize, serialize, type Document } from 'bson';

const OP_MSG = 2013;
const HEADER_BYTES = 16;
const BSON_STRING = 0x02;
const LOOPBACK = new Set(['127.0.0.1', 'localhost']);

/** A request as it passes: its command (`update`, `find`…) and the collection it names, when it names one. */
export interface SeenCommand {
  command: string;
  collection?: string;
  requestId: number;
  /** The whole wire message, for a listener that reads more of it. */
  message: Buffer;
}

export type NetworkMode = 'pass' | 'refuse' | 'stall' | 'hold';

export interface TcpProxyOptions {
  /** How long, in ms, the reply to this request is held back (a slow server); replies still leave in order. */
  delayReply?: (request: SeenCommand) => number;
  /**
   * A reply the server cannot be made to give (an error code of a server with
   * access control): when this returns a document, the request is answered
   * with it and never reaches the server.
   */
  replyInstead?: (request: SeenCommand) => Document | undefined;
}

export interface TcpProxy {
  /** The target's URI pointed at the proxy (`directConnection=true`): the database as the tool sees it. */
  readonly uri: string;
  /**
   * The network as it is now. `refuse`: every open connection is reset and
   * new ones are closed at once (a server gone, a cable cut). `stall`:
   * connections stay open and nothing gets through either way (a partition,
   * a frozen server). `hold`: the same, but what was held is delivered when
   * the network passes again (a long pause, then everything arrives). `pass`:
   * back to normal; stalled connections are reset, as a healed partition's would be.
   */
  set(mode: NetworkMode): void;
  /** Sends new connections to another server on this machine (an engine restarted on another port). */
  retarget(targetUri: string): void;
  /**
   * Called for every request on its way to the server, before any fault
   * applies: to count what passes, or to act at that exact moment (break the
   * network, write behind the tool's back). Returns the unsubscribe.
   */
  onCommand(listener: (seen: SeenCommand) => void): () => void;
  /** Called for every reply as it is delivered, with the request it answers; returns the unsubscribe. */
  onReply(listener: (responseTo: number) => void): () => void;
  close(): Promise<void>;
}

/**
 * The tests' one stand-in for a network: a loopback TCP proxy between the
 * tool and a MongoDB-wire server on 127.0.0.1 that breaks, slows or watches
 * the connection on demand. It never changes the bytes it forwards (it may
 * answer a request itself, when asked to), and it refuses a target that is
 * not on this machine.
 */
export async function startTcpProxy(targetUri: string, options: TcpProxyOptions = {}): Promise<TcpProxy> {
  let targetPort = loopbackPort(targetUri);
  let mode: NetworkMode = 'pass';
  const listeners = new Set<(seen: SeenCommand) => void>();
  const replyListeners = new Set<(responseTo: number) => void>();
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  /** Deliveries held back in `hold` mode, in the order they came. */
  let held: Array<() => void> = [];

  const server: Server = createServer((client) => {
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', close);
      socket.on('close', close);
    }
    const replyDelay = new Map<number, number>();
    const sendReply = inOrder((message: Buffer) => {
      if (client.destroyed) return;
      for (const listener of replyListeners) listener(message.readInt32LE(8));
      client.write(message);
    });
    client.on(
      'data',
      splitMessages((message) => {
        const seen = readCommand(message);
        for (const listener of listeners) listener(seen);
        const instead = options.replyInstead?.(seen);
        if (instead !== undefined) {
          sendReply(replyMessage(seen.requestId, instead), 0);
          return;
        }
        if (options.delayReply) replyDelay.set(seen.requestId, options.delayReply(seen));
        // A listener may just have broken the network: this request then never arrives, or later.
        const deliver = () => !upstream.destroyed && upstream.write(message);
        if (mode === 'pass') deliver();
        else if (mode === 'hold') held.push(deliver);
      }),
    );
    upstream.on(
      'data',
      splitMessages((message) => {
        const responseTo = message.readInt32LE(8);
        const delayMs = replyDelay.get(responseTo) ?? 0;
        replyDelay.delete(responseTo);
        const deliver = () => sendReply(message, delayMs);
        if (mode === 'pass') deliver();
        else if (mode === 'hold') held.push(deliver);
      }),
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  const proxied = new URL(targetUri);
  proxied.host = `127.0.0.1:${port}`;
  proxied.searchParams.set('directConnection', 'true');

  const resetAll = () => {
    for (const { client, upstream } of pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    uri: proxied.toString(),
    set(next) {
      const previous = mode;
      mode = next;
      if (next === 'refuse' || (next === 'pass' && previous === 'stall')) resetAll();
      if (next === 'pass') for (const deliver of held.splice(0)) deliver();
      else if (next !== 'hold') held = [];
    },
    retarget(uri) {
      targetPort = loopbackPort(uri);
    },
    onCommand(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onReply(listener) {
      replyListeners.add(listener);
      return () => replyListeners.delete(listener);
    },
    async close() {
      resetAll();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

function loopbackPort(uri: string): number {
  const url = new URL(uri);
  if (!LOOPBACK.has(url.hostname) || url.host.includes(',')) {
    throw new Error(`the proxy only fronts a server on this machine, not ${url.hostname}`);
  }
  return Number(url.port || 27017);
}

/**
 * Sends each message no earlier than its delay allows, and never before one
 * that came first: a slow reply holds back those behind it, as on a real connection.
 */
function inOrder(send: (message: Buffer) => void): (message: Buffer, delayMs: number) => void {
  let queue = Promise.resolve();
  let waiting = 0;
  return (message, delayMs) => {
    if (delayMs <= 0 && waiting === 0) return send(message);
    waiting++;
    const due = Date.now() + delayMs;
    queue = queue.then(async () => {
      if (due > Date.now()) await sleep(due - Date.now());
      waiting--;
      send(message);
    });
  };
}

/** An OP_MSG answering `responseTo` with one document, as a server would send it. */
function replyMessage(responseTo: number, body: Document): Buffer {
  const document = serialize(body);
  const header = Buffer.alloc(HEADER_BYTES + 5);
  header.writeInt32LE(HEADER_BYTES + 5 + document.length, 0);
  header.writeInt32LE(0, 4);
  header.writeInt32LE(responseTo, 8);
  header.writeInt32LE(OP_MSG, 12);
  // flagBits 0, then section kind 0: the body.
  header.writeUInt32LE(0, HEADER_BYTES);
  header.writeUInt8(0, HEADER_BYTES + 4);
  return Buffer.concat([header, document]);
}

/** Whole wire messages (length-prefixed) out of a byte stream. */
function splitMessages(onMessage: (message: Buffer) => void): (chunk: Buffer) => void {
  let buffered: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4) {
      const length = buffered.readInt32LE(0);
      if (buffered.length < length) break;
      onMessage(buffered.subarray(0, length));
      buffered = buffered.subarray(length);
    }
  };
}

/** OP_MSG's command document: its first element names the command, and its value the collection. */
function readCommand(message: Buffer): SeenCommand {
  const seen = { requestId: message.readInt32LE(4), message };
  try {
    if (message.readInt32LE(12) !== OP_MSG) return { ...seen, command: 'legacy' };
    let offset = HEADER_BYTES + 4;
    while (message.readUInt8(offset) !== 0) offset += 1 + message.readInt32LE(offset + 1);
    const document = offset + 1;
    const type = message.readUInt8(document + 4);
    const nameEnd = message.indexOf(0, document + 5);
    const command = message.toString('utf8', document + 5, nameEnd);
    if (type !== BSON_STRING) return { ...seen, command };
    const length = message.readInt32LE(nameEnd + 1);
    return { ...seen, command, collection: message.toString('utf8', nameEnd + 5, nameEnd + 5 + length - 1) };
  } catch {
    return { ...seen, command: 'unreadable' };
  }
}

/** An OP_MSG's documents: the command body, then those of its document sequences (`updates`, `documents`…). */
export function messageDocuments(message: Buffer): Document[] {
  const documents: Document[] = [];
  let offset = HEADER_BYTES + 4;
  while (offset < message.length) {
    const kind = message.readUInt8(offset);
    if (kind === 0) {
      const length = message.readInt32LE(offset + 1);
      documents.push(deserialize(message.subarray(offset + 1, offset + 1 + length)));
      offset += 1 + length;
      continue;
    }
    const sectionEnd = offset + 1 + message.readInt32LE(offset + 1);
    let position = message.indexOf(0, offset + 5) + 1;
    while (position < sectionEnd) {
      const length = message.readInt32LE(position);
      documents.push(deserialize(message.subarray(position, position + length)));
      position += length;
    }
    offset = sectionEnd;
  }
  return documents;
}
