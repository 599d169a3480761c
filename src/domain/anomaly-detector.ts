import { COMPONENT_ID_PATTERN } from './identity';
import { checkReadingTimestamp, checkReadingValue, ReadingDropReason } from './telemetry';

// ---------------------------------------------------------------------------------------------
// Parameters. They were tuned on data from scripts/generate-telemetry-dataset.js, which has one
// reading every 5 minutes. docs/anomaly-detection.md lists the measured precision and recall.
// ---------------------------------------------------------------------------------------------

/**
 * Parameters of the detector. Counts are in readings and times in milliseconds.
 *
 * NOTE: the weights and run lengths count readings, so their time spans scale with the
 * telemetry period. They are tuned for one reading every 5 minutes and untested at other periods.
 */
export const DETECTOR_PARAMETERS = {
  /** Readings a sensor must have before any statistical rule (spike, stuck, drift) can fire. */
  warmupReadings: 48,
  /** Time a sensor must have reported before any statistical rule can fire. */
  warmupMs: 24 * 60 * 60 * 1000,
  /** Weight of a new reading in the local level, which is the forecast for the next reading. */
  levelAlpha: 0.5,
  /** Weight of a new reading in the mean absolute deviations (the robust scales). */
  scaleAlpha: 0.02,
  /** Robust z-score from which a single reading is a spike candidate. */
  spikeZ: 5,
  /**
   * A spike candidate is confirmed when the next reading falls back by more than this fraction of
   * the jump. Otherwise the jump was a level change, such as a load switching on.
   */
  spikeReturnFraction: 0.5,
  /** Smallest robust standard deviation of a load's active level, as a fraction of that level. */
  loadScaleFloorFraction: 0.02,
  /** Readings in a row above a load's spike threshold after which they are accepted as its new on level. */
  raisedLevelAdoptRun: 36,
  /** Readings over which the running mean of a load level becomes an exponential average. */
  loadLevelMemory: 20,
  /** Shortest run of identical readings that counts as a stuck sensor. */
  stuckMinRun: 8,
  /**
   * Probability, under the sensor's own rate of repeated readings, of a run as long as the stuck
   * threshold. The threshold is the run length with this probability, and never below stuckMinRun.
   */
  stuckRunProbability: 1e-6,
  /** Rate of repeated readings from which a sensor counts as normally constant, so it is never stuck. */
  stuckMaxRepeatRate: 0.7,
  /** Weight of a new reading in the rate of repeated readings. */
  repeatRateAlpha: 0.01,
  /**
   * Weight of a new residual in the mean absolute deviation from the time-of-day profile. It is
   * small, a memory of about 2 days at 5-minute readings, so a slow drift does not widen the scale
   * as fast as it grows.
   */
  residualScaleAlpha: 0.002,
  /** Time a sensor must have reported before the drift rule can fire, so its daily profile is learned. */
  driftWarmupMs: 3 * 24 * 60 * 60 * 1000,
  /** Readings an hourly bucket needs before it predicts the time-of-day level. */
  minBucketReadings: 6,
  /** Smallest weight of a new reading in its hourly bucket, which sets a memory of about 4 days at 5-minute readings. */
  bucketAlpha: 0.02,
  /** CUSUM reference value k in robust standard deviations: deviations below it do not accumulate. */
  cusumK: 1,
  /** CUSUM decision threshold h in robust standard deviations. */
  cusumH: 250,
  /** Weight of a new residual in the short-term mean residual that describes an ongoing drift. */
  driftResidualAlpha: 0.05,
  /** An active drift ends when the short-term mean residual falls below this many robust standard deviations. */
  driftClearZ: 1,
  /** Time after which an active drift is accepted as the new normal level and the baseline follows it. */
  driftMaxActiveMs: 2 * 24 * 60 * 60 * 1000,
  /** Maximum number of sensors modeled per device, the contract's limit on a device's sensors. */
  maxSensors: 32,
} as const;

/** Ratio of the standard deviation to the mean absolute deviation of a normal distribution, sqrt(pi / 2). */
const MAD_TO_SD = 1.2533;

/** Samples after which {@link updatedMad} clips deviations. */
const MAD_CLIP_AFTER = 10;

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
const HOURS_PER_DAY = 24;

/** Sensor types modeled as on/off loads: a spike is an upward jump above the usual on level. */
const LOAD_SENSOR_TYPES: ReadonlySet<string> = new Set(['current', 'power']);

/** Sensor types that are not modeled: running totals and binary states. */
const UNMODELED_SENSOR_TYPES: ReadonlySet<string> = new Set(['energy', 'motion', 'contact']);

/** Pattern of a sensor type in capability documents. */
const SENSOR_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;

/** Units of the known sensor types, for explanations. */
const UNITS: Readonly<Record<string, string>> = {
  temperature: ' °C',
  humidity: ' %',
  power: ' W',
  voltage: ' V',
  current: ' A',
  illuminance: ' lx',
};

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** Kinds of anomaly. */
export type AnomalyKind = 'SPIKE' | 'DRIFT' | 'STUCK' | 'OVER_CURRENT';

