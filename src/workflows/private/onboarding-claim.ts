import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DeviceNotFoundError, translateSdkError } from './errors';
import { ClaimRejection, ClaimRejectionReason, ClaimResult, OnboardingDeviceItem } from './onboarding-steps';
import { RegistryTableNames } from './registry-tables';
import { secretValue } from './secrets';
import { CLAIM_TOKEN_CLOCK_SKEW_MS, ClaimTokenPayload, verifyClaimToken } from '../../domain/claim-token';

/** The tables, the signing key and the clients that the claim step uses. */
export interface ClaimAccess {
  readonly db: DynamoDBDocumentClient;
  readonly tables: RegistryTableNames;
  readonly logger: Logger;
  /** ARN or name of the secret with the HMAC key of claim tokens. */
  readonly claimTokenSecretId: string;
}

/** A link between a user and a device in the links table. */
export interface LinkItem {
  readonly userId: string;
  readonly thingName: string;
  readonly role: 'OWNER';
  readonly linkedAt: number;
  readonly method: 'CLAIM_TOKEN';
}

/**
 * Record of a used claim token in the pairing codes table, under `claim#<jti>`. It makes a token
 * single use, and binds it to the device and the message that first used it.
 */
interface ClaimTokenUseItem {
  readonly codeHash: string;
  readonly kind: 'CLAIM_TOKEN';
  readonly userId: string;
  readonly thingName: string;
  /** Deduplication key of the message that used the token; a retry of that message may continue. */
  readonly dedupKey: string;
  readonly usedAt: number;
  /** Set when a message decided to link the device with this token. */
  readonly linkedAt?: number;
  /** Expiry of the record, epoch seconds. */
  readonly ttl: number;
}

/** Errors of verifyClaimToken that reject the token, by error name. Others are deployment errors. */
const TOKEN_ERROR_REASONS: Record<string, ClaimRejectionReason> = {
  ClaimTokenMalformedError: 'TOKEN_MALFORMED',
  ClaimTokenSignatureError: 'TOKEN_SIGNATURE_INVALID',
  ClaimTokenExpiredError: 'TOKEN_EXPIRED',
};

/**
 * Links a device to the user of the claim token in its capability document. The token must carry
 * a valid signature with the key in Secrets Manager, be unexpired, and be unused: its `jti` is
 * recorded with a conditional put, so only the first message that uses it can link with it. A
 * device that already has another owner is never relinked, and a device that the token's user
 * already owns is left as it is. Every rejection is recorded on the device as
 * `lastClaimRejection` and returned; it does not fail the workflow.
 */
export async function claimDevice(
  access: ClaimAccess,
  thingName: string,
  dedupKey: string,
  claimToken: unknown,
  now = Date.now(),
): Promise<ClaimResult> {
  const key = await secretValue(access.claimTokenSecretId);
  let payload: ClaimTokenPayload;
  try {
    payload = verifyClaimToken(claimToken as string, key, now);
  } catch (error) {
    const reason = TOKEN_ERROR_REASONS[(error as Error).name];
    if (reason === undefined) {
      throw error;
    }
    return rejectClaim(access, thingName, reason, (error as Error).message, null);
  }
  access.logger.appendKeys({ claimUserId: payload.sub });

  const use = await recordTokenUse(access, thingName, dedupKey, payload, now);
  const device = await readOwner(access, thingName);

  if (device.ownerId === payload.sub) {
    await putLink(access, payload.sub, thingName, now);
    // A retry of the message that linked the device returns what the first attempt returned.
    const linkedByThisMessage = use.dedupKey === dedupKey && use.linkedAt !== undefined;
    access.logger.info(linkedByThisMessage ? 'Device linked by claim token' : 'Device already owned by the claim token\'s user');
    return { linked: linkedByThisMessage, outcome: linkedByThisMessage ? 'LINKED' : 'ALREADY_LINKED', ownerId: payload.sub };
  }
  if (device.ownerId !== undefined) {
    return rejectClaim(access, thingName, 'OWNED_BY_ANOTHER_USER', 'The device is owned by another user; that user must remove it before it can be claimed.', device.ownerId);
  }

  // The token is usable by the message that recorded it, and by a later message from the same
  // device when no message has linked with it yet (the first one failed before linking).
  const usable = use.dedupKey === dedupKey || (use.thingName === thingName && use.linkedAt === undefined);
  if (!usable || !(await markTokenLinking(access, use.codeHash, dedupKey, now))) {
    return rejectClaim(access, thingName, 'TOKEN_REUSED', 'The claim token was already used; request a new token in the app.', null);
  }

  if (!(await setOwner(access, thingName, payload.sub, now))) {
    const current = await readOwner(access, thingName);
    if (current.ownerId !== payload.sub) {
      return rejectClaim(access, thingName, 'OWNED_BY_ANOTHER_USER', 'Another user claimed the device at the same time.', current.ownerId ?? null);
    }
  }
  await putLink(access, payload.sub, thingName, now);
  access.logger.info('Device linked by claim token');
  return { linked: true, outcome: 'LINKED', ownerId: payload.sub };
}

