import type { Document } from 'bson';
import { messageDocuments, type SeenCommand, type TcpProxy } from './tcp-proxy.ts';

/** The command document of a request as it passed the proxy. */
export function commandOf(request: SeenCommand): Document {
  return messageDocuments(request.message)[0] ?? {};
}

/**
 * Makes the engine behind the proxy answer the tool's own `hello` as a mongos
 * does (`msg: 'isdbgrid'`). The driver's monitoring `hello`s (without a
 * session) keep the engine's answer, so the driver goes on treating it as the
 * server it is. Returns the undo.
 */
export function answerAsMongos(proxy: TcpProxy): () => void {
  return proxy.rewriteReplies((request, reply) =>
    request.command === 'hello' && commandOf(request).lsid !== undefined ? { ...reply, msg: 'isdbgrid' } : undefined,
  );
}

/** Refuses reads of `config.collections` as a user without read on `config` is refused (code 13). */
export function refuseConfigReads(proxy: TcpProxy): () => void {
  return proxy.rewriteReplies((request) =>
    request.command === 'find' && request.collection === 'collections' && commandOf(request).$db === 'config'
      ? { ok: 0, code: 13, codeName: 'Unauthorized', errmsg: 'not authorized on config to execute command { find: "collections" }' }
      : undefined,
  );
}
