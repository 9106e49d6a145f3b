/**
 * What every node of the platform installs so that "who is connected" costs
 * it a few bytes per user: it answers the ids request (a server-side emit with
 * an acknowledgement, through the deployment's adapter) with this node's
 * distinct user ids and its socket count, and nothing else.
 */
import { randomUUID } from 'node:crypto';
import type { Namespace, Server, Socket } from 'socket.io';
import { nodeAnswer, responderNamespace, WHO_IS_CONNECTED, type MemberAnswer } from './ids-request.ts';
import { userIdText } from './user-id.ts';

// Any app's event maps, as for the endpoint.
type AnyEvents = any;

export interface PresenceResponderOptions<SocketData> {
  /** The user a socket belongs to: a string, number or ObjectId; anything else is a socket without a user. Default `socket.data.userId`. */
  userIdOf?: (socket: Socket<AnyEvents, AnyEvents, AnyEvents, SocketData>) => unknown;
  /** The namespace whose sockets are counted (default `/`). */
  namespace?: string;
}

/** This node's answer, by users' namespace: the endpoint mounted on the same node adds it to the others'. */
const localAnswers = new WeakMap<Namespace, () => MemberAnswer>();

/**
 * Installs the responder on this node's `io`. Call it once per namespace, on
 * every node, before the node takes traffic; the presence endpoint and the
 * Redis source then ask for ids instead of every socket.
 */
export function presenceResponder<SocketData>(
  io: Server<AnyEvents, AnyEvents, AnyEvents, SocketData>,
  options: PresenceResponderOptions<SocketData> = {},
): void {
  const { namespace = '/' } = options;
  const userIdOf = options.userIdOf ?? ((socket) => (socket.data as { userId?: unknown } | undefined)?.userId);
  const users = io.of(namespace);
  if (localAnswers.has(users)) throw new TypeError(`presenceResponder is already installed on namespace ${namespace}`);
  const control = io.of(responderNamespace(namespace));
  // A namespace for servers only: a client that tries to join it is turned away.
  control.use((_socket, next) => next(new Error('not a namespace for clients')));
  const member = randomUUID();
  const answer = (): MemberAnswer => {
    const userIds = new Set<string>();
    for (const socket of users.sockets.values()) {
      const id = userIdText(userIdOf(socket));
      if (id !== undefined) userIds.add(id);
    }
    return nodeAnswer(member, users.sockets.size, [...userIds]);
  };
  control.on(WHO_IS_CONNECTED, (...args: unknown[]) => {
    // Later versions may send arguments; the acknowledgement is always last.
    const ack = args.at(-1);
    if (typeof ack === 'function') ack(answer());
  });
  localAnswers.set(users, answer);
}

/** This node's own answer when it runs a responder for `users`, else undefined. */
export function localAnswerOf(users: Namespace): MemberAnswer | undefined {
  return localAnswers.get(users)?.();
}
