/**
 * The ids request: how an asker learns who is connected from the nodes that
 * run `presenceResponder`, without any socket, handshake or cookie leaving a
 * node. The responders listen on a namespace of their own (no client may join
 * it), so that its adapter's `serverCount()` counts the nodes that run one:
 * comparing it with the users' namespace tells, before asking and without a
 * timeout, whether every node can answer.
 */
import type { Namespace } from 'socket.io';

/** The way an answer was obtained: the ids request, or `fetchSockets()` (every socket, handshake included). */
export type AskedVia = 'ids' | 'fetchSockets';

export const WHO_IS_CONNECTED = 'presence-maint:who';
const PROTOCOL = 1;

/** The namespace the responders of `namespace` listen on. */
export function responderNamespace(namespace: string): string {
  return namespace === '/' ? '/presence-maint' : `/presence-maint${namespace}`;
}

/**
 * One member's answer. A node answers its own distinct user ids and its
 * socket count; an asker (a headless reader on the responders' namespace
 * only, counted there but not among the users' servers) answers that it is one.
 */
export interface MemberAnswer {
  v: typeof PROTOCOL;
  member: string;
  role: 'node' | 'asker';
  sockets: number;
  userIds: string[];
}

export function nodeAnswer(member: string, sockets: number, userIds: string[]): MemberAnswer {
  return { v: PROTOCOL, member, role: 'node', sockets, userIds };
}

/** A headless asker joined on the responders' namespace answers the others' requests too, or they would wait for it. */
export function answerAsAsker(control: Namespace, member: string): void {
  control.on(WHO_IS_CONNECTED, (...args: unknown[]) => {
    const ack = args.at(-1);
    if (typeof ack === 'function') ack({ v: PROTOCOL, member, role: 'asker', sockets: 0, userIds: [] } satisfies MemberAnswer);
  });
}

export type IdsOutcome =
  /** Every node answered (complete), or the servers changed while they were asked (not complete). */
  | { kind: 'answered'; complete: boolean; servers: number; sockets: number; userIds: Set<string> }
  /** Some node of the users' namespace runs no responder (a rolling upgrade): ask with fetchSockets() instead. */
  | { kind: 'not-everywhere'; servers: number; responders: number };

/**
 * Asks every responder once and checks the answer is whole: as many nodes
 * as the users' namespace has servers, each once, and neither count changed
 * while they were asked. `own` is the asking node's answer when it runs a
 * responder itself; without it, the asker is a headless member of the
 * responders' namespace only. Throws when a member did not answer (the
 * adapter's timeout) or answered something else than this protocol.
 */
export async function askIds(
  control: Namespace,
  serversOfUsers: () => Promise<number>,
  own: MemberAnswer | undefined,
): Promise<IdsOutcome> {
  const headless = own === undefined ? 1 : 0;
  const servers = await serversOfUsers();
  const members = await control.adapter.serverCount();
  if (members - headless < servers) return { kind: 'not-everywhere', servers, responders: members - headless };
  // Alone, nobody to ask: the in-memory adapter does not even support the request.
  const answers: unknown[] = members > 1 ? await control.serverSideEmitWithAck(WHO_IS_CONNECTED) : [];
  const serversAfter = await serversOfUsers();
  const membersAfter = await control.adapter.serverCount();

  const nodes = own === undefined ? [] : [own];
  const seen = new Set(nodes.map((node) => node.member));
  for (const answer of answers) {
    if (!isMemberAnswer(answer)) throw new Error('a member answered the ids request in another protocol');
    if (seen.has(answer.member)) throw new Error(`member ${answer.member} answered twice`);
    seen.add(answer.member);
    if (answer.role === 'node') nodes.push(answer);
  }
  const unchanged = serversAfter === servers && membersAfter === members;
  // Every member answered, yet fewer nodes than servers: the others are servers without a responder.
  if (unchanged && nodes.length < servers) return { kind: 'not-everywhere', servers, responders: nodes.length };
  const userIds = new Set<string>();
  let sockets = 0;
  for (const node of nodes) {
    sockets += node.sockets;
    for (const id of node.userIds) userIds.add(id);
  }
  return { kind: 'answered', complete: unchanged && nodes.length === servers, servers: serversAfter, sockets, userIds };
}

function isMemberAnswer(value: unknown): value is MemberAnswer {
  const answer = value as Partial<MemberAnswer> | null;
  return (
    typeof answer === 'object' &&
    answer !== null &&
    answer.v === PROTOCOL &&
    typeof answer.member === 'string' &&
    answer.member !== '' &&
    (answer.role === 'node' || answer.role === 'asker') &&
    Number.isSafeInteger(answer.sockets) &&
    answer.sockets! >= 0 &&
    Array.isArray(answer.userIds) &&
    answer.userIds.length <= answer.sockets! &&
    answer.userIds.every((id) => typeof id === 'string' && id !== '')
  );
}
