import * as fs from 'node:fs';
import * as path from 'node:path';
import { PlatformEventSource, PlatformEventType } from '../../src/events/event-contracts';
import { DeviceMessageKind, MalformedRuleOutputError, toPlatformEvent } from '../../src/iot/private/device-message';

const EVENT_BUS_NAME = 'platform-bus';
const THING_NAME = 'sh-SH-ESP32-000123';
const RECEIVED_AT = 1764892860123;
const MAX_PAYLOAD_BYTES = 128 * 1024;
const EXAMPLES_DIR = path.resolve(__dirname, '..', '..', 'contract', 'examples');

function example(kind: string, outcome: 'valid' | 'invalid', file: string): string {
  return fs.readFileSync(path.join(EXAMPLES_DIR, kind, outcome, file), 'utf8');
}

/** Builds the queue message body that a device topic rule writes for a raw MQTT payload. */
function deviceBody(kind: string, payload: string | Buffer, thingName = THING_NAME): string {
  return JSON.stringify({ kind, thingName, receivedAt: RECEIVED_AT, payload: Buffer.from(payload).toString('base64') });
}

function presenceBody(eventType: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    kind: 'presence',
    thingName: THING_NAME,
    receivedAt: RECEIVED_AT,
    eventType,
    timestamp: 1764892860000,
    versionNumber: 3,
    sessionIdentifier: '00000000-0000-0000-0000-000000000000',
    ...extra,
  });
}

function detailOf(body: string): Record<string, unknown> {
  return JSON.parse(toPlatformEvent(body, EVENT_BUS_NAME).Detail);
}

const DEVICE_KINDS: [DeviceMessageKind, string, string][] = [
  ['capabilities', 'two-relays.json', PlatformEventType.DEVICE_CAPABILITIES_REPORTED],
  ['relay-status', 'acknowledgement.json', PlatformEventType.RELAY_STATE_REPORTED],
  ['energy-status', 'meter.json', PlatformEventType.ENERGY_STATUS_REPORTED],
  ['telemetry', 'readings.json', PlatformEventType.TELEMETRY_REPORTED],
];

