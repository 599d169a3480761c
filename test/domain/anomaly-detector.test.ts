import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Anomaly,
  AnomalyKind,
  ANOMALY_KINDS,
  createDetectorState,
  detect,
  DetectOptions,
  DETECTOR_PARAMETERS,
  DetectorOptionsInvalidError,
  DetectorReading,
  DetectorState,
} from '../../src/domain/anomaly-detector';
import { DetectorEvaluation, evaluateDetector, formatEvaluation, LabeledDataset } from '../../src/domain/anomaly-evaluation';

const START = Date.UTC(2025, 11, 1);
const STEP_MS = 5 * 60 * 1000;
const READINGS_PER_DAY = 288;
const DATASET = path.join(__dirname, '..', 'data', 'telemetry-labelled.json');

/** Seeded random source of the data set generator, so the synthetic series are the same on every run. */
interface SeededRandom {
  /** Returns a standard normal sample. */
  normal(): number;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const generator = require('../../scripts/generate-telemetry-dataset.js') as {
  createRandom: (seed: number) => SeededRandom;
  render: () => string;
};

function timeOf(index: number): number {
  return START + index * STEP_MS;
}

/** Room temperature with a daily cycle peaking at 15:00 UTC, white noise and 0.01 °C resolution. */
function temperatureSeries(count: number, seed = 1): number[] {
  const random = generator.createRandom(seed);
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    const hour = (i / 12) % 24;
    const value = 21 + 2.5 * Math.cos((2 * Math.PI * (hour - 15)) / 24) + 0.08 * random.normal();
    values.push(Math.round(value * 100) / 100);
  }
  return values;
}

/** Current of a load that is on for 30 minutes every 2 hours at about 4 A, and draws 0.03 A standby. */
function currentSeries(count: number, seed = 2): number[] {
  const random = generator.createRandom(seed);
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    const on = i % 24 < 6;
    const value = on ? 4 * (1 + 0.015 * random.normal()) : 0.03 + Math.abs(0.003 * random.normal());
    values.push(Math.round(value * 100) / 100);
  }
  return values;
}

interface FeedResult {
  state: DetectorState;
  anomalies: { anomaly: Anomaly; reportedAt: number }[];
  dropped: string[];
}

/** Feeds `values` of one sensor from interval `offset` on, and records at which interval each anomaly was reported. */
function feed(
  state: DetectorState,
  sensor: Pick<DetectorReading, 'sensorId' | 'sensorType'>,
  values: readonly (number | null)[],
  options: DetectOptions = {},
  offset = 0,
): FeedResult {
  const result: FeedResult = { state, anomalies: [], dropped: [] };
  values.forEach((value, i) => {
    const timestamp = timeOf(offset + i);
    const output = detect(result.state, { ...sensor, value, timestamp }, { now: timestamp, ...options });
    result.state = output.state;
    for (const anomaly of output.anomalies) {
      result.anomalies.push({ anomaly, reportedAt: offset + i });
    }
    if (output.dropped !== undefined) {
      result.dropped.push(output.dropped);
    }
  });
  return result;
}

const TEMPERATURE = { sensorId: 'temperature', sensorType: 'temperature' } as const;
const CURRENT = { sensorId: 'current', sensorType: 'current' } as const;
const POWER = { sensorId: 'power', sensorType: 'power' } as const;

