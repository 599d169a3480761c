import { Logger } from '@aws-lambda-powertools/logger';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SFNClient, StartExecutionCommand, StartSyncExecutionCommand } from '@aws-sdk/client-sfn';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { issueClaimToken } from '../domain/claim-token';
import { newCommandId } from '../domain/relay-commands';
import { DeviceNotFoundError, InvalidRequestError, NotAuthorizedError, translateSdkError, WorkflowError } from '../workflows/private/errors';
import { ownedDevice as ownedDeviceOf } from '../workflows/private/ownership';
import { DeviceItem } from '../workflows/private/registry-items';
import { documentClient, registryTablesFromEnv } from '../workflows/private/registry-tables';
import { secretValue } from '../workflows/private/secrets';

const logger = new Logger();
const tables = registryTablesFromEnv();
const db = documentClient();
// StartSyncExecution goes to the `sync-` host of the Step Functions endpoint. A custom endpoint
// (AWS_ENDPOINT_URL_SFN, such as the local sandbox's) serves every call on its own host.
const stepFunctions = new SFNClient(process.env.AWS_ENDPOINT_URL_SFN ? { disableHostPrefix: true } : {});
const s3 = new S3Client(process.env.AWS_ENDPOINT_URL_S3 ? { forcePathStyle: true } : {});
const lambda = new LambdaClient({});

// Configuration comes from the function's environment, read once when the module loads.
const config = {
  uiConfigBucket: process.env.UI_CONFIG_BUCKET,
  relayStateMachineArn: process.env.RELAY_COMMAND_STATE_MACHINE_ARN,
  commandTtlMs: Number(process.env.COMMAND_TTL_MS ?? '10000'),
  linkStateMachineArn: process.env.LINK_STATE_MACHINE_ARN,
  unlinkStateMachineArn: process.env.UNLINK_STATE_MACHINE_ARN,
  pairingFunctionName: process.env.PAIRING_FUNCTION_NAME,
  claimTokenKeySecret: process.env.CLAIM_TOKEN_KEY_SECRET,
  otaStateMachineArn: process.env.OTA_STATE_MACHINE_ARN,
  fleetThingGroupArn: process.env.FLEET_THING_GROUP_ARN,
  adminsGroup: process.env.ADMINS_GROUP ?? 'admins',
};

const DEVICES_BY_OWNER_INDEX = 'byOwner';
const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 50;
const MAX_NAME_LENGTH = 64;

/** Request that the API's resolvers pass to this function for every field. */
export interface ResolverEvent {
  readonly field: string;
  readonly arguments: Record<string, any>;
  readonly identity: { readonly sub: string; readonly groups?: string[] | null };
}

type FieldResolver = (args: Record<string, any>, user: { sub: string; groups: string[] }) => Promise<unknown>;

const FIELDS: Record<string, FieldResolver> = {
  getMyDevices,
  getDeviceState: (args, user) => deviceState(args.deviceId, user.sub),
  getDeviceUi: (args, user) => deviceUi(args.deviceId, user.sub),
  controlRelay,
  registerDevice: (args, user) => registerDevice(args.input, user.sub),
  addDevice: (args, user) => addDevice(args.code, user.sub),
  removeDevice: (args, user) => removeDevice(args.deviceId, user.sub),
  createClaimToken: (_args, user) => createClaimToken(user.sub),
  createPairingCode: (args, user) => createPairingCode(args.deviceId, user),
  onDeviceUpdate: (args, user) => subscribe(args.deviceId, user.sub),
  startFirmwareRollout: (args, user) => startFirmwareRollout(args.input, user),
};

/**
 * Resolves the platform API's fields. Every field checks on the server that the signed-in user
 * owns the device it names. Another user's device is reported as not authorized, the same as a
 * device that does not exist, so the API reveals no other user's device ids.
 */
