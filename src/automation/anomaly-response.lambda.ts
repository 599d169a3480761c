import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { Anomaly, ANOMALY_KINDS, AnomalySeverity } from '../domain/anomaly-detector';
import {
  AutomationRule,
  AutomationRuleTriggeredDetail,
  automationCommandId,
  classifySeverity,
  ESCALATION_WINDOW_MS,
  isWithinSchedule,
  matchesCondition,
  referencedDevices,
  RuleObservation,
} from '../domain/automation-rules';
import { validateContract } from '../domain/contract-validation';
import { PlatformEventSource, PlatformEventType } from '../events/event-contracts';
import { DeviceUpdatePublisher } from '../workflows/private/device-updates';
import { InvalidRequestError, TransientDependencyError, translateSdkError } from '../workflows/private/errors';
import { idempotentHandler } from '../workflows/private/idempotency';
import { DeviceItem } from '../workflows/private/registry-items';
import { documentClient, registryTablesFromEnv } from '../workflows/private/registry-tables';
import { RelayCommandRequest } from '../workflows/private/relay-command-input';

const logger = new Logger();
const tables = registryTablesFromEnv();
const db = documentClient();
const eventBridge = new EventBridgeClient({});
const updates = new DeviceUpdatePublisher(process.env.GRAPHQL_URL);
const config = {
  alertsTable: requiredEnv('ALERTS_TABLE', "the alerts table's name"),
  rulesTable: requiredEnv('AUTOMATION_RULES_TABLE', "the automation rules table's name"),
  rulesByDeviceIndex: requiredEnv('AUTOMATION_RULES_BY_DEVICE_INDEX', "the name of the rules table's index by condition device"),
  eventBusName: requiredEnv('EVENT_BUS_NAME', "the platform event bus's name"),
  alertRetentionSeconds: Number(process.env.ALERT_RETENTION_SECONDS ?? String(90 * 24 * 3600)),
};

/** Alert kind of the record of a READING rule's trigger; anomaly kinds never take this value. */
const READING_TRIGGER_KIND = 'READING_THRESHOLD';
/** Maximum length of an SNS message subject. */
const MAX_SUBJECT_LENGTH = 100;
/** Maximum length of an error cause kept on an alert. */
const MAX_CAUSE_LENGTH = 1000;

// ---------------------------------------------------------------------------------------------
// Step inputs and outputs
// ---------------------------------------------------------------------------------------------

/** Detail of a Telemetry Anomaly Detected event, the workflow's input. */
interface AnomalyEvent {
  readonly thingName: string;
  readonly ownerId: string | null;
  readonly anomaly: Anomaly;
  readonly dedupKey: string;
}

/** Result of the classify step, at `$.classification`. */
interface Classification {
  readonly alertId: string;
  readonly severity: AnomalySeverity;
  /** Earlier alerts of the same kind on the same sensor in the escalation window. */
  readonly repeats: number;
  /** Current owner of the device from the registry, or null when the device has no owner. */
  readonly ownerId: string | null;
}

/** A rule as the workflow passes it between the steps of one rule. */
interface RuleSnapshot {
  readonly ruleId: string;
  readonly ownerId: string;
  readonly action?: AutomationRule['action'];
  readonly cooldownSeconds?: number;
  readonly updatedAt?: number;
}

/** The anomaly or reading that fired a rule, as the rule steps receive it, with its device time in epoch ms. */
type TriggerObservation = RuleObservation & { readonly at: number };

/** One rule for the Map state to fire, as the find and trigger steps return it. */
interface RuleToFire {
  readonly rule: RuleSnapshot;
  /** The alert or trigger record that receives the rule's action, skip or failure. */
  readonly alertId: string;
  readonly observation: TriggerObservation;
}

/** Reason that a matching rule did not fire. */
type SkipReason = 'OUTSIDE_SCHEDULE' | 'NOT_AUTHORIZED' | 'COOLDOWN' | 'RULE_DELETED' | 'RULE_DISABLED' | 'RULE_CHANGED';

interface Skip {
  readonly reason: SkipReason;
  /** The device that is no longer the owner's, for NOT_AUTHORIZED. */
  readonly deviceId?: string;
  /** When the rule last fired, for COOLDOWN. */
  readonly lastFiredAt?: number;
}

/** Result of a check step, at `$.check`: whether the rule may go on, and the rule as it is now. */
interface CheckResult {
  readonly passed: boolean;
  readonly skip: Skip | null;
  readonly rule: RuleSnapshot;
}

