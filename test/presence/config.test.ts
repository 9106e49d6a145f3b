import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode, MaintenanceError } from '../../src/engine/errors.ts';
import { loadPresenceParams, type PresenceSources } from '../../src/presence/config.ts';
import { presenceModelOf } from '../../src/presence/model.ts';
import { presenceModelParams, stalePresenceParams } from '../../src/presence/settings.ts';

const dir = mkdtempSync(join(tmpdir(), 'presence-config-'));

function configFile(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** The model and the stale threshold, as `status` reads them. */
async function load(sources: Partial<PresenceSources>) {
  const params = await loadPresenceParams(stalePresenceParams, { flags: {}, env: {}, ...sources });
  return { ...presenceModelOf(params), staleMinutes: params.minutes };
}

async function usageError(sources: Partial<PresenceSources>): Promise<string> {
  const error = await load(sources).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(MaintenanceError);
  expect((error as MaintenanceError).exitCode).toBe(ExitCode.usage);
  const message = (error as Error).message;
  expect(message).not.toContain('\n');
  return message;
}

describe('the presence model as configuration', () => {
  it('defaults to a boolean isOnline and lastSeen in users, stale after 30 minutes', async () => {
    expect(await load({})).toEqual({
      collection: 'users',
      online: { kind: 'boolean', field: 'isOnline' },
      lastSeenField: 'lastSeen',
      offlineSet: {},
      staleMinutes: 30,
    });
  });

  it('takes flags over env vars over the config file over defaults, key by key', async () => {
    const path = configFile('layers.json', { collection: 'from_file', lastSeenField: 'seenAt', staleMinutes: 45 });
    const env = { PRESENCE_COLLECTION: 'from_env', PRESENCE_STALE_MINUTES: '50' };
    const model = await load({ configPath: path, env, flags: { collection: 'from_flag' } });
    expect(model).toMatchObject({ collection: 'from_flag', lastSeenField: 'seenAt', staleMinutes: 50 });
    expect(await load({ configPath: path, env })).toMatchObject({ collection: 'from_env' });
    expect(await load({ env: { PRESENCE_CONFIG: path } })).toMatchObject({ collection: 'from_file', staleMinutes: 45 });
  });

  it('reads a status field with its offline and online values from env vars', async () => {
    const model = await load({
      env: {
        PRESENCE_ONLINE_FIELD: 'status',
        PRESENCE_OFFLINE_VALUE: 'offline',
        PRESENCE_ONLINE_VALUES: 'online, away',
        PRESENCE_OFFLINE_SET: '{"socketId": null, "currentRoom": null}',
      },
    });
    expect(model.online).toEqual({ kind: 'status', field: 'status', offlineValue: 'offline', onlineValues: ['online', 'away'] });
    expect(model.offlineSet).toEqual({ socketId: null, currentRoom: null });
  });

  it.each([
    [{ configPath: join(dir, 'missing.json') }, /^cannot read the presence config file .*missing\.json \(no such file\)$/],
    [{ configPath: configFile('broken.json', '{"collection": ') }, /^presence config file .*broken\.json is not valid JSON/],
    [{ configPath: configFile('list.json', []) }, /must hold a JSON object of settings$/],
    [{ configPath: configFile('typo.json', { colection: 'x' }) }, /unknown key "colection" \(keys: collection, onlineField, /],
    [{ configPath: configFile('zero.json', { staleMinutes: 0 }) }, /^presence setting staleMinutes \("staleMinutes" in .*zero\.json\): must be at least 1 minute, got "0"$/],
    [{ env: { PRESENCE_STALE_MINUTES: '525601' } }, /^presence setting staleMinutes \(PRESENCE_STALE_MINUTES\): must be at most 525600 minutes/],
    [{ env: { PRESENCE_ONLINE_FIELD: '$online' } }, /^presence setting onlineField \(PRESENCE_ONLINE_FIELD\): must be a field or a dotted path \(e\.g\. presence\.online\), and this one has a segment starting with "\$", got "\$online"$/],
    [{ env: { PRESENCE_ONLINE_FIELD: 'presence.$online' } }, /^presence setting onlineField \(PRESENCE_ONLINE_FIELD\): must be a field or a dotted path .* has a segment starting with "\$"/],
    [{ env: { PRESENCE_ONLINE_FIELD: 'presence..online' } }, /^presence setting onlineField \(PRESENCE_ONLINE_FIELD\): must be a field or a dotted path .* has an empty segment/],
    [{ env: { PRESENCE_ONLINE_FIELD: 'presence.' } }, /^presence setting onlineField \(PRESENCE_ONLINE_FIELD\): must be a field or a dotted path .* has an empty segment/],
    [{ env: { PRESENCE_LAST_SEEN_FIELD: '_id' } }, /^presence setting lastSeenField \(PRESENCE_LAST_SEEN_FIELD\): .* is _id or inside it/],
    [{ env: { PRESENCE_LAST_SEEN_FIELD: '_id.seen' } }, /^presence setting lastSeenField \(PRESENCE_LAST_SEEN_FIELD\): .* is _id or inside it/],
    [
      { env: { PRESENCE_ONLINE_FIELD: 'presence', PRESENCE_LAST_SEEN_FIELD: 'presence.lastSeen' } },
      /^presence settings: onlineField "presence" holds lastSeenField "presence\.lastSeen"; no setting's path may be inside another's$/,
    ],
    [
      { env: { PRESENCE_ONLINE_FIELD: 'presence.online.value', PRESENCE_LAST_SEEN_FIELD: 'presence.online' } },
      /^presence settings: lastSeenField "presence\.online" holds onlineField "presence\.online\.value"; no setting's path may be inside another's$/,
    ],
    [
      { env: { PRESENCE_ONLINE_FIELD: 'presence.online', PRESENCE_OFFLINE_SET: '{"presence.online.since": null}' } },
      /^presence settings: onlineField "presence\.online" holds offlineSet "presence\.online\.since"; no setting's path may be inside another's$/,
    ],
    [
      { env: { PRESENCE_LAST_SEEN_FIELD: 'presence.lastSeen', PRESENCE_OFFLINE_SET: '{"presence": null}' } },
      /^presence settings: offlineSet "presence" holds lastSeenField "presence\.lastSeen"; no setting's path may be inside another's$/,
    ],
    [
      { env: { PRESENCE_OFFLINE_SET: '{"session": null, "session.socketId": null}' } },
      /^presence setting offlineSet \(PRESENCE_OFFLINE_SET\): offlineSet "session" holds offlineSet "session\.socketId"; no setting's path may be inside another's, got /,
    ],
    [{ env: { PRESENCE_COLLECTION: 'system.users' } }, /^presence setting collection \(PRESENCE_COLLECTION\): must not be a system collection/],
    [{ env: { PRESENCE_OFFLINE_SET: '{"room": {"id": 1}}' } }, /^presence setting offlineSet \(PRESENCE_OFFLINE_SET\): values must be null, text, a number or true\/false/],
    [{ env: { PRESENCE_OFFLINE_SET: '{"a..b": null}' } }, /offlineSet .*field "a\.\.b" must be a field or a dotted path .* has an empty segment/],
    [{ env: { PRESENCE_OFFLINE_SET: '{"isOnline": false}' } }, /^presence settings: offlineSet may not set "isOnline", which is the onlineField$/],
    [
      { env: { PRESENCE_OFFLINE_VALUE: 'offline', PRESENCE_ONLINE_VALUES: 'online,offline' } },
      /^presence settings: onlineValues contains the offlineValue "offline"$/,
    ],
    [{ flags: { onlineValues: 'online,away' } }, /^presence setting onlineValues needs offlineValue/],
  ] as [Partial<PresenceSources>, RegExp][])('refuses %j in one line naming the key', async (sources, message) => {
    expect(await usageError(sources)).toMatch(message);
  });

  it('refuses a bad setting that the command does not take (cleanup has no threshold): configured is checked', async () => {
    const error = await loadPresenceParams(presenceModelParams, { flags: {}, env: { PRESENCE_STALE_MINUTES: 'soon' } }).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.message).toBe('presence setting staleMinutes (PRESENCE_STALE_MINUTES): must be a whole number of minutes, got "soon"');
  });
});
