import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { BatchWriteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchItemFailure, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ReadingRuleEvaluator, ReadingTrigger } from './private/reading-rules';
import { ArchiveRecord, TelemetryStateItem } from './private/telemetry-state';
import { Anomaly, createDetectorState, detect, DetectorState } from '../domain/anomaly-detector';
import { AutomationRule } from '../domain/automation-rules';
import { accumulateEnergy, countDropReasons, normalizeTelemetry } from '../domain/telemetry';
import { DevicePresenceDetail, PlatformEventSource, PlatformEventType } from '../events/event-contracts';
import { translateSdkError } from '../workflows/private/errors';
import { DeviceItem } from '../workflows/private/registry-items';
import { documentClient } from '../workflows/private/registry-tables';

const logger = new Logger();
const db = documentClient();
const eventBridge = new EventBridgeClient({});
const firehose = new FirehoseClient({});

const config = {
  devicesTable: process.env.DEVICES_TABLE!,
  readingsTable: process.env.READINGS_TABLE!,
  stateTable: process.env.TELEMETRY_STATE_TABLE!,
  deliveryStream: process.env.DELIVERY_STREAM_NAME!,
  eventBusName: process.env.EVENT_BUS_NAME!,
  readingRetentionSeconds: Number(process.env.READING_RETENTION_SECONDS ?? String(7 * 24 * 3600)),
  currentLimitA: process.env.CURRENT_LIMIT_A ? Number(process.env.CURRENT_LIMIT_A) : undefined,
  /** Unset when the pipeline evaluates no automation rules. */
  rulesTable: process.env.AUTOMATION_RULES_TABLE,
  rulesByDeviceIndex: process.env.AUTOMATION_RULES_BY_DEVICE_INDEX,
};
const readingRules = config.rulesTable && config.rulesByDeviceIndex ? new ReadingRuleEvaluator(queryReadingRules) : undefined;
const FIREHOSE_MAX_RECORDS = 500;
const PUT_EVENTS_MAX_ENTRIES = 10;
const DYNAMODB_BATCH_WRITE_MAX = 25;

/** Detail of a Telemetry Reported or Energy Status Reported event. */
interface DeviceMessageDetail {
  readonly thingName: string;
  readonly receivedAt: number;
  readonly valid: boolean;
  readonly errors: string[];
  readonly message: any;
  readonly dedupKey: string;
}

/** Thrown when another invocation updated a device's model state first; the message is retried. */
class StateConflictError extends Error {
  public override readonly name = 'StateConflictError';
}

/**
 * Processes telemetry and energy messages in batches from a queue fed by the platform bus: it
 * updates each device's latest readings and energy totals, keeps recent readings with a TTL,
 * runs the anomaly detector and emits Telemetry Anomaly Detected events, evaluates telemetry
 * readings against the owner's READING automation rules and emits Automation Rule Triggered
 * events, and archives every message to S3 through Firehose. No workflow runs per message. A
 * message that fails, or whose rule trigger EventBridge does not accept, is reported as a batch
 * item failure and retried. After the queue's maximum receive count it moves to the dead-letter
 * queue.
 */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const failures: SQSBatchItemFailure[] = [];
  const archive: ArchiveRecord[] = [];
  const anomalies: { detail: Record<string, unknown> }[] = [];
  const triggers: { messageId: string; trigger: ReadingTrigger }[] = [];

  for (const record of event.Records) {
    let detailType: string;
    let detail: DeviceMessageDetail;
    try {
      const envelope = JSON.parse(record.body);
      detailType = envelope['detail-type'];
      detail = envelope.detail;
    } catch (error) {
      logger.error('Queue message is not an EventBridge event', { messageId: record.messageId, error });
      failures.push({ itemIdentifier: record.messageId });
      continue;
    }
    logger.appendKeys({ thingName: detail?.thingName });
    try {
      if (detailType === PlatformEventType.DEVICE_CONNECTED || detailType === PlatformEventType.DEVICE_DISCONNECTED) {
        await recordPresence(detail as unknown as DevicePresenceDetail);
        continue;
      }
      if (!detail?.valid || !detail.message) {
        logger.warn('Invalid device message dropped', { detailType, errors: detail?.errors });
        continue;
      }
      const result = detailType === PlatformEventType.ENERGY_STATUS_REPORTED
        ? await processEnergy(detail)
        : await processTelemetry(detail);
      archive.push(result.archive);
      anomalies.push(...result.anomalies.map((anomaly) => ({ detail: anomalyDetail(detail, result.ownerId, anomaly) })));
      triggers.push(...result.triggers.map((trigger) => ({ messageId: record.messageId, trigger })));
    } catch (error) {
      logger.warn('Message will be retried', { messageId: record.messageId, error: (error as Error).name, message: (error as Error).message });
      failures.push({ itemIdentifier: record.messageId });
    } finally {
      logger.removeKeys(['thingName']);
    }
  }

  await publishAnomalies(anomalies);
  for (const messageId of await publishTriggers(triggers)) {
    if (!failures.some((failure) => failure.itemIdentifier === messageId)) {
      failures.push({ itemIdentifier: messageId });
    }
  }
  await archiveRecords(archive);
  logger.info('Batch processed', {
    received: event.Records.length,
    failed: failures.length,
    archived: archive.length,
    anomalies: anomalies.length,
    ruleTriggers: triggers.length,
  });
  return { batchItemFailures: failures };
}