/** Input of the steps that handle one rule, built by the Map state's ItemSelector. */
interface RuleStepBase {
  readonly thingName: string;
  readonly dedupKey: string;
  readonly alertId: string;
  readonly observation: TriggerObservation;
  readonly ruleId: string;
}

type Step = { readonly execution: string } & (
  | { readonly action: 'classify'; readonly event: unknown }
  | { readonly action: 'recordAlert'; readonly thingName: string; readonly dedupKey: string; readonly anomaly: Anomaly; readonly classification: Classification }
  | { readonly action: 'notify'; readonly thingName: string; readonly dedupKey: string; readonly anomaly: Anomaly; readonly classification: Classification }
  | { readonly action: 'findRules'; readonly thingName: string; readonly dedupKey: string; readonly anomaly: Anomaly; readonly classification: Classification }
  | { readonly action: 'recordTrigger'; readonly event: unknown }
  | { readonly action: 'notifyTrigger'; readonly thingName: string; readonly dedupKey: string; readonly ownerId: string; readonly alertId: string }
  | (RuleStepBase & { readonly action: 'checkOwnership'; readonly rule: RuleSnapshot })
  | (RuleStepBase & { readonly action: 'claimCooldown'; readonly rule: RuleSnapshot })
  | (RuleStepBase & { readonly action: 'requestCommand'; readonly rule: RuleSnapshot })
  | (RuleStepBase & { readonly action: 'recordAction'; readonly rule: RuleSnapshot; readonly commandId: string })
  | (RuleStepBase & { readonly action: 'recordSkip'; readonly skip: Skip })
  | { readonly action: 'recordFailure'; readonly failedStep?: string; readonly input: any });

/**
 * An alert in the alerts table, keyed by `thingName` and `alertId`. A READING rule's trigger is
 * kept as an item of kind {@link READING_TRIGGER_KIND} with the same `actions`, `skips`,
 * `failures` and `ttl`, see {@link recordTrigger}.
 */
interface AlertItem {
  readonly thingName: string;
  readonly alertId: string;
  readonly ownerId: string | null;
  readonly dedupKey: string;
  readonly kind: string;
  readonly sensorId: string;
  readonly detectorSeverity: AnomalySeverity;
  readonly severity: AnomalySeverity;
  readonly repeats: number;
  readonly value: number;
  readonly expected: { readonly min: number; readonly max: number };
  readonly explanation: string;
  /** Device time of the anomalous reading, epoch ms. */
  readonly anomalyAt: number;
  readonly recordedAt: number;
  /** Relay commands that rules sent for this alert. */
  readonly actions: {
    readonly ruleId: string;
    readonly commandId: string;
    readonly deviceId?: string;
    readonly relay?: string;
    readonly state?: string;
    readonly at: number;
  }[];
  /** Ids of the rules in `actions`, a string set that keeps a repeated step from adding a rule twice. */
  readonly firedRuleIds?: Set<string>;
  /** Rules that matched but did not fire, by rule id. */
  readonly skips: Record<string, Skip & { readonly at: number }>;
  readonly failures: { readonly error: string; readonly cause: string; readonly step?: string; readonly ruleId?: string; readonly at: number }[];
  /** Expiry of the record, epoch seconds. */
  readonly ttl: number;
}

// ---------------------------------------------------------------------------------------------
// Handler
// ---------------------------------------------------------------------------------------------

/**
 * Runs one step. The workflow is an Express workflow, which runs at least once, and EventBridge
 * may deliver an event twice, so each step is idempotent per action, event (`dedupKey`) and rule.
 * Repeats within an hour return the first result, and the writes are conditional, so a later
 * repeat finds its work done. Failure records are kept per execution instead, so that every
 * failed execution leaves one.
 */
// The classify step receives the whole event, so its deduplication key is at event.dedupKey.
const runStep = idempotentHandler(tables.idempotency, '[action, dedupKey, event.dedupKey, ruleId]', async (step: Step, _context: Context): Promise<unknown> => {
  switch (step.action) {
    case 'classify':
      return classify(parseAnomalyEvent(step.event));
    case 'recordAlert':
      return recordAlert(step.thingName, step.dedupKey, step.anomaly, step.classification);
    case 'notify':
      return notify(step.thingName, step.anomaly, step.classification);
    case 'findRules':
      return findRules(step.thingName, step.anomaly, step.classification);
    case 'recordTrigger':
      return recordTrigger(parseTriggerEvent(step.event));
    case 'notifyTrigger':
      return notifyTrigger(step.thingName, step.ownerId, step.alertId);
    case 'checkOwnership':
      return checkOwnership(step, step.rule);
    case 'claimCooldown':
      return claimCooldown(step, step.rule);
    case 'requestCommand':
      return requestCommand(step, step.rule);
    case 'recordAction':
      return recordAction(step, step.rule, step.commandId);
    case 'recordSkip':
      return recordSkip(step.thingName, step.alertId, step.ruleId, step.skip);
    default:
      throw new InvalidRequestError(`Unknown action ${JSON.stringify((step as { action?: unknown }).action)}.`);
  }
});