export async function handler(event: ResolverEvent): Promise<unknown> {
  const sub = event.identity?.sub;
  logger.appendKeys({ field: event.field, userId: sub, thingName: event.arguments?.deviceId });
  try {
    if (!sub) {
      throw new NotAuthorizedError('The request has no signed-in user.');
    }
    const resolve = FIELDS[event.field];
    if (!resolve) {
      throw new InvalidRequestError(`Field '${event.field}' has no resolver in this function.`);
    }
    return await resolve(event.arguments ?? {}, { sub, groups: event.identity.groups ?? [] });
  } catch (error) {
    if (isUserFacing(error)) {
      logger.warn('Request rejected', { error: (error as Error).name, message: (error as Error).message });
      throw error;
    }
    // Other errors can name accounts, roles and tables; the client gets a reference only.
    logger.error('Request failed', { error });
    const hidden = new Error('The request failed. Try again; if it keeps failing, report the time of the request.');
    hidden.name = (error as Error).name === 'TransientDependencyError' ? 'TransientDependencyError' : 'InternalError';
    throw hidden;
  } finally {
    logger.resetKeys();
  }
}

/** Errors whose name and message are written for the user: typed platform errors. */
function isUserFacing(error: unknown): boolean {
  const name = (error as Error)?.name ?? '';
  return error instanceof WorkflowError || /^(Pairing|ClaimToken|Device|Firmware|Automation)[A-Za-z]*Error$/.test(name)
    || ['NotAuthorizedError', 'InvalidRequestError', 'DeviceNotFoundError'].includes(name);
}

async function ownedDevice(deviceId: unknown, userId: string): Promise<DeviceItem> {
  if (typeof deviceId !== 'string' || deviceId.length === 0 || deviceId.length > 128) {
    throw new InvalidRequestError('deviceId must be a thing name of 1 to 128 characters.');
  }
  return ownedDeviceOf(db, tables, deviceId, userId);
}

function toDevice(item: DeviceItem) {
  const relays = (item.capabilities?.relays ?? []) as { id: string; name?: string }[];
  return {
    id: item.thingName,
    name: item.name ?? null,
    room: item.room ?? null,
    model: item.model ?? null,
    firmwareVersion: item.firmwareVersion ?? null,
    online: item.online ?? null,
    lastSeenAt: item.lastSeenAt ?? null,
    relays: relays.map((relay) => ({
      id: relay.id,
      name: relay.name ?? null,
      state: item.relays?.[relay.id]?.state ?? null,
      updatedAt: item.relays?.[relay.id]?.updatedAt ?? null,
    })),
    sensors: ((item.capabilities?.sensors ?? []) as any[]).map((sensor) => ({
      id: sensor.id,
      type: sensor.type,
      name: sensor.name ?? null,
      unit: sensor.unit ?? null,
      min: sensor.min ?? null,
      max: sensor.max ?? null,
      cumulative: sensor.cumulative ?? null,
    })),
  };
}

async function getMyDevices(args: Record<string, any>, user: { sub: string }) {
  const limit = args.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new InvalidRequestError(`limit ${limit} must be a positive whole number; the maximum page size is ${MAX_PAGE_SIZE}.`);
  }
  let exclusiveStartKey: Record<string, string> | undefined;
  if (args.nextToken) {
    try {
      exclusiveStartKey = JSON.parse(Buffer.from(String(args.nextToken), 'base64url').toString('utf8'));
    } catch {
      throw new InvalidRequestError('nextToken is not a token from a previous getMyDevices page.');
    }
    if (exclusiveStartKey?.ownerId !== user.sub) {
      throw new InvalidRequestError('nextToken is not a token from a previous getMyDevices page.');
    }
  }
  const page = await db.send(new QueryCommand({
    TableName: tables.devices,
    IndexName: DEVICES_BY_OWNER_INDEX,
    KeyConditionExpression: 'ownerId = :owner',
    ExpressionAttributeValues: { ':owner': user.sub },
    Limit: Math.min(limit, MAX_PAGE_SIZE),
    ExclusiveStartKey: exclusiveStartKey,
  })).catch((error) => { throw translateSdkError(error, 'Query devices by owner'); });
  return {
    items: (page.Items as DeviceItem[] ?? []).map(toDevice),
    nextToken: page.LastEvaluatedKey ? Buffer.from(JSON.stringify(page.LastEvaluatedKey)).toString('base64url') : null,
  };
}

async function deviceState(deviceId: string, userId: string) {
  const device = await ownedDevice(deviceId, userId);
  const readings = Object.entries((device as any).readings ?? {}) as [string, { value: number | null; unit?: string; timestamp?: number }][];
  return {
    deviceId: device.thingName,
    online: device.online ?? null,
    relays: toDevice(device).relays,
    readings: readings.map(([sensorId, reading]) => ({
      sensorId,
      value: reading.value ?? null,
      unit: reading.unit ?? null,
      timestamp: reading.timestamp ?? null,
    })),
    updatedAt: device.updatedAt ?? device.lastSeenAt ?? null,
  };
}

