/** What the harness's processes say to each other over their IPC channel. */
/** `take`: the node reports its event-loop delay since the last `take`, and starts a new window. */
export type ToNode = { do: 'take' } | { do: 'broadcast'; perSecond: number; bytes: number };
export type FromNode = { ready: true; port: number } | { report: LoopReport };
export interface LoopReport {
  /** Event-loop delay in the window (perf_hooks.monitorEventLoopDelay, 10 ms resolution), in ms. */
  p99Ms: number;
  maxMs: number;
  rssMb: number;
  sockets: number;
  /** Times this node's Redis connections were closed under it (e.g. by Redis's output-buffer limit) since it started. */
  redisDisconnects: number;
}

export type FromClients = { ready: true; connected: number; failed: number; firstError?: string };

export type ToAsker = { do: 'ask' } | { do: 'exit' };
export type FromAsker =
  | { asked: AskFigures }
  | { failed: string }
  | { exiting: true; peakRssMb: number; rssBeforeMb: number };
export interface AskFigures {
  ms: number;
  /** Bytes the asker read through its sockets during the ask (/proc/self/io rchar): Redis's replies and messages to it. */
  readBytes: number;
  via: string;
  users: number;
  sockets: number;
  servers: number;
}