const runFailureStep = idempotentHandler(tables.idempotency, '[action, execution, failedStep, input.dedupKey, input.ruleId]',
  async (step: Extract<Step, { action: 'recordFailure' }>, _context: Context) => recordFailure(step.input, step.failedStep));

/**
 * Steps of the anomaly response workflow: classify the anomaly's severity, record the alert,
 * notify the owner, find the rules that match, and for each rule check ownership and cooldown,
 * request the relay command and record it. A READING rule's trigger is recorded, its rule goes
 * through the same rule steps, and the owner is notified when it fired. Failed steps are
 * recorded on the alert or trigger record.
 */
export const handler = async (event: Step, context: Context): Promise<unknown> => {
  let input: any = event;
  if (event?.action === 'recordFailure') {
    input = event.input;
  } else if (event?.action === 'classify' || event?.action === 'recordTrigger') {
    input = event.event;
  }
  logger.appendKeys({ action: event?.action, thingName: input?.thingName, dedupKey: input?.dedupKey, ruleId: input?.ruleId });
  try {
    if (event?.action === 'recordFailure') {
      return await runFailureStep(event, context);
    }
    return await runStep(event, context);
  } finally {
    logger.resetKeys();
  }
};

// ---------------------------------------------------------------------------------------------
// Alert steps
// ---------------------------------------------------------------------------------------------

/** Returns the alert id of an anomaly: its time, zero-padded so ids sort by time, and the event's deduplication key. */
function alertIdFor(anomalyAt: number, dedupKey: string): string {
  return `${String(anomalyAt).padStart(13, '0')}#${dedupKey}`;
}

/**
 * Classifies the anomaly's severity, counting earlier alerts of the same kind on the same sensor
 * in the escalation window before the anomaly, and reads the device's current owner.
 */
async function classify(event: AnomalyEvent): Promise<Classification> {
  const { anomaly } = event;
  const alertId = alertIdFor(anomaly.timestamp, event.dedupKey);
  const windowStart = alertIdFor(Math.max(0, anomaly.timestamp - ESCALATION_WINDOW_MS), '');

  const [recent, device] = await Promise.all([
    db.send(new QueryCommand({
      TableName: config.alertsTable,
      KeyConditionExpression: 'thingName = :thing AND alertId BETWEEN :from AND :to',
      ProjectionExpression: 'alertId, #kind, sensorId',
      ExpressionAttributeNames: { '#kind': 'kind' },
      // '~' sorts after every character of a deduplication key, so the range ends after this anomaly's time.
      ExpressionAttributeValues: { ':thing': event.thingName, ':from': windowStart, ':to': `${alertIdFor(anomaly.timestamp, '')}~` },
      ConsistentRead: true,
    })),
    db.send(new GetCommand({ TableName: tables.devices, Key: { thingName: event.thingName }, ProjectionExpression: 'ownerId' })),
  ]).catch((error) => { throw translateSdkError(error, 'Query alerts and GetItem devices'); });

  const repeats = (recent.Items ?? [])
    .filter((item) => item.alertId !== alertId && item.kind === anomaly.kind && item.sensorId === anomaly.sensorId)
    .length;
  const severity = classifySeverity(anomaly.kind, anomaly.severity, repeats);
  const ownerId = (device.Item as DeviceItem | undefined)?.ownerId ?? null;
  logger.info('Anomaly classified', { kind: anomaly.kind, detectorSeverity: anomaly.severity, severity, repeats, ownerId });
  return { alertId, severity, repeats, ownerId };
}