/**
 * Records a lifecycle event as the device's `online` flag. Events can arrive late or twice, so a
 * flag set by a later event is kept, and a disconnect of a session that a new connection with the
 * same client id replaced is ignored. Events of things that are not in the registry yet, such as
 * the connection of a provisioning session, are ignored too.
 */
async function recordPresence(detail: DevicePresenceDetail & { disconnectReason?: string }): Promise<void> {
  if (typeof detail?.timestamp !== 'number' || typeof detail.thingName !== 'string') {
    logger.warn('Invalid presence event dropped');
    return;
  }
  if (detail.eventType === 'disconnected' && detail.disconnectReason === 'DUPLICATE_CLIENTID') {
    return;
  }
  const online = detail.eventType === 'connected';
  try {
    await db.send(new UpdateCommand({
      TableName: config.devicesTable,
      Key: { thingName: detail.thingName },
      // ONLINE is a DynamoDB reserved word, so the attribute goes through a name placeholder.
      UpdateExpression: online ? 'SET #online = :online, presenceAt = :at, lastSeenAt = :at' : 'SET #online = :online, presenceAt = :at',
      ConditionExpression: 'attribute_exists(thingName) AND (attribute_not_exists(presenceAt) OR presenceAt < :at)',
      ExpressionAttributeNames: { '#online': 'online' },
      ExpressionAttributeValues: { ':online': online, ':at': detail.timestamp },
    }));
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') {
      logger.debug('Presence event ignored: unknown device or a later event recorded', { eventType: detail.eventType });
      return;
    }
    throw translateSdkError(error, 'UpdateItem device presence');
  }
}

async function loadState(thingName: string): Promise<{ state: TelemetryStateItem; device: DeviceItem | undefined }> {
  const [stateResult, deviceResult] = await Promise.all([
    db.send(new GetCommand({ TableName: config.stateTable, Key: { thingName }, ConsistentRead: true })),
    db.send(new GetCommand({ TableName: config.devicesTable, Key: { thingName }, ProjectionExpression: 'ownerId, capabilities' })),
  ]).catch((error) => { throw translateSdkError(error, 'GetItem telemetry state'); });
  const state = (stateResult.Item as TelemetryStateItem | undefined) ?? { thingName, version: 0, detector: createDetectorState() };
  return { state, device: deviceResult.Item as DeviceItem | undefined };
}

async function saveState(previous: TelemetryStateItem, next: Omit<TelemetryStateItem, 'version' | 'thingName'>): Promise<void> {
  try {
    await db.send(new PutCommand({
      TableName: config.stateTable,
      Item: { ...next, thingName: previous.thingName, version: previous.version + 1 },
      ConditionExpression: 'attribute_not_exists(thingName) OR version = :version',
      ExpressionAttributeValues: { ':version': previous.version },
    }));
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') {
      throw new StateConflictError(`Model state of ${previous.thingName} changed during processing.`);
    }
    throw translateSdkError(error, 'PutItem telemetry state');
  }
}

function sensorTypes(device: DeviceItem | undefined): Map<string, { type: string; unit?: string }> {
  const sensors = (device?.capabilities?.sensors ?? []) as { id: string; type: string; unit?: string }[];
  return new Map(sensors.map((sensor) => [sensor.id, { type: sensor.type, unit: sensor.unit }]));
}

