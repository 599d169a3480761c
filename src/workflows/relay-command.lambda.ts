import { Logger } from '@aws-lambda-powertools/logger';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { DeviceUpdatePublisher } from './private/device-updates';
import { DeviceNotFoundError, InvalidRequestError, NotAuthorizedError, translateSdkError } from './private/errors';
import { idempotentHandler } from './private/idempotency';
import { CommandItem, COMMAND_RECORD_TTL_SECONDS, DeviceItem } from './private/registry-items';
import { documentClient, registryTablesFromEnv } from './private/registry-tables';
import { parseRelayCommandRequest, RelayCommandRequest } from './private/relay-command-input';
import { recordRelayState } from './private/relay-state';
import { buildRelayCommand, statusFromAcknowledgement } from '../domain/relay-commands';
import { Topics } from '../domain/topics';

const logger = new Logger();
const tables = registryTablesFromEnv();
const db = documentClient();
const iotData = new IoTDataPlaneClient({ endpoint: dataEndpointUrl(process.env.IOT_DATA_ENDPOINT) });
const updates = new DeviceUpdatePublisher(process.env.GRAPHQL_URL);
const COMMAND_TTL_MS = Number(process.env.COMMAND_TTL_MS ?? '10000');
const MAX_REQUEST_AGE_MS = 5 * 60 * 1000;

/** Acknowledgement that the device sent, as the acknowledgement function passes it on. */
interface Acknowledgement {
  readonly result: 'APPLIED' | 'DUPLICATE' | 'EXPIRED' | 'REJECTED';
  readonly state: 'ON' | 'OFF';
  readonly timestamp: number;
  readonly reason?: string;
}

type StepEvent = { execution: string } & (
  | { action: 'record'; request: RelayCommandRequest }
  | { action: 'publish'; taskToken: string; command: CommandItem }
  | { action: 'complete'; command: CommandItem; acknowledgement: Acknowledgement }
  | { action: 'finish'; command: CommandItem; status: 'TIMED_OUT' | 'FAILED'; error?: { Error?: string; Cause?: string } });

/**
 * Steps of the relay command workflow: record the command after an ownership check, publish it
 * to the device while the workflow waits, and record the outcome. Step Functions may retry a
 * step, so each is idempotent per execution and action. A second execution for the same
 * commandId finds the command recorded and ends without publishing it again.
 */
export const handler = idempotentHandler(tables.idempotency, '[action, execution]', async (event: StepEvent, _context: Context) => {
  const commandId = event.action === 'record' ? event.request?.commandId : event.command?.commandId;
  logger.appendKeys({ action: event.action, commandId });
  try {
    switch (event.action) {
      case 'record':
        return await record(parseRelayCommandRequest(event.request));
      case 'publish':
        return await publish(event.taskToken, event.command);
      case 'complete':
        return await complete(event.command, event.acknowledgement);
      case 'finish':
        return await finish(event.command, event.status, event.error);
      default:
        throw new InvalidRequestError(`Unknown action ${JSON.stringify((event as { action?: unknown }).action)}; expected record, publish, complete or finish.`);
    }
  } finally {
    logger.resetKeys();
  }
});

async function record(request: RelayCommandRequest): Promise<{ duplicate: boolean; command: CommandItem }> {
  logger.appendKeys({ thingName: request.thingName });
  const link = await db.send(new GetCommand({ TableName: tables.links, Key: { userId: request.requestedBy, thingName: request.thingName } }))
    .catch((error) => { throw translateSdkError(error, 'GetItem links'); });
  if (!link.Item) {
    throw new NotAuthorizedError(`User '${request.requestedBy}' is not linked to device '${request.thingName}'.`);
  }
  const device = (await db.send(new GetCommand({ TableName: tables.devices, Key: { thingName: request.thingName } }))
    .catch((error) => { throw translateSdkError(error, 'GetItem devices'); })).Item as DeviceItem | undefined;
  if (!device) {
    throw new DeviceNotFoundError(`Device '${request.thingName}' is not in the registry.`);
  }
  const relayIds = ((device.capabilities?.relays ?? []) as { id: string }[]).map((relay) => relay.id);
  if (!relayIds.includes(request.relay)) {
    throw new InvalidRequestError(`Device '${request.thingName}' has no relay '${request.relay}'; its relays are: ${relayIds.join(', ') || 'none'}.`);
  }

  const issuedAt = Date.now();
  if (issuedAt - request.requestedAt > MAX_REQUEST_AGE_MS) {
    // Retries can deliver an event long after it was sent; switching a relay that late would surprise the user.
    throw new InvalidRequestError(`The request from ${new Date(request.requestedAt).toISOString()} is older than ${MAX_REQUEST_AGE_MS / 60000} minutes; send a new command.`);
  }
  const command: CommandItem = {
    commandId: request.commandId,
    thingName: request.thingName,
    ownerId: request.requestedBy,
    relay: request.relay,
    state: request.state,
    status: 'PENDING',
    issuedAt,
    expiresAt: issuedAt + COMMAND_TTL_MS,
    ttl: Math.floor(issuedAt / 1000) + COMMAND_RECORD_TTL_SECONDS,
  };
  try {
    await db.send(new PutCommand({ TableName: tables.commands, Item: command, ConditionExpression: 'attribute_not_exists(commandId)' }));
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'PutItem commands');
    }
    const existing = (await db.send(new GetCommand({ TableName: tables.commands, Key: { commandId: request.commandId } }))).Item as CommandItem;
    if (existing.thingName !== request.thingName || existing.relay !== request.relay || existing.state !== request.state) {
      throw new InvalidRequestError(`commandId '${request.commandId}' was already used for another command; send a new commandId.`);
    }
    logger.info('Duplicate command request ignored', { status: existing.status });
    return { duplicate: true, command: withoutToken(existing) };
  }
  logger.info('Command recorded', { relay: command.relay, state: command.state });
  return { duplicate: false, command };
}