describe('detect', () => {
  test('normal seasonal data has no anomalies', () => {
    const days = 7;
    const temperature = feed(createDetectorState(), TEMPERATURE, temperatureSeries(days * READINGS_PER_DAY), { maxCurrentA: 10 });
    const currents = currentSeries(days * READINGS_PER_DAY);
    const current = feed(temperature.state, CURRENT, currents, { maxCurrentA: 10 });
    const power = feed(current.state, POWER, currents.map((amperes) => Math.round(amperes * 230 * 0.95 * 10) / 10));

    expect(temperature.anomalies).toEqual([]);
    expect(current.anomalies).toEqual([]);
    expect(power.anomalies).toEqual([]);
    expect(Object.keys(power.state.sensors).sort()).toEqual(['current', 'power', 'temperature']);
  });

  test('warm-up emits nothing', () => {
    const values = temperatureSeries(DETECTOR_PARAMETERS.warmupReadings + 20);
    values[10] += 8;
    for (let i = 20; i < 40; i++) {
      values[i] = values[19];
    }

    const result = feed(createDetectorState(), TEMPERATURE, values);

    expect(result.anomalies).toEqual([]);
  });

  test('finds temperature spike', () => {
    const values = temperatureSeries(3 * READINGS_PER_DAY);
    const spikeIndex = 2 * READINGS_PER_DAY + 30;
    const normalValue = values[spikeIndex];
    values[spikeIndex] = normalValue + 4;

    const { anomalies } = feed(createDetectorState(), TEMPERATURE, values);

    expect(anomalies).toHaveLength(1);
    const [{ anomaly, reportedAt }] = anomalies;
    expect(anomaly.kind).toBe('SPIKE');
    expect(anomaly.sensorId).toBe('temperature');
    expect(anomaly.value).toBe(values[spikeIndex]);
    expect(anomaly.timestamp).toBe(timeOf(spikeIndex));
    expect(reportedAt).toBe(spikeIndex + 1);
    expect(anomaly.severity).toBe('HIGH');
    expect(anomaly.expected.min).toBeLessThan(normalValue);
    expect(anomaly.expected.max).toBeGreaterThan(normalValue);
    expect(anomaly.expected.max).toBeLessThan(anomaly.value);
    expect(anomaly.explanation).toContain(`read ${Number(anomaly.value.toPrecision(4))} °C`);
    expect(anomaly.explanation).toContain('outside the expected range of');
  });

  test('finds load spike from idle', () => {
    const values = currentSeries(3 * READINGS_PER_DAY);
    const spikeIndex = 2 * READINGS_PER_DAY + 12;
    expect(values[spikeIndex]).toBeLessThan(0.1);
    values[spikeIndex] = 7.5;

    const { anomalies } = feed(createDetectorState(), CURRENT, values, { maxCurrentA: 10 });

    expect(anomalies.map(({ anomaly }) => anomaly.kind)).toEqual(['SPIKE']);
    expect(anomalies[0].anomaly.timestamp).toBe(timeOf(spikeIndex));
    expect(anomalies[0].anomaly.explanation).toContain('7.5 A');
  });

  test('level change is no spike', () => {
    const values = temperatureSeries(3 * READINGS_PER_DAY);
    const changeIndex = 2 * READINGS_PER_DAY;
    for (let i = changeIndex; i < values.length; i++) {
      values[i] = Math.round((values[i] + 3) * 100) / 100;
    }

    const { anomalies } = feed(createDetectorState(), TEMPERATURE, values);

    expect(anomalies.filter(({ anomaly }) => anomaly.kind === 'SPIKE')).toEqual([]);
  });

  test('finds slow drift', () => {
    const values = temperatureSeries(8 * READINGS_PER_DAY);
    const driftStart = 5 * READINGS_PER_DAY;
    const rampReadings = READINGS_PER_DAY;
    for (let i = driftStart; i < values.length; i++) {
      values[i] = Math.round((values[i] + 3 * Math.min(1, (i - driftStart + 1) / rampReadings)) * 100) / 100;
    }

    const { anomalies } = feed(createDetectorState(), TEMPERATURE, values);
    const drifts = anomalies.filter(({ anomaly }) => anomaly.kind === 'DRIFT');

    expect(drifts.length).toBeGreaterThanOrEqual(1);
    expect(drifts[0].anomaly.timestamp).toBeGreaterThanOrEqual(timeOf(driftStart));
    expect(drifts[0].anomaly.timestamp).toBeLessThan(timeOf(driftStart + 2 * READINGS_PER_DAY));
    expect(drifts[0].anomaly.value).toBeGreaterThan(drifts[0].anomaly.expected.max);
    expect(drifts[0].anomaly.explanation).toContain('above the usual level');
    expect(drifts[0].anomaly.explanation).toContain('usual at this time of day');
    expect(anomalies.filter(({ anomaly }) => anomaly.kind !== 'DRIFT')).toEqual([]);
  });

  test('drift below profile', () => {
    const values = temperatureSeries(8 * READINGS_PER_DAY);
    const driftStart = 5 * READINGS_PER_DAY;
    for (let i = driftStart; i < values.length; i++) {
      values[i] = Math.round((values[i] - 3 * Math.min(1, (i - driftStart + 1) / READINGS_PER_DAY)) * 100) / 100;
    }

    const { anomalies } = feed(createDetectorState(), TEMPERATURE, values);

    expect(anomalies.length).toBeGreaterThanOrEqual(1);
    expect(anomalies[0].anomaly.kind).toBe('DRIFT');
    expect(anomalies[0].anomaly.explanation).toContain('below the usual level');
  });

  test('finds stuck sensor', () => {
    const values = temperatureSeries(3 * READINGS_PER_DAY);
    const stuckStart = 2 * READINGS_PER_DAY;
    for (let i = stuckStart; i < stuckStart + 48; i++) {
      values[i] = values[stuckStart - 1];
    }

    const { anomalies } = feed(createDetectorState(), TEMPERATURE, values);

    expect(anomalies).toHaveLength(1);
    const [{ anomaly, reportedAt }] = anomalies;
    expect(anomaly.kind).toBe('STUCK');
    expect(anomaly.severity).toBe('MEDIUM');
    expect(anomaly.value).toBe(values[stuckStart]);
    expect(reportedAt).toBeGreaterThanOrEqual(stuckStart - 1 + DETECTOR_PARAMETERS.stuckMinRun - 1);
    expect(reportedAt).toBeLessThan(stuckStart + 48);
    expect(anomaly.explanation).toContain('in a row since 2025-12-02T23:55:00Z');
  });

  test('constant sensor is never stuck', () => {
    const values = new Array<number>(2 * READINGS_PER_DAY).fill(45);

    const { anomalies } = feed(createDetectorState(), { sensorId: 'humidity', sensorType: 'humidity' }, values);

    expect(anomalies).toEqual([]);
  });

  test('idle load is never stuck', () => {
    const values = currentSeries(2 * READINGS_PER_DAY).map((amperes) => (amperes < 1 ? 0 : amperes));

    const { anomalies } = feed(createDetectorState(), CURRENT, values, { maxCurrentA: 10 });

    expect(anomalies).toEqual([]);
  });

  test('finds over-current above rating', () => {
    const values = currentSeries(2 * READINGS_PER_DAY);
    const start = READINGS_PER_DAY + 2;
    values[start] = 12.5;
    values[start + 1] = 13;
    values[start + 2] = 12.8;

    const { anomalies } = feed(createDetectorState(), CURRENT, values, { maxCurrentA: 10 });

    expect(anomalies).toHaveLength(1);
    const [{ anomaly }] = anomalies;
    expect(anomaly.kind).toBe('OVER_CURRENT');
    expect(anomaly.severity).toBe('HIGH');
    expect(anomaly.value).toBe(12.5);
    expect(anomaly.timestamp).toBe(timeOf(start));
    expect(anomaly.expected).toEqual({ min: 0, max: 10 });
    expect(anomaly.explanation).toContain('12.5 A');
    expect(anomaly.explanation).toContain('rated current of 10 A');
  });

  test('over-current during warm-up', () => {
    const result = feed(createDetectorState(), CURRENT, [11, 4, 4, 10.5, 10, 10.01], { maxCurrentA: 10 });

    expect(result.anomalies.map(({ anomaly }) => anomaly.kind)).toEqual(['OVER_CURRENT', 'OVER_CURRENT', 'OVER_CURRENT']);
    expect(result.anomalies.map(({ reportedAt }) => reportedAt)).toEqual([0, 3, 5]);
  });

  test('lower configured limit applies', () => {
    const result = feed(createDetectorState(), CURRENT, [4, 8.5], { maxCurrentA: 16, currentLimitA: 8 });

    expect(result.anomalies).toHaveLength(1);
    expect(result.anomalies[0].anomaly.expected.max).toBe(8);
    expect(result.anomalies[0].anomaly.explanation).toContain('configured current limit of 8 A');
  });

  test('no over-current without limit', () => {
    const result = feed(createDetectorState(), CURRENT, [4, 50]);
    const power = feed(createDetectorState(), POWER, [4, 50], { maxCurrentA: 10 });

    expect(result.anomalies).toEqual([]);
    expect(power.anomalies).toEqual([]);
  });

  test.each([
    ['zero', { maxCurrentA: 0 }],
    ['negative', { currentLimitA: -1 }],
    ['NaN', { maxCurrentA: NaN }],
    ['string', { maxCurrentA: '10' as unknown as number }],
  ])('rejects %s current limit', (_name, options) => {
    expect(() => detect(createDetectorState(), { ...CURRENT, value: 1, timestamp: START }, options)).toThrow(DetectorOptionsInvalidError);
  });

  test('drops bad readings unchanged', () => {
    const warmed = feed(createDetectorState(), TEMPERATURE, temperatureSeries(2 * READINGS_PER_DAY)).state;
    const snapshot = JSON.stringify(warmed);
    const last = timeOf(2 * READINGS_PER_DAY - 1);
    const next = last + STEP_MS;
    const cases: [string, DetectorReading, string][] = [
      ['null', { ...TEMPERATURE, value: null, timestamp: next }, 'MISSING_VALUE'],
      ['NaN', { ...TEMPERATURE, value: NaN, timestamp: next }, 'NOT_FINITE'],
      ['Infinity', { ...TEMPERATURE, value: Infinity, timestamp: next }, 'NOT_FINITE'],
      ['string', { ...TEMPERATURE, value: '21.5' as unknown as number, timestamp: next }, 'NOT_A_NUMBER'],
      ['far future', { ...TEMPERATURE, value: 21.5, timestamp: next + 365 * 24 * 3600 * 1000 }, 'TIMESTAMP_IN_FUTURE'],
      ['negative time', { ...TEMPERATURE, value: 21.5, timestamp: -1 }, 'INVALID_TIMESTAMP'],
      ['out of order', { ...TEMPERATURE, value: 21.5, timestamp: last - STEP_MS }, 'OUT_OF_ORDER'],
      ['duplicate', { ...TEMPERATURE, value: 21.5, timestamp: last }, 'OUT_OF_ORDER'],
      ['bad sensor id', { sensorId: 'bad id', sensorType: 'temperature', value: 21.5, timestamp: next }, 'INVALID_SENSOR_ID'],
      ['bad sensor type', { sensorId: 'temperature', sensorType: 'Temperature', value: 21.5, timestamp: next }, 'INVALID_SENSOR_TYPE'],
      ['energy total', { sensorId: 'energy', sensorType: 'energy', value: 1520.4, timestamp: next }, 'SENSOR_TYPE_NOT_MODELED'],
    ];

    for (const [name, reading, reason] of cases) {
      const result = detect(warmed, reading, { now: next });

      expect({ name, dropped: result.dropped }).toEqual({ name, dropped: reason });
      expect(result.state).toBe(warmed);
      expect(result.anomalies).toEqual([]);
    }
    expect(JSON.stringify(warmed)).toBe(snapshot);
  });

  test('far-future default uses clock', () => {
    const result = detect(createDetectorState(), { ...TEMPERATURE, value: 21, timestamp: Date.now() + 3600 * 1000 });

    expect(result.dropped).toBe('TIMESTAMP_IN_FUTURE');
  });

  test('does not change input state', () => {
    const state = feed(createDetectorState(), TEMPERATURE, temperatureSeries(READINGS_PER_DAY)).state;
    const snapshot = JSON.stringify(state);

    detect(state, { ...TEMPERATURE, value: 30, timestamp: timeOf(READINGS_PER_DAY) }, { now: timeOf(READINGS_PER_DAY) });

    expect(JSON.stringify(state)).toBe(snapshot);
  });

  test('state survives JSON round trip', () => {
    const values = temperatureSeries(4 * READINGS_PER_DAY);
    values[3 * READINGS_PER_DAY + 10] += 5;
    const firstHalf = feed(createDetectorState(), TEMPERATURE, values.slice(0, 3 * READINGS_PER_DAY));
    const restored = JSON.parse(JSON.stringify(firstHalf.state)) as DetectorState;

    const fromOriginal = feed(firstHalf.state, TEMPERATURE, values.slice(3 * READINGS_PER_DAY), {}, 3 * READINGS_PER_DAY);
    const fromRestored = feed(restored, TEMPERATURE, values.slice(3 * READINGS_PER_DAY), {}, 3 * READINGS_PER_DAY);

    expect(restored).toEqual(firstHalf.state);
    expect(fromRestored.anomalies).toEqual(fromOriginal.anomalies);
    expect(fromRestored.anomalies.map(({ anomaly }) => anomaly.kind)).toEqual(['SPIKE']);
    expect(fromRestored.state).toEqual(fromOriginal.state);
  });

  test('state size stays bounded', () => {
    const oneDay = feed(createDetectorState(), TEMPERATURE, temperatureSeries(READINGS_PER_DAY)).state;
    const twoWeeks = feed(createDetectorState(), TEMPERATURE, temperatureSeries(14 * READINGS_PER_DAY)).state;
    const model = twoWeeks.sensors.temperature;

    expect(JSON.stringify(twoWeeks).length).toBeLessThan(JSON.stringify(oneDay).length + 200);
    expect(JSON.stringify(twoWeeks).length).toBeLessThan(3000);
    expect(model.bucketMean).toHaveLength(24);
    expect(model.bucketCount).toHaveLength(24);
    for (const value of Object.values(model)) {
      expect(Array.isArray(value) ? value.length : 0).toBeLessThanOrEqual(24);
    }
  });

  test('limits modeled sensors', () => {
    let state = createDetectorState();
    for (let i = 0; i < DETECTOR_PARAMETERS.maxSensors; i++) {
      state = detect(state, { sensorId: `s${i}`, sensorType: 'temperature', value: 20, timestamp: START }, { now: START }).state;
    }

    const result = detect(state, { sensorId: 'extra', sensorType: 'temperature', value: 20, timestamp: START }, { now: START });

    expect(Object.keys(state.sensors)).toHaveLength(32);
    expect(result.dropped).toBe('TOO_MANY_SENSORS');
    expect(result.state).toBe(state);
  });

  test('new sensor type restarts model', () => {
    const warmed = feed(createDetectorState(), TEMPERATURE, temperatureSeries(2 * READINGS_PER_DAY)).state;
    const timestamp = timeOf(2 * READINGS_PER_DAY);

    const result = detect(warmed, { sensorId: 'temperature', sensorType: 'humidity', value: 55, timestamp }, { now: timestamp });

    expect(result.anomalies).toEqual([]);
    expect(result.state.sensors.temperature.sensorType).toBe('humidity');
    expect(result.state.sensors.temperature.readings).toBe(1);
  });
});

