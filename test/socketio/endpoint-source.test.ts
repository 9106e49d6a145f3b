import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, UsageError } from '../../src/engine/errors.ts';
import { ConnectedSourceError } from '../../src/presence/connected.ts';
import { endpointSource } from '../../src/presence/connected/endpoint-source.ts';

// Endpoints that misbehave as a broken deployment or a proxy would: a real HTTP server on 127.0.0.1.
const token = randomBytes(24).toString('base64url');
const at = new Date().toISOString();
const answers: Record<string, (response: import('node:http').ServerResponse) => void> = {
  '/html': (response) => response.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>maintenance</html>'),
  '/wrong-shape': (response) => response.writeHead(200).end(JSON.stringify({ complete: true, servers: 1, sockets: 1, at, userIds: 'a' })),
  '/more-users-than-sockets': (response) =>
    response.writeHead(200).end(JSON.stringify({ complete: true, servers: 1, sockets: 1, at, userIds: ['a', 'b'] })),
  '/partial': (response) => response.writeHead(200).end(JSON.stringify({ complete: false, servers: 3, sockets: 0, at, userIds: [] })),
  '/unknown': (response) =>
    response.writeHead(503).end(JSON.stringify({ complete: false, error: 'timeout reached: only 1 responses received out of 2\nsecond line' })),
  '/proxy-503': (response) => response.writeHead(503).end('<html>Service Unavailable</html>'),
  '/redirect': (response) => response.writeHead(302, { Location: 'http://127.0.0.1:9/elsewhere' }).end(),
  '/failing': (response) => response.writeHead(500).end(),
  '/stall': () => undefined,
  '/stall-body': (response) => response.writeHead(200).write('{"complete":true,'),
  '/cut': (response) => {
    response.writeHead(200).write('{"complete":true,');
    setTimeout(() => response.socket?.destroy(), 50);
  },
};
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.headers.authorization !== `Bearer ${token}`) return void response.writeHead(401).end();
    const answer = answers[request.url!];
    if (answer) answer(response);
    else response.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
});

async function refusal(path: string, timeoutMs = 2000, signal?: AbortSignal): Promise<ConnectedSourceError> {
  const error = await endpointSource(`${base}${path}`, { token, timeoutMs })
    .fetch(signal)
    .then(() => undefined, (thrown: unknown) => thrown);
  expect(error).toBeInstanceOf(ConnectedSourceError);
  const refused = error as ConnectedSourceError;
  expect(refused.message).not.toContain('\n');
  expect(refused.message).not.toContain(token);
  return refused;
}

describe('endpointSource refuses every answer that is not a complete connected set (exit 4)', () => {
  it.each([
    ['/html', /malformed answer/],
    ['/wrong-shape', /malformed answer/],
    ['/more-users-than-sockets', /malformed answer/],
    ['/partial', /partial answer: a Socket.IO server joined or left while it was asked \(3 now\)/],
    ['/unknown', /the deployment's answer is unknown: timeout reached: only 1 responses received out of 2 second line$/],
    ['/proxy-503', /the deployment's answer is unknown: service unavailable$/],
    ['/redirect', /answered HTTP 302/],
    ['/failing', /answered HTTP 500/],
    ['/nowhere', /answered HTTP 404/],
  ])('%s', async (path, reason) => {
    const refused = await refusal(path);
    expect(refused.exitCode).toBe(ExitCode.refused);
    expect(refused.message).toMatch(reason);
    expect(refused.message.startsWith(`${base}${path}: `)).toBe(true);
  });

  it('an endpoint that does not answer in time, before or during its body', async () => {
    for (const path of ['/stall', '/stall-body']) {
      const started = Date.now();
      const refused = await refusal(path, 300);
      expect(refused.exitCode).toBe(ExitCode.refused);
      expect(refused.message).toMatch(/no answer within 300 ms/);
      expect(Date.now() - started).toBeLessThan(2000);
    }
  });

  it('an answer cut off', async () => {
    const refused = await refusal('/cut');
    expect(refused.exitCode).toBe(ExitCode.refused);
    expect(refused.message).toMatch(/answer cut off/);
  });
});

describe('endpointSource, before and around the request', () => {
  it('the caller cancelling gets its own reason back, not a refusal', async () => {
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(new Error('operator cancelled')), 100);
    const error = await endpointSource(`${base}/stall`, { token, timeoutMs: 5000 })
      .fetch(cancel.signal)
      .catch((thrown: unknown) => thrown);
    expect(error).toEqual(new Error('operator cancelled'));
  });

  it('bad input is a usage error (exit 2) that never quotes the URL', () => {
    const secret = randomBytes(12).toString('hex');
    for (const [url, reason] of [
      [`not a url ${secret}`, /malformed connected-set endpoint URL/],
      [`ftp://127.0.0.1/${secret}`, /must start with http:\/\/ or https:\/\/, not ftp:/],
      [`http://127.0.0.1/presence?x=${secret}`, /no token/],
    ] as const) {
      const build = () => endpointSource(url, {});
      expect(build).toThrow(UsageError);
      expect(build).toThrow(reason);
      expect(build).not.toThrow(secret);
    }
  });

  it('its description hides userinfo and every query value', () => {
    const secret = randomBytes(12).toString('hex');
    expect(endpointSource(`https://ops:${secret}@app.internal:8443/presence?token=${secret}&ns=chat#x`).description).toBe(
      'https://<credentials>@app.internal:8443/presence?token=<credentials>&ns=<credentials>',
    );
  });
});