describe('toPlatformEvent for device messages', () => {
  test.each(DEVICE_KINDS)('turns a valid %s payload into an event', (kind, file, detailType) => {
    const payload = example(kind, 'valid', file);

    const entry = toPlatformEvent(deviceBody(kind, payload), EVENT_BUS_NAME);

    expect(entry.Source).toBe(PlatformEventSource.DEVICE);
    expect(entry.DetailType).toBe(detailType);
    expect(entry.EventBusName).toBe(EVENT_BUS_NAME);
    expect(JSON.parse(entry.Detail)).toEqual({
      thingName: THING_NAME,
      receivedAt: RECEIVED_AT,
      valid: true,
      errors: [],
      message: JSON.parse(payload),
      dedupKey: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  test.each([
    ['capabilities', 'missing-model.json', "payload must have required property 'model'"],
    ['relay-status', 'unknown-state.json', '/state must be equal to one of the allowed values'],
    ['energy-status', 'negative-total.json', '/energyKwh must be >= 0'],
    ['telemetry', 'reading-is-string.json', '/readings/temperature must be number,null'],
  ])('marks an invalid %s payload with readable errors', (kind, file, error) => {
    const detail = detailOf(deviceBody(kind, example(kind, 'invalid', file)));

    expect(detail.valid).toBe(false);
    expect(detail.errors).toContain(error);
    expect(detail.message).toBeNull();
  });

  test('keeps the detail type of an invalid payload', () => {
    const entry = toPlatformEvent(deviceBody('telemetry', example('telemetry', 'invalid', 'no-readings.json')), EVENT_BUS_NAME);

    expect(entry.DetailType).toBe(PlatformEventType.TELEMETRY_REPORTED);
  });

  test('marks a non-JSON payload invalid', () => {
    const detail = detailOf(deviceBody('telemetry', '{"timestamp": 1, "readings": '));

    expect(detail).toMatchObject({ valid: false, errors: ['payload is not valid JSON'], message: null });
  });

  test('marks a binary payload invalid', () => {
    const detail = detailOf(deviceBody('telemetry', Buffer.from([0xff, 0xfe, 0x00, 0x01])));

    expect(detail).toMatchObject({ valid: false, errors: ['payload is not valid JSON'], message: null });
  });

  test('marks an oversized payload invalid', () => {
    const payload = JSON.stringify({ timestamp: 1, readings: { t: 1 } }).padEnd(MAX_PAYLOAD_BYTES + 1, ' ');

    const detail = detailOf(deviceBody('telemetry', payload));

    expect(detail).toMatchObject({ valid: false, errors: [`payload of ${MAX_PAYLOAD_BYTES + 1} bytes is larger than ${MAX_PAYLOAD_BYTES}`], message: null });
  });

  test('accepts a payload of exactly 128 KiB', () => {
    const payload = JSON.stringify({ timestamp: 1, readings: { t: 1 } }).padEnd(MAX_PAYLOAD_BYTES, ' ');

    const detail = detailOf(deviceBody('telemetry', payload));

    expect(detail).toMatchObject({ valid: true, message: { timestamp: 1, readings: { t: 1 } } });
  });

  test('marks a missing payload invalid', () => {
    const body = JSON.stringify({ kind: 'telemetry', thingName: THING_NAME, receivedAt: RECEIVED_AT });

    const detail = detailOf(body);

    expect(detail).toMatchObject({ valid: false, errors: ['payload is missing'], message: null });
  });

  test('keeps the topic thing name over the payload', () => {
    const payload = JSON.stringify({ ...JSON.parse(example('telemetry', 'valid', 'readings.json')), thingName: 'sh-SH-ESP32-999999' });

    const detail = detailOf(deviceBody('telemetry', payload));

    expect(detail.thingName).toBe(THING_NAME);
    expect(detail.valid).toBe(false);
    expect(detail.errors).toContain("payload must NOT have additional properties 'thingName'");
    expect(detail.message).toBeNull();
  });

  test('keeps the rule receivedAt over the payload', () => {
    const payload = JSON.stringify({ ...JSON.parse(example('telemetry', 'valid', 'readings.json')), receivedAt: 1 });

    const detail = detailOf(deviceBody('telemetry', payload));

    expect(detail.receivedAt).toBe(RECEIVED_AT);
  });
});

describe('toPlatformEvent dedupKey', () => {
  test('is stable for identical input', () => {
    const body = deviceBody('telemetry', example('telemetry', 'valid', 'readings.json'));

    expect(detailOf(body).dedupKey).toBe(detailOf(body).dedupKey);
  });

  test('ignores receivedAt', () => {
    const payload = example('telemetry', 'valid', 'readings.json');
    const first = JSON.parse(deviceBody('telemetry', payload));
    const redelivered = JSON.stringify({ ...first, receivedAt: RECEIVED_AT + 5000 });

    expect(detailOf(redelivered).dedupKey).toBe(detailOf(JSON.stringify(first)).dedupKey);
  });

  test('differs for different payloads', () => {
    const first = deviceBody('telemetry', example('telemetry', 'valid', 'readings.json'));
    const second = deviceBody('telemetry', example('telemetry', 'valid', 'missing-reading-is-null.json'));

    expect(detailOf(first).dedupKey).not.toBe(detailOf(second).dedupKey);
  });

  test('differs for different things', () => {
    const payload = example('telemetry', 'valid', 'readings.json');

    expect(detailOf(deviceBody('telemetry', payload, 'sh-A')).dedupKey).not.toBe(detailOf(deviceBody('telemetry', payload, 'sh-B')).dedupKey);
  });

  test('differs for different kinds', () => {
    const payload = '{}';

    expect(detailOf(deviceBody('telemetry', payload)).dedupKey).not.toBe(detailOf(deviceBody('energy-status', payload)).dedupKey);
  });
});

describe('toPlatformEvent for presence', () => {
  test('turns a connect into Device Connected', () => {
    const entry = toPlatformEvent(presenceBody('connected'), EVENT_BUS_NAME);

    expect(entry.Source).toBe(PlatformEventSource.DEVICE);
    expect(entry.DetailType).toBe(PlatformEventType.DEVICE_CONNECTED);
    expect(entry.EventBusName).toBe(EVENT_BUS_NAME);
    expect(JSON.parse(entry.Detail)).toEqual({
      thingName: THING_NAME,
      eventType: 'connected',
      timestamp: 1764892860000,
      versionNumber: 3,
      sessionIdentifier: '00000000-0000-0000-0000-000000000000',
      receivedAt: RECEIVED_AT,
      dedupKey: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  test('turns a disconnect into Device Disconnected', () => {
    const entry = toPlatformEvent(presenceBody('disconnected', { disconnectReason: 'MQTT_KEEP_ALIVE_TIMEOUT' }), EVENT_BUS_NAME);

    expect(entry.DetailType).toBe(PlatformEventType.DEVICE_DISCONNECTED);
    expect(JSON.parse(entry.Detail)).toMatchObject({ eventType: 'disconnected', disconnectReason: 'MQTT_KEEP_ALIVE_TIMEOUT' });
  });

  test('gives connect and disconnect different dedupKeys', () => {
    expect(detailOf(presenceBody('connected')).dedupKey).not.toBe(detailOf(presenceBody('disconnected')).dedupKey);
  });

  test('gives sessions different dedupKeys', () => {
    const first = detailOf(presenceBody('connected'));
    const second = detailOf(presenceBody('connected', { sessionIdentifier: '11111111-1111-1111-1111-111111111111' }));

    expect(first.dedupKey).not.toBe(second.dedupKey);
  });
});

describe('toPlatformEvent for malformed bodies', () => {
  test.each([
    ['text that is not JSON', 'not json'],
    ['an empty body', ''],
    ['JSON null', 'null'],
    ['a JSON string', '"iot/telemetry/sh-1"'],
    ['an array', '[]'],
    ['no thingName', JSON.stringify({ kind: 'telemetry', payload: 'e30=' })],
    ['an empty thingName', JSON.stringify({ kind: 'telemetry', thingName: '', payload: 'e30=' })],
    ['a numeric thingName', JSON.stringify({ kind: 'telemetry', thingName: 7, payload: 'e30=' })],
    ['no kind', JSON.stringify({ thingName: THING_NAME, payload: 'e30=' })],
    ['an unknown kind', JSON.stringify({ kind: 'firmware', thingName: THING_NAME, payload: 'e30=' })],
    ['an inherited kind', JSON.stringify({ kind: 'toString', thingName: THING_NAME, payload: 'e30=' })],
    ['a constructor kind', JSON.stringify({ kind: 'constructor', thingName: THING_NAME, payload: 'e30=' })],
    ['a prototype kind', JSON.stringify({ kind: '__proto__', thingName: THING_NAME, payload: 'e30=' })],
    ['a hasOwnProperty kind', JSON.stringify({ kind: 'hasOwnProperty', thingName: THING_NAME, payload: 'e30=' })],
  ])('rejects %s', (_case, body) => {
    expect(() => toPlatformEvent(body, EVENT_BUS_NAME)).toThrow(MalformedRuleOutputError);
  });

  test('names the unknown kind', () => {
    const body = JSON.stringify({ kind: 'firmware', thingName: THING_NAME, payload: 'e30=' });

    expect(() => toPlatformEvent(body, EVENT_BUS_NAME)).toThrow(/Unknown message kind 'firmware'/);
  });

  test('explains a body without thingName', () => {
    expect(() => toPlatformEvent('{}', EVENT_BUS_NAME)).toThrow(/no thingName/);
  });
});