/** Records the token's first use, or returns the record of an earlier use. */
async function recordTokenUse(
  access: ClaimAccess,
  thingName: string,
  dedupKey: string,
  payload: ClaimTokenPayload,
  now: number,
): Promise<ClaimTokenUseItem> {
  const item: ClaimTokenUseItem = {
    codeHash: `claim#${payload.jti}`,
    kind: 'CLAIM_TOKEN',
    userId: payload.sub,
    thingName,
    dedupKey,
    usedAt: now,
    // The record must outlive the token: verification accepts it until exp, with clock skew.
    ttl: Math.ceil((payload.exp + CLAIM_TOKEN_CLOCK_SKEW_MS) / 1000) + 3600,
  };
  try {
    await access.db.send(new PutCommand({ TableName: access.tables.pairingCodes, Item: item, ConditionExpression: 'attribute_not_exists(codeHash)' }));
    return item;
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'PutItem pairing codes');
    }
  }
  const key = { codeHash: item.codeHash };
  const existing = await access.db.send(new GetCommand({ TableName: access.tables.pairingCodes, Key: key, ConsistentRead: true }))
    .catch((error) => { throw translateSdkError(error, 'GetItem pairing codes'); });
  return (existing.Item as ClaimTokenUseItem | undefined) ?? item;
}

/**
 * Marks the token as linking for this message. Only one message can do so, which stops two
 * messages that carry the same token from both linking. Returns false when another message won.
 */
async function markTokenLinking(access: ClaimAccess, codeHash: string, dedupKey: string, now: number): Promise<boolean> {
  try {
    await access.db.send(new UpdateCommand({
      TableName: access.tables.pairingCodes,
      Key: { codeHash },
      UpdateExpression: 'SET linkedAt = :now, dedupKey = :dedupKey',
      ConditionExpression: 'attribute_exists(codeHash) AND (attribute_not_exists(linkedAt) OR dedupKey = :dedupKey)',
      ExpressionAttributeValues: { ':now': now, ':dedupKey': dedupKey },
    }));
    return true;
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem pairing codes');
    }
    return false;
  }
}

async function readOwner(access: ClaimAccess, thingName: string): Promise<Pick<OnboardingDeviceItem, 'ownerId'>> {
  const result = await access.db.send(new GetCommand({ TableName: access.tables.devices, Key: { thingName }, ProjectionExpression: 'thingName, ownerId', ConsistentRead: true }))
    .catch((error) => { throw translateSdkError(error, 'GetItem devices'); });
  if (!result.Item) {
    throw new DeviceNotFoundError(`Device '${thingName}' is not in the registry; the register step creates it before the claim step runs.`);
  }
  return result.Item as OnboardingDeviceItem;
}

/** Sets the device's owner unless another user owns it. Returns false when another user does. */
async function setOwner(access: ClaimAccess, thingName: string, userId: string, now: number): Promise<boolean> {
  try {
    await access.db.send(new UpdateCommand({
      TableName: access.tables.devices,
      Key: { thingName },
      UpdateExpression: 'SET ownerId = :user, updatedAt = :now',
      ConditionExpression: 'attribute_exists(thingName) AND (attribute_not_exists(ownerId) OR ownerId = :user)',
      ExpressionAttributeValues: { ':user': userId, ':now': now },
    }));
    return true;
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem devices');
    }
    return false;
  }
}

/** Creates the owner's link unless one exists, so a link made by a pairing code keeps its method and time. */
async function putLink(access: ClaimAccess, userId: string, thingName: string, now: number): Promise<void> {
  const link: LinkItem = { userId, thingName, role: 'OWNER', linkedAt: now, method: 'CLAIM_TOKEN' };
  try {
    await access.db.send(new PutCommand({ TableName: access.tables.links, Item: link, ConditionExpression: 'attribute_not_exists(userId)' }));
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'PutItem links');
    }
  }
}

async function rejectClaim(
  access: ClaimAccess,
  thingName: string,
  reason: ClaimRejectionReason,
  message: string,
  ownerId: string | null,
): Promise<ClaimResult> {
  const rejection: ClaimRejection = { at: Date.now(), reason, message };
  access.logger.warn('Claim token rejected', { reason, message });
  await access.db.send(new UpdateCommand({
    TableName: access.tables.devices,
    Key: { thingName },
    UpdateExpression: 'SET lastClaimRejection = :rejection',
    ConditionExpression: 'attribute_exists(thingName)',
    ExpressionAttributeValues: { ':rejection': rejection },
  })).catch((error) => { throw translateSdkError(error, 'UpdateItem devices'); });
  return { linked: false, outcome: reason, ownerId };
}