describe('evaluateDetector', () => {
  test('scores by matching windows', () => {
    const values = temperatureSeries(3 * READINGS_PER_DAY);
    const labels: (string | null)[] = new Array(values.length).fill(null);
    const found = 2 * READINGS_PER_DAY + 30;
    values[found] += 4;
    labels[found] = 'SPIKE';
    // A labeled spike that the data does not contain, so it stays undetected.
    labels[2 * READINGS_PER_DAY + 100] = 'SPIKE';
    // An unlabeled spike, which makes the detection a false positive.
    values[2 * READINGS_PER_DAY + 200] -= 4;
    const dataset = {
      startTimestamp: START,
      intervalMs: STEP_MS,
      pointCount: values.length,
      devices: [{ deviceId: 'test', series: [{ ...TEMPERATURE, values, labels }] }],
    } as LabeledDataset;

    const evaluation = evaluateDetector(dataset);

    expect(evaluation.kinds.SPIKE).toEqual({ events: 2, detectedEvents: 1, detections: 2, truePositives: 1, precision: 0.5, recall: 0.5, f1: 0.5 });
    expect(evaluation.kinds.DRIFT).toEqual({ events: 0, detectedEvents: 0, detections: 0, truePositives: 0, precision: 0, recall: 0, f1: 0 });
    expect(evaluation.overall.f1).toBe(0.5);
    expect(evaluation.readings).toBe(values.length);
    expect(formatEvaluation(evaluation)).toContain('| SPIKE | 2 | 1 | 2 | 1 | 0.500 | 0.500 | 0.500 |');
  });

  test('counts dropped readings', () => {
    const values: (number | null)[] = temperatureSeries(10);
    values[3] = null;
    const dataset = {
      startTimestamp: START,
      intervalMs: STEP_MS,
      pointCount: values.length,
      devices: [{ deviceId: 'test', series: [{ ...TEMPERATURE, values, labels: new Array(values.length).fill(null) }] }],
    } as LabeledDataset;

    expect(evaluateDetector(dataset).dropped).toEqual({ MISSING_VALUE: 1 });
  });
});