/** Every anomaly kind. */
export const ANOMALY_KINDS: readonly AnomalyKind[] = ['SPIKE', 'DRIFT', 'STUCK', 'OVER_CURRENT'];

/** Severity of an anomaly. */
export type AnomalySeverity = 'LOW' | 'MEDIUM' | 'HIGH';

/** An anomaly found in one reading. */
export interface Anomaly {
  readonly kind: AnomalyKind;
  readonly severity: AnomalySeverity;
  readonly sensorId: string;
  /** The reading that is anomalous. */
  readonly value: number;
  /** Range in which the detector expected the reading, in the sensor's unit. */
  readonly expected: { readonly min: number; readonly max: number };
  /** One or two sentences for the user that name the reading and the expected range. */
  readonly explanation: string;
  /** Device time of the anomalous reading in epoch milliseconds. */
  readonly timestamp: number;
}

/** A reading given to {@link detect}. */
export interface DetectorReading {
  readonly sensorId: string;
  /** Sensor type from the capability document, such as `temperature` or `current`. */
  readonly sensorType: string;
  readonly value: number | null;
  /** Device time in epoch milliseconds. */
  readonly timestamp: number;
}

/** Options of {@link detect}. */
export interface DetectOptions {
  /** Rated current of the relay that switches the load, in amperes, from the capability document. */
  readonly maxCurrentA?: number;
  /** Absolute current limit in amperes, for example the circuit's fuse. The lower of the two limits applies. */
  readonly currentLimitA?: number;
  /** Processing time in epoch milliseconds, the reference for far-future timestamps. Defaults to `Date.now()`. */
  readonly now?: number;
}

/** Reasons for dropping a reading without changing the model. */
export const DetectorDropReason = {
  ...ReadingDropReason,
  /** The value is null, so the sensor produced none. */
  MISSING_VALUE: 'MISSING_VALUE',
  /** The timestamp is not later than the sensor's last accepted reading. */
  OUT_OF_ORDER: 'OUT_OF_ORDER',
  /** The sensor type does not match `^[a-z][a-z0-9_]{0,31}$`. */
  INVALID_SENSOR_TYPE: 'INVALID_SENSOR_TYPE',
  /** The device already has the maximum number of modeled sensors. */
  TOO_MANY_SENSORS: 'TOO_MANY_SENSORS',
  /** Running totals (`energy`) and binary states (`motion`, `contact`) are not modeled. */
  SENSOR_TYPE_NOT_MODELED: 'SENSOR_TYPE_NOT_MODELED',
} as const;

/** One of the {@link DetectorDropReason} values. */
export type DetectorDropReason = (typeof DetectorDropReason)[keyof typeof DetectorDropReason];

/** A spike candidate that waits for the next reading to confirm it. */
export interface PendingSpike {
  readonly value: number;
  readonly timestamp: number;
  /** Level the reading was compared with. */
  readonly expectedLevel: number;
  readonly min: number;
  readonly max: number;
  /** Robust z-score of the reading. */
  readonly z: number;
}

/**
 * Model of one sensor. Every field is a number, a boolean, a string, null, an array of
 * {@link HOURS_PER_DAY} numbers or a {@link PendingSpike}, so the model stays JSON-serializable
 * and of fixed size.
 */
export interface SensorModel {
  sensorType: string;
  /** `LOAD` for on/off loads (current, power), `CONTINUOUS` for the rest. */
  family: 'LOAD' | 'CONTINUOUS';
  /** Readings that updated the model. */
  readings: number;
  firstTimestamp: number;
  lastTimestamp: number;
  lastValue: number;
  /** Smallest non-zero change between two readings, an estimate of the sensor's resolution. */
  quantum: number | null;

  /** Local level (continuous sensors): an exponential average that forecasts the next reading. */
  level: number;
  /** Mean absolute deviation of readings from the local level. */
  levelMad: number;
  pendingSpike: PendingSpike | null;

  /** Level of a load while off, or its only level until two levels appear. */
  idleLevel: number;
  idleMad: number;
  idleCount: number;
  /** Level of a load while on. Null until the readings split into two levels. */
  activeLevel: number | null;
  activeMad: number;
  activeCount: number;
  /** Readings in a row above the load's spike threshold after a jump that did not fall back, 0 for none. */
  raisedRun: number;
  /** Level of the raised run, null outside one. */
  raisedLevel: number | null;

  /** Length of the current run of identical readings. */
  repeatRun: number;
  /** Device time of the first reading of the current run. */
  repeatSince: number;
  /** Exponential average of how often a reading equals the previous one. */
  repeatRate: number;
  repeatSamples: number;
  /** True after the current run of identical readings was reported, so it is reported once. */
  stuckReported: boolean;

