import { companionPaths, DEFAULT_ONLINE_VALUES, type CompanionValue, type PresenceSettings } from './settings.ts';

/** How "online" is stored: a boolean, or a status field with a known offline value. */
export type OnlineStorage =
  | { kind: 'boolean'; field: string }
  | { kind: 'status'; field: string; offlineValue: string; onlineValues: readonly string[] };

/** The presence model: which collection, how online and last activity are stored, what going offline writes. */
export interface PresenceModel {
  collection: string;
  online: OnlineStorage;
  lastSeenField: string;
  /** Companion fields the offline write sets too, by path (e.g. socketId: null, or presence.socketId: null). */
  offlineSet: Readonly<Record<string, CompanionValue>>;
}

/** The model of settings already checked by their schema (`presenceParams`), rules between them included. */
export function presenceModelOf(settings: PresenceSettings): PresenceModel {
  const { onlineField, offlineValue, onlineValues = DEFAULT_ONLINE_VALUES } = settings;
  const online: OnlineStorage =
    offlineValue === undefined
      ? { kind: 'boolean', field: onlineField }
      : { kind: 'status', field: onlineField, offlineValue, onlineValues: [...new Set(onlineValues)] };
  return { collection: settings.collection, online, lastSeenField: settings.lastSeenField, offlineSet: companionPaths(settings.offlineSet) };
}

/** The value that marks a user offline. */
export function offlineValueOf(model: PresenceModel): boolean | string {
  return model.online.kind === 'boolean' ? false : model.online.offlineValue;
}

/** The value a connecting user gets (used by the health check's scratch document). */
export function onlineValueOf(model: PresenceModel): boolean | string {
  return model.online.kind === 'boolean' ? true : model.online.onlineValues[0]!;
}

/** Whether a stored online field's value says online (the filters have already refused wrong types). */
export function isOnlineValue(model: PresenceModel, value: unknown): boolean {
  return model.online.kind === 'boolean' ? value === true : typeof value === 'string' && model.online.onlineValues.includes(value);
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
