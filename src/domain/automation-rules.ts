import { createHash, randomBytes } from 'node:crypto';
import { ANOMALY_KINDS, AnomalyKind, AnomalySeverity } from './anomaly-detector';
import { COMPONENT_ID_PATTERN, MAX_THING_NAME_LENGTH } from './identity';
import { RelayState } from './relay-commands';

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/** Cooldown of a rule that does not set one, in seconds. */
export const DEFAULT_COOLDOWN_SECONDS = 300;

/** Minimum cooldown, in seconds, so that a flapping condition cannot switch a relay every few seconds. */
export const MIN_COOLDOWN_SECONDS = 60;

/** Maximum cooldown, in seconds (7 days). */
export const MAX_COOLDOWN_SECONDS = 7 * 24 * 3600;

/** Maximum length of a rule's name. */
export const MAX_RULE_NAME_LENGTH = 64;

/** Minutes in a day; schedule minutes run from 0 to this value minus one. */
export const MINUTES_PER_DAY = 24 * 60;

/** Earlier alerts of the same kind on the same sensor within {@link ESCALATION_WINDOW_MS} that raise the severity by one level. */
export const REPEATS_PER_ESCALATION = 2;

/** Time before an anomaly in which earlier alerts count as repeats, in milliseconds. */
export const ESCALATION_WINDOW_MS = 60 * 60 * 1000;

/**
 * Maximum age of a reading that may fire a READING rule, at processing time, in milliseconds.
 * A device that reconnects sends its buffered readings late, and a rule switches relays for the
 * home as it is now, so older readings are stored but fire no rule.
 */
export const MAX_TRIGGER_READING_AGE_MS = 10 * 60 * 1000;

/** Pattern of an AWS IoT thing name, the id of a device. */
const THING_NAME_PATTERN = new RegExp(`^[A-Za-z0-9:_-]{1,${MAX_THING_NAME_LENGTH}}$`);

/** Pattern of a rule id: `rule-` followed by 16 base64url characters. */
export const RULE_ID_PATTERN = /^rule-[A-Za-z0-9_-]{16}$/;

/** Random bytes in a rule id: 12 bytes are 96 bits and 16 base64url characters. */
const RULE_ID_RANDOM_BYTES = 12;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** Source of the events that a rule watches: anomalies that the detector reports, or sensor readings. */
export type RuleConditionSource = 'ANOMALY' | 'READING';

/** Comparison of a reading with a rule's threshold: greater than or less than. */
export type ComparisonOperator = 'GT' | 'LT';

/** The event on one device that fires a rule. */
export interface RuleCondition {
  readonly deviceId: string;
  readonly source: RuleConditionSource;
  /** ANOMALY only: the kind that fires the rule; any kind when absent. */
  readonly anomalyKind?: AnomalyKind;
  /** The sensor whose anomalies or readings fire the rule. Required for READING; any sensor when absent for ANOMALY. */
  readonly sensorId?: string;
  /** READING only: how the reading is compared with the threshold. */
  readonly operator?: ComparisonOperator;
  /** READING only: the threshold, in the sensor's unit. */
  readonly threshold?: number;
}

/** The relay that a rule switches, and to which state. */
export interface RuleAction {
  readonly deviceId: string;
  readonly relay: string;
  readonly state: RelayState;
}

/**
 * A daily window in local time. Minutes count from local midnight, the window includes
 * `startMinute` and excludes `endMinute`, and a window whose end is before its start crosses
 * midnight.
 */
export interface RuleSchedule {
  readonly startMinute: number;
  readonly endMinute: number;
  /** IANA time zone name, such as `Europe/Berlin`. */
  readonly timeZone: string;
}

/** The part of a rule that its owner sets. */
export interface RuleDefinition {
  readonly name: string;
  readonly enabled: boolean;
  readonly condition: RuleCondition;
  readonly action: RuleAction;
  /** Window in which the rule may fire; it may fire at any time when absent. */
  readonly schedule?: RuleSchedule;
  /** Time after firing during which the rule does not fire again, in seconds. */
  readonly cooldownSeconds: number;
}

/** A stored rule, keyed by `ownerId` and `ruleId`. */
export interface AutomationRule extends RuleDefinition {
  readonly ruleId: string;
  readonly ownerId: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  /** Epoch milliseconds. */
  readonly updatedAt: number;
  /** Time the rule last fired, in epoch milliseconds; absent until it fires. */
  readonly lastFiredAt?: number;
}

/** Something that happened on a device, tested against rule conditions. */
export type RuleObservation =
  | { readonly source: 'ANOMALY'; readonly deviceId: string; readonly anomalyKind: AnomalyKind; readonly sensorId: string }
  | { readonly source: 'READING'; readonly deviceId: string; readonly sensorId: string; readonly value: number | null };

