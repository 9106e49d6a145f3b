/**
 * The tool asking who is connected, its own process so that its peak RSS is its own: the Redis source,
 * exactly as `presence status --connected-redis` reads it, one ask per `ask` message. Env: LOAD_REDIS_URI,
 * LOAD_ASK (`auto`: ids when every node runs the responder; `fetchSockets`).
 */
import { readFileSync } from 'node:fs';
import { redisAdapterSource } from '../../src/presence/connected/redis-source.ts';
import type { FromAsker, ToAsker } from './messages.ts';

const send = (message: FromAsker) => process.send!(message);
/** Bytes this process read through read(2)-like calls: here, what Redis sent it. */
const readBytes = () => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
const rssBeforeMb = process.memoryUsage.rss() / 2 ** 20;
const ask = process.env.LOAD_ASK === 'fetchSockets' ? 'fetchSockets' : 'auto';
const source = redisAdapterSource(process.env.LOAD_REDIS_URI!, { timeoutMs: 20_000, ask });

process.on('message', async (message: ToAsker) => {
  if (message.do === 'exit') {
    await source.close();
    send({ exiting: true, peakRssMb: process.resourceUsage().maxRSS / 1024, rssBeforeMb });
    process.disconnect();
    return;
  }
  try {
    const read = readBytes();
    const started = performance.now();
    const set = await source.fetch();
    const ms = performance.now() - started;
    send({ asked: { ms, readBytes: readBytes() - read, via: set.via, users: set.userIds.size, sockets: set.sockets, servers: set.servers } });
  } catch (error) {
    send({ failed: (error as Error).message });
  }
});
