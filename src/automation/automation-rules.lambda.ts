import { Logger } from '@aws-lambda-powertools/logger';
import { DeleteCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  AutomationRule,
  AutomationRuleInvalidError,
  newRuleId,
  parseRuleDefinition,
  referencedDevices,
  RULE_ID_PATTERN,
  RuleDefinition,
} from '../domain/automation-rules';
import { InvalidRequestError, NotAuthorizedError, translateSdkError } from '../workflows/private/errors';
import { ownedDevice as ownedDeviceOf } from '../workflows/private/ownership';
import { DeviceItem } from '../workflows/private/registry-items';
import { documentClient, registryTablesFromEnv } from '../workflows/private/registry-tables';

const logger = new Logger();
const tables = registryTablesFromEnv();
const db = documentClient();
const rulesTable = requiredEnv('AUTOMATION_RULES_TABLE', "the automation rules table's name");

const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 50;
/** Rules one user may have. The anomaly workflow reads every rule of a device for each event, so the count stays small. */
const MAX_RULES_PER_OWNER = 100;

/** Payload that the API's resolvers pass to this function for every field. */
export interface ResolverEvent {
  readonly field: string;
  readonly arguments: Record<string, any>;
  readonly identity: { readonly sub: string; readonly groups?: string[] | null };
}

/** A rule as the rules table stores it: the rule and the index key of its condition's device. */
type RuleItem = AutomationRule & {
  readonly conditionDeviceId: string;
  /** Deduplication key of the event that last fired the rule. */
  readonly lastFiredBy?: string;
};

type FieldResolver = (args: Record<string, any>, userId: string) => Promise<unknown>;

const FIELDS: Record<string, FieldResolver> = {
  listAutomationRules: (args, userId) => listRules(args, userId),
  createAutomationRule: (args, userId) => createRule(args.input, userId),
  updateAutomationRule: (args, userId) => updateRule(args.ruleId, args.input, userId),
  deleteAutomationRule: (args, userId) => deleteRule(args.ruleId, userId),
};

/**
 * Resolves the API's automation rule fields for the signed-in user. Rules are keyed by their
 * owner, so a user reaches only their own rules, and another user's rule id is reported as not
 * authorized, the same as an unknown one. Every device that a rule names must be linked to its
 * owner when the rule is saved, and the anomaly response workflow checks again when the rule
 * fires.
 */
export async function handler(event: ResolverEvent): Promise<unknown> {
  const sub = event.identity?.sub;
  logger.appendKeys({ field: event.field, userId: sub, ruleId: event.arguments?.ruleId });
  try {
    if (!sub) {
      throw new NotAuthorizedError('The request has no signed-in user.');
    }
    const resolve = FIELDS[event.field];
    if (!resolve) {
      throw new InvalidRequestError(`Field '${event.field}' has no resolver in this function; it resolves ${Object.keys(FIELDS).join(', ')}.`);
    }
    return await resolve(event.arguments ?? {}, sub);
  } catch (error) {
    logger.warn('Request failed', { error: (error as Error).name, message: (error as Error).message });
    throw error;
  } finally {
    logger.resetKeys();
  }
}

async function listRules(args: Record<string, any>, userId: string) {
  const limit = args.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new InvalidRequestError(`limit ${limit} must be a positive whole number; the maximum page size is ${MAX_PAGE_SIZE}.`);
  }
  let exclusiveStartKey: Record<string, string> | undefined;
  if (args.nextToken) {
    try {
      exclusiveStartKey = JSON.parse(Buffer.from(String(args.nextToken), 'base64url').toString('utf8'));
    } catch {
      throw new InvalidRequestError('nextToken is not a token from a previous listAutomationRules page.');
    }
    if (exclusiveStartKey?.ownerId !== userId) {
      throw new InvalidRequestError('nextToken is not a token from a previous listAutomationRules page.');
    }
  }
  const page = await db.send(new QueryCommand({
    TableName: rulesTable,
    KeyConditionExpression: 'ownerId = :owner',
    ExpressionAttributeValues: { ':owner': userId },
    Limit: Math.min(limit, MAX_PAGE_SIZE),
    ExclusiveStartKey: exclusiveStartKey,
  })).catch((error) => { throw translateSdkError(error, 'Query automation rules'); });
  return {
    items: ((page.Items ?? []) as RuleItem[]).map(toGraphql),
    nextToken: page.LastEvaluatedKey ? Buffer.from(JSON.stringify(page.LastEvaluatedKey)).toString('base64url') : null,
  };
}