  /** Time-of-day profile: mean reading per UTC hour. */
  bucketMean: number[];
  bucketCount: number[];
  /** Mean absolute deviation of readings from the time-of-day profile. */
  residualMad: number;
  residualSamples: number;
  /** Short-term mean of the deviation from the time-of-day profile. */
  recentResidual: number;
  cusumHigh: number;
  cusumLow: number;
  /** Direction of an active drift: 1 above the profile, -1 below, 0 for none. */
  drift: -1 | 0 | 1;
  driftSince: number | null;

  /** True while the current stays above the limit, so an excursion is reported once. */
  overCurrent: boolean;
}

/** State of one device's detector, stored between batches. */
export interface DetectorState {
  readonly version: 1;
  readonly sensors: Readonly<Record<string, SensorModel>>;
}

/** Output of {@link detect}. */
export interface DetectionResult {
  /** The new state. It is the input state itself when the reading was dropped. */
  readonly state: DetectorState;
  readonly anomalies: Anomaly[];
  /** Reason the reading was dropped, absent when it was used. */
  readonly dropped?: DetectorDropReason;
}

/** Thrown for detector options that are not positive finite numbers. */
export class DetectorOptionsInvalidError extends Error {
  public override readonly name = 'DetectorOptionsInvalidError';
}

// ---------------------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------------------

/** Creates the state of a device that has sent no readings yet. */
export function createDetectorState(): DetectorState {
  return { version: 1, sensors: {} };
}

/**
 * Feeds one reading to the device's detector and returns the new state and the anomalies found.
 * The input state is not changed.
 *
 * Rules, per sensor:
 * - OVER_CURRENT: a `current` reading above the lower of `maxCurrentA` and `currentLimitA`,
 *   reported once per excursion with HIGH severity. It is a fixed limit, so it fires during the
 *   warm-up too.
 * - SPIKE: one reading whose robust z-score against the local level (or, for loads, above the
 *   usual on level) reaches `spikeZ`, and the next reading falls back. A spike is therefore
 *   reported one reading late, with the spike's own timestamp.
 * - STUCK: a run of identical readings that the sensor's usual rate of repeats makes unlikely,
 *   and at least `stuckMinRun` long. Load readings count only while the load is on.
 * - DRIFT: a two-sided CUSUM on the deviation from the time-of-day profile (24 hourly buckets,
 *   interpolated), for continuous sensors only.
 *
 * SPIKE, STUCK and DRIFT stay silent until the sensor has `warmupReadings` readings over
 * `warmupMs`, and DRIFT until `driftWarmupMs`. Over-current readings, spike candidates and stuck
 * runs do not update the model, and the time-of-day profile stops learning while a drift is
 * suspected or active. A null, non-numeric, non-finite, far-future or out-of-order reading is
 * dropped with a reason and leaves the state unchanged, and so is a reading of an `energy`,
 * `motion` or `contact` sensor, which the detector does not model.
 *
 * @throws DetectorOptionsInvalidError for a current limit that is not a positive finite number
 */
export function detect(state: DetectorState, reading: DetectorReading, options: DetectOptions = {}): DetectionResult {
  const currentLimit = currentLimitOf(options);
  const dropReason = checkReading(state, reading, options.now ?? Date.now());
  if (dropReason !== undefined) {
    return { state, anomalies: [], dropped: dropReason };
  }

  const value = reading.value as number;
  const existing = state.sensors[reading.sensorId];
  if (existing === undefined || existing.sensorType !== reading.sensorType) {
    const model = createSensorModel(reading.sensorType, value, reading.timestamp);
    const anomalies: Anomaly[] = [];
    trackOverCurrent(model, reading.sensorId, value, reading.timestamp, currentLimit, anomalies);
    return { state: withSensor(state, reading.sensorId, model), anomalies };
  }

  const model = cloneSensorModel(existing);
  const anomalies = applyReading(model, reading.sensorId, value, reading.timestamp, currentLimit);
  model.lastValue = value;
  model.lastTimestamp = reading.timestamp;
  return { state: withSensor(state, reading.sensorId, model), anomalies };
}

function currentLimitOf(options: DetectOptions): CurrentLimit | undefined {
  let limit: CurrentLimit | undefined;
  for (const [key, source] of [['maxCurrentA', 'rating'], ['currentLimitA', 'limit']] as const) {
    const amperes = options[key];
    if (amperes === undefined) {
      continue;
    }
    if (typeof amperes !== 'number' || !Number.isFinite(amperes) || amperes <= 0) {
      throw new DetectorOptionsInvalidError(`Invalid ${key} ${JSON.stringify(amperes)}: expected a positive number of amperes, or leave it out.`);
    }
    if (limit === undefined || amperes < limit.amperes) {
      limit = { amperes, source };
    }
  }
  return limit;
}

interface CurrentLimit {
  readonly amperes: number;
  /** `rating` for the relay's rated current, `limit` for the configured absolute limit. */
  readonly source: 'rating' | 'limit';
}

