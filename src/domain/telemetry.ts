import { COMPONENT_ID_PATTERN } from './identity';

/** Maximum lead of a device timestamp over the processing time, in milliseconds. Readings further ahead are dropped. */
export const MAX_CLOCK_AHEAD_MS = 5 * 60 * 1000;

/** Maximum age of a device timestamp at processing time, in milliseconds. Older readings are dropped. */
export const MAX_READING_AGE_MS = 7 * 24 * 60 * 60 * 1000;

/** Largest epoch millisecond value that the contract schemas accept (year 9999). */
const MAX_EPOCH_MS = 253402300799999;

/**
 * Decimal places kept in energy totals and deltas, so 0.1 kWh steps add up to 0.3 and not to
 * 0.30000000000000004. Six places are a resolution of 1 mWh.
 */
const ENERGY_DECIMALS = 6;

/** Reasons for dropping a reading. */
export const ReadingDropReason = {
  /** The message's `readings` field is not an object. */
  INVALID_READINGS: 'INVALID_READINGS',
  /** The sensor id does not match `^[A-Za-z0-9_-]{1,32}$`. */
  INVALID_SENSOR_ID: 'INVALID_SENSOR_ID',
  /** The value is neither a number nor null, for example the string "21.5". */
  NOT_A_NUMBER: 'NOT_A_NUMBER',
  /** The value is NaN, Infinity or -Infinity. */
  NOT_FINITE: 'NOT_FINITE',
  /** The timestamp is not an integer epoch time in milliseconds within the contract's range. */
  INVALID_TIMESTAMP: 'INVALID_TIMESTAMP',
  /** The timestamp lies more than {@link MAX_CLOCK_AHEAD_MS} ahead of the processing time. */
  TIMESTAMP_IN_FUTURE: 'TIMESTAMP_IN_FUTURE',
  /** The timestamp lies more than {@link MAX_READING_AGE_MS} before the processing time. */
  TIMESTAMP_TOO_OLD: 'TIMESTAMP_TOO_OLD',
} as const;

/** One of the {@link ReadingDropReason} values. */
export type ReadingDropReason = (typeof ReadingDropReason)[keyof typeof ReadingDropReason];

/** Payload published on `iot/telemetry/<thing>` (contract/schemas/telemetry.schema.json). */
export interface TelemetryMessage {
  /** Device time of the readings in epoch milliseconds. */
  readonly timestamp: number;
  /** Per-boot message counter. */
  readonly seq?: number;
  /** Value per sensor id. Null means the sensor produced no value. */
  readonly readings: Readonly<Record<string, number | null>>;
}

/** One sensor value, ready to store. */
export interface SensorReading {
  readonly sensorId: string;
  /** The measured value, or null when the sensor produced none. Null is stored as missing, never as 0. */
  readonly value: number | null;
  /** Device time of the reading in epoch milliseconds. */
  readonly timestamp: number;
  /** Time AWS IoT received the message in epoch milliseconds, kept to show delivery delay. */
  readonly receivedAt: number;
}

/** A reading that {@link normalizeTelemetry} dropped, with the reason. */
export interface DroppedReading {
  /** Sensor of the dropped reading. Absent when the whole `readings` field was invalid. */
  readonly sensorId?: string;
  readonly reason: ReadingDropReason;
}

/** Output of {@link normalizeTelemetry}. */
export interface NormalizedTelemetry {
  readonly readings: SensorReading[];
  readonly dropped: DroppedReading[];
}

/**
 * Checks a reading's value. Returns the drop reason, or undefined for a finite number or null.
 * Callers check at run time because parsed JSON may not match its declared type.
 */
export function checkReadingValue(value: unknown): ReadingDropReason | undefined {
  if (value === null) {
    return undefined;
  }
  if (typeof value !== 'number') {
    return ReadingDropReason.NOT_A_NUMBER;
  }
  if (!Number.isFinite(value)) {
    return ReadingDropReason.NOT_FINITE;
  }
  return undefined;
}

