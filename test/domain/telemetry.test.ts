import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateContract } from '../../src/domain/contract-validation';
import {
  accumulateEnergy,
  countDropReasons,
  EnergyReadingInvalidError,
  EnergyState,
  MAX_CLOCK_AHEAD_MS,
  MAX_READING_AGE_MS,
  normalizeTelemetry,
  TelemetryMessage,
} from '../../src/domain/telemetry';

const EXAMPLES = path.join(__dirname, '..', '..', 'contract', 'examples');
const NOW = 1764892900000;
const RECEIVED_AT = 1764892861000;

function example(schema: string, name: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(EXAMPLES, schema, 'valid', name), 'utf8'));
}

function message(timestamp: number, readings: Record<string, unknown>): TelemetryMessage {
  return { timestamp, readings } as unknown as TelemetryMessage;
}

describe('normalizeTelemetry', () => {
  test('splits contract example', () => {
    const payload = example('telemetry', 'readings.json');
    expect(validateContract('telemetry', payload).valid).toBe(true);

    const result = normalizeTelemetry(payload as TelemetryMessage, RECEIVED_AT, NOW);

    expect(result.dropped).toEqual([]);
    expect(result.readings).toEqual([
      { sensorId: 'temperature', value: 21.5, timestamp: 1764892860000, receivedAt: RECEIVED_AT },
      { sensorId: 'current', value: 0.42, timestamp: 1764892860000, receivedAt: RECEIVED_AT },
    ]);
  });

  test('keeps null as missing, not 0', () => {
    const payload = example('telemetry', 'missing-reading-is-null.json');
    expect(validateContract('telemetry', payload).valid).toBe(true);

    const result = normalizeTelemetry(payload as TelemetryMessage, RECEIVED_AT, NOW);
    const temperature = result.readings.find((reading) => reading.sensorId === 'temperature');

    expect(result.dropped).toEqual([]);
    expect(temperature).toBeDefined();
    expect(temperature!.value).toBeNull();
    expect(temperature!.value).not.toBe(0);
    expect(result.readings.find((reading) => reading.sensorId === 'current')!.value).toBe(0.4);
  });

  test('drops non-numbers with reasons', () => {
    const result = normalizeTelemetry(
      message(NOW, { nan: NaN, inf: Infinity, negInf: -Infinity, text: '21.5', flag: true, ok: 1 }),
      RECEIVED_AT,
      NOW,
    );

    expect(result.readings.map((reading) => reading.sensorId)).toEqual(['ok']);
    expect(result.dropped).toEqual([
      { sensorId: 'nan', reason: 'NOT_FINITE' },
      { sensorId: 'inf', reason: 'NOT_FINITE' },
      { sensorId: 'negInf', reason: 'NOT_FINITE' },
      { sensorId: 'text', reason: 'NOT_A_NUMBER' },
      { sensorId: 'flag', reason: 'NOT_A_NUMBER' },
    ]);
    expect(countDropReasons(result.dropped)).toEqual({ NOT_FINITE: 3, NOT_A_NUMBER: 2 });
  });

  test('drops far-future timestamps', () => {
    const result = normalizeTelemetry(message(NOW + MAX_CLOCK_AHEAD_MS + 1, { temperature: 21, current: null }), RECEIVED_AT, NOW);

    expect(result.readings).toEqual([]);
    expect(result.dropped).toEqual([
      { sensorId: 'temperature', reason: 'TIMESTAMP_IN_FUTURE' },
      { sensorId: 'current', reason: 'TIMESTAMP_IN_FUTURE' },
    ]);
  });

  test('accepts small clock lead', () => {
    const result = normalizeTelemetry(message(NOW + MAX_CLOCK_AHEAD_MS, { temperature: 21 }), RECEIVED_AT, NOW);

    expect(result.dropped).toEqual([]);
    expect(result.readings).toHaveLength(1);
  });

  test('drops readings older than 7 days', () => {
    const tooOld = normalizeTelemetry(message(NOW - MAX_READING_AGE_MS - 1, { temperature: 21 }), RECEIVED_AT, NOW);
    const oldest = normalizeTelemetry(message(NOW - MAX_READING_AGE_MS, { temperature: 21 }), RECEIVED_AT, NOW);

    expect(MAX_READING_AGE_MS).toBe(7 * 24 * 60 * 60 * 1000);
    expect(tooOld.dropped).toEqual([{ sensorId: 'temperature', reason: 'TIMESTAMP_TOO_OLD' }]);
    expect(oldest.readings).toHaveLength(1);
  });

  test('drops unsynchronized clock at epoch', () => {
    const result = normalizeTelemetry(message(0, { temperature: 21 }), RECEIVED_AT, NOW);

    expect(result.dropped).toEqual([{ sensorId: 'temperature', reason: 'TIMESTAMP_TOO_OLD' }]);
  });

  test.each([
    ['negative', -1],
    ['fractional', NOW + 0.5],
    ['string', '1764892860000'],
    ['missing', undefined],
  ])('drops %s timestamp', (_name, timestamp) => {
    const result = normalizeTelemetry(message(timestamp as number, { temperature: 21 }), RECEIVED_AT, NOW);

    expect(result.readings).toEqual([]);
    expect(result.dropped).toEqual([{ sensorId: 'temperature', reason: 'INVALID_TIMESTAMP' }]);
  });

  test('drops invalid sensor ids', () => {
    const result = normalizeTelemetry(message(NOW, { 'bad id': 1, ['x'.repeat(33)]: 2, 'ok_id-1': 3 }), RECEIVED_AT, NOW);

    expect(result.readings.map((reading) => reading.sensorId)).toEqual(['ok_id-1']);
    expect(result.dropped.map((dropped) => dropped.reason)).toEqual(['INVALID_SENSOR_ID', 'INVALID_SENSOR_ID']);
  });

  test.each([
    ['null', null],
    ['array', [21]],
    ['number', 21],
  ])('rejects readings that are %s', (_name, readings) => {
    const result = normalizeTelemetry({ timestamp: NOW, readings } as unknown as TelemetryMessage, RECEIVED_AT, NOW);

    expect(result.readings).toEqual([]);
    expect(result.dropped).toEqual([{ reason: 'INVALID_READINGS' }]);
  });

  test('rejects non-finite processing time', () => {
    expect(() => normalizeTelemetry(message(NOW, { temperature: 1 }), RECEIVED_AT, NaN)).toThrow(TypeError);
    expect(() => normalizeTelemetry(message(NOW, { temperature: 1 }), Infinity, NOW)).toThrow(TypeError);
  });
});