/** Records the alert once; a repeated event finds it recorded and returns `duplicate: true`. */
async function recordAlert(thingName: string, dedupKey: string, anomaly: Anomaly, classification: Classification) {
  const recordedAt = Date.now();
  try {
    // An update instead of a put, because a failure record may already have created the item.
    await db.send(new UpdateCommand({
      TableName: config.alertsTable,
      Key: { thingName, alertId: classification.alertId },
      UpdateExpression: 'SET ownerId = :owner, dedupKey = :dedupKey, #kind = :kind, sensorId = :sensor, detectorSeverity = :detectorSeverity, '
        + 'severity = :severity, repeats = :repeats, #value = :value, expected = :expected, explanation = :explanation, '
        + 'anomalyAt = :anomalyAt, recordedAt = :recordedAt, actions = if_not_exists(actions, :emptyList), '
        + 'skips = if_not_exists(skips, :emptyMap), failures = if_not_exists(failures, :emptyList), #ttl = if_not_exists(#ttl, :ttl)',
      ConditionExpression: 'attribute_not_exists(recordedAt)',
      ExpressionAttributeNames: { '#kind': 'kind', '#value': 'value', '#ttl': 'ttl' },
      ExpressionAttributeValues: {
        ':owner': classification.ownerId,
        ':dedupKey': dedupKey,
        ':kind': anomaly.kind,
        ':sensor': anomaly.sensorId,
        ':detectorSeverity': anomaly.severity,
        ':severity': classification.severity,
        ':repeats': classification.repeats,
        ':value': anomaly.value,
        ':expected': anomaly.expected,
        ':explanation': anomaly.explanation,
        ':anomalyAt': anomaly.timestamp,
        ':recordedAt': recordedAt,
        ':emptyList': [],
        ':emptyMap': {},
        ':ttl': Math.floor(recordedAt / 1000) + config.alertRetentionSeconds,
      },
    }));
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem alerts');
    }
    logger.info('Alert already recorded', { alertId: classification.alertId });
    return { alertId: classification.alertId, duplicate: true };
  }
  logger.info('Alert recorded', { alertId: classification.alertId, severity: classification.severity });
  return { alertId: classification.alertId, duplicate: false };
}

/**
 * Pushes a device update of kind `alert` to the owner's onDeviceUpdate subscription, and returns
 * the subject and message that the workflow publishes to the alert topic, if it has one.
 */
async function notify(thingName: string, anomaly: Anomaly, classification: Classification) {
  const at = Date.now();
  let notified = false;
  if (classification.ownerId) {
    // NOTE: the GraphQL DeviceUpdate type has no field for an alert, so subscribers receive the
    // kind and time only. The alert's details are in the alerts table and on the alert topic.
    notified = await updates.publish({ deviceId: thingName, ownerId: classification.ownerId, kind: 'alert', at });
  }
  const subject = `${classification.severity} ${anomaly.kind} anomaly on ${thingName}`.slice(0, MAX_SUBJECT_LENGTH);
  const message = JSON.stringify({
    thingName,
    ownerId: classification.ownerId,
    alertId: classification.alertId,
    kind: anomaly.kind,
    severity: classification.severity,
    repeats: classification.repeats,
    sensorId: anomaly.sensorId,
    value: anomaly.value,
    expected: anomaly.expected,
    explanation: anomaly.explanation,
    timestamp: anomaly.timestamp,
  });
  logger.info('Owner notified', { notified });
  return { notified, subject, message };
}

// ---------------------------------------------------------------------------------------------
// Rule steps
// ---------------------------------------------------------------------------------------------

function observationOf(thingName: string, anomaly: Anomaly): TriggerObservation {
  return { source: 'ANOMALY', deviceId: thingName, anomalyKind: anomaly.kind, sensorId: anomaly.sensorId, at: anomaly.timestamp };
}

/**
 * Finds the owner's enabled rules whose condition names this device and matches the anomaly.
 * Rules whose schedule window does not contain the anomaly's time are recorded on the alert as
 * skipped. Returns the others for the workflow to fire.
 */
