import type { ObjectId } from 'mongodb';
import { buildUsers } from './users.ts';

export {
  connectUsers,
  startSamplePlatform as startPlatform,
  type PlatformClient,
  type PlatformNode,
} from '../../src/socketio/sample-platform-process.ts';

/** Users as the platform stores them, all offline an hour ago: `_id` an ObjectId, `isOnline`, `lastSeen`. */
export function offlineUsers(count: number) {
  const users = buildUsers(new Date(), [{ count, online: () => false, minutesAgo: () => 60 }]);
  return users as { _id: ObjectId; isOnline: boolean; lastSeen: Date }[];
}