async function deviceUi(deviceId: string, userId: string) {
  const device = await ownedDevice(deviceId, userId);
  if (!device.uiConfigKey) {
    throw new DeviceNotFoundError(`Device '${deviceId}' has not announced its capabilities yet, so it has no UI document.`);
  }
  const object = await s3.send(new GetObjectCommand({ Bucket: config.uiConfigBucket, Key: device.uiConfigKey }))
    .catch((error) => { throw translateSdkError(error, 'GetObject UI config'); });
  const document = await object.Body!.transformToString('utf8');
  return { deviceId, schemaVersion: JSON.parse(document).schemaVersion, document };
}

async function controlRelay(args: Record<string, any>, user: { sub: string }) {
  const device = await ownedDevice(args.deviceId, user.sub);
  const relayIds = ((device.capabilities?.relays ?? []) as { id: string }[]).map((relay) => relay.id);
  if (!relayIds.includes(args.relay)) {
    throw new InvalidRequestError(`Device '${args.deviceId}' has no relay '${args.relay}'; its relays are: ${relayIds.join(', ') || 'none'}.`);
  }
  const commandId = newCommandId();
  const requestedAt = Date.now();
  const request = { commandId, thingName: device.thingName, requestedBy: user.sub, relay: args.relay, state: args.state, requestedAt, source: 'api' };
  await stepFunctions.send(new StartExecutionCommand({
    stateMachineArn: config.relayStateMachineArn,
    name: commandId,
    input: JSON.stringify(request),
  })).catch((error) => { throw translateSdkError(error, 'StartExecution'); });
  logger.info('Relay command started', { commandId });
  return {
    commandId,
    deviceId: device.thingName,
    relay: args.relay,
    state: args.state,
    status: 'PENDING',
    issuedAt: requestedAt,
    expiresAt: requestedAt + config.commandTtlMs,
  };
}

async function registerDevice(input: Record<string, any> | undefined, userId: string) {
  const device = await ownedDevice(input?.deviceId, userId);
  for (const field of ['name', 'room'] as const) {
    const value = input?.[field];
    if (value !== undefined && value !== null && (typeof value !== 'string' || value.trim().length === 0 || value.length > MAX_NAME_LENGTH)) {
      throw new InvalidRequestError(`${field} must be 1 to ${MAX_NAME_LENGTH} characters.`);
    }
  }
  const updated = await db.send(new UpdateCommand({
    TableName: tables.devices,
    Key: { thingName: device.thingName },
    UpdateExpression: 'SET #name = :name, room = :room, updatedAt = :now',
    ConditionExpression: 'ownerId = :owner',
    ExpressionAttributeNames: { '#name': 'name' },
    ExpressionAttributeValues: { ':name': input?.name ?? device.name ?? null, ':room': input?.room ?? device.room ?? null, ':now': Date.now(), ':owner': userId },
    ReturnValues: 'ALL_NEW',
  })).catch((error) => {
    if ((error as Error).name === 'ConditionalCheckFailedException') {
      throw new NotAuthorizedError(`Device '${device.thingName}' is not linked to you.`);
    }
    throw translateSdkError(error, 'UpdateItem devices');
  });
  return toDevice(updated.Attributes as DeviceItem);
}

/** Runs a synchronous Express workflow and turns a failed execution into its typed error. */
async function runSync(stateMachineArn: string | undefined, input: unknown): Promise<any> {
  const result = await stepFunctions.send(new StartSyncExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }))
    .catch((error) => { throw translateSdkError(error, 'StartSyncExecution'); });
  if (result.status !== 'SUCCEEDED') {
    const error = new Error(messageOfCause(result.cause) ?? `The workflow ended ${result.status}.`);
    error.name = result.error || 'WorkflowFailedError';
    throw error;
  }
  return JSON.parse(result.output ?? '{}');
}

/**
 * Returns the message of a failed execution's cause. A Lambda error's cause is a JSON document
 * with the stack trace, which users must not see, so only its errorMessage is kept.
 */
function messageOfCause(cause: string | undefined): string | undefined {
  if (!cause) {
    return undefined;
  }
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : 'The request failed.';
  } catch {
    return cause;
  }
}