async function createRule(input: unknown, userId: string) {
  const definition = parseDefinition(input);
  await checkDevices(definition, userId);
  await checkRuleCount(userId);

  const now = Date.now();
  const item: RuleItem = {
    ...definition,
    ruleId: newRuleId(),
    ownerId: userId,
    conditionDeviceId: definition.condition.deviceId,
    createdAt: now,
    updatedAt: now,
  };
  await db.send(new PutCommand({ TableName: rulesTable, Item: item, ConditionExpression: 'attribute_not_exists(ruleId)' }))
    .catch((error) => { throw translateSdkError(error, 'PutItem automation rules'); });
  logger.info('Rule created', { ruleId: item.ruleId, conditionDeviceId: item.conditionDeviceId, actionDeviceId: item.action.deviceId });
  return toGraphql(item);
}

async function updateRule(ruleId: unknown, input: unknown, userId: string) {
  const id = parseRuleId(ruleId);
  const definition = parseDefinition(input);
  await checkDevices(definition, userId);

  const values: Record<string, unknown> = {
    ':name': definition.name,
    ':enabled': definition.enabled,
    ':condition': definition.condition,
    ':action': definition.action,
    ':cooldown': definition.cooldownSeconds,
    ':conditionDevice': definition.condition.deviceId,
    ':now': Date.now(),
  };
  let updateExpression = 'SET #name = :name, enabled = :enabled, #condition = :condition, #action = :action, '
    + 'cooldownSeconds = :cooldown, conditionDeviceId = :conditionDevice, updatedAt = :now';
  if (definition.schedule) {
    values[':schedule'] = definition.schedule;
    updateExpression += ', #schedule = :schedule';
  } else {
    updateExpression += ' REMOVE #schedule';
  }

  const updated = await db.send(new UpdateCommand({
    TableName: rulesTable,
    Key: { ownerId: userId, ruleId: id },
    UpdateExpression: updateExpression,
    ConditionExpression: 'attribute_exists(ruleId)',
    ExpressionAttributeNames: { '#name': 'name', '#condition': 'condition', '#action': 'action', '#schedule': 'schedule' },
    ExpressionAttributeValues: values,
    ReturnValues: 'ALL_NEW',
  })).catch((error) => {
    if ((error as Error).name === 'ConditionalCheckFailedException') {
      throw ruleNotYours(id);
    }
    throw translateSdkError(error, 'UpdateItem automation rules');
  });
  logger.info('Rule updated', { ruleId: id });
  return toGraphql(updated.Attributes as RuleItem);
}

async function deleteRule(ruleId: unknown, userId: string) {
  const id = parseRuleId(ruleId);
  await db.send(new DeleteCommand({
    TableName: rulesTable,
    Key: { ownerId: userId, ruleId: id },
    ConditionExpression: 'attribute_exists(ruleId)',
  })).catch((error) => {
    if ((error as Error).name === 'ConditionalCheckFailedException') {
      throw ruleNotYours(id);
    }
    throw translateSdkError(error, 'DeleteItem automation rules');
  });
  logger.info('Rule deleted', { ruleId: id });
  return id;
}

function parseDefinition(input: unknown): RuleDefinition {
  try {
    return parseRuleDefinition(input);
  } catch (error) {
    if (error instanceof AutomationRuleInvalidError) {
      // The API reports every invalid argument as InvalidRequestError.
      throw new InvalidRequestError(error.message);
    }
    throw error;
  }
}

