import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { DeviceUpdatePublisher } from './private/device-updates';
import { DeviceNotFoundError, InvalidRequestError, NotAuthorizedError, TransientDependencyError, translateSdkError, WorkflowError } from './private/errors';
import { idempotentHandler } from './private/idempotency';
import { DeviceItem } from './private/registry-items';
import { documentClient, registryTablesFromEnv } from './private/registry-tables';
import { secretValue } from './private/secrets';
import {
  evaluatePairingAttempt,
  generatePairingCode,
  hashPairingCode,
  MAX_PAIRING_ATTEMPTS,
  PAIRING_ATTEMPT_WINDOW_MS,
  PAIRING_CODE_TTL_MS,
  PairingCodeRecord,
  pairingRejectionError,
} from '../domain/pairing-codes';
import { Topics } from '../domain/topics';
import { PlatformEventSource, PlatformEventType } from '../events/event-contracts';

const logger = new Logger();
const tables = registryTablesFromEnv();
const db = documentClient();
const iotData = new IoTDataPlaneClient({ endpoint: dataEndpointUrl(process.env.IOT_DATA_ENDPOINT) });
const eventBridge = new EventBridgeClient({});
const updates = new DeviceUpdatePublisher(process.env.GRAPHQL_URL);
const EVENT_BUS_NAME = process.env.EVENT_BUS_NAME;
const PEPPER_SECRET = process.env.PAIRING_CODE_PEPPER_SECRET;
const LINKS_BY_THING_INDEX = process.env.LINKS_BY_THING_INDEX ?? 'byThing';
/** Actions that this function accepts; the construct gives the steps and the pairing function different sets. */
const ENABLED_ACTIONS = new Set((process.env.DEVICE_LINKING_ACTIONS ?? '').split(',').filter((action) => action.length > 0));

/**
 * Size of the buckets that failed attempts are counted in, in milliseconds. A user's failures
 * are summed over the buckets that cover the attempt window, so every failure of the last 15
 * minutes counts, and so may failures up to one bucket older.
 */
const ATTEMPT_BUCKET_MS = 60 * 1000;
/** How long a pairing code record is kept after the code expires, so late attempts read "expired" instead of "not found". */
const CODE_RECORD_RETENTION_SECONDS = 24 * 3600;
/** Thing names as AWS IoT accepts them; they also become MQTT topic levels, so `/`, `+` and `#` are excluded. */
const THING_NAME_PATTERN = /^[A-Za-z0-9:_-]{1,128}$/;
/** Codes that one issue call generates before it gives up on collisions with stored codes. */
const ISSUE_ATTEMPTS = 3;

/** A device as the linking steps read it: the registry item and the time of its current link. */
type LinkedDeviceItem = DeviceItem & { readonly linkedAt?: number };

/** A pairing code in the pairing codes table, keyed by the peppered hash of the code. */
interface PairingCodeItem {
  readonly codeHash: string;
  readonly thingName: string;
  readonly issuedAt: number;
  readonly issuedBy: string;
  /** End of the code's lifetime, epoch milliseconds. */
  readonly expiresAt: number;
  readonly usedAt?: number;
  readonly usedBy?: string;
  /** Execution that claimed the code; retries of that execution may claim it again. */
  readonly linkExecution?: string;
  /** Expiry of the record, epoch seconds. */
  readonly ttl: number;
}

/** A PutEvents entry that EventBridge rejected for a reason that a retry does not fix. */
export class EventNotAcceptedError extends WorkflowError {}

type StepEvent = { execution: string } & (
  | { action: 'checkCode'; userId: unknown; code: unknown; requestedAt: unknown }
  | { action: 'link'; userId: string; codeHash: string }
  | { action: 'recordFailedAttempt'; userId: string; error?: string }
  | { action: 'notifyLinked'; userId: string; deviceId: string; linkedAt: number }
  | { action: 'emitLinked'; userId: string; deviceId: string; linkedAt: number; requestedAt: number }
  | { action: 'unlink'; userId: unknown; deviceId: unknown; requestedAt: unknown }
  | { action: 'reset'; userId: string; deviceId: string }
  | { action: 'notifyRemoved'; userId: string; deviceId: string; unlinkedAt: number }
  | { action: 'emitUnlinked'; userId: string; deviceId: string; unlinkedAt: number; requestedAt: number });

