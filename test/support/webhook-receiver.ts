import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a receiver does with each request: answer 200, answer 500, or never answer. */
export type ReceiverBehaviour = 'ok' | 'fail' | 'hang';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface WebhookReceiver {
  /** The webhook's URL on 127.0.0.1, with `path` (where a Slack or Teams URL carries its token). */
  url(path: string): string;
  readonly received: ReceivedRequest[];
  close(): Promise<void>;
}

/** A real HTTP server on loopback that records every request it gets, as a Slack, Teams or generic webhook would. */
export async function startWebhookReceiver(behaviour: ReceiverBehaviour): Promise<WebhookReceiver> {
  const received: ReceivedRequest[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, body, at: Date.now() });
      if (behaviour === 'hang') return;
      response.writeHead(behaviour === 'ok' ? 200 : 500, { 'content-type': 'text/plain' }).end(behaviour === 'ok' ? 'ok' : 'internal error');
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received,
    close: () =>
      new Promise((closed) => {
        server.closeAllConnections();
        server.close(() => closed());
      }),
  };
}
