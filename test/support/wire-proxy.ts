import { connect, createServer, type Server, type Socket } from 'node:net';

const OP_COMPRESSED = 2012;
const OP_MSG = 2013;
const OP_QUERY = 2004;
const HEADER_BYTES = 16;

export interface WireRequest {
  /** The command's name (`update`, `find`, `hello`…), or `op<code>` when it cannot be read. */
  command: string;
  /** The command's string argument, usually a collection (`update: "users"`). */
  target?: string;
  opCode: number;
}

export interface WireProxyOptions {
  /** Delay, in ms, before the reply to this request is passed on. */
  delayReply?: (request: WireRequest) => number;
}

export interface WireProxy {
  /** The target's URI, pointed at the proxy (and at it only: `directConnection=true`). */
  uri: string;
  /** Requests seen, by command name. */
  counts(): Record<string, number>;
  /** Requests seen, by command and collection: `update users`. */
  countsByTarget(): Record<string, number>;
  /** Requests seen, handshakes and server monitoring (`hello`, `isMaster`) aside. */
  roundTrips(): number;
  reset(): void;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const HANDSHAKE = new Set(['hello', 'ismaster', 'isMaster']);

/**
 * A loopback TCP proxy in front of a MongoDB-wire server on 127.0.0.1: it
 * passes bytes through unchanged, reads each request's command name to count
 * round trips, and can hold a reply back to inject latency. It binds
 * 127.0.0.1 only and refuses a target that is not on this machine.
 */
export async function startWireProxy(targetUri: string, options: WireProxyOptions = {}): Promise<WireProxy> {
  const target = new URL(targetUri);
  if (!LOOPBACK.has(target.hostname) || target.host.includes(',')) {
    throw new Error(`the wire proxy only fronts a server on 127.0.0.1, not ${target.hostname}`);
  }
  const targetPort = Number(target.port || 27017);
  const counts = new Map<string, number>();
  const byTarget = new Map<string, number>();
  const sockets = new Set<Socket>();

  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const pending = new Map<number, WireRequest>();
    // Replies leave in the order they came, each no earlier than its own delay allows.
    let lastSend = Promise.resolve();

    client.on('data', splitMessages((message) => {
      const request = readRequest(message);
      counts.set(request.command, (counts.get(request.command) ?? 0) + 1);
      const key = `${request.command} ${request.target ?? ''}`.trim();
      byTarget.set(key, (byTarget.get(key) ?? 0) + 1);
      pending.set(message.readInt32LE(4), request);
      upstream.write(message);
    }));
    upstream.on('data', splitMessages((message) => {
      const request = pending.get(message.readInt32LE(8));
      pending.delete(message.readInt32LE(8));
      const delay = request && options.delayReply ? options.delayReply(request) : 0;
      const due = Date.now() + delay;
      lastSend = lastSend.then(async () => {
        const wait = due - Date.now();
        if (wait > 0) await new Promise((done) => setTimeout(done, wait));
        if (!client.destroyed) client.write(message);
      });
    }));
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', close);
      socket.on('close', close);
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };

  const proxied = new URL(targetUri);
  proxied.host = `127.0.0.1:${port}`;
  proxied.searchParams.set('directConnection', 'true');
  return {
    uri: proxied.toString(),
    counts: () => Object.fromEntries(counts),
    countsByTarget: () => Object.fromEntries(byTarget),
    roundTrips: () => [...counts].reduce((sum, [command, n]) => (HANDSHAKE.has(command) ? sum : sum + n), 0),
    reset: () => {
      counts.clear();
      byTarget.clear();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** Reassembles whole wire messages (length-prefixed) from a byte stream. */
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

function readRequest(message: Buffer): WireRequest {
  const opCode = message.readInt32LE(12);
  try {
    if (opCode === OP_MSG) return { opCode, ...firstElement(message, commandOffset(message)) };
    if (opCode === OP_QUERY) {
      // flags, then the collection's C string, numberToSkip, numberToReturn, then the query document.
      const nameEnd = message.indexOf(0, HEADER_BYTES + 4);
      return { opCode, ...firstElement(message, nameEnd + 1 + 8) };
    }
  } catch {
    // Unreadable: counted under its opcode.
  }
  return { opCode, command: opCode === OP_COMPRESSED ? 'compressed' : `op${opCode}` };
}

/** OP_MSG: flag bits, then sections; the kind-0 section is the command document. */
function commandOffset(message: Buffer): number {
  let offset = HEADER_BYTES + 4;
  while (offset < message.length) {
    const kind = message.readUInt8(offset);
    if (kind === 0) return offset + 1;
    // Kind 1: a document sequence, length-prefixed (the length counts itself).
    offset += 1 + message.readInt32LE(offset + 1);
  }
  throw new Error('no command document');
}

const BSON_STRING = 0x02;

/** The first element of the BSON document at `offset`: its name, and its value when a string. */
function firstElement(message: Buffer, offset: number): { command: string; target?: string } {
  const type = message.readUInt8(offset + 4);
  const nameStart = offset + 5;
  const nameEnd = message.indexOf(0, nameStart);
  const command = message.toString('utf8', nameStart, nameEnd);
  if (type !== BSON_STRING) return { command };
  const length = message.readInt32LE(nameEnd + 1);
  return { command, target: message.toString('utf8', nameEnd + 5, nameEnd + 5 + length - 1) };
}
