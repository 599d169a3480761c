import {
  AutomationRuleInvalidError,
  automationCommandId,
  classifySeverity,
  DEFAULT_COOLDOWN_SECONDS,
  isCoolingDown,
  isWithinSchedule,
  matchesCondition,
  minuteOfDay,
  newRuleId,
  parseRuleDefinition,
  referencedDevices,
  RULE_ID_PATTERN,
  RuleCondition,
} from '../../src/domain/automation-rules';
import { COMMAND_ID_PATTERN } from '../../src/domain/relay-commands';

const DEVICE = 'sh-SH-ESP32-000001';
const OTHER_DEVICE = 'sh-SH-ESP32-000002';

function definition(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'Heater off on over-current',
    condition: { deviceId: DEVICE, source: 'ANOMALY', anomalyKind: 'OVER_CURRENT' },
    action: { deviceId: DEVICE, relay: 'relay1', state: 'OFF' },
    ...overrides,
  };
}

function readingCondition(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { deviceId: DEVICE, source: 'READING', sensorId: 'temperature', operator: 'GT', threshold: 30, ...overrides };
}

/** Returns the error that parseRuleDefinition throws for an input. */
function rejectionOf(input: unknown): AutomationRuleInvalidError {
  try {
    parseRuleDefinition(input);
  } catch (error) {
    return error as AutomationRuleInvalidError;
  }
  throw new Error('parseRuleDefinition accepted the input.');
}

