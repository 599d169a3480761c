import * as path from 'node:path';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { LocalEventsEndpoint } from '../../sandbox/src/events/local-events-endpoint';
import { LocalFirehoseEndpoint } from '../../sandbox/src/firehose/local-firehose-endpoint';
import { DeviceRegistry, PlatformEventBus, PlatformStorage, TelemetryPipeline } from '../../src';
import { toPlatformEvent } from '../../src/iot/private/device-message';
import { lambdaContext, templateOf, WorkflowHarness } from '../workflows/harness';

const THING = 'sh-SH-ESP32-000200';
const OWNER = 'user-a';

let harness: WorkflowHarness;
let events: LocalEventsEndpoint;
let firehose: LocalFirehoseEndpoint;
let stack: Stack;
let registry: DeviceRegistry;
let pipeline: TelemetryPipeline;
let db: DynamoDBDocumentClient;
let processor: (event: any, context: any) => Promise<any>;
let messageCount = 0;

function tableName(table: { node: { defaultChild?: any } }): string {
  return stack.getLogicalId(table.node.defaultChild);
}

/** Builds the SQS message that the rule queues: the EventBridge event of a device message. */
function queued(kind: 'telemetry' | 'energy-status', payload: unknown, thingName = THING) {
  messageCount += 1;
  const body = JSON.stringify({ kind, thingName, receivedAt: Date.now(), payload: Buffer.from(JSON.stringify(payload)).toString('base64') });
  const entry = toPlatformEvent(body, 'bus');
  const event = { 'detail-type': entry.DetailType, 'source': entry.Source, 'detail': JSON.parse(entry.Detail) };
  return { messageId: `message-${messageCount}`, body: JSON.stringify(event) };
}

/** Builds the SQS message of a lifecycle event, as the presence rules and the forwarder produce it. */
function presence(eventType: 'connected' | 'disconnected', timestamp: number, session: string, disconnectReason?: string, thingName = THING) {
  messageCount += 1;
  const body = JSON.stringify({ kind: 'presence', thingName, eventType, timestamp, versionNumber: 1, sessionIdentifier: session, disconnectReason, receivedAt: Date.now() });
  const entry = toPlatformEvent(body, 'bus');
  const event = { 'detail-type': entry.DetailType, 'source': entry.Source, 'detail': JSON.parse(entry.Detail) };
  return { messageId: `message-${messageCount}`, body: JSON.stringify(event) };
}

function batch(...records: { messageId: string; body: string }[]) {
  return processor({ Records: records }, lambdaContext('processor'));
}

async function device() {
  return (await db.send(new GetCommand({ TableName: tableName(registry.devicesTable), Key: { thingName: THING } }))).Item!;
}

beforeAll(async () => {
  harness = await WorkflowHarness.start();
  events = await LocalEventsEndpoint.start();
  firehose = await LocalFirehoseEndpoint.start();
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = events.url;
  process.env.AWS_ENDPOINT_URL_FIREHOSE = firehose.url;

  stack = new Stack(new App(), 'Test');
  registry = new DeviceRegistry(stack, 'Registry');
  const bus = new PlatformEventBus(stack, 'Events');
  const storage = new PlatformStorage(stack, 'Storage');
  pipeline = new TelemetryPipeline(stack, 'Telemetry', { registry, eventBus: bus.eventBus, archiveBucket: storage.archiveBucket, currentLimitAmperes: 16 });
  const template = templateOf(stack);
  await harness.dynamodb.createTablesFromTemplate(template);
  db = DynamoDBDocumentClient.from(harness.dynamodb.client, { marshallOptions: { removeUndefinedValues: true } });
  processor = harness.loadHandler(template, stack, pipeline.processorFunction, path.join(__dirname, '../../src/telemetry/telemetry-processor.lambda.ts'));

  await db.send(new PutCommand({
    TableName: tableName(registry.devicesTable),
    Item: {
      thingName: THING,
      ownerId: OWNER,
      capabilities: {
        relays: [{ id: 'relay1', maxCurrentA: 10 }],
        sensors: [{ id: 'temperature', type: 'temperature', unit: '°C' }, { id: 'humidity', type: 'humidity', unit: '%' }],
      },
      relays: {},
    },
  }));
});