describe('labeled data set', () => {
  const committed = fs.readFileSync(DATASET, 'utf8');
  const dataset = JSON.parse(committed) as LabeledDataset;

  test('matches generator output', () => {
    const stale = generator.render() === committed
      ? []
      : ['test/data/telemetry-labelled.json differs from the generator; run node scripts/generate-telemetry-dataset.js and commit the result'];

    expect(stale).toEqual([]);
  });

  test('stays under 2 MB', () => {
    expect(Buffer.byteLength(committed)).toBeLessThan(2 * 1024 * 1024);
  });

  test('labels every anomaly kind', () => {
    const labels = new Set(dataset.devices.flatMap((device) => device.series.flatMap((series) => series.labels)));

    for (const kind of ANOMALY_KINDS) {
      expect(labels).toContain(kind);
    }
  });

  describe('detector quality', () => {
    // Floors are the F1 scores measured on this file (docs/anomaly-detection.md) minus 0.05, so a
    // change that makes detection clearly worse fails while small tuning changes pass.
    const f1Floors: [AnomalyKind, number][] = [['SPIKE', 0.92], ['DRIFT', 0.88], ['STUCK', 0.95], ['OVER_CURRENT', 0.95]];
    let evaluation: DetectorEvaluation;

    beforeAll(() => {
      evaluation = evaluateDetector(dataset);
    });

    test('floors cover every kind', () => {
      expect(f1Floors.map(([kind]) => kind).sort()).toEqual([...ANOMALY_KINDS].sort());
    });

    test.each(f1Floors)('%s F1 at least %d', (kind, floor) => {
      expect(evaluation.kinds[kind].f1).toBeGreaterThanOrEqual(floor);
    });

    test('overall precision and recall', () => {
      expect(evaluation.overall.precision).toBeGreaterThanOrEqual(0.95);
      expect(evaluation.overall.recall).toBeGreaterThanOrEqual(0.9);
    });
  });
});
