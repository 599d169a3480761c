import type { DetectorState } from '../../domain/anomaly-detector';
import type { EnergyState } from '../../domain/telemetry';

/** Per-device model state, kept in the telemetry state table between batches. */
export interface TelemetryStateItem {
  readonly thingName: string;
  /** Optimistic concurrency: a write succeeds only if the stored version is the one read. */
  readonly version: number;
  readonly detector: DetectorState;
  readonly energy?: EnergyState;
  /** Device time of the newest telemetry message applied to the latest readings. */
  readonly lastTelemetryAt?: number;
}

/** Record written to the archive, one JSON line per message. */
export interface ArchiveRecord {
  readonly thingName: string;
  readonly kind: 'telemetry' | 'energy';
  readonly timestamp: number;
  readonly receivedAt: number;
  readonly readings?: Record<string, number | null>;
  readonly energyKwh?: number | null;
  readonly powerW?: number | null;
  readonly voltageV?: number | null;
  readonly currentA?: number | null;
  readonly relay?: string;
}
