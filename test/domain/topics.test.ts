import { DeviceMessageKind, parseDeviceTopic, Topics } from '../../src/domain/topics';

const THING_NAME = 'sh-SH-ESP32-000123';

describe('Topics', () => {
  test.each([
    ['capabilities', 'iot/capabilities/sh-SH-ESP32-000123'],
    ['telemetry', 'iot/telemetry/sh-SH-ESP32-000123'],
    ['energyStatus', 'iot/status/sh-SH-ESP32-000123/energy'],
    ['relayStatus', 'iot/status/sh-SH-ESP32-000123/relay'],
    ['relayControl', 'iot/control/sh-SH-ESP32-000123/relay'],
    ['resetControl', 'iot/control/sh-SH-ESP32-000123/reset'],
  ] as const)('%s builds %s', (name, expected) => {
    expect(Topics[name](THING_NAME)).toBe(expected);
  });
});

describe('parseDeviceTopic', () => {
  test.each([
    [Topics.capabilities(THING_NAME), 'capabilities'],
    [Topics.telemetry(THING_NAME), 'telemetry'],
    [Topics.energyStatus(THING_NAME), 'energy-status'],
    [Topics.relayStatus(THING_NAME), 'relay-status'],
  ] as [string, DeviceMessageKind][])('parses %s as %s', (topic, kind) => {
    expect(parseDeviceTopic(topic)).toEqual({ kind, thingName: THING_NAME });
  });

  test.each([
    'iot/telemetry/+',
    'iot/telemetry/#',
    'iot/status/+/relay',
    'iot/status/#',
    'iot/capabilities/sh-+',
    'iot/telemetry/sh-#',
  ])('rejects wildcard topic %s', (topic) => {
    expect(parseDeviceTopic(topic)).toBeUndefined();
  });

  test.each([
    `iot/telemetry/${THING_NAME}/extra`,
    `iot/capabilities/${THING_NAME}/`,
    `iot/status/${THING_NAME}/relay/extra`,
    `iot/status/${THING_NAME}/extra/energy`,
    `iot/status/${THING_NAME}`,
    'iot/telemetry/',
    'iot/status//relay',
  ])('rejects topic with wrong levels %s', (topic) => {
    expect(parseDeviceTopic(topic)).toBeUndefined();
  });

  test.each([
    `/iot/telemetry/${THING_NAME}`,
    `other/telemetry/${THING_NAME}`,
    `IOT/telemetry/${THING_NAME}`,
    `$aws/things/${THING_NAME}/jobs/get`,
    `$aws/events/presence/connected/${THING_NAME}`,
    `iot/status/${THING_NAME}/temperature`,
  ])('rejects topic outside the contract %s', (topic) => {
    expect(parseDeviceTopic(topic)).toBeUndefined();
  });

  test.each([
    Topics.relayControl(THING_NAME),
    Topics.resetControl(THING_NAME),
  ])('rejects cloud-to-device topic %s', (topic) => {
    expect(parseDeviceTopic(topic)).toBeUndefined();
  });
});