async function findRules(thingName: string, anomaly: Anomaly, classification: Classification) {
  const ownerId = classification.ownerId;
  if (!ownerId) {
    return { rules: [], count: 0, outsideSchedule: 0 };
  }

  const candidates: AutomationRule[] = [];
  let exclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(new QueryCommand({
      TableName: config.rulesTable,
      IndexName: config.rulesByDeviceIndex,
      KeyConditionExpression: 'conditionDeviceId = :thing AND ownerId = :owner',
      ExpressionAttributeValues: { ':thing': thingName, ':owner': ownerId },
      ExclusiveStartKey: exclusiveStartKey,
    })).catch((error) => { throw translateSdkError(error, 'Query rules by device'); });
    candidates.push(...(page.Items ?? []) as AutomationRule[]);
    exclusiveStartKey = page.LastEvaluatedKey;
  } while (exclusiveStartKey);

  const observation = observationOf(thingName, anomaly);
  const matching = candidates.filter((rule) => rule.enabled && matchesCondition(rule.condition, observation));
  const inWindow = matching.filter((rule) => isWithinSchedule(rule.schedule, anomaly.timestamp));
  const outsideSchedule = matching.filter((rule) => !inWindow.includes(rule));

  for (const rule of outsideSchedule) {
    await recordSkip(thingName, classification.alertId, rule.ruleId, { reason: 'OUTSIDE_SCHEDULE' });
  }
  logger.info('Rules found', { candidates: candidates.length, matching: matching.length, outsideSchedule: outsideSchedule.length });
  const rules: RuleToFire[] = inWindow.map((rule) => ({
    rule: { ruleId: rule.ruleId, ownerId: rule.ownerId },
    alertId: classification.alertId,
    observation,
  }));
  return { rules, count: rules.length, outsideSchedule: outsideSchedule.length };
}

/**
 * Reads the rule again and checks that it still exists, is enabled, matches the anomaly or
 * reading inside its schedule window, and that every device it names is still linked to and
 * owned by the rule's owner. The condition's device may have changed hands since the rule was
 * saved, and so may the action's device.
 */
async function checkOwnership(step: RuleStepBase, found: RuleSnapshot): Promise<CheckResult> {
  const item = (await db.send(new GetCommand({
    TableName: config.rulesTable,
    Key: { ownerId: found.ownerId, ruleId: found.ruleId },
    ConsistentRead: true,
  })).catch((error) => { throw translateSdkError(error, 'GetItem rules'); })).Item as AutomationRule | undefined;

  const skipped = (skip: Skip): CheckResult => {
    logger.info('Rule skipped', { ...skip });
    return { passed: false, skip, rule: found };
  };
  if (!item) {
    return skipped({ reason: 'RULE_DELETED' });
  }
  if (!item.enabled) {
    return skipped({ reason: 'RULE_DISABLED' });
  }
  if (!matchesCondition(item.condition, step.observation) || !isWithinSchedule(item.schedule, step.observation.at)) {
    return skipped({ reason: 'RULE_CHANGED' });
  }

  for (const deviceId of referencedDevices(item)) {
    if (!await ownsDevice(item.ownerId, deviceId)) {
      return skipped({ reason: 'NOT_AUTHORIZED', deviceId });
    }
  }
  const rule: RuleSnapshot = {
    ruleId: item.ruleId,
    ownerId: item.ownerId,
    action: item.action,
    cooldownSeconds: item.cooldownSeconds,
    updatedAt: item.updatedAt,
  };
  return { passed: true, skip: null, rule };
}

async function ownsDevice(userId: string, thingName: string): Promise<boolean> {
  const [link, device] = await Promise.all([
    db.send(new GetCommand({ TableName: tables.links, Key: { userId, thingName } })),
    db.send(new GetCommand({ TableName: tables.devices, Key: { thingName }, ProjectionExpression: 'ownerId' })),
  ]).catch((error) => { throw translateSdkError(error, 'GetItem links and devices'); });
  return link.Item !== undefined && device.Item?.ownerId === userId;
}

/**
 * Claims the rule's cooldown with a conditional update of `lastFiredAt`, so that of several
 * events within the cooldown only the first fires the rule, also when they run concurrently.
 * The same event may claim again, because a retried step must find its claim in place. The
 * update also requires the rule to be unchanged since the ownership check.
 */
async function claimCooldown(step: RuleStepBase, rule: RuleSnapshot): Promise<CheckResult> {
  const now = Date.now();
  try {
    await db.send(new UpdateCommand({
      TableName: config.rulesTable,
      Key: { ownerId: rule.ownerId, ruleId: rule.ruleId },
      UpdateExpression: 'SET lastFiredAt = :now, lastFiredBy = :dedupKey',
      ConditionExpression: 'updatedAt = :updatedAt AND #enabled = :true '
        + 'AND (attribute_not_exists(lastFiredAt) OR lastFiredAt <= :cooledDownAt OR lastFiredBy = :dedupKey)',
      ExpressionAttributeNames: { '#enabled': 'enabled' },
      ExpressionAttributeValues: {
        ':now': now,
        ':dedupKey': step.dedupKey,
        ':updatedAt': rule.updatedAt,
        ':true': true,
        ':cooledDownAt': now - (rule.cooldownSeconds ?? 0) * 1000,
      },
    }));
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem rules');
    }
    const key = { ownerId: rule.ownerId, ruleId: rule.ruleId };
    const current = (await db.send(new GetCommand({ TableName: config.rulesTable, Key: key, ConsistentRead: true }))
      .catch((failure) => { throw translateSdkError(failure, 'GetItem rules'); })).Item as AutomationRule | undefined;
    const skip: Skip = !current
      ? { reason: 'RULE_DELETED' }
      : current.updatedAt !== rule.updatedAt || !current.enabled
        ? { reason: 'RULE_CHANGED' }
        : { reason: 'COOLDOWN', lastFiredAt: current.lastFiredAt };
    logger.info('Rule skipped', { ...skip });
    return { passed: false, skip, rule };
  }
  logger.info('Cooldown claimed', { cooldownSeconds: rule.cooldownSeconds });
  return { passed: true, skip: null, rule };
}