type IssueEvent = { action: 'issue'; deviceId: unknown; issuedBy: unknown };

/**
 * Steps of the device linking workflows, and the `issue` action that creates pairing codes.
 * Step Functions may retry a step, so each step is idempotent per execution and action. `issue`
 * is not: every call returns a new code, and an idempotency record would store the code itself.
 */
export async function handler(event: StepEvent | IssueEvent, context: Context): Promise<unknown> {
  const action = (event as { action?: unknown } | undefined)?.action;
  if (typeof action !== 'string' || !ENABLED_ACTIONS.has(action)) {
    throw new InvalidRequestError(`Action ${JSON.stringify(action)} is not accepted by this function; it accepts: ${[...ENABLED_ACTIONS].join(', ')}.`);
  }
  if (event.action === 'issue') {
    try {
      return await issue(event);
    } finally {
      logger.resetKeys();
    }
  }
  return steps(event, context);
}

const steps = idempotentHandler(tables.idempotency, '[action, execution]', async (event: StepEvent, _context: Context) => {
  logger.appendKeys({ action: event.action });
  try {
    switch (event.action) {
      case 'checkCode':
        return await checkCode(parseLinkRequest(event));
      case 'link':
        return await link(event.userId, event.codeHash, event.execution);
      case 'recordFailedAttempt':
        return await recordFailedAttempt(event.userId, event.error);
      case 'notifyLinked':
        return await notify({ deviceId: event.deviceId, ownerId: event.userId, kind: 'linked', at: event.linkedAt });
      case 'emitLinked':
        return await emit(PlatformEventType.DEVICE_LINKED, event.execution, {
          thingName: event.deviceId, userId: event.userId, linkedAt: event.linkedAt, requestedAt: event.requestedAt,
        });
      case 'unlink':
        return await unlink(parseUnlinkRequest(event));
      case 'reset':
        return await reset(event.deviceId, event.execution);
      case 'notifyRemoved':
        return await notify({ deviceId: event.deviceId, ownerId: event.userId, kind: 'removed', removed: true, at: event.unlinkedAt });
      case 'emitUnlinked':
        return await emit(PlatformEventType.DEVICE_UNLINKED, event.execution, {
          thingName: event.deviceId, userId: event.userId, unlinkedAt: event.unlinkedAt, requestedAt: event.requestedAt,
        });
      default:
        throw new InvalidRequestError(`Unknown action ${JSON.stringify((event as { action?: unknown }).action)}.`);
    }
  } finally {
    logger.resetKeys();
  }
});

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

interface LinkRequest {
  readonly userId: string;
  readonly code: string;
  readonly requestedAt: number;
}

interface UnlinkRequest {
  readonly userId: string;
  readonly deviceId: string;
  readonly requestedAt: number;
}

function parseLinkRequest(input: { userId: unknown; code: unknown; requestedAt: unknown }): LinkRequest {
  checkUserId(input.userId, 'link');
  checkRequestedAt(input.requestedAt, 'link');
  // The code's format is checked by hashPairingCode, which raises PairingCodeInvalidError.
  return input as LinkRequest;
}

function parseUnlinkRequest(input: { userId: unknown; deviceId: unknown; requestedAt: unknown }): UnlinkRequest {
  checkUserId(input.userId, 'unlink');
  checkDeviceId(input.deviceId, 'unlink');
  checkRequestedAt(input.requestedAt, 'unlink');
  return input as UnlinkRequest;
}

function checkUserId(value: unknown, request: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) {
    throw new InvalidRequestError(`Invalid ${request} request: userId ${JSON.stringify(value)} must be a user id of 1 to 128 characters.`);
  }
}

function checkDeviceId(value: unknown, request: string): asserts value is string {
  if (typeof value !== 'string' || !THING_NAME_PATTERN.test(value)) {
    throw new InvalidRequestError(`Invalid ${request} request: deviceId ${JSON.stringify(value)} must be a thing name matching ${THING_NAME_PATTERN.source}.`);
  }
}

function checkRequestedAt(value: unknown, request: string): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new InvalidRequestError(`Invalid ${request} request: requestedAt ${JSON.stringify(value)} must be epoch milliseconds.`);
  }
}