function parseRuleId(ruleId: unknown): string {
  if (typeof ruleId !== 'string' || !RULE_ID_PATTERN.test(ruleId)) {
    throw new InvalidRequestError(`ruleId ${JSON.stringify(ruleId)} is not a rule id; rule ids look like rule-0123456789abcdef and come from createAutomationRule or listAutomationRules.`);
  }
  return ruleId;
}

function ruleNotYours(ruleId: string): NotAuthorizedError {
  return new NotAuthorizedError(`Automation rule '${ruleId}' is not one of your rules.`);
}

/**
 * Checks that every device the rule names is linked to the user and owned by them, that the
 * action's device has the relay, and that a READING condition's device has the sensor. ANOMALY
 * sensor ids are not checked, because the detector also reports sensors that capability
 * documents do not declare, such as `energy-current` from energy reports.
 */
async function checkDevices(definition: RuleDefinition, userId: string): Promise<void> {
  const devices = new Map<string, DeviceItem>();
  for (const deviceId of referencedDevices(definition)) {
    devices.set(deviceId, await ownedDevice(deviceId, userId));
  }

  const actionDevice = devices.get(definition.action.deviceId)!;
  const relayIds = ((actionDevice.capabilities?.relays ?? []) as { id: string }[]).map((relay) => relay.id);
  if (!relayIds.includes(definition.action.relay)) {
    throw new InvalidRequestError(`Device '${actionDevice.thingName}' has no relay '${definition.action.relay}'; its relays are: ${relayIds.join(', ') || 'none'}.`);
  }

  const condition = definition.condition;
  if (condition.source === 'READING') {
    const conditionDevice = devices.get(condition.deviceId)!;
    const sensorIds = ((conditionDevice.capabilities?.sensors ?? []) as { id: string }[]).map((sensor) => sensor.id);
    if (!sensorIds.includes(condition.sensorId!)) {
      throw new InvalidRequestError(`Device '${conditionDevice.thingName}' has no sensor '${condition.sensorId}'; its sensors are: ${sensorIds.join(', ') || 'none'}.`);
    }
  }
}

function ownedDevice(deviceId: string, userId: string): Promise<DeviceItem> {
  return ownedDeviceOf(db, tables, deviceId, userId);
}

/**
 * Rejects a new rule when the user already has the maximum number of rules.
 * NOTE: the count and the write are separate requests, so concurrent creates can pass the limit by a few rules.
 */
async function checkRuleCount(userId: string): Promise<void> {
  const counted = await db.send(new QueryCommand({
    TableName: rulesTable,
    KeyConditionExpression: 'ownerId = :owner',
    ExpressionAttributeValues: { ':owner': userId },
    Select: 'COUNT',
  })).catch((error) => { throw translateSdkError(error, 'Query automation rule count'); });
  if ((counted.Count ?? 0) >= MAX_RULES_PER_OWNER) {
    throw new InvalidRequestError(`You already have ${counted.Count} automation rules, the maximum; delete a rule before you create another.`);
  }
}

/** Returns a rule in the shape of the GraphQL AutomationRule type, with null for absent optional fields. */
function toGraphql(item: RuleItem) {
  return {
    ruleId: item.ruleId,
    ownerId: item.ownerId,
    name: item.name,
    enabled: item.enabled,
    condition: {
      deviceId: item.condition.deviceId,
      source: item.condition.source,
      anomalyKind: item.condition.anomalyKind ?? null,
      sensorId: item.condition.sensorId ?? null,
      operator: item.condition.operator ?? null,
      threshold: item.condition.threshold ?? null,
    },
    action: item.action,
    schedule: item.schedule ?? null,
    cooldownSeconds: item.cooldownSeconds,
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
    lastFiredAt: item.lastFiredAt ?? null,
  };
}

function requiredEnv(name: string, description: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`Environment variable ${name} is missing; the construct sets it to ${description}.`);
  }
  return value;
}