/**
 * Puts a Relay Command Requested event on the bus for the relay command workflow, which runs the
 * command on behalf of the rule's owner and checks ownership and the relay once more. The
 * command id comes from the event and the rule, so a repeated request runs once.
 */
async function requestCommand(step: RuleStepBase, rule: RuleSnapshot): Promise<{ commandId: string }> {
  if (!rule.action) {
    throw new InvalidRequestError(`Rule '${rule.ruleId}' reached requestCommand without its action; the ownership check passes it on.`);
  }
  const request: RelayCommandRequest = {
    commandId: automationCommandId(step.dedupKey, rule.ruleId),
    thingName: rule.action.deviceId,
    requestedBy: rule.ownerId,
    relay: rule.action.relay,
    state: rule.action.state,
    requestedAt: Date.now(),
    source: 'automation',
  };
  const result = await eventBridge.send(new PutEventsCommand({
    Entries: [{
      Source: PlatformEventSource.WORKFLOW,
      DetailType: PlatformEventType.RELAY_COMMAND_REQUESTED,
      EventBusName: config.eventBusName,
      Detail: JSON.stringify(request),
    }],
  })).catch((error) => { throw translateSdkError(error, 'PutEvents'); });
  if ((result.FailedEntryCount ?? 0) > 0) {
    const entry = result.Entries?.[0];
    throw new TransientDependencyError(`PutEvents rejected the Relay Command Requested event: ${entry?.ErrorCode}: ${entry?.ErrorMessage}`);
  }
  logger.info('Relay command requested', { commandId: request.commandId, actionDeviceId: request.thingName, relay: request.relay, state: request.state });
  return { commandId: request.commandId };
}

/** Appends the rule's command to the alert's `actions`, once per rule. */
async function recordAction(step: RuleStepBase, rule: RuleSnapshot, commandId: string) {
  const action: AlertItem['actions'][number] = {
    ruleId: rule.ruleId,
    commandId,
    deviceId: rule.action?.deviceId,
    relay: rule.action?.relay,
    state: rule.action?.state,
    at: Date.now(),
  };
  try {
    await db.send(new UpdateCommand({
      TableName: config.alertsTable,
      Key: { thingName: step.thingName, alertId: step.alertId },
      UpdateExpression: 'SET actions = list_append(if_not_exists(actions, :emptyList), :action) ADD firedRuleIds :ruleIds',
      ConditionExpression: 'attribute_exists(alertId) AND NOT contains(firedRuleIds, :ruleId)',
      ExpressionAttributeValues: { ':action': [action], ':emptyList': [], ':ruleIds': new Set([rule.ruleId]), ':ruleId': rule.ruleId },
    }));
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem alerts');
    }
    logger.info('Action already recorded', { commandId });
    return { recorded: false };
  }
  return { recorded: true };
}

/** Records on the alert why a matching rule did not fire. */
async function recordSkip(thingName: string, alertId: string, ruleId: string, skip: Skip) {
  const entry: AlertItem['skips'][string] = { ...skip, at: Date.now() };
  await db.send(new UpdateCommand({
    TableName: config.alertsTable,
    Key: { thingName, alertId },
    UpdateExpression: 'SET skips.#rule = :skip',
    ConditionExpression: 'attribute_exists(skips)',
    ExpressionAttributeNames: { '#rule': ruleId },
    ExpressionAttributeValues: { ':skip': entry },
  })).catch((error) => { throw translateSdkError(error, 'UpdateItem alerts'); });
  return { recorded: true, reason: skip.reason };
}

// ---------------------------------------------------------------------------------------------
// Reading rule triggers
// ---------------------------------------------------------------------------------------------

