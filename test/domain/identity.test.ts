import { COMPONENT_ID_PATTERN, DEFAULT_SERIAL_PATTERN, MAX_THING_NAME_LENGTH, serialOf, THING_NAME_PREFIX_PATTERN, thingNameFor } from '../../src/domain/identity';

describe('thingNameFor', () => {
  test('joins prefix and serial', () => {
    expect(thingNameFor('sh-', 'SH-ESP32-000123')).toBe('sh-SH-ESP32-000123');
  });

  test('returns the serial for an empty prefix', () => {
    expect(thingNameFor('', 'SH-ESP32-000123')).toBe('SH-ESP32-000123');
  });

  test('fits the longest prefix and serial', () => {
    const thingName = thingNameFor('p'.repeat(63), 's'.repeat(64));

    expect(thingName.length).toBeLessThanOrEqual(MAX_THING_NAME_LENGTH);
  });
});

describe('serialOf', () => {
  test('returns the serial after the prefix', () => {
    expect(serialOf('sh-', 'sh-SH-ESP32-000123')).toBe('SH-ESP32-000123');
  });

  test('reverses thingNameFor', () => {
    const thingName = thingNameFor('home-', 'SH-ESP32-000123');

    expect(serialOf('home-', thingName)).toBe('SH-ESP32-000123');
  });

  test('returns undefined for another prefix', () => {
    expect(serialOf('home-', 'sh-SH-ESP32-000123')).toBeUndefined();
  });

  test('returns undefined for the bare prefix', () => {
    expect(serialOf('sh-', 'sh-')).toBeUndefined();
  });

  test('is case-sensitive', () => {
    expect(serialOf('sh-', 'SH-SH-ESP32-000123')).toBeUndefined();
  });

  test('returns the whole name for an empty prefix', () => {
    expect(serialOf('', 'SH-ESP32-000123')).toBe('SH-ESP32-000123');
  });

  test('returns undefined for an empty name', () => {
    expect(serialOf('', '')).toBeUndefined();
  });
});

describe('DEFAULT_SERIAL_PATTERN', () => {
  const pattern = new RegExp(DEFAULT_SERIAL_PATTERN);

  test.each(['SH-ESP32-000123', 'a', 'A_b-9', 's'.repeat(64)])('accepts %s', (serial) => {
    expect(pattern.test(serial)).toBe(true);
  });

  test.each(['', 's'.repeat(65), 'SH/ESP32', 'SH+1', 'SH#1', 'SH 1', 'SH:1', 'SH.1'])('rejects %j', (serial) => {
    expect(pattern.test(serial)).toBe(false);
  });
});

describe('THING_NAME_PREFIX_PATTERN', () => {
  test.each(['', 'sh-', 'home:dev_', 'p'.repeat(63)])('accepts %j', (prefix) => {
    expect(THING_NAME_PREFIX_PATTERN.test(prefix)).toBe(true);
  });

  test.each(['sh/', 'sh+', 'sh#', 'sh ', 'p'.repeat(64), '$aws'])('rejects %j', (prefix) => {
    expect(THING_NAME_PREFIX_PATTERN.test(prefix)).toBe(false);
  });
});

describe('COMPONENT_ID_PATTERN', () => {
  test.each(['relay1', 'temperature', 'r_2-b', 'x'.repeat(32)])('accepts %s', (id) => {
    expect(COMPONENT_ID_PATTERN.test(id)).toBe(true);
  });

  test.each(['', 'relay/1', 'relay 1', 'x'.repeat(33)])('rejects %j', (id) => {
    expect(COMPONENT_ID_PATTERN.test(id)).toBe(false);
  });
});