// ---------------------------------------------------------------------------------------------
// Pairing codes
// ---------------------------------------------------------------------------------------------

/**
 * Creates a pairing code for a device and stores only its peppered hash. Returns the code in
 * display form; this is the only place it appears.
 */
async function issue(event: IssueEvent): Promise<{ deviceId: string; code: string; expiresAt: number }> {
  checkDeviceId(event.deviceId, 'issue');
  if (typeof event.issuedBy !== 'string' || event.issuedBy.length === 0) {
    throw new InvalidRequestError(`Invalid issue request: issuedBy ${JSON.stringify(event.issuedBy)} must name the installer or factory user.`);
  }
  const deviceId = event.deviceId;
  logger.appendKeys({ thingName: deviceId, issuedBy: event.issuedBy });
  if (!await getDevice(deviceId)) {
    throw new DeviceNotFoundError(`Device '${deviceId}' is not in the registry; provision it before issuing a pairing code.`);
  }

  const pepper = await secretValue(PEPPER_SECRET);
  for (let attempt = 1; attempt <= ISSUE_ATTEMPTS; attempt++) {
    const code = generatePairingCode();
    const issuedAt = Date.now();
    const expiresAt = issuedAt + PAIRING_CODE_TTL_MS;
    const item: PairingCodeItem = {
      codeHash: hashPairingCode(code, pepper),
      thingName: deviceId,
      issuedAt,
      issuedBy: event.issuedBy,
      expiresAt,
      ttl: Math.ceil(expiresAt / 1000) + CODE_RECORD_RETENTION_SECONDS,
    };
    try {
      // The condition keeps a colliding code from overwriting another device's record.
      await db.send(new PutCommand({ TableName: tables.pairingCodes, Item: item, ConditionExpression: 'attribute_not_exists(codeHash)' }));
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') {
        logger.warn('Generated pairing code collides with a stored one; generating another', { attempt });
        continue;
      }
      throw translateSdkError(error, 'PutItem pairing codes');
    }
    logger.info('Pairing code issued', { expiresAt });
    return { deviceId, code, expiresAt };
  }
  throw new TransientDependencyError(`Generated ${ISSUE_ATTEMPTS} pairing codes that were all in use; try again.`);
}

/**
 * Decides whether a user's code links a device. Throws the pairing error of a rejection, and
 * returns the outcome (`LINK` or `ALREADY_LINKED`), the device and the code's hash otherwise.
 */
async function checkCode(request: LinkRequest): Promise<{ outcome: 'LINK' | 'ALREADY_LINKED'; deviceId: string; codeHash: string }> {
  logger.appendKeys({ userId: request.userId });
  const now = Date.now();
  const attemptsInWindow = await countFailedAttempts(request.userId, now);
  if (attemptsInWindow >= MAX_PAIRING_ATTEMPTS) {
    // Checked before the code is even parsed, so a blocked user learns nothing about it.
    logger.warn('Pairing attempt rejected: too many failed attempts', { attemptsInWindow });
    throw pairingRejectionError('TOO_MANY_ATTEMPTS');
  }

  const pepper = await secretValue(PEPPER_SECRET);
  const codeHash = hashPairingCode(request.code, pepper);
  const code = await getPairingCode(codeHash);
  const device = code ? await getDevice(code.thingName) : undefined;
  if (code) {
    logger.appendKeys({ thingName: code.thingName });
  }

  const decision = evaluatePairingAttempt({ record: pairingRecord(code, device), userId: request.userId, now, attemptsInWindow });
  if (decision.outcome === 'REJECTED') {
    logger.info('Pairing attempt rejected', { reason: decision.reason, attemptsInWindow });
    throw pairingRejectionError(decision.reason);
  }
  if (!device) {
    throw new DeviceNotFoundError(`The pairing code belongs to device '${code!.thingName}', which is not in the registry.`);
  }
  if (decision.outcome === 'ALREADY_LINKED' && !await linkExists(request.userId, device.thingName)) {
    // The device names this user as owner, but an earlier execution failed before it wrote the
    // links item. Linking again completes it.
    logger.warn('Device is owned by the user but has no links item; completing the link');
    return { outcome: 'LINK', deviceId: device.thingName, codeHash };
  }
  return { outcome: decision.outcome, deviceId: device.thingName, codeHash };
}