/**
 * Records an Automation Rule Triggered event in the alerts table once, as an item of kind
 * {@link READING_TRIGGER_KIND} keyed by the reading's time and the deduplication key, and
 * returns its rule for the Map state to fire. The rule steps then read the rule again and check
 * ownership and cooldown, as for an anomaly.
 */
async function recordTrigger(event: AutomationRuleTriggeredDetail) {
  const { reading } = event;
  const alertId = alertIdFor(reading.timestamp, event.dedupKey);
  const device = await db.send(new GetCommand({ TableName: tables.devices, Key: { thingName: event.thingName }, ProjectionExpression: 'ownerId' }))
    .catch((error) => { throw translateSdkError(error, 'GetItem devices'); });
  const deviceOwnerId = (device.Item as DeviceItem | undefined)?.ownerId ?? null;

  const recordedAt = Date.now();
  let duplicate = false;
  try {
    // An update instead of a put, because a failure record may already have created the item.
    await db.send(new UpdateCommand({
      TableName: config.alertsTable,
      Key: { thingName: event.thingName, alertId },
      UpdateExpression: 'SET ownerId = :owner, ruleOwnerId = :ruleOwner, ruleId = :ruleId, dedupKey = :dedupKey, #kind = :kind, '
        + 'sensorId = :sensor, #value = :value, #condition = :condition, readingAt = :readingAt, recordedAt = :recordedAt, '
        + 'actions = if_not_exists(actions, :emptyList), skips = if_not_exists(skips, :emptyMap), '
        + 'failures = if_not_exists(failures, :emptyList), #ttl = if_not_exists(#ttl, :ttl)',
      ConditionExpression: 'attribute_not_exists(recordedAt)',
      ExpressionAttributeNames: { '#kind': 'kind', '#value': 'value', '#condition': 'condition', '#ttl': 'ttl' },
      ExpressionAttributeValues: {
        ':owner': deviceOwnerId,
        ':ruleOwner': event.ownerId,
        ':ruleId': event.ruleId,
        ':dedupKey': event.dedupKey,
        ':kind': READING_TRIGGER_KIND,
        ':sensor': reading.sensorId,
        ':value': reading.value,
        ':condition': event.condition,
        ':readingAt': reading.timestamp,
        ':recordedAt': recordedAt,
        ':emptyList': [],
        ':emptyMap': {},
        ':ttl': Math.floor(recordedAt / 1000) + config.alertRetentionSeconds,
      },
    }));
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem alerts');
    }
    duplicate = true;
  }
  logger.info(duplicate ? 'Rule trigger already recorded' : 'Rule trigger recorded', { alertId, deviceOwnerId, sensorId: reading.sensorId, value: reading.value });

  const observation: TriggerObservation = { source: 'READING', deviceId: event.thingName, sensorId: reading.sensorId, value: reading.value, at: reading.timestamp };
  const rules: RuleToFire[] = [{ rule: { ruleId: event.ruleId, ownerId: event.ownerId }, alertId, observation }];
  return { alertId, duplicate, rules, count: rules.length };
}

/**
 * Pushes a device update of kind `alert` to the rule owner's onDeviceUpdate subscription when
 * the trigger record shows that the rule requested a relay command. The owner is notified of
 * each firing and never of a rule that was skipped.
 */
async function notifyTrigger(thingName: string, ownerId: string, alertId: string) {
  const item = (await db.send(new GetCommand({
    TableName: config.alertsTable,
    Key: { thingName, alertId },
    ProjectionExpression: 'actions',
    ConsistentRead: true,
  })).catch((error) => { throw translateSdkError(error, 'GetItem alerts'); })).Item as Pick<AlertItem, 'actions'> | undefined;

  const fired = (item?.actions ?? []).length > 0;
  const notified = fired ? await updates.publish({ deviceId: thingName, ownerId, kind: 'alert', at: Date.now() }) : false;
  logger.info('Rule owner notified', { fired, notified });
  return { fired, notified };
}

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

/**
 * Appends a failed step to the alert or trigger record, creating the item when the failure came
 * before it was recorded. `input` is the state's input with the Catch result at `failure`. The
 * item is found by `alertId`, which the rule steps carry, or else by the anomaly's or reading's
 * time and the deduplication key.
 */
