import type { Db } from 'mongodb';
import type { ConnectedSource } from './connected.ts';
import { connectedFigures, type ConnectedFigures } from './connected-figures.ts';
import { presenceFigures, type PresenceFigures } from './figures.ts';
import type { PresenceModel } from './model.ts';

/** How `status` counts: the same for status, the dashboard and a scheduler's sample. */
export interface PresenceMeasure {
  model: PresenceModel;
  staleMinutes: number;
  graceSeconds: number;
  /** Each part's database budget (`--max-time`). */
  maxTimeMs: number;
  /** Without one, no connected figures. */
  source?: ConnectedSource;
}

export interface PresenceMeasurement {
  figures: PresenceFigures;
  connected?: ConnectedFigures;
}

/** The presence figures, then, with a source, the database against who is connected. */
export async function measurePresence(db: Db, measure: PresenceMeasure, now: Date): Promise<PresenceMeasurement> {
  const figures = await presenceFigures(db, measure.model, measure.staleMinutes, now, measure.maxTimeMs);
  const connected = measure.source && (await connectedFigures(db, measure.model, measure.source, now, measure.graceSeconds, measure.maxTimeMs));
  return { figures, connected };
}
