import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TransientDependencyError, translateSdkError } from './errors';
import { CaughtError, OnboardingDeviceItem, RegistrationResult, uiConfigKeyFor } from './onboarding-steps';
import { CapabilityDocument, capabilitiesHash, generateUiConfig, UiConfigInvalidCapabilitiesError } from '../../domain/ui-config';

/** The devices table and the clients that the registration steps use. */
export interface DevicesAccess {
  readonly db: DynamoDBDocumentClient;
  readonly devicesTable: string;
  readonly logger: Logger;
}

/** Maximum read-and-write rounds of the register step while other executions keep changing the device. */
const MAX_REGISTRATION_ATTEMPTS = 3;

/** Limits that keep recorded problems far below the 400 KB item size limit of DynamoDB. */
const MAX_RECORDED_ERRORS = 20;
const MAX_RECORDED_TEXT_LENGTH = 500;

/**
 * Registers a device's capabilities, or refreshes only `lastSeenAt` when the registry already has
 * the same capabilities and their UI config. A document older than the stored capabilities never
 * replaces them. A document that fails the contract schema, or repeats a component id, is
 * recorded as the device's `lastRejection` and changes nothing else.
 */
export async function registerDevice(access: DevicesAccess, thingName: string, receivedAt: number, message: unknown): Promise<RegistrationResult> {
  const errors = capabilityErrors(thingName, message, receivedAt);
  if (errors.length > 0) {
    await recordRejection(access, thingName, receivedAt, errors);
    return { rejected: true, changed: false, firstRegistration: false, ownerId: null, uiConfigKey: null, capabilitiesHash: null };
  }

  const document = message as CapabilityDocument;
  const hash = capabilitiesHash(document);
  const uiConfigKey = uiConfigKeyFor(thingName, hash);
  for (let attempt = 1; attempt <= MAX_REGISTRATION_ATTEMPTS; attempt++) {
    const existing = await readDevice(access, thingName);
    const previousHash = existing?.capabilitiesHash;

    if (existing && previousHash === hash && existing.uiConfigKey === uiConfigKey) {
      await touchLastSeen(access, thingName, receivedAt);
      access.logger.info('Capabilities unchanged', { capabilitiesHash: hash });
      return { rejected: false, changed: false, firstRegistration: false, ownerId: existing.ownerId ?? null, uiConfigKey, capabilitiesHash: hash };
    }
    if (existing?.capabilitiesReceivedAt !== undefined && existing.capabilitiesReceivedAt > receivedAt) {
      access.logger.info('Capability document older than the registered one ignored', { receivedAt, registeredAt: existing.capabilitiesReceivedAt });
      return {
        rejected: false,
        changed: false,
        firstRegistration: false,
        ownerId: existing.ownerId ?? null,
        uiConfigKey: existing.uiConfigKey ?? null,
        capabilitiesHash: previousHash ?? null,
      };
    }

    try {
      const ownerId = await writeCapabilities(access, thingName, receivedAt, document, hash, existing);
      access.logger.info('Capabilities registered', { capabilitiesHash: hash, previousCapabilitiesHash: previousHash });
      return { rejected: false, changed: true, firstRegistration: previousHash === undefined, ownerId, uiConfigKey, capabilitiesHash: hash };
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') {
        throw translateSdkError(error, 'UpdateItem devices');
      }
      access.logger.info('Device changed during registration; reading it again', { attempt });
    }
  }
  throw new TransientDependencyError(`Device '${thingName}' changed ${MAX_REGISTRATION_ATTEMPTS} times during registration; the step will be retried.`);
}

/**
 * Returns the reasons why a capability document is invalid, or an empty list. generateUiConfig
 * checks the contract schema and repeated component ids, the same checks that storing the UI
 * config needs later.
 */
function capabilityErrors(thingName: string, message: unknown, receivedAt: number): string[] {
  try {
    generateUiConfig(thingName, message as CapabilityDocument, receivedAt);
    return [];
  } catch (error) {
    if ((error as Error).name === 'UiConfigInvalidCapabilitiesError') {
      return [...(error as UiConfigInvalidCapabilitiesError).errors];
    }
    throw error;
  }
}

/**
 * Writes the capabilities under a condition on the state that was read, so a concurrent
 * registration makes this write fail instead of being overwritten. Returns the device's owner.
 */
async function writeCapabilities(
  access: DevicesAccess,
  thingName: string,
  receivedAt: number,
  document: CapabilityDocument,
  hash: string,
  existing: OnboardingDeviceItem | undefined,
): Promise<string | null> {
  let condition = 'attribute_not_exists(thingName)';
  const values: Record<string, unknown> = {
    ':model': document.model,
    ':firmwareVersion': document.firmwareVersion,
    ':capabilities': storedCapabilities(document),
    ':hash': hash,
    ':receivedAt': receivedAt,
    ':now': Date.now(),
    ':emptyRelays': {},
  };
  if (existing?.capabilitiesHash !== undefined) {
    condition = 'capabilitiesHash = :previousHash';
    values[':previousHash'] = existing.capabilitiesHash;
  } else if (existing) {
    condition = 'attribute_exists(thingName) AND attribute_not_exists(capabilitiesHash)';
  }

  const result = await access.db.send(new UpdateCommand({
    TableName: access.devicesTable,
    Key: { thingName },
    UpdateExpression: [
      'SET model = :model',
      'firmwareVersion = :firmwareVersion',
      'capabilities = :capabilities',
      'capabilitiesHash = :hash',
      'capabilitiesReceivedAt = :receivedAt',
      'lastSeenAt = :receivedAt',
      'updatedAt = :now',
      'createdAt = if_not_exists(createdAt, :now)',
      'relays = if_not_exists(relays, :emptyRelays)',
    ].join(', '),
    ConditionExpression: condition,
    ExpressionAttributeValues: values,
    ReturnValues: 'ALL_NEW',
  }));
  return (result.Attributes as OnboardingDeviceItem | undefined)?.ownerId ?? null;
}