describe('parseRuleDefinition', () => {
  test('fills defaults', () => {
    const parsed = parseRuleDefinition(definition());

    expect(parsed.enabled).toBe(true);
    expect(parsed.cooldownSeconds).toBe(DEFAULT_COOLDOWN_SECONDS);
    expect(parsed.schedule).toBeUndefined();
    expect(parsed.condition).toEqual({ deviceId: DEVICE, source: 'ANOMALY', anomalyKind: 'OVER_CURRENT' });
  });

  test('trims name and drops null fields', () => {
    const parsed = parseRuleDefinition(definition({
      name: '  Night heater  ',
      schedule: null,
      cooldownSeconds: null,
      condition: { deviceId: DEVICE, source: 'ANOMALY', anomalyKind: null, sensorId: null, operator: null, threshold: null },
    }));

    expect(parsed.name).toBe('Night heater');
    expect(parsed.cooldownSeconds).toBe(DEFAULT_COOLDOWN_SECONDS);
    expect(parsed).not.toHaveProperty('schedule');
    expect(parsed.condition).toEqual({ deviceId: DEVICE, source: 'ANOMALY' });
  });

  test('accepts reading condition', () => {
    const parsed = parseRuleDefinition(definition({ condition: readingCondition({ operator: 'LT', threshold: -5.5 }) }));

    expect(parsed.condition).toEqual({ deviceId: DEVICE, source: 'READING', sensorId: 'temperature', operator: 'LT', threshold: -5.5 });
  });

  test('canonicalizes time zone', () => {
    const parsed = parseRuleDefinition(definition({ schedule: { startMinute: 1320, endMinute: 360, timeZone: 'europe/berlin' } }));

    expect(parsed.schedule).toEqual({ startMinute: 1320, endMinute: 360, timeZone: 'Europe/Berlin' });
  });

  test.each([
    ['input not an object', 'rule', 'not a rule', /rule is "not a rule"; expected an object/],
    ['empty name', 'name', definition({ name: '   ' }), /name is "   "; expected 1 to 64 characters/],
    ['name too long', 'name', definition({ name: 'x'.repeat(65) }), /expected 1 to 64 characters/],
    ['enabled not boolean', 'enabled', definition({ enabled: 'yes' }), /enabled is "yes"; expected true or false/],
    ['missing condition', 'condition', definition({ condition: undefined }), /condition is missing; expected an object/],
    ['bad condition device', 'condition.deviceId', definition({ condition: { deviceId: 'sh/1', source: 'ANOMALY' } }), /condition.deviceId is "sh\/1"; expected a device id/],
    ['unknown source', 'condition.source', definition({ condition: { deviceId: DEVICE, source: 'TIMER' } }), /condition.source is "TIMER"; expected ANOMALY or READING/],
    ['unknown anomaly kind', 'condition.anomalyKind', definition({ condition: { deviceId: DEVICE, source: 'ANOMALY', anomalyKind: 'FIRE' } }), /expected one of SPIKE, DRIFT, STUCK, OVER_CURRENT/],
    ['threshold on anomaly', 'condition.threshold', definition({ condition: { deviceId: DEVICE, source: 'ANOMALY', threshold: 3 } }), /ANOMALY conditions have no threshold; remove operator and threshold/],
    ['operator on anomaly', 'condition.operator', definition({ condition: { deviceId: DEVICE, source: 'ANOMALY', operator: 'GT' } }), /ANOMALY conditions have no threshold/],
    ['bad anomaly sensor', 'condition.sensorId', definition({ condition: { deviceId: DEVICE, source: 'ANOMALY', sensorId: 'temp sensor' } }), /condition.sensorId is "temp sensor"; expected 1 to 32 letters/],
    ['threshold missing for reading', 'condition.threshold', definition({ condition: readingCondition({ threshold: undefined }) }), /condition.threshold is missing; READING conditions need a finite number/],
    ['threshold not finite', 'condition.threshold', definition({ condition: readingCondition({ threshold: Number.POSITIVE_INFINITY }) }), /READING conditions need a finite number/],
    ['threshold a string', 'condition.threshold', definition({ condition: readingCondition({ threshold: '30' }) }), /condition.threshold is "30"/],
    ['operator missing for reading', 'condition.operator', definition({ condition: readingCondition({ operator: null }) }), /condition.operator is null; READING conditions need GT/],
    ['unknown operator', 'condition.operator', definition({ condition: readingCondition({ operator: 'GE' }) }), /condition.operator is "GE"/],
    ['sensor missing for reading', 'condition.sensorId', definition({ condition: readingCondition({ sensorId: undefined }) }), /READING conditions need the id of the sensor/],
    ['anomaly kind on reading', 'condition.anomalyKind', definition({ condition: readingCondition({ anomalyKind: 'SPIKE' }) }), /remove anomalyKind, or use source ANOMALY/],
    ['bad relay id', 'action.relay', definition({ action: { deviceId: DEVICE, relay: 'relay 1', state: 'OFF' } }), /action.relay is "relay 1"; expected 1 to 32 letters, digits, '_' or '-', such as relay1/],
    ['relay id too long', 'action.relay', definition({ action: { deviceId: DEVICE, relay: 'r'.repeat(33), state: 'OFF' } }), /expected 1 to 32 letters/],
    ['bad action state', 'action.state', definition({ action: { deviceId: DEVICE, relay: 'relay1', state: 'TOGGLE' } }), /action.state is "TOGGLE"; expected ON or OFF/],
    ['missing action device', 'action.deviceId', definition({ action: { relay: 'relay1', state: 'OFF' } }), /action.deviceId is missing/],
    ['start minute negative', 'schedule.startMinute', definition({ schedule: { startMinute: -1, endMinute: 60, timeZone: 'UTC' } }), /schedule.startMinute is -1; expected a whole number of minutes after local midnight from 0 to 1439/],
    ['end minute past day', 'schedule.endMinute', definition({ schedule: { startMinute: 0, endMinute: 1440, timeZone: 'UTC' } }), /schedule.endMinute is 1440/],
    ['fractional minute', 'schedule.startMinute', definition({ schedule: { startMinute: 1.5, endMinute: 60, timeZone: 'UTC' } }), /schedule.startMinute is 1.5/],
    ['empty window', 'schedule.endMinute', definition({ schedule: { startMinute: 60, endMinute: 60, timeZone: 'UTC' } }), /window that starts and ends at the same minute is empty/],
    ['unknown time zone', 'schedule.timeZone', definition({ schedule: { startMinute: 0, endMinute: 60, timeZone: 'Mars/Olympus' } }), /schedule.timeZone is "Mars\/Olympus"; the time zone is unknown/],
    ['missing time zone', 'schedule.timeZone', definition({ schedule: { startMinute: 0, endMinute: 60 } }), /schedule.timeZone is missing/],
    ['cooldown under 60 s', 'cooldownSeconds', definition({ cooldownSeconds: 59 }), /cooldownSeconds is 59; expected a whole number of seconds from 60 to 604800/],
    ['cooldown over 7 days', 'cooldownSeconds', definition({ cooldownSeconds: 604801 }), /cooldownSeconds is 604801/],
    ['cooldown fractional', 'cooldownSeconds', definition({ cooldownSeconds: 90.5 }), /cooldownSeconds is 90.5/],
  ])('rejects %s', (_case, field, input, message) => {
    const error = rejectionOf(input);

    expect(error).toBeInstanceOf(AutomationRuleInvalidError);
    expect(error.name).toBe('AutomationRuleInvalidError');
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  test('accepts cooldown bounds', () => {
    expect(parseRuleDefinition(definition({ cooldownSeconds: 60 })).cooldownSeconds).toBe(60);
    expect(parseRuleDefinition(definition({ cooldownSeconds: 604800 })).cooldownSeconds).toBe(604800);
  });
});

describe('isWithinSchedule', () => {
  // 2025-01-15 is in standard time in both zones: Berlin is UTC+1 and New York UTC-5.
  const utc = (time: string) => Date.parse(`2025-01-15T${time}:00Z`);

  test('no schedule always matches', () => {
    expect(isWithinSchedule(undefined, utc('03:00'))).toBe(true);
  });

  test.each([
    ['08:59', false],
    ['09:00', true],
    ['12:30', true],
    ['16:59', true],
    ['17:00', false],
  ])('daytime window at %s UTC is %s', (time, expected) => {
    expect(isWithinSchedule({ startMinute: 9 * 60, endMinute: 17 * 60, timeZone: 'UTC' }, utc(time))).toBe(expected);
  });

  test.each([
    ['21:59', false],
    ['22:00', true],
    ['23:59', true],
    ['00:00', true],
    ['05:59', true],
    ['06:00', false],
    ['12:00', false],
  ])('window across midnight at %s UTC is %s', (time, expected) => {
    expect(isWithinSchedule({ startMinute: 22 * 60, endMinute: 6 * 60, timeZone: 'UTC' }, utc(time))).toBe(expected);
  });

  test.each([
    // 22:00 to 06:00 in Berlin is 21:00 to 05:00 UTC in January.
    ['Europe/Berlin', '20:59', false],
    ['Europe/Berlin', '21:00', true],
    ['Europe/Berlin', '04:59', true],
    ['Europe/Berlin', '05:00', false],
    // 22:00 to 06:00 in New York is 03:00 to 11:00 UTC in January.
    ['America/New_York', '02:59', false],
    ['America/New_York', '03:00', true],
    ['America/New_York', '10:59', true],
    ['America/New_York', '11:00', false],
  ])('night window in %s at %s UTC is %s', (timeZone, time, expected) => {
    expect(isWithinSchedule({ startMinute: 22 * 60, endMinute: 6 * 60, timeZone }, utc(time))).toBe(expected);
  });

  test('follows daylight saving time', () => {
    const window = { startMinute: 7 * 60, endMinute: 8 * 60, timeZone: 'Europe/Berlin' };

    // 07:30 Berlin is 06:30 UTC in winter (UTC+1) and 05:30 UTC in summer (UTC+2).
    expect(isWithinSchedule(window, Date.parse('2025-01-15T06:30:00Z'))).toBe(true);
    expect(isWithinSchedule(window, Date.parse('2025-07-15T05:30:00Z'))).toBe(true);
    expect(isWithinSchedule(window, Date.parse('2025-07-15T06:30:00Z'))).toBe(false);
  });

  test('minuteOfDay counts from local midnight', () => {
    expect(minuteOfDay(utc('00:00'), 'UTC')).toBe(0);
    expect(minuteOfDay(utc('23:59'), 'UTC')).toBe(1439);
    expect(minuteOfDay(utc('23:30'), 'Europe/Berlin')).toBe(30);
    expect(minuteOfDay(utc('12:00'), 'Asia/Kolkata')).toBe(17 * 60 + 30);
  });
});

describe('matchesCondition', () => {
  const anomaly = { source: 'ANOMALY' as const, deviceId: DEVICE, anomalyKind: 'OVER_CURRENT' as const, sensorId: 'energy-current' };
  const reading = (value: number | null) => ({ source: 'READING' as const, deviceId: DEVICE, sensorId: 'temperature', value });

  test.each<[string, boolean, RuleCondition]>([
    ['any anomaly', true, { deviceId: DEVICE, source: 'ANOMALY' }],
    ['same kind', true, { deviceId: DEVICE, source: 'ANOMALY', anomalyKind: 'OVER_CURRENT' }],
    ['other kind', false, { deviceId: DEVICE, source: 'ANOMALY', anomalyKind: 'SPIKE' }],
    ['same sensor', true, { deviceId: DEVICE, source: 'ANOMALY', sensorId: 'energy-current' }],
    ['other sensor', false, { deviceId: DEVICE, source: 'ANOMALY', sensorId: 'temperature' }],
    ['other device', false, { deviceId: OTHER_DEVICE, source: 'ANOMALY' }],
    ['reading condition', false, { deviceId: DEVICE, source: 'READING', sensorId: 'energy-current', operator: 'GT', threshold: 1 }],
  ])('anomaly against %s is %s', (_case, expected, condition) => {
    expect(matchesCondition(condition, anomaly)).toBe(expected);
  });

  test.each<[string, boolean, RuleCondition, number | null]>([
    ['GT above', true, { deviceId: DEVICE, source: 'READING', sensorId: 'temperature', operator: 'GT', threshold: 30 }, 30.1],
    ['GT equal', false, { deviceId: DEVICE, source: 'READING', sensorId: 'temperature', operator: 'GT', threshold: 30 }, 30],
    ['GT below', false, { deviceId: DEVICE, source: 'READING', sensorId: 'temperature', operator: 'GT', threshold: 30 }, 12],
    ['LT below', true, { deviceId: DEVICE, source: 'READING', sensorId: 'temperature', operator: 'LT', threshold: 5 }, 4.9],
    ['LT equal', false, { deviceId: DEVICE, source: 'READING', sensorId: 'temperature', operator: 'LT', threshold: 5 }, 5],
    ['missing value', false, { deviceId: DEVICE, source: 'READING', sensorId: 'temperature', operator: 'LT', threshold: 5 }, null],
    ['other sensor', false, { deviceId: DEVICE, source: 'READING', sensorId: 'humidity', operator: 'GT', threshold: 0 }, 50],
    ['anomaly condition', false, { deviceId: DEVICE, source: 'ANOMALY' }, 50],
  ])('reading against %s is %s', (_case, expected, condition, value) => {
    expect(matchesCondition(condition, reading(value))).toBe(expected);
  });
});

describe('isCoolingDown', () => {
  const firedAt = 1_700_000_000_000;

  test('never fired', () => {
    expect(isCoolingDown(undefined, 300, firedAt)).toBe(false);
  });

  test('within cooldown', () => {
    expect(isCoolingDown(firedAt, 300, firedAt + 299_999)).toBe(true);
  });

  test('cooldown over', () => {
    expect(isCoolingDown(firedAt, 300, firedAt + 300_000)).toBe(false);
  });
});

describe('classifySeverity', () => {
  test.each([
    ['OVER_CURRENT', 'LOW', 0, 'HIGH'],
    ['SPIKE', 'LOW', 0, 'LOW'],
    ['SPIKE', 'LOW', 1, 'LOW'],
    ['SPIKE', 'LOW', 2, 'MEDIUM'],
    ['SPIKE', 'LOW', 4, 'HIGH'],
    ['DRIFT', 'MEDIUM', 2, 'HIGH'],
    ['STUCK', 'HIGH', 10, 'HIGH'],
    ['STUCK', 'MEDIUM', -1, 'MEDIUM'],
  ] as const)('%s from %s after %i repeats is %s', (kind, detectorSeverity, repeats, expected) => {
    expect(classifySeverity(kind, detectorSeverity, repeats)).toBe(expected);
  });
});

describe('ids', () => {
  test('rule ids match pattern and differ', () => {
    const ids = Array.from({ length: 200 }, () => newRuleId());

    for (const id of ids) {
      expect(id).toMatch(RULE_ID_PATTERN);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('command id is stable per event and rule', () => {
    const first = automationCommandId('dedup-1', 'rule-a');

    expect(first).toMatch(COMMAND_ID_PATTERN);
    expect(first).toMatch(/^cmd-[A-Za-z0-9_-]{24}$/);
    expect(automationCommandId('dedup-1', 'rule-a')).toBe(first);
    expect(automationCommandId('dedup-2', 'rule-a')).not.toBe(first);
    expect(automationCommandId('dedup-1', 'rule-b')).not.toBe(first);
  });

  test('referencedDevices drops repeats', () => {
    const rule = parseRuleDefinition(definition());

    expect(referencedDevices(rule)).toEqual([DEVICE]);
    expect(referencedDevices({ ...rule, action: { ...rule.action, deviceId: OTHER_DEVICE } })).toEqual([DEVICE, OTHER_DEVICE]);
  });
});