function ratedCurrent(device: DeviceItem | undefined, relay?: string): number | undefined {
  const relays = (device?.capabilities?.relays ?? []) as { id: string; maxCurrentA?: number }[];
  const rated = relays
    .filter((entry) => (relay ? entry.id === relay : true))
    .map((entry) => entry.maxCurrentA)
    .filter((value): value is number => value !== undefined);
  return rated.length > 0 ? Math.min(...rated) : undefined;
}

async function processTelemetry(detail: DeviceMessageDetail) {
  const now = Date.now();
  const { state, device } = await loadState(detail.thingName);
  const normalized = normalizeTelemetry(detail.message, detail.receivedAt, now);
  if (normalized.dropped.length > 0) {
    logger.warn('Readings dropped', { reasons: countDropReasons(normalized.dropped) });
  }

  const types = sensorTypes(device);
  let detector: DetectorState = state.detector;
  const found: Anomaly[] = [];
  for (const reading of normalized.readings) {
    const sensor = types.get(reading.sensorId);
    const input = { sensorId: reading.sensorId, sensorType: sensor?.type ?? 'unknown', value: reading.value, timestamp: reading.timestamp };
    const result = detect(detector, input, {
      now,
      maxCurrentA: sensor?.type === 'current' ? ratedCurrent(device) : undefined,
      currentLimitA: config.currentLimitA,
    });
    detector = result.state;
    found.push(...result.anomalies);
  }

  const newest = state.lastTelemetryAt === undefined || detail.message.timestamp > state.lastTelemetryAt;
  if (newest && device && normalized.readings.length > 0) {
    await writeLatestReadings(detail.thingName, normalized.readings.map((reading) => ({ ...reading, unit: types.get(reading.sensorId)?.unit })));
  }
  await writeRecentReadings(detail.thingName, normalized.readings);
  await saveState(state, { detector, energy: state.energy, lastTelemetryAt: newest ? detail.message.timestamp : state.lastTelemetryAt });

  // Rules fire only on a message at least as new as the device's newest, so a late message cannot
  // switch a relay on stale readings. A redelivered newest message is evaluated again, and its
  // triggers carry the same deduplication keys, so the workflow fires each rule once for it.
  const current = state.lastTelemetryAt === undefined || detail.message.timestamp >= state.lastTelemetryAt;
  const triggers = readingRules && current
    ? await readingRules.evaluate(detail.thingName, device?.ownerId, normalized.readings, now)
    : [];

  return {
    ownerId: device?.ownerId,
    anomalies: found,
    triggers,
    archive: { thingName: detail.thingName, kind: 'telemetry' as const, timestamp: detail.message.timestamp, receivedAt: detail.receivedAt, readings: detail.message.readings },
  };
}

async function processEnergy(detail: DeviceMessageDetail) {
  const now = Date.now();
  const message = detail.message;
  const { state, device } = await loadState(detail.thingName);
  const update = accumulateEnergy(state.energy, { energyKwh: message.energyKwh, timestamp: message.timestamp });

  let detector = state.detector;
  const found: Anomaly[] = [];
  if (typeof message.currentA === 'number') {
    const result = detect(detector, { sensorId: 'energy-current', sensorType: 'current', value: message.currentA, timestamp: message.timestamp }, {
      now,
      maxCurrentA: ratedCurrent(device, message.relay),
      currentLimitA: config.currentLimitA,
    });
    detector = result.state;
    found.push(...result.anomalies);
  }

  if (device && update.event !== 'STALE' && update.state) {
    await db.send(new UpdateCommand({
      TableName: config.devicesTable,
      Key: { thingName: detail.thingName },
      UpdateExpression: 'SET energy = :energy',
      ConditionExpression: 'attribute_exists(thingName)',
      ExpressionAttributeValues: {
        ':energy': {
          consumedKwh: update.state.consumedKwh,
          meterKwh: update.state.lastMeterKwh,
          resets: update.state.resets,
          powerW: message.powerW ?? null,
          voltageV: message.voltageV ?? null,
          currentA: message.currentA ?? null,
          updatedAt: message.timestamp,
        },
      },
    })).catch((error) => { throw translateSdkError(error, 'UpdateItem devices energy'); });
  }
  await saveState(state, { detector, energy: update.state ?? state.energy, lastTelemetryAt: state.lastTelemetryAt });

  return {
    ownerId: device?.ownerId,
    anomalies: found,
    triggers: [] as ReadingTrigger[],
    archive: {
      thingName: detail.thingName,
      kind: 'energy' as const,
      timestamp: message.timestamp,
      receivedAt: detail.receivedAt,
      energyKwh: message.energyKwh,
      powerW: message.powerW ?? null,
      voltageV: message.voltageV ?? null,
      currentA: message.currentA ?? null,
      relay: message.relay,
    },
  };
}