/**
 * Links the device to the user. The code is claimed first with a conditional write, which makes
 * it single use under concurrent requests. The device's `ownerId` is set next, only if it is
 * absent or already this user, and the links item last. Each write lets a retry of the same
 * execution through, so Step Functions can retry the step after a failure in between.
 */
async function link(userId: string, codeHash: string, execution: string): Promise<{ outcome: 'LINKED' | 'ALREADY_LINKED'; deviceId: string; linkedAt: number }> {
  logger.appendKeys({ userId });
  const now = Date.now();
  const claimed = await claimCode(codeHash, userId, execution, now);
  if (!claimed) {
    return explainLostClaim(userId, codeHash, now);
  }
  const thingName = claimed.thingName;
  logger.appendKeys({ thingName });

  let device: LinkedDeviceItem;
  try {
    const result = await db.send(new UpdateCommand({
      TableName: tables.devices,
      Key: { thingName },
      UpdateExpression: 'SET ownerId = :user, linkedAt = if_not_exists(linkedAt, :now), updatedAt = :now',
      ConditionExpression: 'attribute_exists(thingName) AND (attribute_not_exists(ownerId) OR ownerId = :user)',
      ExpressionAttributeValues: { ':user': userId, ':now': now },
      ReturnValues: 'ALL_NEW',
    }));
    device = result.Attributes as LinkedDeviceItem;
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem devices');
    }
    // Another user linked the device with another code since the check. The code did not link
    // anything, so it is released.
    await releaseCode(codeHash, execution);
    if (!await getDevice(thingName)) {
      throw new DeviceNotFoundError(`Device '${thingName}' is not in the registry.`);
    }
    logger.info('Pairing attempt rejected: device linked to another user during the attempt');
    throw pairingRejectionError('OWNED_BY_ANOTHER_USER');
  }

  await putLinkIfAbsent(userId, thingName, device.linkedAt ?? now);
  logger.info('Device linked');
  return { outcome: 'LINKED', deviceId: thingName, linkedAt: device.linkedAt ?? now };
}

/** Marks the code used by this execution. Returns the code, or undefined when the claim's condition failed. */
async function claimCode(codeHash: string, userId: string, execution: string, now: number): Promise<PairingCodeItem | undefined> {
  try {
    const result = await db.send(new UpdateCommand({
      TableName: tables.pairingCodes,
      Key: { codeHash },
      UpdateExpression: 'SET usedAt = if_not_exists(usedAt, :now), usedBy = :user, linkExecution = :execution',
      ConditionExpression: 'attribute_exists(codeHash) AND ((attribute_not_exists(usedAt) AND expiresAt > :now) OR linkExecution = :execution)',
      ExpressionAttributeValues: { ':now': now, ':user': userId, ':execution': execution },
      ReturnValues: 'ALL_NEW',
    }));
    return result.Attributes as PairingCodeItem;
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') {
      return undefined;
    }
    throw translateSdkError(error, 'UpdateItem pairing codes');
  }
}

/**
 * Decides the outcome of a request whose claim failed because the code changed after the
 * check: another request used it, or it expired.
 */
async function explainLostClaim(userId: string, codeHash: string, now: number): Promise<{ outcome: 'ALREADY_LINKED'; deviceId: string; linkedAt: number }> {
  const code = await getPairingCode(codeHash);
  const device = code ? await getDevice(code.thingName) : undefined;
  if (code) {
    logger.appendKeys({ thingName: code.thingName });
  }
  if (code && (device?.ownerId === userId || code.usedBy === userId)) {
    // This user's concurrent request used the code. It writes the links item itself; writing it
    // here as well completes a link that an earlier execution left without one.
    if (device?.ownerId === userId) {
      await putLinkIfAbsent(userId, code.thingName, now);
    }
    logger.info('Code used by a concurrent request of the same user');
    return { outcome: 'ALREADY_LINKED', deviceId: code.thingName, linkedAt: device?.linkedAt ?? now };
  }

  const decision = evaluatePairingAttempt({ record: pairingRecord(code, device), userId, now, attemptsInWindow: 0 });
  if (decision.outcome === 'REJECTED') {
    logger.info('Pairing attempt rejected: code changed during the attempt', { reason: decision.reason });
    throw pairingRejectionError(decision.reason);
  }
  // The code is usable again, which happens when a competing request released it. A retry of
  // this step claims it afresh.
  throw new TransientDependencyError('The pairing code changed while it was being claimed; retrying the claim.');
}

