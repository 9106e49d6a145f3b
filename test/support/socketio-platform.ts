import { ObjectId } from 'mongodb';

export {
  connectUsers,
  startSamplePlatform as startPlatform,
  type PlatformClient,
  type PlatformNode,
} from '../../src/socketio/sample-platform-process.ts';

/** Users as the platform stores them, all offline: `_id` an ObjectId, `isOnline`, `lastSeen`. */
export function offlineUsers(count: number, lastSeen = new Date(Date.now() - 3600_000)) {
  return Array.from({ length: count }, () => ({ _id: new ObjectId(), isOnline: false, lastSeen }));
}
