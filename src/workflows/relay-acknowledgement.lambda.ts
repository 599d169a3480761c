import { Logger } from '@aws-lambda-powertools/logger';
import { SFNClient, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { DeviceUpdatePublisher } from './private/device-updates';
import { translateSdkError } from './private/errors';
import { idempotentHandler } from './private/idempotency';
import { CommandItem, DeviceItem } from './private/registry-items';
import { documentClient, registryTablesFromEnv } from './private/registry-tables';
import { recordRelayState } from './private/relay-state';

const logger = new Logger();
const tables = registryTablesFromEnv();
const db = documentClient();
const stepFunctions = new SFNClient({});
const updates = new DeviceUpdatePublisher(process.env.GRAPHQL_URL);

/** Detail of a Relay State Reported event, as the device message forwarder writes it. */
interface RelayStateReported {
  readonly thingName: string;
  readonly receivedAt: number;
  readonly valid: boolean;
  readonly errors: string[];
  readonly dedupKey: string;
  readonly message: {
    readonly relay: string;
    readonly state: 'ON' | 'OFF';
    readonly timestamp: number;
    readonly commandId?: string;
    readonly result?: 'APPLIED' | 'DUPLICATE' | 'EXPIRED' | 'REJECTED';
    readonly reason?: string;
  } | null;
}

type Outcome = 'INVALID' | 'RESUMED' | 'DUPLICATE_ACKNOWLEDGEMENT' | 'UNKNOWN_COMMAND' | 'STATE_RECORDED' | 'STALE_STATE';

/**
 * Handles relay reports from devices. An acknowledgement resumes the waiting relay command
 * workflow once: the first report moves the command out of PENDING and sends its task token,
 * later copies find no token and change nothing. A report without a commandId is a local change
 * (button, boot) and updates the registry unless a newer state is recorded.
 */
export const handler = idempotentHandler(tables.idempotency, 'detail.dedupKey', async (event: EventBridgeEvent<string, RelayStateReported>, _context: Context): Promise<{ outcome: Outcome }> => {
  const detail = event.detail;
  logger.appendKeys({ thingName: detail.thingName, commandId: detail.message?.commandId });
  try {
    if (!detail.valid || !detail.message) {
      logger.warn('Invalid relay report dropped', { errors: detail.errors });
      return { outcome: 'INVALID' };
    }
    const report = detail.message;
    if (report.commandId && report.result) {
      return { outcome: await acknowledge(detail.thingName, report as Required<typeof report>) };
    }
    return { outcome: await recordLocalChange(detail.thingName, report) };
  } finally {
    logger.resetKeys();
  }
});

async function acknowledge(thingName: string, report: { commandId: string; relay: string; state: 'ON' | 'OFF'; timestamp: number; result: string; reason?: string }): Promise<Outcome> {
  let command: CommandItem;
  try {
    // Leaving PENDING and storing the acknowledgement happen in one conditional write, so only
    // the first copy of an acknowledgement counts. The task token stays until the workflow has
    // recorded the outcome: if resuming it fails, a retry of this function resumes it again,
    // and a workflow that timed out meanwhile applies the stored answer instead of TIMED_OUT.
    const result = await db.send(new UpdateCommand({
      TableName: tables.commands,
      Key: { commandId: report.commandId },
      UpdateExpression: 'SET #status = :acknowledged, acknowledgement = :acknowledgement',
      ConditionExpression: '#status = :pending AND attribute_exists(taskToken) AND thingName = :thing',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':acknowledged': 'ACKNOWLEDGED',
        ':pending': 'PENDING',
        ':thing': thingName,
        ':acknowledgement': { result: report.result, state: report.state, timestamp: report.timestamp, reason: report.reason ?? null },
      },
      ReturnValues: 'ALL_NEW',
    }));
    command = result.Attributes as CommandItem;
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem commands');
    }
    const lookup = await db.send(new GetCommand({ TableName: tables.commands, Key: { commandId: report.commandId } }));
    const existing = lookup.Item as CommandItem | undefined;
    if (!existing || existing.thingName !== thingName) {
      logger.warn('Acknowledgement for a command this device was not sent', { owner: existing ? 'another device' : 'none' });
      return 'UNKNOWN_COMMAND';
    }
    if (existing.status !== 'ACKNOWLEDGED' || !existing.taskToken) {
      logger.info('Repeated acknowledgement ignored', { status: existing.status });
      return 'DUPLICATE_ACKNOWLEDGEMENT';
    }
    // An earlier attempt stored the acknowledgement but did not resume the workflow.
    command = existing;
  }
  return resume(command);
}

async function resume(command: CommandItem): Promise<Outcome> {
  try {
    await stepFunctions.send(new SendTaskSuccessCommand({ taskToken: command.taskToken!, output: JSON.stringify(command.acknowledgement) }));
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TaskTimedOut' || name === 'InvalidToken' || name === 'TaskDoesNotExist') {
      // The workflow stopped waiting, so its timeout step applies the stored acknowledgement.
      logger.warn('Acknowledgement arrived after the workflow stopped waiting', { error: name });
      return 'DUPLICATE_ACKNOWLEDGEMENT';
    }
    throw translateSdkError(error, 'SendTaskSuccess');
  }
  logger.info('Workflow resumed', { result: command.acknowledgement?.result });
  return 'RESUMED';
}

async function recordLocalChange(thingName: string, report: { relay: string; state: 'ON' | 'OFF'; timestamp: number }): Promise<Outcome> {
  const written = await recordRelayState(db, tables.devices, thingName, report.relay, { state: report.state, updatedAt: report.timestamp });
  if (!written) {
    logger.info('Older relay report ignored', { relay: report.relay, timestamp: report.timestamp });
    return 'STALE_STATE';
  }
  const device = (await db.send(new GetCommand({ TableName: tables.devices, Key: { thingName }, ProjectionExpression: 'ownerId' }))).Item as DeviceItem | undefined;
  if (device?.ownerId) {
    await updates.publish({
      deviceId: thingName,
      ownerId: device.ownerId,
      kind: 'state',
      state: { relays: [{ id: report.relay, state: report.state, updatedAt: report.timestamp }] },
      at: Date.now(),
    });
  }
  return 'STATE_RECORDED';
}