/**
 * Detail of an Automation Rule Triggered event (contract/schemas/automation-rule-triggered.schema.json):
 * a telemetry reading crossed the threshold of a READING rule inside its schedule window.
 */
export interface AutomationRuleTriggeredDetail {
  /** The device that sent the reading, the rule's condition device. */
  readonly thingName: string;
  /** Owner of the rule. */
  readonly ownerId: string;
  readonly ruleId: string;
  readonly reading: {
    readonly sensorId: string;
    readonly value: number;
    /** Device time of the reading, epoch ms. */
    readonly timestamp: number;
  };
  /** The rule's comparison when the reading fired it. The workflow reads the rule again before it fires. */
  readonly condition: { readonly operator: ComparisonOperator; readonly threshold: number };
  /** Same for every delivery of the same reading and rule. */
  readonly dedupKey: string;
}

/** Thrown for a rule definition that is invalid; `field` is the path of the invalid field, such as `condition.threshold`. */
export class AutomationRuleInvalidError extends Error {
  public override readonly name = 'AutomationRuleInvalidError';

  constructor(public readonly field: string, message: string) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/**
 * Checks a rule definition as the API receives it and returns it normalized: the name trimmed,
 * `enabled` true and `cooldownSeconds` {@link DEFAULT_COOLDOWN_SECONDS} when absent, the time
 * zone in its canonical spelling, and null optional fields left out.
 *
 * @throws AutomationRuleInvalidError naming the first invalid field, its value and the fix
 */
export function parseRuleDefinition(input: unknown): RuleDefinition {
  const rule = requireObject(input, 'rule');

  const name = rule.name;
  if (typeof name !== 'string' || name.trim().length === 0 || name.trim().length > MAX_RULE_NAME_LENGTH) {
    throw invalid('name', name, `expected 1 to ${MAX_RULE_NAME_LENGTH} characters, such as "Heater off on over-current".`);
  }
  const enabled = rule.enabled ?? true;
  if (typeof enabled !== 'boolean') {
    throw invalid('enabled', enabled, 'expected true or false.');
  }

  const cooldownSeconds = rule.cooldownSeconds ?? DEFAULT_COOLDOWN_SECONDS;
  if (!Number.isInteger(cooldownSeconds) || cooldownSeconds < MIN_COOLDOWN_SECONDS || cooldownSeconds > MAX_COOLDOWN_SECONDS) {
    throw invalid('cooldownSeconds', cooldownSeconds,
      `expected a whole number of seconds from ${MIN_COOLDOWN_SECONDS} to ${MAX_COOLDOWN_SECONDS}; leave it out for ${DEFAULT_COOLDOWN_SECONDS}.`);
  }

  const schedule = rule.schedule === undefined || rule.schedule === null ? undefined : parseSchedule(rule.schedule);
  return {
    name: name.trim(),
    enabled,
    condition: parseCondition(rule.condition),
    action: parseAction(rule.action),
    ...(schedule ? { schedule } : {}),
    cooldownSeconds,
  };
}

function parseCondition(input: unknown): RuleCondition {
  const condition = requireObject(input, 'condition');
  const deviceId = parseThingName(condition.deviceId, 'condition.deviceId');
  const source = condition.source;

  if (source === 'ANOMALY') {
    for (const field of ['operator', 'threshold'] as const) {
      if (present(condition[field])) {
        throw invalid(`condition.${field}`, condition[field], 'ANOMALY conditions have no threshold; remove operator and threshold, or use source READING.');
      }
    }
    const anomalyKind = condition.anomalyKind;
    if (present(anomalyKind) && !ANOMALY_KINDS.includes(anomalyKind as AnomalyKind)) {
      throw invalid('condition.anomalyKind', anomalyKind, `expected one of ${ANOMALY_KINDS.join(', ')}, or leave it out to match any kind.`);
    }
    const sensorId = present(condition.sensorId) ? parseComponentId(condition.sensorId, 'condition.sensorId', 'temperature') : undefined;
    return {
      deviceId,
      source,
      ...(present(anomalyKind) ? { anomalyKind: anomalyKind as AnomalyKind } : {}),
      ...(sensorId ? { sensorId } : {}),
    };
  }

  if (source === 'READING') {
    if (present(condition.anomalyKind)) {
      throw invalid('condition.anomalyKind', condition.anomalyKind, 'READING conditions compare readings with a threshold; remove anomalyKind, or use source ANOMALY.');
    }
    if (!present(condition.sensorId)) {
      throw invalid('condition.sensorId', condition.sensorId, 'READING conditions need the id of the sensor whose readings they compare, such as temperature.');
    }
    const sensorId = parseComponentId(condition.sensorId, 'condition.sensorId', 'temperature');
    const operator = condition.operator;
    if (operator !== 'GT' && operator !== 'LT') {
      throw invalid('condition.operator', operator, 'READING conditions need GT (fires above the threshold) or LT (fires below it).');
    }
    const threshold = condition.threshold;
    if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
      throw invalid('condition.threshold', threshold, 'READING conditions need a finite number in the sensor\'s unit, such as 30.5.');
    }
    return { deviceId, source, sensorId, operator, threshold };
  }