interface LatestReading {
  readonly sensorId: string;
  readonly value: number | null;
  readonly timestamp: number;
  readonly unit?: string;
}

async function writeLatestReadings(thingName: string, readings: LatestReading[]): Promise<void> {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const assignments = readings.map((reading, index) => {
    names[`#s${index}`] = reading.sensorId;
    values[`:r${index}`] = { value: reading.value, timestamp: reading.timestamp, unit: reading.unit ?? null };
    return `readings.#s${index} = :r${index}`;
  });
  try {
    await db.send(new UpdateCommand({
      TableName: config.devicesTable,
      Key: { thingName },
      UpdateExpression: `SET ${assignments.join(', ')}, lastSeenAt = :now, #online = if_not_exists(#online, :online)`,
      ConditionExpression: 'attribute_exists(thingName) AND attribute_exists(readings)',
      ExpressionAttributeNames: { ...names, '#online': 'online' },
      ExpressionAttributeValues: { ...values, ':now': Date.now(), ':online': true },
    }));
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem devices readings');
    }
    // The device has no readings map yet: create it with these readings.
    const readingsMap = Object.fromEntries(readings.map((reading) => [
      reading.sensorId,
      { value: reading.value, timestamp: reading.timestamp, unit: reading.unit ?? null },
    ]));
    await db.send(new UpdateCommand({
      TableName: config.devicesTable,
      Key: { thingName },
      UpdateExpression: 'SET readings = if_not_exists(readings, :readings), lastSeenAt = :now, #online = if_not_exists(#online, :online)',
      ConditionExpression: 'attribute_exists(thingName)',
      ExpressionAttributeNames: { '#online': 'online' },
      ExpressionAttributeValues: { ':readings': readingsMap, ':now': Date.now(), ':online': true },
    })).catch((failure) => {
      if ((failure as Error).name !== 'ConditionalCheckFailedException') {
        throw translateSdkError(failure, 'UpdateItem devices readings');
      }
    });
  }
}

async function writeRecentReadings(thingName: string, readings: (LatestReading & { receivedAt: number })[]): Promise<void> {
  const expiresAt = Math.floor(Date.now() / 1000) + config.readingRetentionSeconds;
  const items = readings.map((reading) => ({
    PutRequest: {
      Item: {
        thingName,
        sensorTime: `${reading.sensorId}#${String(reading.timestamp).padStart(15, '0')}`,
        sensorId: reading.sensorId,
        timestamp: reading.timestamp,
        receivedAt: reading.receivedAt,
        // A missing reading is stored as missing, never as 0.
        ...(reading.value === null ? { missing: true } : { value: reading.value }),
        ttl: expiresAt,
      },
    },
  }));
  for (let start = 0; start < items.length; start += DYNAMODB_BATCH_WRITE_MAX) {
    let pending: any = { [config.readingsTable]: items.slice(start, start + DYNAMODB_BATCH_WRITE_MAX) };
    for (let attempt = 0; attempt < 5 && pending && Object.keys(pending).length > 0; attempt += 1) {
      const result = await db.send(new BatchWriteCommand({ RequestItems: pending }))
        .catch((error) => { throw translateSdkError(error, 'BatchWriteItem readings'); });
      pending = result.UnprocessedItems;
    }
    if (pending && Object.keys(pending).length > 0) {
      throw new StateConflictError(`Readings of ${thingName} were not all written after 5 attempts.`);
    }
  }
}

function anomalyDetail(detail: DeviceMessageDetail, ownerId: string | undefined, anomaly: Anomaly): Record<string, unknown> {
  return {
    thingName: detail.thingName,
    ownerId: ownerId ?? null,
    anomaly,
    dedupKey: createHash('sha256').update(`${detail.thingName}|${anomaly.kind}|${anomaly.sensorId}|${anomaly.timestamp}`).digest('hex'),
  };
}