async function publish(taskToken: string, command: CommandItem): Promise<{ published: boolean }> {
  logger.appendKeys({ thingName: command.thingName });
  // The token stays in the registry, keyed by commandId, so it is never sent to the device.
  await db.send(new UpdateCommand({
    TableName: tables.commands,
    Key: { commandId: command.commandId },
    UpdateExpression: 'SET taskToken = :token',
    ConditionExpression: '#status = :pending',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ':token': taskToken, ':pending': 'PENDING' },
  })).catch((error) => { throw translateSdkError(error, 'UpdateItem commands'); });

  const payload = buildRelayCommand({
    commandId: command.commandId,
    relay: command.relay,
    state: command.state,
    now: command.issuedAt,
    ttlMs: command.expiresAt - command.issuedAt,
  });
  await iotData.send(new PublishCommand({
    topic: Topics.relayControl(command.thingName),
    qos: 1,
    payload: Buffer.from(JSON.stringify(payload)),
  })).catch((error) => { throw translateSdkError(error, 'IoT Publish'); });
  logger.info('Command published');
  return { published: true };
}

async function complete(command: CommandItem, acknowledgement: Acknowledgement): Promise<{ status: string }> {
  logger.appendKeys({ thingName: command.thingName });
  const status = statusFromAcknowledgement(acknowledgement.result);
  const completedAt = Date.now();
  await db.send(new UpdateCommand({
    TableName: tables.commands,
    Key: { commandId: command.commandId },
    UpdateExpression: 'SET #status = :status, #result = :result, completedAt = :completedAt, reason = :reason REMOVE taskToken',
    ExpressionAttributeNames: { '#status': 'status', '#result': 'result' },
    ExpressionAttributeValues: { ':status': status, ':result': acknowledgement.result, ':completedAt': completedAt, ':reason': acknowledgement.reason ?? null },
  })).catch((error) => { throw translateSdkError(error, 'UpdateItem commands'); });

  if (status === 'SUCCEEDED') {
    const relayState = { state: acknowledgement.state, updatedAt: acknowledgement.timestamp, commandId: command.commandId };
    await recordRelayState(db, tables.devices, command.thingName, command.relay, relayState);
  }
  await updates.publish({
    deviceId: command.thingName,
    ownerId: command.ownerId,
    kind: 'command',
    command: { ...withoutToken(command), status, completedAt },
    state: status === 'SUCCEEDED' ? { relays: [{ id: command.relay, state: acknowledgement.state, updatedAt: acknowledgement.timestamp }] } : undefined,
    at: completedAt,
  });
  logger.info('Command completed', { status, result: acknowledgement.result });
  return { status };
}

async function finish(command: CommandItem, status: 'TIMED_OUT' | 'FAILED', error?: { Error?: string; Cause?: string }): Promise<{ status: string }> {
  logger.appendKeys({ thingName: command.thingName });
  const stored = (await db.send(new GetCommand({ TableName: tables.commands, Key: { commandId: command.commandId }, ConsistentRead: true }))
    .catch((failure) => { throw translateSdkError(failure, 'GetItem commands'); })).Item as CommandItem | undefined;
  if (stored?.status === 'ACKNOWLEDGED' && stored.acknowledgement) {
    // The device acknowledged, but the workflow was not resumed in time, so the stored acknowledgement decides.
    logger.info('Applying the stored acknowledgement');
    return complete(command, { ...stored.acknowledgement, reason: stored.acknowledgement.reason ?? undefined });
  }
  const completedAt = Date.now();
  try {
    await db.send(new UpdateCommand({
      TableName: tables.commands,
      Key: { commandId: command.commandId },
      UpdateExpression: 'SET #status = :status, completedAt = :completedAt, reason = :reason REMOVE taskToken',
      ConditionExpression: '#status = :pending',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':status': status, ':pending': 'PENDING', ':completedAt': completedAt, ':reason': error?.Error ?? status },
    }));
  } catch (failure) {
    if ((failure as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(failure, 'UpdateItem commands');
    }
    logger.info('Command already has an outcome; keeping it');
    return { status: 'UNCHANGED' };
  }
  await updates.publish({
    deviceId: command.thingName,
    ownerId: command.ownerId,
    kind: 'command',
    command: { ...withoutToken(command), status, completedAt },
    at: completedAt,
  });
  if (status === 'TIMED_OUT') {
    logger.warn('Command timed out without an acknowledgement', { status });
  } else {
    logger.error('Command failed', { status, error: error?.Error, cause: error?.Cause });
  }
  return { status };
}

/** Returns the data endpoint URL. The deployed value is a host name, and a local one may carry its own scheme. */
function dataEndpointUrl(endpoint: string | undefined): string | undefined {
  if (!endpoint) {
    return undefined;
  }
  return endpoint.includes('://') ? endpoint : `https://${endpoint}`;
}

function withoutToken(command: CommandItem): CommandItem {
  const { taskToken: _taskToken, ...rest } = command;
  return rest as CommandItem;
}