afterAll(async () => {
  await firehose?.stop();
  await events?.stop();
  await harness?.stop();
});

describe('telemetry processor', () => {
  test('stores the latest readings and keeps a missing one missing', async () => {
    const now = Date.now();

    const result = await batch(queued('telemetry', { timestamp: now, readings: { temperature: 21.5, humidity: null } }));

    expect(result.batchItemFailures).toEqual([]);
    const readings = (await device()).readings;
    expect(readings.temperature).toMatchObject({ value: 21.5, timestamp: now, unit: '°C' });
    expect(readings.humidity.value).toBeNull();
  });

  test('keeps recent readings with a TTL and no zero for missing values', async () => {
    const stored = await db.send(new QueryCommand({
      TableName: tableName(pipeline.readingsTable),
      KeyConditionExpression: 'thingName = :thing',
      ExpressionAttributeValues: { ':thing': THING },
    }));

    const humidity = stored.Items!.find((item) => item.sensorId === 'humidity')!;
    expect(humidity.missing).toBe(true);
    expect(humidity.value).toBeUndefined();
    expect(stored.Items!.every((item) => item.ttl > Date.now() / 1000)).toBe(true);
  });

  test('ignores an older message for the latest readings', async () => {
    const latest = (await device()).readings.temperature;

    await batch(queued('telemetry', { timestamp: latest.timestamp - 60_000, readings: { temperature: 5 } }));

    expect((await device()).readings.temperature.value).toBe(latest.value);
  });

  test('archives every valid message with the topic\'s thing name', async () => {
    const before = firehose.records.length;

    await batch(queued('telemetry', { timestamp: Date.now(), readings: { temperature: 22 } }));

    const records = firehose.records.slice(before).map((record) => JSON.parse(record.data));
    expect(records).toEqual([expect.objectContaining({ thingName: THING, kind: 'telemetry', readings: { temperature: 22 } })]);
  });

  test('counts a meter reset as new consumption', async () => {
    const start = Date.now();

    await batch(queued('energy-status', { timestamp: start, energyKwh: 1520.0 }));
    await batch(queued('energy-status', { timestamp: start + 1000, energyKwh: 1520.4 }));
    await batch(queued('energy-status', { timestamp: start + 2000, energyKwh: 0.3 }));

    const energy = (await device()).energy;
    expect(energy.consumedKwh).toBeCloseTo(0.7, 6);
    expect(energy.meterKwh).toBe(0.3);
    expect(energy.resets).toBe(1);
  });

  test('emits an over-current anomaly above the relay rating', async () => {
    const before = events.events.length;

    await batch(queued('energy-status', { timestamp: Date.now() + 3000, energyKwh: 0.4, currentA: 14.2, relay: 'relay1' }));

    const anomalies = events.events.slice(before).filter((event) => event.detailType === 'Telemetry Anomaly Detected');
    expect(anomalies).toHaveLength(1);
    expect(anomalies[0].detail).toMatchObject({ thingName: THING, ownerId: OWNER, anomaly: { kind: 'OVER_CURRENT', severity: 'HIGH' } });
  });

  test('drops an invalid message without failing the batch', async () => {
    const result = await batch(queued('telemetry', { timestamp: Date.now(), readings: { temperature: 'hot' } }));

    expect(result.batchItemFailures).toEqual([]);
  });

  test('records presence and keeps the latest event', async () => {
    const connectedAt = Date.now();
    const result = await batch(
      presence('connected', connectedAt, 'session-2'),
      presence('disconnected', connectedAt - 5_000, 'session-1'),
    );

    expect(result.batchItemFailures).toEqual([]);
    expect(await device()).toMatchObject({ online: true, presenceAt: connectedAt, lastSeenAt: connectedAt });
  });

  test('marks a device offline on a later disconnect', async () => {
    const disconnectedAt = Date.now() + 1_000;
    await batch(presence('disconnected', disconnectedAt, 'session-2'));

    expect(await device()).toMatchObject({ online: false, presenceAt: disconnectedAt });
  });

  test('ignores a disconnect replaced by a new session', async () => {
    const connectedAt = Date.now() + 2_000;
    await batch(presence('connected', connectedAt, 'session-3'));
    await batch(presence('disconnected', connectedAt + 10, 'session-2', 'DUPLICATE_CLIENTID'));

    expect(await device()).toMatchObject({ online: true, presenceAt: connectedAt });
  });

  test('ignores presence of an unregistered thing', async () => {
    const result = await batch(presence('connected', Date.now(), 'session-1', undefined, 'sh-not-onboarded'));

    expect(result.batchItemFailures).toEqual([]);
    const item = await db.send(new GetCommand({ TableName: tableName(registry.devicesTable), Key: { thingName: 'sh-not-onboarded' } }));
    expect(item.Item).toBeUndefined();
  });

  test('reports a malformed queue message as a failure', async () => {
    const result = await batch({ messageId: 'broken', body: 'not json' });

    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'broken' }]);
  });
});