function checkReading(state: DetectorState, reading: DetectorReading, now: number): DetectorDropReason | undefined {
  if (typeof reading.sensorId !== 'string' || !COMPONENT_ID_PATTERN.test(reading.sensorId)) {
    return DetectorDropReason.INVALID_SENSOR_ID;
  }
  if (typeof reading.sensorType !== 'string' || !SENSOR_TYPE_PATTERN.test(reading.sensorType)) {
    return DetectorDropReason.INVALID_SENSOR_TYPE;
  }
  if (reading.value === null || reading.value === undefined) {
    return DetectorDropReason.MISSING_VALUE;
  }
  const valueReason = checkReadingValue(reading.value);
  if (valueReason !== undefined) {
    return valueReason;
  }
  // The detector models the live stream, so it checks only far-future clocks, not the age limit.
  const timestampReason = checkReadingTimestamp(reading.timestamp, now, Infinity);
  if (timestampReason !== undefined) {
    return timestampReason;
  }
  if (UNMODELED_SENSOR_TYPES.has(reading.sensorType)) {
    return DetectorDropReason.SENSOR_TYPE_NOT_MODELED;
  }

  const model = state.sensors[reading.sensorId];
  if (model === undefined) {
    return Object.keys(state.sensors).length >= DETECTOR_PARAMETERS.maxSensors ? DetectorDropReason.TOO_MANY_SENSORS : undefined;
  }
  if (model.sensorType === reading.sensorType && reading.timestamp <= model.lastTimestamp) {
    return DetectorDropReason.OUT_OF_ORDER;
  }
  return undefined;
}

function withSensor(state: DetectorState, sensorId: string, model: SensorModel): DetectorState {
  return { version: 1, sensors: { ...state.sensors, [sensorId]: model } };
}

function createSensorModel(sensorType: string, value: number, timestamp: number): SensorModel {
  return {
    sensorType,
    family: LOAD_SENSOR_TYPES.has(sensorType) ? 'LOAD' : 'CONTINUOUS',
    readings: 1,
    firstTimestamp: timestamp,
    lastTimestamp: timestamp,
    lastValue: value,
    quantum: null,
    level: value,
    levelMad: 0,
    pendingSpike: null,
    idleLevel: value,
    idleMad: 0,
    idleCount: 1,
    activeLevel: null,
    activeMad: 0,
    activeCount: 0,
    raisedRun: 0,
    raisedLevel: null,
    repeatRun: 1,
    repeatSince: timestamp,
    repeatRate: 0,
    repeatSamples: 0,
    stuckReported: false,
    bucketMean: new Array<number>(HOURS_PER_DAY).fill(0),
    bucketCount: new Array<number>(HOURS_PER_DAY).fill(0),
    residualMad: 0,
    residualSamples: 0,
    recentResidual: 0,
    cusumHigh: 0,
    cusumLow: 0,
    drift: 0,
    driftSince: null,
    overCurrent: false,
  };
}