/**
 * Checks a device timestamp against the processing time `now`. Returns the drop reason, or
 * undefined when the timestamp is at most {@link MAX_CLOCK_AHEAD_MS} ahead of `now` and at most
 * {@link MAX_READING_AGE_MS} behind it. Pass `maxAgeMs: Infinity` to skip the age check.
 */
export function checkReadingTimestamp(timestamp: unknown, now: number, maxAgeMs: number = MAX_READING_AGE_MS): ReadingDropReason | undefined {
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp > MAX_EPOCH_MS) {
    return ReadingDropReason.INVALID_TIMESTAMP;
  }
  if (timestamp > now + MAX_CLOCK_AHEAD_MS) {
    return ReadingDropReason.TIMESTAMP_IN_FUTURE;
  }
  if (timestamp < now - maxAgeMs) {
    return ReadingDropReason.TIMESTAMP_TOO_OLD;
  }
  return undefined;
}

/** Counts dropped readings per reason, for a metric or a log line. */
export function countDropReasons(dropped: readonly { readonly reason: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { reason } of dropped) {
    counts[reason] = (counts[reason] ?? 0) + 1;
  }
  return counts;
}

/**
 * Splits a contract-valid telemetry message into one reading per sensor and drops the readings
 * that cannot be stored. A null value is kept as a missing reading (value null), never as 0.
 *
 * The checks repeat what the telemetry schema enforces (numbers or null, sensor id pattern) and
 * add what it cannot: a device clock more than {@link MAX_CLOCK_AHEAD_MS} ahead of `now`, or a
 * timestamp more than {@link MAX_READING_AGE_MS} old. A bad timestamp drops every reading of the
 * message, and each dropped reading is listed once with its reason.
 *
 * @param message parsed payload of `iot/telemetry/<thing>`
 * @param receivedAt time AWS IoT received the message in epoch milliseconds, copied to each reading
 * @param now processing time in epoch milliseconds, the reference for the timestamp checks
 */
export function normalizeTelemetry(message: TelemetryMessage, receivedAt: number, now: number): NormalizedTelemetry {
  if (!Number.isFinite(now)) {
    throw new TypeError(`normalizeTelemetry: now must be a finite epoch time in milliseconds, got ${now}.`);
  }
  if (!Number.isFinite(receivedAt)) {
    throw new TypeError(`normalizeTelemetry: receivedAt must be a finite epoch time in milliseconds, got ${receivedAt}.`);
  }

  const readings: SensorReading[] = [];
  const dropped: DroppedReading[] = [];
  const entries = message?.readings;
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
    dropped.push({ reason: ReadingDropReason.INVALID_READINGS });
    return { readings, dropped };
  }

  const timestampReason = checkReadingTimestamp(message.timestamp, now);
  for (const [sensorId, value] of Object.entries(entries)) {
    const reason = COMPONENT_ID_PATTERN.test(sensorId)
      ? timestampReason ?? checkReadingValue(value)
      : ReadingDropReason.INVALID_SENSOR_ID;
    if (reason !== undefined) {
      dropped.push({ sensorId, reason });
      continue;
    }
    readings.push({ sensorId, value, timestamp: message.timestamp, receivedAt });
  }
  return { readings, dropped };
}

// ---------------------------------------------------------------------------------------------
// Energy accounting (contract/schemas/energy-status.schema.json)
// ---------------------------------------------------------------------------------------------

/** Running energy account of one meter, stored between messages. */
export interface EnergyState {
  /** Last meter total in kWh, as the device reported it. */
  readonly lastMeterKwh: number;
  /** Energy consumed since the first reading in kWh. It never decreases. */
  readonly consumedKwh: number;
  /** Number of meter resets seen, which are readings lower than the previous total. */
  readonly resets: number;
  /** Device time of the last applied reading in epoch milliseconds. */
  readonly updatedAt: number;
}