async function publishAnomalies(anomalies: { detail: Record<string, unknown> }[]): Promise<void> {
  for (let start = 0; start < anomalies.length; start += PUT_EVENTS_MAX_ENTRIES) {
    const entries = anomalies.slice(start, start + PUT_EVENTS_MAX_ENTRIES).map((item) => ({
      Source: PlatformEventSource.WORKFLOW,
      DetailType: PlatformEventType.TELEMETRY_ANOMALY_DETECTED,
      EventBusName: config.eventBusName,
      Detail: JSON.stringify(item.detail),
    }));
    const result = await eventBridge.send(new PutEventsCommand({ Entries: entries })).catch((error) => { throw translateSdkError(error, 'PutEvents'); });
    if ((result.FailedEntryCount ?? 0) > 0) {
      // NOTE: these anomaly events are lost. The readings behind them are already in the model,
      // so a retry would not detect them again. The failure is logged for the error alarm.
      logger.error('Anomaly events not accepted by EventBridge', { failed: result.FailedEntryCount });
    }
  }
}

/**
 * Puts an Automation Rule Triggered event for each trigger on the bus. Returns the ids of the
 * queue messages whose events EventBridge did not accept, so that those messages are retried.
 * A retry that fires the rules again emits triggers with the same deduplication keys.
 */
async function publishTriggers(triggers: { messageId: string; trigger: ReadingTrigger }[]): Promise<string[]> {
  const failed = new Set<string>();
  for (let start = 0; start < triggers.length; start += PUT_EVENTS_MAX_ENTRIES) {
    const chunk = triggers.slice(start, start + PUT_EVENTS_MAX_ENTRIES);
    const entries = chunk.map((item) => ({
      Source: PlatformEventSource.WORKFLOW,
      DetailType: PlatformEventType.AUTOMATION_RULE_TRIGGERED,
      EventBusName: config.eventBusName,
      Detail: JSON.stringify(item.trigger.detail),
    }));
    let results: ({ ErrorCode?: string; ErrorMessage?: string } | undefined)[];
    try {
      const response = await eventBridge.send(new PutEventsCommand({ Entries: entries }));
      results = chunk.map((_item, index) => response.Entries?.[index]);
    } catch (error) {
      logger.error('PutEvents failed for rule triggers, so their messages will be retried', { error: (error as Error).name, message: (error as Error).message });
      results = chunk.map(() => ({ ErrorCode: (error as Error).name }));
    }
    chunk.forEach((item, index) => {
      const result = results[index];
      if (result?.ErrorCode) {
        logger.error('Rule trigger not accepted by EventBridge, so the message will be retried', {
          messageId: item.messageId,
          ruleId: item.trigger.detail.ruleId,
          errorCode: result.ErrorCode,
          errorMessage: result.ErrorMessage,
        });
        readingRules?.release([item.trigger]);
        failed.add(item.messageId);
      }
    });
  }
  return [...failed];
}

/** Queries the rules of one owner whose condition names the device, through the rules table's byDevice index. */
async function queryReadingRules(thingName: string, ownerId: string): Promise<AutomationRule[]> {
  const rules: AutomationRule[] = [];
  let exclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(new QueryCommand({
      TableName: config.rulesTable,
      IndexName: config.rulesByDeviceIndex,
      KeyConditionExpression: 'conditionDeviceId = :thing AND ownerId = :owner',
      ExpressionAttributeValues: { ':thing': thingName, ':owner': ownerId },
      ExclusiveStartKey: exclusiveStartKey,
    })).catch((error) => { throw translateSdkError(error, 'Query automation rules by device'); });
    rules.push(...(page.Items ?? []) as AutomationRule[]);
    exclusiveStartKey = page.LastEvaluatedKey;
  } while (exclusiveStartKey);
  return rules;
}

async function archiveRecords(records: ArchiveRecord[]): Promise<void> {
  for (let start = 0; start < records.length; start += FIREHOSE_MAX_RECORDS) {
    const chunk = records.slice(start, start + FIREHOSE_MAX_RECORDS);
    const result = await firehose.send(new PutRecordBatchCommand({
      DeliveryStreamName: config.deliveryStream,
      Records: chunk.map((record) => ({ Data: Buffer.from(`${JSON.stringify(record)}\n`) })),
    })).catch((error) => { throw translateSdkError(error, 'PutRecordBatch'); });
    if ((result.FailedPutCount ?? 0) > 0) {
      logger.error('Archive records not accepted by Firehose', { failed: result.FailedPutCount });
    }
  }
}