function cloneSensorModel(model: SensorModel): SensorModel {
  return { ...model, bucketMean: model.bucketMean.slice(), bucketCount: model.bucketCount.slice() };
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/**
 * Applies one accepted reading to `model` in place and returns the anomalies found. The caller
 * then sets `lastValue` and `lastTimestamp`, also for readings that did not update the model.
 */
function applyReading(model: SensorModel, sensorId: string, value: number, timestamp: number, currentLimit: CurrentLimit | undefined): Anomaly[] {
  const anomalies: Anomaly[] = [];
  const warm = model.readings >= DETECTOR_PARAMETERS.warmupReadings && timestamp - model.firstTimestamp >= DETECTOR_PARAMETERS.warmupMs;

  // Over-current comes first: the reading is a real overload, so it must not confirm a spike or
  // teach the model a new level.
  if (trackOverCurrent(model, sensorId, value, timestamp, currentLimit, anomalies)) {
    model.pendingSpike = null;
    return anomalies;
  }

  if (model.pendingSpike !== null) {
    const spike = resolvePendingSpike(model, sensorId, value);
    if (spike !== undefined) {
      anomalies.push(spike);
    }
  }

  const stuck = trackRepeats(model, sensorId, value, timestamp, warm);
  if (stuck !== 'NOT_STUCK') {
    if (stuck !== 'STUCK_REPORTED') {
      anomalies.push(stuck);
    }
    return anomalies;
  }

  if (warm && checkSpike(model, value, timestamp) !== 'NORMAL') {
    return anomalies;
  }

  updateRepeatRate(model, value);
  updateQuantum(model, value);
  if (model.family === 'LOAD') {
    updateLoadLevels(model, value);
  } else {
    updateLevel(model, value);
    const drift = updateProfileAndDetectDrift(model, sensorId, value, timestamp);
    if (drift !== undefined) {
      anomalies.push(drift);
    }
  }
  model.readings++;
  return anomalies;
}

/** Returns the robust standard deviation for a mean absolute deviation, never below the sensor's resolution. */
function robustSd(model: SensorModel, mad: number, floor = 0): number {
  return Math.max(mad * MAD_TO_SD, model.quantum ?? 0, floor, Number.EPSILON);
}

/**
 * Returns the mean absolute deviation after one more deviation. The weight starts at 1 / samples,
 * a plain mean, and falls to `alpha`. From {@link MAD_CLIP_AFTER} samples on, a deviation counts
 * as at most 3 standard deviations, so a level change or an outlier does not inflate the scale.
 */
function updatedMad(model: SensorModel, mad: number, deviation: number, samples: number, alpha: number, floor = 0): number {
  const clipped = samples >= MAD_CLIP_AFTER ? Math.min(deviation, 3 * robustSd(model, mad, floor)) : deviation;
  return mad + Math.max(1 / samples, alpha) * (clipped - mad);
}

/**
 * Compares a `current` reading with the current limit and returns whether it is above. The first
 * reading of an excursion adds an OVER_CURRENT anomaly to `anomalies`.
 */
function trackOverCurrent(
  model: SensorModel,
  sensorId: string,
  value: number,
  timestamp: number,
  limit: CurrentLimit | undefined,
  anomalies: Anomaly[],
): boolean {
  if (model.sensorType !== 'current' || limit === undefined || value <= limit.amperes) {
    model.overCurrent = false;
    return false;
  }
  if (!model.overCurrent) {
    anomalies.push(overCurrentAnomaly(sensorId, value, timestamp, limit));
  }
  model.overCurrent = true;
  return true;
}

function overCurrentAnomaly(sensorId: string, value: number, timestamp: number, limit: CurrentLimit): Anomaly {
  const limitText = limit.source === 'rating' ? 'the relay\'s rated current' : 'the configured current limit';
  return {
    kind: 'OVER_CURRENT',
    severity: 'HIGH',
    sensorId,
    value,
    expected: { min: 0, max: limit.amperes },
    explanation:
      `Current sensor "${sensorId}" read ${formatValue(value, ' A')} at ${formatTime(timestamp)}, above ${limitText} of ` +
      `${formatValue(limit.amperes, ' A')}. Expected 0 to ${formatValue(limit.amperes, ' A')}. Switch the load off or reduce it.`,
    timestamp,
  };
}

// Spike ----------------------------------------------------------------------------------------

/**
 * Compares a reading with the expected level and returns:
 * - `CANDIDATE` when it jumps away, so it becomes the pending spike;
 * - `RAISED` when a load stays above its on level after a jump that did not fall back;
 * - `NORMAL` otherwise, and the reading then updates the model.
 *
 * Continuous sensors compare with the local level in both directions. Loads compare with the
 * usual on level, upwards only, because switching on and off is normal.
 */
function checkSpike(model: SensorModel, value: number, timestamp: number): 'CANDIDATE' | 'RAISED' | 'NORMAL' {
  const p = DETECTOR_PARAMETERS;
  if (model.family === 'CONTINUOUS') {
    const sd = robustSd(model, model.levelMad);
    const z = (value - model.level) / sd;
    if (Math.abs(z) < p.spikeZ) {
      return 'NORMAL';
    }
    model.pendingSpike = {
      value,
      timestamp,
      expectedLevel: model.level,
      min: model.level - p.spikeZ * sd,
      max: model.level + p.spikeZ * sd,
      z,
    };
    return 'CANDIDATE';
  }

  const onLevel = model.activeLevel ?? model.idleLevel;
  const onMad = model.activeLevel === null ? model.idleMad : model.activeMad;
  const sd = robustSd(model, onMad, p.loadScaleFloorFraction * Math.abs(onLevel));
  const z = (value - onLevel) / sd;
  if (z < p.spikeZ) {
    model.raisedRun = 0;
    model.raisedLevel = null;
    return 'NORMAL';
  }
  if (model.raisedRun > 0 && model.raisedLevel !== null) {
    // The load stays above its usual on level, as in an overload or a boost mode. A spike is
    // then a jump above the raised level. Other raised readings teach the model nothing until
    // raisedLevelAdoptRun of them in a row make the raised level the new on level.
    const raisedSd = robustSd(model, onMad, p.loadScaleFloorFraction * Math.abs(model.raisedLevel));
    const raisedZ = (value - model.raisedLevel) / raisedSd;
    if (raisedZ >= p.spikeZ) {
      model.pendingSpike = {
        value,
        timestamp,
        expectedLevel: model.raisedLevel,
        min: onLevel,
        max: model.raisedLevel + p.spikeZ * raisedSd,
        z: raisedZ,
      };
      return 'CANDIDATE';
    }
    model.raisedRun++;
    model.raisedLevel += p.levelAlpha * (value - model.raisedLevel);
    if (model.raisedRun < p.raisedLevelAdoptRun) {
      return 'RAISED';
    }
    model.activeLevel = model.raisedLevel;
    model.activeCount = 1;
    model.raisedRun = 0;
    model.raisedLevel = null;
    return 'NORMAL';
  }
  model.pendingSpike = {
    value,
    timestamp,
    expectedLevel: onLevel,
    min: Math.min(model.idleLevel, onLevel),
    max: onLevel + p.spikeZ * sd,
    z,
  };
  return 'CANDIDATE';
}

/**
 * Decides a pending spike candidate with the next reading. When the reading falls back, the
 * candidate was a spike. Otherwise the level changed: a continuous sensor's local level moves to
 * the candidate, and a load starts a raised run (see {@link checkSpike}).
 */
function resolvePendingSpike(model: SensorModel, sensorId: string, value: number): Anomaly | undefined {
  const pending = model.pendingSpike!;
  model.pendingSpike = null;
  const jump = pending.value - pending.expectedLevel;
  const fellBack = model.family === 'LOAD'
    ? value < pending.value - DETECTOR_PARAMETERS.spikeReturnFraction * jump
    : Math.abs(value - pending.expectedLevel) < DETECTOR_PARAMETERS.spikeReturnFraction * Math.abs(jump);

  if (fellBack) {
    return spikeAnomaly(model, sensorId, pending, value);
  }
  if (model.family === 'LOAD') {
    model.raisedRun++;
    model.raisedLevel = pending.value;
  } else {
    model.level = pending.value;
  }
  return undefined;
}

function spikeAnomaly(model: SensorModel, sensorId: string, pending: PendingSpike, nextValue: number): Anomaly {
  const unit = UNITS[model.sensorType] ?? '';
  const severity = severityFor(Math.abs(pending.z), 2 * DETECTOR_PARAMETERS.spikeZ, 4 * DETECTOR_PARAMETERS.spikeZ);
  return {
    kind: 'SPIKE',
    severity,
    sensorId,
    value: pending.value,
    expected: { min: pending.min, max: pending.max },
    explanation:
      `${describeSensor(model.sensorType, sensorId)} read ${formatValue(pending.value, unit)} at ${formatTime(pending.timestamp)}, ` +
      `outside the expected range of ${formatRange(pending.min, pending.max, unit)}, and the next reading was back at ${formatValue(nextValue, unit)}. ` +
      'A single reading like this is usually a measurement glitch or a short surge.',
    timestamp: pending.timestamp,
  };
}

// Stuck ----------------------------------------------------------------------------------------

/**
 * Counts identical readings in a row and returns the STUCK anomaly when the run reaches the
 * threshold, `STUCK_REPORTED` while a reported run goes on, and `NOT_STUCK` otherwise.
 */
function trackRepeats(model: SensorModel, sensorId: string, value: number, timestamp: number, warm: boolean): Anomaly | 'STUCK_REPORTED' | 'NOT_STUCK' {
  const counted = isRepeatCounted(model, value);
  if (counted && value === model.lastValue) {
    model.repeatRun++;
  } else {
    model.repeatRun = counted ? 1 : 0;
    model.repeatSince = timestamp;
    model.stuckReported = false;
  }

  const threshold = stuckThreshold(model);
  if (!warm || threshold === undefined || model.repeatRun < threshold) {
    return 'NOT_STUCK';
  }
  if (model.stuckReported) {
    return 'STUCK_REPORTED';
  }
  model.stuckReported = true;

  const unit = UNITS[model.sensorType] ?? '';
  const sd = robustSd(model, model.family === 'LOAD' ? model.activeMad : model.levelMad);
  const center = model.family === 'LOAD' ? model.activeLevel ?? model.idleLevel : model.level;
  return {
    kind: 'STUCK',
    severity: 'MEDIUM',
    sensorId,
    value,
    expected: { min: center - 3 * sd, max: center + 3 * sd },
    explanation:
      `${describeSensor(model.sensorType, sensorId)} has reported exactly ${formatValue(value, unit)} for ${model.repeatRun} readings in a row ` +
      `since ${formatTime(model.repeatSince)}. It normally changes between readings, within about ${formatRange(center - 3 * sd, center + 3 * sd, unit)}, ` +
      'so it may be frozen or disconnected.',
    timestamp,
  };
}

/** Returns whether a reading counts for repeat statistics: always for continuous sensors, only while on for loads. */
function isRepeatCounted(model: SensorModel, value: number): boolean {
  return model.family === 'CONTINUOUS' || loadRegime(model, value) === 'ACTIVE';
}

/**
 * Returns the shortest run of identical readings that counts as stuck, or undefined for a sensor
 * that repeats so often that a run means nothing. With repeat rate r, a run of n readings has
 * probability r^(n-1), so n = 1 + log(stuckRunProbability) / log(r).
 */
function stuckThreshold(model: SensorModel): number | undefined {
  const p = DETECTOR_PARAMETERS;
  if (model.repeatRate >= p.stuckMaxRepeatRate) {
    return undefined;
  }
  if (model.repeatRate <= 0) {
    return p.stuckMinRun;
  }
  return Math.max(p.stuckMinRun, Math.ceil(1 + Math.log(p.stuckRunProbability) / Math.log(model.repeatRate)));
}

function updateRepeatRate(model: SensorModel, value: number): void {
  if (!isRepeatCounted(model, value) || !isRepeatCounted(model, model.lastValue)) {
    return;
  }
  model.repeatSamples++;
  const alpha = Math.max(1 / model.repeatSamples, DETECTOR_PARAMETERS.repeatRateAlpha);
  model.repeatRate += alpha * ((value === model.lastValue ? 1 : 0) - model.repeatRate);
}

function updateQuantum(model: SensorModel, value: number): void {
  const change = Math.abs(value - model.lastValue);
  if (change > 0 && (model.quantum === null || change < model.quantum)) {
    model.quantum = change;
  }
}

// Levels ---------------------------------------------------------------------------------------

function updateLevel(model: SensorModel, value: number): void {
  const p = DETECTOR_PARAMETERS;
  const deviation = Math.abs(value - model.level);
  model.levelMad = updatedMad(model, model.levelMad, deviation, model.readings, p.scaleAlpha);
  model.level += p.levelAlpha * (value - model.level);
}

/**
 * Classifies a load reading as idle or active. Until the readings split into two levels, a load
 * has one level, which counts as active so a constant load can still be found stuck.
 *
 * The boundary is the geometric mean of the two levels, because on and off levels differ by a
 * factor rather than by an amount: a 2 kW load that ran at 1 kW for a while is still on. It is
 * at least a tenth of the way from the idle to the active level, for an idle level of 0.
 */
function loadRegime(model: SensorModel, value: number): 'IDLE' | 'ACTIVE' {
  if (model.activeLevel === null) {
    return 'ACTIVE';
  }
  const idle = Math.max(model.idleLevel, 0);
  const boundary = Math.max(Math.sqrt(idle * model.activeLevel), idle + 0.1 * (model.activeLevel - idle));
  return value >= boundary ? 'ACTIVE' : 'IDLE';
}

/**
 * Updates the idle and active levels of a load, an online two-means clustering. The second level
 * appears with the first reading more than twice the idle level and a resolution step above it.
 */
function updateLoadLevels(model: SensorModel, value: number): void {
  const p = DETECTOR_PARAMETERS;
  if (model.activeLevel === null) {
    const step = model.quantum ?? 0;
    if (value > 2 * Math.max(model.idleLevel, 0) && value - model.idleLevel > step && model.idleCount >= 2) {
      model.activeLevel = value;
      model.activeCount = 1;
      return;
    }
    if (value < model.idleLevel / 2 && model.idleCount >= 2) {
      // A lower level appeared, so the level seen so far is the active one.
      model.activeLevel = model.idleLevel;
      model.activeMad = model.idleMad;
      model.activeCount = model.idleCount;
      model.idleLevel = value;
      model.idleMad = 0;
      model.idleCount = 1;
      return;
    }
  }

  if (loadRegime(model, value) === 'ACTIVE' && model.activeLevel !== null) {
    model.activeCount++;
    const alpha = 1 / Math.min(model.activeCount, p.loadLevelMemory);
    const floor = p.loadScaleFloorFraction * Math.abs(model.activeLevel);
    model.activeMad = updatedMad(model, model.activeMad, Math.abs(value - model.activeLevel), model.activeCount, p.scaleAlpha, floor);
    model.activeLevel += alpha * (value - model.activeLevel);
  } else {
    model.idleCount++;
    const alpha = 1 / Math.min(model.idleCount, p.loadLevelMemory);
    model.idleMad = updatedMad(model, model.idleMad, Math.abs(value - model.idleLevel), model.idleCount, p.scaleAlpha);
    model.idleLevel += alpha * (value - model.idleLevel);
  }
  if (model.activeLevel !== null && model.activeLevel < model.idleLevel) {
    [model.activeLevel, model.idleLevel] = [model.idleLevel, model.activeLevel];
    [model.activeMad, model.idleMad] = [model.idleMad, model.activeMad];
    [model.activeCount, model.idleCount] = [model.idleCount, model.activeCount];
  }
}

// Drift ----------------------------------------------------------------------------------------

/**
 * Returns the time-of-day expectation at `timestamp`, interpolated between the two nearest hourly
 * buckets (a bucket's mean belongs to the middle of its hour), or undefined while either has too few
 * readings.
 */
function expectedForTimeOfDay(model: SensorModel, timestamp: number): number | undefined {
  const hour = (((timestamp % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS - 0.5;
  const lower = Math.floor(hour);
  const weight = hour - lower;
  const first = (lower + HOURS_PER_DAY) % HOURS_PER_DAY;
  const second = (first + 1) % HOURS_PER_DAY;
  const minimum = DETECTOR_PARAMETERS.minBucketReadings;
  if (model.bucketCount[first] < minimum || model.bucketCount[second] < minimum) {
    return undefined;
  }
  return (1 - weight) * model.bucketMean[first] + weight * model.bucketMean[second];
}

/**
 * Runs the drift CUSUM on the deviation from the time-of-day profile, then teaches the profile
 * the reading. The profile learns nothing while a drift is active or the CUSUM is above half its
 * threshold, so a slow drift does not become the baseline before it is reported.
 */
function updateProfileAndDetectDrift(model: SensorModel, sensorId: string, value: number, timestamp: number): Anomaly | undefined {
  const p = DETECTOR_PARAMETERS;
  let anomaly: Anomaly | undefined;
  const expected = expectedForTimeOfDay(model, timestamp);

  if (expected !== undefined) {
    const residual = value - expected;
    const sd = robustSd(model, model.residualMad);
    model.recentResidual += p.driftResidualAlpha * (residual - model.recentResidual);

    if (timestamp - model.firstTimestamp >= p.driftWarmupMs) {
      anomaly = detectDrift(model, sensorId, value, timestamp, expected, residual / sd, sd);
    }
    if (model.drift === 0 && Math.max(model.cusumHigh, model.cusumLow) < p.cusumH / 2) {
      model.residualSamples++;
      model.residualMad = updatedMad(model, model.residualMad, Math.abs(residual), model.residualSamples, p.residualScaleAlpha);
    }
  }

  if (model.drift === 0 && Math.max(model.cusumHigh, model.cusumLow) < p.cusumH / 2) {
    const bucket = Math.floor((((timestamp % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS);
    model.bucketCount[bucket]++;
    const alpha = Math.max(1 / model.bucketCount[bucket], p.bucketAlpha);
    model.bucketMean[bucket] += alpha * (value - model.bucketMean[bucket]);
  }
  return anomaly;
}

function detectDrift(
  model: SensorModel,
  sensorId: string,
  value: number,
  timestamp: number,
  expected: number,
  z: number,
  sd: number,
): Anomaly | undefined {
  const p = DETECTOR_PARAMETERS;
  if (model.drift !== 0) {
    const back = model.drift * model.recentResidual < p.driftClearZ * sd;
    const accepted = model.driftSince !== null && timestamp - model.driftSince >= p.driftMaxActiveMs;
    if (accepted) {
      // The shift lasted too long to be a fault that will be fixed, so the profile follows it.
      for (let hour = 0; hour < HOURS_PER_DAY; hour++) {
        model.bucketMean[hour] += model.recentResidual;
      }
    }
    if (back || accepted) {
      model.drift = 0;
      model.driftSince = null;
      model.recentResidual = 0;
      model.cusumHigh = 0;
      model.cusumLow = 0;
    }
    return undefined;
  }

  model.cusumHigh = Math.max(0, model.cusumHigh + z - p.cusumK);
  model.cusumLow = Math.max(0, model.cusumLow - z - p.cusumK);
  if (model.cusumHigh < p.cusumH && model.cusumLow < p.cusumH) {
    return undefined;
  }

  model.drift = model.cusumHigh >= p.cusumH ? 1 : -1;
  model.driftSince = timestamp;
  model.cusumHigh = 0;
  model.cusumLow = 0;

  const unit = UNITS[model.sensorType] ?? '';
  const severity = severityFor(Math.abs(model.recentResidual) / sd, 4, 8);
  const min = expected - 3 * sd;
  const max = expected + 3 * sd;
  const direction = model.drift > 0 ? 'above' : 'below';
  return {
    kind: 'DRIFT',
    severity,
    sensorId,
    value,
    expected: { min, max },
    explanation:
      `${describeSensor(model.sensorType, sensorId)} read ${formatValue(value, unit)} at ${formatTime(timestamp)}, while ${formatRange(min, max, unit)} ` +
      `is usual at this time of day. Its recent readings are on average ${formatValue(Math.abs(model.recentResidual), unit)} ${direction} ` +
      'the usual level and have moved slowly, so the sensor may be drifting out of calibration or its surroundings have changed.',
    timestamp,
  };
}

// Text -----------------------------------------------------------------------------------------

/** Returns HIGH from `highFrom` on, MEDIUM from `mediumFrom` on, and LOW below. */
function severityFor(score: number, mediumFrom: number, highFrom: number): AnomalySeverity {
  if (score >= highFrom) {
    return 'HIGH';
  }
  if (score >= mediumFrom) {
    return 'MEDIUM';
  }
  return 'LOW';
}

function describeSensor(sensorType: string, sensorId: string): string {
  return `${sensorType.charAt(0).toUpperCase()}${sensorType.slice(1).replace(/_/g, ' ')} sensor "${sensorId}"`;
}

function formatValue(value: number, unit: string): string {
  return `${Number(value.toPrecision(4))}${unit}`;
}

function formatRange(min: number, max: number, unit: string): string {
  return `${Number(min.toPrecision(4))} to ${Number(max.toPrecision(4))}${unit}`;
}

function formatTime(timestamp: number): string {
  return new Date(timestamp).toISOString().replace('.000Z', 'Z');
}