async function releaseCode(codeHash: string, execution: string): Promise<void> {
  try {
    await db.send(new UpdateCommand({
      TableName: tables.pairingCodes,
      Key: { codeHash },
      UpdateExpression: 'REMOVE usedAt, usedBy, linkExecution',
      ConditionExpression: 'linkExecution = :execution',
      ExpressionAttributeValues: { ':execution': execution },
    }));
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem pairing codes');
    }
  }
}

function pairingRecord(code: PairingCodeItem | undefined, device: DeviceItem | undefined): PairingCodeRecord | undefined {
  if (!code) {
    return undefined;
  }
  return { deviceId: code.thingName, expiresAt: code.expiresAt, usedAt: code.usedAt, ownerId: device?.ownerId };
}

async function getPairingCode(codeHash: string): Promise<PairingCodeItem | undefined> {
  const result = await db.send(new GetCommand({ TableName: tables.pairingCodes, Key: { codeHash }, ConsistentRead: true }))
    .catch((error) => { throw translateSdkError(error, 'GetItem pairing codes'); });
  const item = result.Item as PairingCodeItem | undefined;
  // Failed-attempt counters share the table; they have no thingName.
  return item?.thingName ? item : undefined;
}

// ---------------------------------------------------------------------------------------------
// Failed attempts
// ---------------------------------------------------------------------------------------------

function attemptBucketKey(userId: string, bucketStart: number): string {
  return `attempts#${userId}#${bucketStart}`;
}

/** Sums the user's failed attempts over the buckets that cover the attempt window. */
async function countFailedAttempts(userId: string, now: number): Promise<number> {
  const currentBucket = Math.floor(now / ATTEMPT_BUCKET_MS) * ATTEMPT_BUCKET_MS;
  const bucketCount = Math.ceil(PAIRING_ATTEMPT_WINDOW_MS / ATTEMPT_BUCKET_MS) + 1;
  let keys: Record<string, unknown>[] = [];
  for (let index = 0; index < bucketCount; index++) {
    keys.push({ codeHash: attemptBucketKey(userId, currentBucket - index * ATTEMPT_BUCKET_MS) });
  }

  let total = 0;
  for (let round = 0; round < 5 && keys.length > 0; round++) {
    const result = await db.send(new BatchGetCommand({
      RequestItems: { [tables.pairingCodes]: { Keys: keys, ConsistentRead: true, ProjectionExpression: 'attempts' } },
    })).catch((error) => { throw translateSdkError(error, 'BatchGetItem pairing codes'); });
    for (const item of result.Responses?.[tables.pairingCodes] ?? []) {
      total += Number(item.attempts ?? 0);
    }
    keys = (result.UnprocessedKeys?.[tables.pairingCodes]?.Keys ?? []) as Record<string, unknown>[];
  }
  if (keys.length > 0) {
    throw new TransientDependencyError(`BatchGetItem pairing codes left ${keys.length} failed-attempt counters unread after 5 rounds.`);
  }
  return total;
}

/**
 * Adds one failed attempt to the user's counter for the current bucket. Attempts rejected for
 * too many failures are not recorded: they never check a code, and counting them would keep a
 * user who retries early blocked for longer than the window.
 */