  throw invalid('condition.source', source, 'expected ANOMALY or READING.');
}

function parseAction(input: unknown): RuleAction {
  const action = requireObject(input, 'action');
  const deviceId = parseThingName(action.deviceId, 'action.deviceId');
  const relay = parseComponentId(action.relay, 'action.relay', 'relay1');
  const state = action.state;
  if (state !== 'ON' && state !== 'OFF') {
    throw invalid('action.state', state, 'expected ON or OFF.');
  }
  return { deviceId, relay, state };
}

function parseSchedule(input: unknown): RuleSchedule {
  const schedule = requireObject(input, 'schedule');
  for (const field of ['startMinute', 'endMinute'] as const) {
    const minute = schedule[field];
    if (!Number.isInteger(minute) || minute < 0 || minute >= MINUTES_PER_DAY) {
      throw invalid(`schedule.${field}`, minute, `expected a whole number of minutes after local midnight from 0 to ${MINUTES_PER_DAY - 1}, such as 1320 for 22:00.`);
    }
  }
  if (schedule.startMinute === schedule.endMinute) {
    throw invalid('schedule.endMinute', schedule.endMinute, 'a window that starts and ends at the same minute is empty; leave schedule out for a rule that may fire at any time.');
  }
  return { startMinute: schedule.startMinute, endMinute: schedule.endMinute, timeZone: canonicalTimeZone(schedule.timeZone) };
}

/** Returns the canonical spelling of an IANA time zone name; throws AutomationRuleInvalidError for an unknown zone. */
function canonicalTimeZone(timeZone: unknown): string {
  if (typeof timeZone !== 'string' || timeZone.length === 0 || timeZone.length > 64) {
    throw invalid('schedule.timeZone', timeZone, 'expected an IANA time zone name, such as Europe/Berlin or UTC.');
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
  } catch {
    throw invalid('schedule.timeZone', timeZone, 'the time zone is unknown; expected an IANA time zone name, such as Europe/Berlin or UTC.');
  }
}

function parseThingName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !THING_NAME_PATTERN.test(value)) {
    throw invalid(field, value, `expected a device id (thing name) of 1 to ${MAX_THING_NAME_LENGTH} letters, digits, ':', '_' or '-'.`);
  }
  return value;
}

function parseComponentId(value: unknown, field: string, example: string): string {
  if (typeof value !== 'string' || !COMPONENT_ID_PATTERN.test(value)) {
    throw invalid(field, value, `expected 1 to 32 letters, digits, '_' or '-', such as ${example}.`);
  }
  return value;
}

function requireObject(value: unknown, field: string): Record<string, any> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(field, value, 'expected an object.');
  }
  return value as Record<string, any>;
}

/** GraphQL passes an optional input field that the client left out as null or not at all. */
function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function invalid(field: string, value: unknown, fix: string): AutomationRuleInvalidError {
  const shown = value === undefined ? 'missing' : JSON.stringify(value);
  return new AutomationRuleInvalidError(field, `Invalid automation rule: ${field} is ${shown}; ${fix}`);
}

// ---------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------

/**
 * Returns whether an observation fires a condition. The device and source must be the same.
 * ANOMALY conditions also compare the kind and sensor when they name one. READING conditions
 * compare the named sensor's value with the threshold, strictly, and a missing value never fires.
 */
export function matchesCondition(condition: RuleCondition, observation: RuleObservation): boolean {
  if (condition.deviceId !== observation.deviceId || condition.source !== observation.source) {
    return false;
  }
  if (observation.source === 'ANOMALY') {
    const kindMatches = condition.anomalyKind === undefined || condition.anomalyKind === observation.anomalyKind;
    const sensorMatches = condition.sensorId === undefined || condition.sensorId === observation.sensorId;
    return kindMatches && sensorMatches;
  }
  if (condition.sensorId !== observation.sensorId || observation.value === null || condition.threshold === undefined) {
    return false;
  }
  return condition.operator === 'GT' ? observation.value > condition.threshold : observation.value < condition.threshold;
}

/** Returns the minute of the local day, 0 to 1439, at an instant in a time zone. */
export function minuteOfDay(epochMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', minute: 'numeric', hourCycle: 'h23' }).formatToParts(new Date(epochMs));
  const hour = Number(parts.find((part) => part.type === 'hour')?.value);
  const minute = Number(parts.find((part) => part.type === 'minute')?.value);
  return hour * 60 + minute;
}