async function recordFailure(input: any, failedStep?: string) {
  const thingName = input?.thingName;
  const dedupKey = input?.dedupKey;
  const eventAt = input?.anomaly?.timestamp ?? input?.reading?.timestamp;
  if (typeof thingName !== 'string' || thingName.length === 0 || typeof dedupKey !== 'string' || dedupKey.length === 0
    || (typeof input?.alertId !== 'string' && !Number.isSafeInteger(eventAt))) {
    throw new InvalidRequestError('Cannot record the failure: the input needs a thingName, a dedupKey, and an alertId, anomaly.timestamp or reading.timestamp to find the alert by.');
  }
  const alertId: string = typeof input.alertId === 'string' ? input.alertId : alertIdFor(eventAt, dedupKey);
  const error = String(input.failure?.Error ?? 'Unknown');
  const cause = causeMessage(input.failure?.Cause);
  const ruleId = typeof input.ruleId === 'string' ? input.ruleId : undefined;
  const now = Date.now();
  const failure: AlertItem['failures'][number] = { error, cause, step: failedStep, ruleId, at: now };

  await db.send(new UpdateCommand({
    TableName: config.alertsTable,
    Key: { thingName, alertId },
    UpdateExpression: 'SET failures = list_append(if_not_exists(failures, :emptyList), :failure), dedupKey = :dedupKey, #ttl = if_not_exists(#ttl, :ttl)',
    ExpressionAttributeNames: { '#ttl': 'ttl' },
    ExpressionAttributeValues: { ':failure': [failure], ':emptyList': [], ':dedupKey': dedupKey, ':ttl': Math.floor(now / 1000) + config.alertRetentionSeconds },
  })).catch((failed) => { throw translateSdkError(failed, 'UpdateItem alerts'); });
  logger.error('Anomaly response step failed', { error, cause, failedStep, ruleId });
  return { error };
}

/** Returns the error message of a Lambda error's cause, which is a JSON document with a stack trace, or the cause itself. */
function causeMessage(cause: unknown): string {
  if (typeof cause !== 'string') {
    return '';
  }
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') {
      return parsed.errorMessage.slice(0, MAX_CAUSE_LENGTH);
    }
  } catch {
    // Not JSON: keep the text.
  }
  return cause.slice(0, MAX_CAUSE_LENGTH);
}

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

/** Checks the event detail and returns it typed; throws InvalidRequestError naming the field. */
function parseAnomalyEvent(input: any): AnomalyEvent {
  const fail = (field: string, value: unknown, expected: string): never => {
    throw new InvalidRequestError(`Invalid Telemetry Anomaly Detected detail: ${field} ${JSON.stringify(value)} must be ${expected}.`);
  };
  if (typeof input !== 'object' || input === null) {
    fail('detail', input, 'an object');
  }
  if (typeof input.thingName !== 'string' || input.thingName.length === 0) fail('thingName', input.thingName, 'a thing name');
  if (typeof input.dedupKey !== 'string' || input.dedupKey.length === 0 || input.dedupKey.length > 128) fail('dedupKey', input.dedupKey, 'a string of 1 to 128 characters');
  const anomaly = input.anomaly;
  if (typeof anomaly !== 'object' || anomaly === null) fail('anomaly', anomaly, 'an object');
  if (!ANOMALY_KINDS.includes(anomaly.kind)) fail('anomaly.kind', anomaly.kind, `one of ${ANOMALY_KINDS.join(', ')}`);
  if (!['LOW', 'MEDIUM', 'HIGH'].includes(anomaly.severity)) fail('anomaly.severity', anomaly.severity, 'LOW, MEDIUM or HIGH');
  if (typeof anomaly.sensorId !== 'string' || anomaly.sensorId.length === 0) fail('anomaly.sensorId', anomaly.sensorId, 'a sensor id');
  if (typeof anomaly.value !== 'number' || !Number.isFinite(anomaly.value)) fail('anomaly.value', anomaly.value, 'a finite number');
  if (!Number.isSafeInteger(anomaly.timestamp) || anomaly.timestamp < 0) fail('anomaly.timestamp', anomaly.timestamp, 'epoch milliseconds');
  return input as AnomalyEvent;
}

/** Checks an Automation Rule Triggered detail against its contract schema and throws InvalidRequestError listing the problems. */
function parseTriggerEvent(input: unknown): AutomationRuleTriggeredDetail {
  const verdict = validateContract('automation-rule-triggered', input);
  if (!verdict.valid) {
    throw new InvalidRequestError(`Invalid Automation Rule Triggered detail: ${verdict.errors.join('; ')}. `
      + 'The detail must follow contract/schemas/automation-rule-triggered.schema.json.');
  }
  return input as AutomationRuleTriggeredDetail;
}

function requiredEnv(name: string, description: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`Environment variable ${name} is missing; the construct sets it to ${description}.`);
  }
  return value;
}