/**
 * Copies the capability document field by field, so that nothing else from the device's payload
 * reaches the registry: not the claim token, and no field that the schema forbids, such as an
 * `ownerId`.
 */
function storedCapabilities(document: CapabilityDocument): Record<string, unknown> {
  return {
    schemaVersion: document.schemaVersion,
    model: document.model,
    firmwareVersion: document.firmwareVersion,
    timestamp: document.timestamp,
    relays: document.relays,
    sensors: document.sensors,
    ...(document.settings !== undefined && { settings: document.settings }),
  };
}

async function readDevice(access: DevicesAccess, thingName: string): Promise<OnboardingDeviceItem | undefined> {
  const result = await access.db.send(new GetCommand({ TableName: access.devicesTable, Key: { thingName }, ConsistentRead: true }))
    .catch((error) => { throw translateSdkError(error, 'GetItem devices'); });
  return result.Item as OnboardingDeviceItem | undefined;
}

/** Moves `lastSeenAt` forward; an older receive time leaves it unchanged. */
async function touchLastSeen(access: DevicesAccess, thingName: string, receivedAt: number): Promise<void> {
  try {
    await access.db.send(new UpdateCommand({
      TableName: access.devicesTable,
      Key: { thingName },
      UpdateExpression: 'SET lastSeenAt = :at',
      ConditionExpression: 'attribute_exists(thingName) AND (attribute_not_exists(lastSeenAt) OR lastSeenAt < :at)',
      ExpressionAttributeValues: { ':at': receivedAt },
    }));
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem devices');
    }
  }
}

/**
 * Records why a capability document was rejected as the device's `lastRejection`, creating a
 * device item with only `thingName`, `createdAt` and the rejection when the device is unknown.
 * A rejection older than the recorded one is dropped. Returns whether it was recorded.
 */
export async function recordRejection(access: DevicesAccess, thingName: string, receivedAt: number, errors: unknown): Promise<boolean> {
  const rejection = { at: receivedAt, errors: recordedErrors(errors) };
  access.logger.warn('Capability document rejected', { errors: rejection.errors });
  try {
    await access.db.send(new UpdateCommand({
      TableName: access.devicesTable,
      Key: { thingName },
      UpdateExpression: 'SET lastRejection = :rejection, createdAt = if_not_exists(createdAt, :now)',
      ConditionExpression: 'attribute_not_exists(lastRejection) OR lastRejection.#at <= :at',
      ExpressionAttributeNames: { '#at': 'at' },
      ExpressionAttributeValues: { ':rejection': rejection, ':now': Date.now(), ':at': receivedAt },
    }));
    return true;
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem devices');
    }
    access.logger.info('A newer rejection is already recorded', { receivedAt });
    return false;
  }
}

/**
 * Records a failed onboarding execution as the device's `lastOnboardingFailure`, with the error
 * name and message that the Catch passed on. The Lambda error cause is JSON with the message and
 * the stack trace, and only the message is kept.
 */
export async function recordFailure(access: DevicesAccess, thingName: string, failure: CaughtError | undefined): Promise<{ error: string }> {
  const recorded = { at: Date.now(), error: failure?.Error ?? 'UnknownError', message: failureMessage(failure?.Cause) };
  access.logger.error('Device onboarding failed', { error: recorded.error, cause: recorded.message });
  await access.db.send(new UpdateCommand({
    TableName: access.devicesTable,
    Key: { thingName },
    UpdateExpression: 'SET lastOnboardingFailure = :failure, createdAt = if_not_exists(createdAt, :now)',
    ExpressionAttributeValues: { ':failure': recorded, ':now': recorded.at },
  })).catch((error) => { throw translateSdkError(error, 'UpdateItem devices'); });
  return { error: recorded.error };
}

function recordedErrors(errors: unknown): string[] {
  const list = Array.isArray(errors) ? errors : [errors];
  const texts = list
    .filter((error) => error !== undefined && error !== null)
    .map((error) => truncate(typeof error === 'string' ? error : JSON.stringify(error)));
  if (texts.length === 0) {
    return ['the document was rejected without a reason'];
  }
  if (texts.length > MAX_RECORDED_ERRORS) {
    return [...texts.slice(0, MAX_RECORDED_ERRORS), `${texts.length - MAX_RECORDED_ERRORS} more errors left out`];
  }
  return texts;
}

function failureMessage(cause: string | undefined): string {
  if (!cause) {
    return 'no cause was given';
  }
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') {
      return truncate(parsed.errorMessage);
    }
  } catch {
    // A cause that is not JSON, such as the text of States.Timeout, is kept as it is.
  }
  return truncate(cause);
}

function truncate(text: string): string {
  return text.length > MAX_RECORDED_TEXT_LENGTH ? `${text.slice(0, MAX_RECORDED_TEXT_LENGTH)}...` : text;
}