describe('accumulateEnergy', () => {
  const T0 = 1764892860000;
  const MINUTE = 60_000;

  function run(totals: (number | null)[]): { states: (EnergyState | undefined)[]; events: string[]; deltas: number[] } {
    let state: EnergyState | undefined;
    const states: (EnergyState | undefined)[] = [];
    const events: string[] = [];
    const deltas: number[] = [];
    totals.forEach((energyKwh, i) => {
      const update = accumulateEnergy(state, { energyKwh, timestamp: T0 + i * MINUTE });
      state = update.state;
      states.push(state);
      events.push(update.event);
      deltas.push(update.deltaKwh);
    });
    return { states, events, deltas };
  }

  test('first reading sets baseline', () => {
    const update = accumulateEnergy(undefined, { energyKwh: 1520.4, timestamp: T0 });

    expect(update).toEqual({
      state: { lastMeterKwh: 1520.4, consumedKwh: 0, resets: 0, updatedAt: T0 },
      deltaKwh: 0,
      event: 'FIRST',
    });
  });

  test('keeps running total', () => {
    const { states, events, deltas } = run([1520.0, 1520.1, 1520.4, 1520.4, 1521.5]);

    expect(events).toEqual(['FIRST', 'INCREASE', 'INCREASE', 'INCREASE', 'INCREASE']);
    expect(deltas).toEqual([0, 0.1, 0.3, 0, 1.1]);
    expect(states[4]).toEqual({ lastMeterKwh: 1521.5, consumedKwh: 1.5, resets: 0, updatedAt: T0 + 4 * MINUTE });
  });

  test('counts reset as new consumption', () => {
    const meter = example('energy-status', 'meter.json') as { energyKwh: number; timestamp: number };
    const afterReset = example('energy-status', 'after-meter-reset.json') as { energyKwh: number; timestamp: number };
    expect(validateContract('energy-status', meter).valid).toBe(true);
    expect(validateContract('energy-status', afterReset).valid).toBe(true);

    const first = accumulateEnergy(undefined, meter);
    const reset = accumulateEnergy(first.state, afterReset);

    expect(reset.event).toBe('RESET');
    expect(reset.deltaKwh).toBe(0.3);
    expect(reset.state).toEqual({ lastMeterKwh: 0.3, consumedKwh: 0.3, resets: 1, updatedAt: afterReset.timestamp });
  });

  test('total never decreases', () => {
    const { states, deltas } = run([1520.4, 1520.9, 0.3, 0.5, 0, 0.2, 12, 11.9, 12.4]);

    expect(deltas.every((delta) => delta >= 0)).toBe(true);
    const totals = states.map((state) => state!.consumedKwh);
    for (let i = 1; i < totals.length; i++) {
      expect(totals[i]).toBeGreaterThanOrEqual(totals[i - 1]);
    }
    // 0.5 + 0.3 (reset) + 0.2 + 0 (reset to 0) + 0.2 + 11.8 + 11.9 (reset) + 0.5
    expect(states[8]!.consumedKwh).toBe(25.4);
    expect(states[8]!.resets).toBe(3);
  });

  test('stores null as missing', () => {
    const first = accumulateEnergy(undefined, { energyKwh: 10, timestamp: T0 });
    const missing = accumulateEnergy(first.state, { energyKwh: null, timestamp: T0 + MINUTE });
    const next = accumulateEnergy(missing.state, { energyKwh: 10.5, timestamp: T0 + 2 * MINUTE });

    expect(missing.event).toBe('MISSING');
    expect(missing.deltaKwh).toBe(0);
    expect(missing.state).toBe(first.state);
    expect(next.event).toBe('INCREASE');
    expect(next.deltaKwh).toBe(0.5);
  });

  test('null before first reading', () => {
    const payload = example('energy-status', 'missing-meter-reading.json') as { energyKwh: null; timestamp: number };
    expect(validateContract('energy-status', payload).valid).toBe(true);

    expect(accumulateEnergy(undefined, payload)).toEqual({ state: undefined, deltaKwh: 0, event: 'MISSING' });
  });

  test('ignores out-of-order reading', () => {
    const first = accumulateEnergy(undefined, { energyKwh: 100, timestamp: T0 + 2 * MINUTE });
    const older = accumulateEnergy(first.state, { energyKwh: 99.5, timestamp: T0 + MINUTE });

    expect(older.event).toBe('STALE');
    expect(older.deltaKwh).toBe(0);
    expect(older.state).toBe(first.state);
    expect(older.state!.resets).toBe(0);
  });

  test('ignores redelivered reading', () => {
    const first = accumulateEnergy(undefined, { energyKwh: 100, timestamp: T0 });
    const second = accumulateEnergy(first.state, { energyKwh: 100.2, timestamp: T0 + MINUTE });
    const redelivered = accumulateEnergy(second.state, { energyKwh: 100.2, timestamp: T0 + MINUTE });

    expect(redelivered.event).toBe('STALE');
    expect(redelivered.state!.consumedKwh).toBe(0.2);
  });

  test('does not change previous state', () => {
    const previous: EnergyState = Object.freeze({ lastMeterKwh: 5, consumedKwh: 1, resets: 0, updatedAt: T0 });

    const update = accumulateEnergy(previous, { energyKwh: 6, timestamp: T0 + MINUTE });

    expect(update.state!.consumedKwh).toBe(2);
    expect(previous).toEqual({ lastMeterKwh: 5, consumedKwh: 1, resets: 0, updatedAt: T0 });
  });

  test.each([
    ['negative total', -4, T0],
    ['NaN total', NaN, T0],
    ['infinite total', Infinity, T0],
    ['string total', '5', T0],
    ['fractional timestamp', 5, T0 + 0.5],
    ['negative timestamp', 5, -1],
  ])('rejects %s', (_name, energyKwh, timestamp) => {
    expect(() => accumulateEnergy(undefined, { energyKwh: energyKwh as number, timestamp })).toThrow(EnergyReadingInvalidError);
  });

  test('error has stable name', () => {
    let caught: unknown;
    try {
      accumulateEnergy(undefined, { energyKwh: -1, timestamp: T0 });
    } catch (error) {
      caught = error;
    }

    expect((caught as Error).name).toBe('EnergyReadingInvalidError');
    expect((caught as Error).message).toContain('-1');
  });
});