async function addDevice(code: unknown, userId: string) {
  if (typeof code !== 'string' || code.length === 0 || code.length > 32) {
    throw new InvalidRequestError('code must be the pairing code printed on the device, such as ABCD-EFGH-JK.');
  }
  const output = await runSync(config.linkStateMachineArn, { userId, code, requestedAt: Date.now() });
  return toDevice(await ownedDevice(output.deviceId, userId));
}

async function removeDevice(deviceId: unknown, userId: string) {
  if (typeof deviceId !== 'string' || deviceId.length === 0) {
    throw new InvalidRequestError('deviceId must be a thing name.');
  }
  const output = await runSync(config.unlinkStateMachineArn, { userId, deviceId, requestedAt: Date.now() });
  return output.deviceId ?? deviceId;
}

async function createClaimToken(userId: string) {
  const key = await secretValue(config.claimTokenKeySecret);
  const issued = issueClaimToken(userId, key, Date.now());
  return { token: issued.token, expiresAt: issued.payload.exp };
}

async function createPairingCode(deviceId: unknown, user: { sub: string; groups: string[] }) {
  // AppSync already limits this mutation to the admins group; the check here keeps the rule
  // when the function is invoked another way.
  if (!user.groups.includes(config.adminsGroup)) {
    throw new NotAuthorizedError('Only members of the admins group can issue pairing codes.');
  }
  const response = await lambda.send(new InvokeCommand({
    FunctionName: config.pairingFunctionName,
    Payload: Buffer.from(JSON.stringify({ action: 'issue', deviceId, issuedBy: user.sub, execution: `api-${Date.now()}-${Math.random().toString(16).slice(2)}` })),
  })).catch((error) => { throw translateSdkError(error, 'Invoke pairing function'); });
  const payload = JSON.parse(Buffer.from(response.Payload ?? new Uint8Array()).toString('utf8') || '{}');
  if (response.FunctionError) {
    const error = new Error(payload.errorMessage ?? 'Issuing the pairing code failed.');
    error.name = payload.errorType ?? 'PairingCodeIssueError';
    throw error;
  }
  return { deviceId, code: payload.code, expiresAt: payload.expiresAt };
}

/**
 * Starts the OTA rollout workflow with the rolloutId as execution name, so a repeated request
 * for the same rollout starts nothing new. The workflow checks the image's signature before it
 * creates any job.
 */
async function startFirmwareRollout(input: Record<string, any> | undefined, user: { sub: string; groups: string[] }) {
  if (!user.groups.includes(config.adminsGroup)) {
    throw new NotAuthorizedError('Only members of the admins group can start firmware rollouts.');
  }
  if (!config.otaStateMachineArn) {
    throw new InvalidRequestError('This platform has no OTA rollout workflow.');
  }
  if (typeof input?.rolloutId !== 'string' || !/^[A-Za-z0-9_-]{1,60}$/.test(input.rolloutId)) {
    throw new InvalidRequestError('rolloutId must be 1 to 60 letters, digits, _ or -.');
  }
  const startedAt = Date.now();
  const request = {
    rolloutId: input.rolloutId,
    version: input.version,
    imageKey: input.imageKey,
    targets: { thingGroupArn: input.thingGroupArn ?? config.fleetThingGroupArn },
    ...(input.waves ? { waves: input.waves } : {}),
    requestedBy: user.sub,
  };
  const start = new StartExecutionCommand({ stateMachineArn: config.otaStateMachineArn, name: input.rolloutId, input: JSON.stringify(request) });
  await stepFunctions.send(start)
    .catch((error) => {
      if ((error as Error).name === 'ExecutionAlreadyExists') {
        throw new InvalidRequestError(`Rollout '${input.rolloutId}' already exists with other settings; choose a new rolloutId.`);
      }
      throw translateSdkError(error, 'StartExecution');
    });
  logger.info('Firmware rollout started', { rolloutId: input.rolloutId, version: input.version });
  return { rolloutId: input.rolloutId, version: input.version, status: 'STARTED', startedAt };
}

/**
 * Authorizes a subscription. With a deviceId the user must own that device. The resolver sets
 * the filter that limits updates to the user's own devices from the same verified identity, so
 * a client cannot widen it.
 */
async function subscribe(deviceId: unknown, userId: string) {
  if (deviceId !== undefined && deviceId !== null) {
    await ownedDevice(deviceId, userId);
  }
  return { ownerId: userId, deviceId: deviceId ?? null };
}