async function recordFailedAttempt(userId: string, reason: string | undefined): Promise<{ attemptsInBucket: number }> {
  checkUserId(userId, 'recordFailedAttempt');
  logger.appendKeys({ userId });
  const now = Date.now();
  const bucketStart = Math.floor(now / ATTEMPT_BUCKET_MS) * ATTEMPT_BUCKET_MS;
  const result = await db.send(new UpdateCommand({
    TableName: tables.pairingCodes,
    Key: { codeHash: attemptBucketKey(userId, bucketStart) },
    UpdateExpression: 'ADD attempts :one SET userId = :user, #ttl = :ttl',
    ExpressionAttributeNames: { '#ttl': 'ttl' },
    ExpressionAttributeValues: {
      ':one': 1,
      ':user': userId,
      ':ttl': Math.ceil((bucketStart + PAIRING_ATTEMPT_WINDOW_MS + 2 * ATTEMPT_BUCKET_MS) / 1000),
    },
    ReturnValues: 'UPDATED_NEW',
  })).catch((error) => { throw translateSdkError(error, 'UpdateItem pairing codes'); });
  const attemptsInBucket = Number(result.Attributes?.attempts ?? 1);
  logger.info('Failed pairing attempt recorded', { reason, attemptsInBucket });
  return { attemptsInBucket };
}

// ---------------------------------------------------------------------------------------------
// Unlinking
// ---------------------------------------------------------------------------------------------

/**
 * Removes the user's ownership of the device. The user must be the device's owner (`ownerId`),
 * which only a successful link sets. The links items go first, because they grant access in the
 * API and the relay workflow. The device's owner, name and room are cleared last with a
 * conditional write, so a retry after a failure in between finds the user still owner and
 * finishes the removal. A device that was already removed raises NotAuthorizedError.
 */
async function unlink(request: UnlinkRequest): Promise<{ deviceId: string; unlinkedAt: number }> {
  const { userId, deviceId } = request;
  logger.appendKeys({ userId, thingName: deviceId });
  const [device, hasLink] = await Promise.all([getDevice(deviceId), linkExists(userId, deviceId)]);
  if (!device || device.ownerId !== userId) {
    logger.info('Unlink rejected: user does not own the device', { linked: hasLink });
    throw new NotAuthorizedError(`User '${userId}' does not own device '${deviceId}'; only its owner can remove it.`);
  }
  if (!hasLink) {
    logger.warn('Device is owned by the user but has no links item; completing an earlier removal');
  }

  await deleteLinks(userId, deviceId);
  const unlinkedAt = Date.now();
  try {
    await db.send(new UpdateCommand({
      TableName: tables.devices,
      Key: { thingName: deviceId },
      UpdateExpression: 'REMOVE ownerId, #name, room, linkedAt SET updatedAt = :now, unlinkedAt = :now',
      ConditionExpression: 'ownerId = :user',
      ExpressionAttributeNames: { '#name': 'name' },
      ExpressionAttributeValues: { ':user': userId, ':now': unlinkedAt },
    }));
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') {
      throw new NotAuthorizedError(`User '${userId}' no longer owns device '${deviceId}'; a concurrent request removed it.`);
    }
    throw translateSdkError(error, 'UpdateItem devices');
  }
  logger.info('Device unlinked');
  return { deviceId, unlinkedAt };
}

/** Deletes the owner's links item and every other user's link to the device, so no user keeps access to a reset device. */
async function deleteLinks(userId: string, thingName: string): Promise<void> {
  await deleteLink(userId, thingName);
  let exclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(new QueryCommand({
      TableName: tables.links,
      IndexName: LINKS_BY_THING_INDEX,
      KeyConditionExpression: 'thingName = :thing',
      ExpressionAttributeValues: { ':thing': thingName },
      ProjectionExpression: 'userId, thingName',
      ExclusiveStartKey: exclusiveStartKey,
    })).catch((error) => { throw translateSdkError(error, 'Query links by thing'); });
    for (const item of page.Items ?? []) {
      if (item.userId !== userId) {
        logger.info('Deleting another user\'s link to the removed device', { linkedUserId: item.userId });
        await deleteLink(String(item.userId), thingName);
      }
    }
    exclusiveStartKey = page.LastEvaluatedKey;
  } while (exclusiveStartKey);
}

async function deleteLink(userId: string, thingName: string): Promise<void> {
  await db.send(new DeleteCommand({ TableName: tables.links, Key: { userId, thingName } }))
    .catch((error) => { throw translateSdkError(error, 'DeleteItem links'); });
}

/**
 * Publishes the reset command (contract schema `reset`) that makes the device forget its owner.
 * The commandId derives from the execution, so a retried publish carries the same id and the
 * device can drop the duplicate.
 */
