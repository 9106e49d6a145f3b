import { UsageError } from '../engine/errors.ts';
import type { CompanionValue, PresenceSettings } from './settings.ts';

/** How "online" is stored: a boolean, or a status field with a known offline value. */
export type OnlineStorage =
  | { kind: 'boolean'; field: string }
  | { kind: 'status'; field: string; offlineValue: string; onlineValues: readonly string[] };

/** The presence model: which collection, how online and last activity are stored, what going offline writes. */
export interface PresenceModel {
  collection: string;
  online: OnlineStorage;
  lastSeenField: string;
  /** Companion fields the offline write sets too (e.g. socketId: null). */
  offlineSet: Readonly<Record<string, CompanionValue>>;
  staleMinutes: number;
}

/** Builds the model, refusing settings that contradict each other (each message names the key). */
export function presenceModelOf(settings: PresenceSettings): PresenceModel {
  const { onlineField, lastSeenField, offlineValue, onlineValues } = settings;
  if (onlineField === lastSeenField) {
    throw new UsageError(`presence settings: onlineField and lastSeenField are both "${onlineField}"; they must differ`);
  }
  for (const field of Object.keys(settings.offlineSet)) {
    if (field === onlineField || field === lastSeenField) {
      throw new UsageError(
        `presence settings: offlineSet may not set "${field}", which is the ${field === onlineField ? 'onlineField' : 'lastSeenField'}`,
      );
    }
  }
  if (offlineValue !== undefined && onlineValues.includes(offlineValue)) {
    throw new UsageError(`presence settings: onlineValues contains the offlineValue "${offlineValue}"`);
  }
  const online: OnlineStorage =
    offlineValue === undefined
      ? { kind: 'boolean', field: onlineField }
      : { kind: 'status', field: onlineField, offlineValue, onlineValues: [...new Set(onlineValues)] };
  return {
    collection: settings.collection,
    online,
    lastSeenField,
    offlineSet: { ...settings.offlineSet },
    staleMinutes: settings.staleMinutes,
  };
}

/** The value that marks a user offline. */
export function offlineValueOf(model: PresenceModel): boolean | string {
  return model.online.kind === 'boolean' ? false : model.online.offlineValue;
}

/** The value a connecting user gets (used by the health check's scratch document). */
export function onlineValueOf(model: PresenceModel): boolean | string {
  return model.online.kind === 'boolean' ? true : model.online.onlineValues[0]!;
}

/** Every field a presence write reads or sets: backed up and compared at write time. */
export function presenceFields(model: PresenceModel): string[] {
  return [model.online.field, model.lastSeenField, ...Object.keys(model.offlineSet)];
}

/** "isOnline (boolean)", "status (offline = "offline", online = "online", "away")". */
export function describeOnline(model: PresenceModel): string {
  const { online } = model;
  if (online.kind === 'boolean') return `${online.field} (true/false)`;
  return `${online.field} (offline "${online.offlineValue}", online ${online.onlineValues.map((v) => `"${v}"`).join(', ')})`;
}

/** The model as task parameters (the settings it was built from, threshold aside): what the audit records. */
export function presenceParamsOf(model: PresenceModel): Record<string, unknown> {
  const { online } = model;
  return {
    collection: model.collection,
    onlineField: online.field,
    ...(online.kind === 'status' ? { offlineValue: online.offlineValue, onlineValues: [...online.onlineValues] } : {}),
    lastSeenField: model.lastSeenField,
    offlineSet: { ...model.offlineSet },
  };
}
