import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ObjectId } from 'mongodb';
import { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';

/** An app keeping its user as an ObjectId under its own key (`socket.data.user.id`), authenticated on /chat only. */
export interface ChatSocketData {
  user?: { id: ObjectId };
}
export type ChatServer = Server<Record<string, never>, Record<string, never>, Record<string, never>, ChatSocketData>;

export interface ChatApp {
  io: ChatServer;
  /** A real client as a user (an ObjectId's hex) or a visitor, on a namespace; `error` when it was turned away. */
  connect(namespace: string, userId?: string): Promise<{ socket: Socket; error?: Error }>;
  /** Closes the clients connected so far. */
  disconnectAll(): void;
  close(): Promise<void>;
}

/** The app's own Socket.IO server alone (the in-memory adapter) in this process, on 127.0.0.1. */
export async function startChatApp(): Promise<ChatApp> {
  const http = createServer();
  const io: ChatServer = new Server(http);
  io.of('/chat').use((socket, next) => {
    const { userId } = socket.handshake.auth as { userId?: string };
    if (userId) socket.data.user = { id: new ObjectId(userId) };
    next();
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const clients: Socket[] = [];
  const disconnectAll = () => {
    for (const socket of clients.splice(0)) socket.close();
  };
  return {
    io,
    connect(namespace, userId) {
      const socket = connect(`${url}${namespace}`, { auth: userId ? { userId } : {}, transports: ['websocket'], reconnection: false, forceNew: true });
      clients.push(socket);
      return new Promise((settled) => {
        socket.once('connect', () => settled({ socket }));
        socket.once('connect_error', (error) => settled({ socket, error }));
      });
    },
    disconnectAll,
    async close() {
      disconnectAll();
      await io.close();
    },
  };
}
