/** The presence tasks in tasks/, by id: the commands run them and `status` reads their audit. */
export const PresenceTaskId = {
  stale: 'presence-stale',
  cleanup: 'presence-cleanup',
  indexes: 'presence-indexes',
  reconcile: 'presence-reconcile',
} as const;
export type PresenceTaskId = (typeof PresenceTaskId)[keyof typeof PresenceTaskId];