/** A meter reading from an energy-status message. */
export interface EnergyReading {
  /** Cumulative meter total in kWh, or null when the meter produced no value. */
  readonly energyKwh: number | null;
  /** Device time in epoch milliseconds. */
  readonly timestamp: number;
}

/**
 * Effect of a meter reading on the energy account:
 * - `FIRST`: the first reading, which sets the meter baseline and adds nothing;
 * - `INCREASE`: the total rose or stayed the same, and the difference was added;
 * - `RESET`: the total fell, so the meter restarted and its new total was added;
 * - `MISSING`: the value was null, and the state is unchanged;
 * - `STALE`: the reading is not newer than the last applied one, and the state is unchanged.
 */
export type EnergyEvent = 'FIRST' | 'INCREASE' | 'RESET' | 'MISSING' | 'STALE';

/** Output of {@link accumulateEnergy}. */
export interface EnergyUpdate {
  /** The new state. Undefined only when there was no previous state and the reading is missing. */
  readonly state: EnergyState | undefined;
  /** Energy added to `consumedKwh` by this reading in kWh, 0 or more. */
  readonly deltaKwh: number;
  readonly event: EnergyEvent;
}

/** Thrown for a meter reading that breaks the energy-status contract. */
export class EnergyReadingInvalidError extends Error {
  public override readonly name = 'EnergyReadingInvalidError';
}

function roundKwh(value: number): number {
  return Number(value.toFixed(ENERGY_DECIMALS));
}

/**
 * Applies a cumulative meter reading to the energy account and returns the new state without
 * changing `previous`.
 *
 * A total lower than the previous one is a meter reset (the contract's rule), for example after
 * a power cut cleared the meter: 1520.4 followed by 0.3 adds 0.3 kWh, so consumption never
 * decreases. Energy used between the last reading before the reset and the reset itself is not
 * reported by the meter and is lost. A reading whose timestamp is not later than the last applied
 * one is `STALE` and ignored, which also drops a QoS 1 redelivery of the same message.
 *
 * @throws EnergyReadingInvalidError for a total that is not a finite number of 0 or more, or a
 *   timestamp that is not a non-negative integer
 */
export function accumulateEnergy(previous: EnergyState | undefined, reading: EnergyReading): EnergyUpdate {
  const { energyKwh, timestamp } = reading;
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new EnergyReadingInvalidError(`Invalid energy reading timestamp ${timestamp}: expected a non-negative integer epoch time in milliseconds.`);
  }
  if (energyKwh !== null && (typeof energyKwh !== 'number' || !Number.isFinite(energyKwh) || energyKwh < 0)) {
    throw new EnergyReadingInvalidError(
      `Invalid energyKwh ${JSON.stringify(energyKwh)}: expected a finite number of 0 or more, or null for a missing reading.`,
    );
  }

  if (energyKwh === null) {
    return { state: previous, deltaKwh: 0, event: 'MISSING' };
  }
  if (previous === undefined) {
    return {
      state: { lastMeterKwh: energyKwh, consumedKwh: 0, resets: 0, updatedAt: timestamp },
      deltaKwh: 0,
      event: 'FIRST',
    };
  }
  if (timestamp <= previous.updatedAt) {
    return { state: previous, deltaKwh: 0, event: 'STALE' };
  }

  const reset = energyKwh < previous.lastMeterKwh;
  const deltaKwh = roundKwh(reset ? energyKwh : energyKwh - previous.lastMeterKwh);
  return {
    state: {
      lastMeterKwh: energyKwh,
      consumedKwh: roundKwh(previous.consumedKwh + deltaKwh),
      resets: previous.resets + (reset ? 1 : 0),
      updatedAt: timestamp,
    },
    deltaKwh,
    event: reset ? 'RESET' : 'INCREASE',
  };
}
