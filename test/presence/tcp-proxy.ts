import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** The URI through the proxy, to this database, connecting to the proxy only. */
  uri(database: string): string;
  /** The network goes away: open connections are dropped and new ones refused. */
  cut(): Promise<void>;
  /** The network comes back, on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A dying network stand-in: a loopback TCP proxy in front of the test server that can be cut and restored. */
export async function startTcpProxy(serverUri: string): Promise<TcpProxy> {
  const upstream = new URL(serverUri);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const listening = createServer((client) => {
        const toServer = connect(Number(upstream.port), upstream.hostname);
        track(client);
        track(toServer);
        client.on('close', () => toServer.destroy());
        toServer.on('close', () => client.destroy());
        client.pipe(toServer).pipe(client);
      });
      listening.once('error', reject);
      listening.listen(port, '127.0.0.1', () => resolve((listening.address() as AddressInfo).port));
      server = listening;
    });
  const port = await listen(0);
  const stop = async () => {
    const closing = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => (closing ? closing.close(() => resolve()) : resolve()));
  };
  return {
    uri: (database) => `mongodb://127.0.0.1:${port}/${database}?directConnection=true`,
    cut: stop,
    restore: async () => void (await listen(port)),
    close: stop,
  };
}