async function reset(deviceId: string, execution: string): Promise<{ commandId: string }> {
  logger.appendKeys({ thingName: deviceId });
  const commandId = `reset-${digest(execution).slice(0, 32)}`;
  const payload = { commandId, reason: 'UNLINKED', issuedAt: Date.now() };
  await iotData.send(new PublishCommand({
    topic: Topics.resetControl(deviceId),
    qos: 1,
    payload: Buffer.from(JSON.stringify(payload)),
  })).catch((error) => { throw translateSdkError(error, 'IoT Publish'); });
  logger.info('Reset published', { commandId });
  return { commandId };
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

async function getDevice(thingName: string): Promise<LinkedDeviceItem | undefined> {
  const result = await db.send(new GetCommand({ TableName: tables.devices, Key: { thingName }, ConsistentRead: true }))
    .catch((error) => { throw translateSdkError(error, 'GetItem devices'); });
  return result.Item as LinkedDeviceItem | undefined;
}

async function linkExists(userId: string, thingName: string): Promise<boolean> {
  const result = await db.send(new GetCommand({ TableName: tables.links, Key: { userId, thingName }, ConsistentRead: true }))
    .catch((error) => { throw translateSdkError(error, 'GetItem links'); });
  return result.Item !== undefined;
}

/** Writes the owner's links item unless it exists, so a repeated write keeps the first linkedAt. */
async function putLinkIfAbsent(userId: string, thingName: string, linkedAt: number): Promise<void> {
  try {
    await db.send(new PutCommand({
      TableName: tables.links,
      Item: { userId, thingName, role: 'OWNER', linkedAt },
      ConditionExpression: 'attribute_not_exists(userId)',
    }));
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'PutItem links');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Notifications and events
// ---------------------------------------------------------------------------------------------

/**
 * Pushes an update to the owner's onDeviceUpdate subscribers. Every failure is raised as
 * transient, because the publisher does not tell throttling and server errors apart from
 * others; Step Functions stops retrying after its maximum attempts.
 */
async function notify(update: { deviceId: string; ownerId: string; kind: string; removed?: boolean; at: number }): Promise<{ notified: boolean }> {
  logger.appendKeys({ userId: update.ownerId, thingName: update.deviceId });
  try {
    const notified = await updates.publish(update);
    logger.info('Owner notified', { kind: update.kind, notified });
    return { notified };
  } catch (error) {
    const transient = new TransientDependencyError(`publishDeviceUpdate failed: ${(error as Error).message}`);
    transient.cause = error;
    throw transient;
  }
}

type EventDetail = { thingName: string; userId: string; requestedAt: number } & Record<string, unknown>;

/**
 * Puts one platform event on the bus. The detail's dedupKey derives from the execution, so
 * consumers can drop the copy that a retried step may send.
 */
async function emit(detailType: string, execution: string, detail: EventDetail): Promise<{ eventId?: string }> {
  logger.appendKeys({ userId: detail.userId, thingName: detail.thingName });
  const result = await eventBridge.send(new PutEventsCommand({
    Entries: [{
      EventBusName: EVENT_BUS_NAME,
      Source: PlatformEventSource.WORKFLOW,
      DetailType: detailType,
      Detail: JSON.stringify({ ...detail, dedupKey: digest(`${detail.thingName}|${detailType}|${execution}`) }),
    }],
  })).catch((error) => { throw translateSdkError(error, 'PutEvents'); });

  const entry = result.Entries?.[0];
  if (result.FailedEntryCount || entry?.ErrorCode) {
    const message = `PutEvents did not accept the ${detailType} event: ${entry?.ErrorCode}: ${entry?.ErrorMessage}`;
    if (entry?.ErrorCode === 'ThrottlingException' || entry?.ErrorCode === 'InternalFailure') {
      throw new TransientDependencyError(message);
    }
    throw new EventNotAcceptedError(message);
  }
  logger.info('Event emitted', { detailType, eventId: entry?.EventId });
  return { eventId: entry?.EventId };
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Returns the URL of the IoT data endpoint: deployed stacks pass a host name, and a local endpoint may carry its own scheme. */
function dataEndpointUrl(endpoint: string | undefined): string | undefined {
  if (!endpoint) {
    return undefined;
  }
  return endpoint.includes('://') ? endpoint : `https://${endpoint}`;
}