/**
 * Returns whether an instant falls in a rule's daily window, in the window's local time, so the
 * window follows daylight saving time changes. A rule without a schedule may fire at any time.
 */
export function isWithinSchedule(schedule: RuleSchedule | undefined, epochMs: number): boolean {
  if (!schedule) {
    return true;
  }
  const minute = minuteOfDay(epochMs, schedule.timeZone);
  if (schedule.startMinute < schedule.endMinute) {
    return minute >= schedule.startMinute && minute < schedule.endMinute;
  }
  // The window crosses midnight: it runs from the start to midnight and from midnight to the end.
  return minute >= schedule.startMinute || minute < schedule.endMinute;
}

/** Returns whether a rule that last fired at `lastFiredAt` is still in its cooldown at `now`; both in epoch ms. */
export function isCoolingDown(lastFiredAt: number | undefined, cooldownSeconds: number, now: number): boolean {
  return lastFiredAt !== undefined && now < lastFiredAt + cooldownSeconds * 1000;
}

/**
 * Returns the rules that a telemetry reading fires at processing time `now`: enabled READING
 * rules whose condition matches the reading, whose schedule window contains the reading's
 * device time, and that are not in their cooldown. A reading older than
 * {@link MAX_TRIGGER_READING_AGE_MS} fires no rule.
 */
export function rulesFiredByReading(
  rules: readonly AutomationRule[],
  reading: { readonly deviceId: string; readonly sensorId: string; readonly value: number | null; readonly timestamp: number },
  now: number,
): AutomationRule[] {
  if (reading.timestamp < now - MAX_TRIGGER_READING_AGE_MS) {
    return [];
  }
  const observation: RuleObservation = { source: 'READING', deviceId: reading.deviceId, sensorId: reading.sensorId, value: reading.value };
  return rules.filter((rule) => rule.enabled
    && matchesCondition(rule.condition, observation)
    && isWithinSchedule(rule.schedule, reading.timestamp)
    && !isCoolingDown(rule.lastFiredAt, rule.cooldownSeconds, now));
}

/**
 * Returns the deduplication key of an Automation Rule Triggered event. It depends only on the
 * device, rule, sensor and reading time, so every delivery of the same telemetry message yields
 * the same key and the workflow fires the rule once for it.
 */
export function readingTriggerDedupKey(thingName: string, ruleId: string, sensorId: string, timestamp: number): string {
  return createHash('sha256').update(`${thingName}|READING|${ruleId}|${sensorId}|${timestamp}`).digest('hex');
}

/** Returns the devices that a rule reads or switches, without repeats. */
export function referencedDevices(rule: Pick<RuleDefinition, 'condition' | 'action'>): string[] {
  return [...new Set([rule.condition.deviceId, rule.action.deviceId])];
}

// ---------------------------------------------------------------------------------------------
// Ids and severity
// ---------------------------------------------------------------------------------------------

/** Generates a rule id: `rule-` followed by 16 random base64url characters. */
export function newRuleId(): string {
  return `rule-${randomBytes(RULE_ID_RANDOM_BYTES).toString('base64url')}`;
}

/**
 * Returns the command id of the relay command that a rule sends for one event. It is derived
 * from the event's deduplication key and the rule id, in the form of newCommandId, so a repeated
 * event produces the same command id and the relay command workflow runs the command once.
 */
export function automationCommandId(dedupKey: string, ruleId: string): string {
  return `cmd-${createHash('sha256').update(`${dedupKey}|${ruleId}`).digest('base64url').slice(0, 24)}`;
}

const SEVERITY_LEVELS: readonly AnomalySeverity[] = ['LOW', 'MEDIUM', 'HIGH'];

/**
 * Classifies an anomaly for alerting. OVER_CURRENT is always HIGH, because the load draws more
 * than the relay or circuit allows. Other kinds start at the detector's severity and rise by one
 * level for every {@link REPEATS_PER_ESCALATION} earlier alerts of the same kind on the same
 * sensor within {@link ESCALATION_WINDOW_MS}, up to HIGH.
 *
 * @param earlierAlerts alerts of the same kind on the same sensor and device in the escalation window, without this one
 */
export function classifySeverity(kind: AnomalyKind, detectorSeverity: AnomalySeverity, earlierAlerts: number): AnomalySeverity {
  if (kind === 'OVER_CURRENT') {
    return 'HIGH';
  }
  const start = Math.max(0, SEVERITY_LEVELS.indexOf(detectorSeverity));
  const escalations = Math.floor(Math.max(0, earlierAlerts) / REPEATS_PER_ESCALATION);
  return SEVERITY_LEVELS[Math.min(SEVERITY_LEVELS.length - 1, start + escalations)];
}