describe('TelemetryPipeline construct', () => {
  const scope = new Stack(new App(), 'Construct');
  const constructRegistry = new DeviceRegistry(scope, 'Registry');
  const bus = new PlatformEventBus(scope, 'Events');
  const storage = new PlatformStorage(scope, 'Storage');
  new TelemetryPipeline(scope, 'Telemetry', { registry: constructRegistry, eventBus: bus.eventBus, archiveBucket: storage.archiveBucket });
  const template = Template.fromStack(scope);

  test('routes telemetry and energy events to the queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        'source': ['cdk-smart-home.device'],
        'detail-type': ['Telemetry Reported', 'Energy Status Reported', 'Device Connected', 'Device Disconnected'],
      },
    });
  });

  test('expires recent readings by TTL', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', { TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true } });
  });

  test('archives through an encrypted delivery stream partitioned by date', () => {
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamEncryptionConfigurationInput: { KeyType: 'CUSTOMER_MANAGED_CMK' },
      ExtendedS3DestinationConfiguration: { Prefix: 'telemetry/!{timestamp:yyyy/MM/dd}/' },
    });
  });

  test('catalogs the archive for Athena with partition projection', () => {
    template.hasResourceProperties('AWS::Glue::Table', { TableInput: { Parameters: { 'projection.enabled': 'true', 'projection.day.format': 'yyyy/MM/dd' } } });
  });

  test('fails when readingRetention is under an hour', () => {
    const invalid = new Stack(new App(), 'Invalid');
    const reg = new DeviceRegistry(invalid, 'Registry');
    const eventBus = new PlatformEventBus(invalid, 'Events');
    const bucketStorage = new PlatformStorage(invalid, 'Storage');
    expect(() => new TelemetryPipeline(invalid, 'Telemetry', { registry: reg, eventBus: eventBus.eventBus, archiveBucket: bucketStorage.archiveBucket, readingRetention: Duration.minutes(10) }))
      .toThrow(/Invalid readingRetention of 10 minutes: it must be between 1 hour and 365 days/);
  });

  test('fails when currentLimitAmperes is 0', () => {
    const invalid = new Stack(new App(), 'Invalid');
    const reg = new DeviceRegistry(invalid, 'Registry');
    const eventBus = new PlatformEventBus(invalid, 'Events');
    const bucketStorage = new PlatformStorage(invalid, 'Storage');
    expect(() => new TelemetryPipeline(invalid, 'Telemetry', { registry: reg, eventBus: eventBus.eventBus, archiveBucket: bucketStorage.archiveBucket, currentLimitAmperes: 0 }))
      .toThrow(/Invalid currentLimitAmperes 0/);
  });
});
