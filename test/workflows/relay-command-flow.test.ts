import * as path from 'node:path';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { lambdaContext, templateOf, WorkflowHarness } from './harness';
import { PlatformApi, PlatformAuth, PlatformEventBus, DeviceRegistry } from '../../src';
import { validateContract } from '../../src/domain/contract-validation';
import { toPlatformEvent } from '../../src/iot/private/device-message';
import { RelayCommandFlow } from '../../src/workflows/relay-command-flow';

const OWNER = 'user-a';
const OTHER_USER = 'user-b';
const THING = 'sh-SH-ESP32-000123';
const ACK_TIMEOUT = Duration.seconds(2);

let harness: WorkflowHarness;
let stack: Stack;
let template: any;
let flow: RelayCommandFlow;
let registry: DeviceRegistry;
let db: DynamoDBDocumentClient;
let runWorkflow: ReturnType<WorkflowHarness['workflow']>;
let acknowledge: (event: any, context: any) => Promise<any>;

beforeAll(async () => {
  harness = await WorkflowHarness.start();
  stack = new Stack(new App(), 'Test');
  registry = new DeviceRegistry(stack, 'Registry');
  const bus = new PlatformEventBus(stack, 'Events');
  const auth = new PlatformAuth(stack, 'Auth');
  const api = new PlatformApi(stack, 'Api', { userPool: auth.userPool, registry });
  flow = new RelayCommandFlow(stack, 'RelayCommands', {
    registry,
    eventBus: bus.eventBus,
    api,
    iotDataEndpoint: harness.recorderUrl,
    acknowledgementTimeout: ACK_TIMEOUT,
  });
  template = templateOf(stack);
  await harness.dynamodb.createTablesFromTemplate(template);
  db = DynamoDBDocumentClient.from(harness.dynamodb.client, { marshallOptions: { removeUndefinedValues: true } });

  const steps = harness.loadHandler(template, stack, flow.stepsFunction, path.join(__dirname, '../../src/workflows/relay-command.lambda.ts'));
  acknowledge = harness.loadHandler(template, stack, flow.acknowledgementFunction, path.join(__dirname, '../../src/workflows/relay-acknowledgement.lambda.ts'));
  runWorkflow = harness.workflow(template, stack, flow.stateMachine, new Map([[flow.stepsFunction, steps]]));
});

afterAll(async () => {
  await harness?.stop();
});

beforeEach(async () => {
  harness.publishes.length = 0;
  harness.graphqlRequests.length = 0;
  harness.onPublish = () => undefined;
  await db.send(new PutCommand({
    TableName: tableName(registry.devicesTable),
    Item: { thingName: THING, ownerId: OWNER, capabilities: { relays: [{ id: 'relay1' }, { id: 'relay2' }] }, relays: {} },
  }));
  await db.send(new PutCommand({ TableName: tableName(registry.linksTable), Item: { userId: OWNER, thingName: THING, role: 'OWNER' } }));
});

function tableName(table: DeviceRegistry['devicesTable']): string {
  return stack.getLogicalId(table.node.defaultChild as any);
}

let sequence = 0;
function request(overrides: Record<string, unknown> = {}) {
  sequence += 1;
  return { commandId: `cmd-test-${Date.now()}-${sequence}`, thingName: THING, requestedBy: OWNER, relay: 'relay1', state: 'ON', requestedAt: Date.now(), ...overrides };
}

/** Builds the EventBridge event that a device's relay report becomes after the topic rule and forwarder. */
function relayReportEvent(report: Record<string, unknown>, receivedAt = Date.now()) {
  const body = JSON.stringify({ kind: 'relay-status', thingName: THING, receivedAt, payload: Buffer.from(JSON.stringify(report)).toString('base64') });
  const entry = toPlatformEvent(body, 'bus');
  return { 'version': '0', 'id': `event-${receivedAt}`, 'detail-type': entry.DetailType, 'source': entry.Source, 'account': '000000000000', 'time': new Date().toISOString(), 'region': 'us-east-1', 'resources': [], 'detail': JSON.parse(entry.Detail) };
}

/** Makes the virtual device answer each command it receives with the given result. */
function deviceAnswers(result: 'APPLIED' | 'REJECTED', outcomes: any[] = []): void {
  harness.onPublish = (message) => {
    const command = message.payload;
    const report = { relay: command.relay, state: result === 'APPLIED' ? command.state : 'OFF', timestamp: Date.now(), commandId: command.commandId, result };
    void acknowledge(relayReportEvent(report), lambdaContext('ack')).then((outcome) => outcomes.push(outcome));
  };
}

async function commandRecord(commandId: string) {
  return (await db.send(new GetCommand({ TableName: tableName(registry.commandsTable), Key: { commandId } }))).Item;
}

async function deviceRecord() {
  return (await db.send(new GetCommand({ TableName: tableName(registry.devicesTable), Key: { thingName: THING } }))).Item!;
}

describe('RelayCommandFlow', () => {
  test('switches the relay when the device acknowledges', async () => {
    const outcomes: any[] = [];
    deviceAnswers('APPLIED', outcomes);
    const input = request();

    const execution = await runWorkflow.run(input);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output.outcome.status).toBe('SUCCEEDED');
    expect(outcomes).toEqual([{ outcome: 'RESUMED' }]);
    const command = await commandRecord(input.commandId);
    expect(command?.status).toBe('SUCCEEDED');
    expect(command?.taskToken).toBeUndefined();
    expect((await deviceRecord()).relays.relay1.state).toBe('ON');
  });

  test('publishes a valid command without the task token', async () => {
    deviceAnswers('APPLIED');

    await runWorkflow.run(request());

    expect(harness.publishes).toHaveLength(1);
    expect(harness.publishes[0].topic).toBe(`iot/control/${THING}/relay`);
    expect(harness.publishes[0].qos).toBe(1);
    expect(validateContract('relay-command', harness.publishes[0].payload)).toEqual({ valid: true, errors: [] });
    expect(JSON.stringify(harness.publishes[0].payload)).not.toMatch(/token/i);
  });

  test('pushes the outcome to the owner', async () => {
    deviceAnswers('APPLIED');
    const input = request();

    await runWorkflow.run(input);

    const updates = harness.graphqlRequests.map((body) => body.variables.input);
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ deviceId: THING, ownerId: OWNER, kind: 'command' });
    expect(JSON.parse(updates[0].command)).toEqual({
      commandId: input.commandId, deviceId: THING, relay: 'relay1', state: 'ON', status: 'SUCCEEDED', issuedAt: expect.any(Number), expiresAt: expect.any(Number),
    });
    expect(JSON.parse(updates[0].state)).toMatchObject({ deviceId: THING, relays: [{ id: 'relay1', state: 'ON' }], readings: [] });
    expect(harness.graphqlRequests[0].query).toMatch(/command \{ commandId deviceId relay state status issuedAt expiresAt \}/);
  });

  test('takes fewer than 8 state transitions', async () => {
    deviceAnswers('APPLIED');

    const execution = await runWorkflow.run(request());

    expect(execution.statesEntered.length).toBeLessThan(8);
  });

  test('ends TIMED_OUT when the device is offline', async () => {
    const input = request();
    const started = Date.now();

    const execution = await runWorkflow.run(input);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output.outcome.status).toBe('TIMED_OUT');
    expect(Date.now() - started).toBeLessThan(ACK_TIMEOUT.toMilliseconds() + 3000);
    expect((await commandRecord(input.commandId))?.status).toBe('TIMED_OUT');
    expect(harness.graphqlRequests.map((body) => JSON.parse(body.variables.input.command).status)).toEqual(['TIMED_OUT']);
  });

  test('records REJECTED when the device refuses', async () => {
    deviceAnswers('REJECTED');
    const input = request();

    const execution = await runWorkflow.run(input);

    expect(execution.output.outcome.status).toBe('REJECTED');
    expect((await commandRecord(input.commandId))?.status).toBe('REJECTED');
    expect((await deviceRecord()).relays.relay1).toBeUndefined();
  });

  test('ignores a repeated acknowledgement', async () => {
    const outcomes: any[] = [];
    deviceAnswers('APPLIED', outcomes);
    const input = request();
    await runWorkflow.run(input);

    const repeat = relayReportEvent({ relay: 'relay1', state: 'ON', timestamp: Date.now(), commandId: input.commandId, result: 'APPLIED' }, Date.now() + 1);
    const outcome = await acknowledge(repeat, lambdaContext('ack'));

    expect(outcome).toEqual({ outcome: 'DUPLICATE_ACKNOWLEDGEMENT' });
    expect((await commandRecord(input.commandId))?.status).toBe('SUCCEEDED');
  });

  test('keeps TIMED_OUT when a late acknowledgement arrives', async () => {
    const input = request();
    await runWorkflow.run(input);

    const late = relayReportEvent({ relay: 'relay1', state: 'ON', timestamp: Date.now(), commandId: input.commandId, result: 'APPLIED' });
    const outcome = await acknowledge(late, lambdaContext('ack'));

    expect(outcome).toEqual({ outcome: 'DUPLICATE_ACKNOWLEDGEMENT' });
    expect((await commandRecord(input.commandId))?.status).toBe('TIMED_OUT');
  });

  test('publishes a repeated request once', async () => {
    deviceAnswers('APPLIED');
    const input = request();

    const first = await runWorkflow.run(input);
    const second = await runWorkflow.run(input);

    expect(first.status).toBe('SUCCEEDED');
    expect(second.status).toBe('SUCCEEDED');
    expect(second.statesEntered).toContain('Duplicate request');
    expect(harness.publishes).toHaveLength(1);
  });

  test('rejects a user who does not own the device', async () => {
    const input = request({ requestedBy: OTHER_USER });

    const execution = await runWorkflow.run(input);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('NotAuthorizedError');
    expect(await commandRecord(input.commandId)).toBeUndefined();
    expect(harness.publishes).toHaveLength(0);
  });

  test('rejects a relay the device does not declare', async () => {
    const execution = await runWorkflow.run(request({ relay: 'relay9' }));

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('InvalidRequestError');
    expect(execution.cause).toMatch(/has no relay 'relay9'; its relays are: relay1, relay2/);
  });

  test('rejects malformed input', async () => {
    const execution = await runWorkflow.run(request({ state: 'TOGGLE' }));

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('InvalidRequestError');
    expect(execution.cause).toMatch(/state "TOGGLE" must be 'ON' or 'OFF'/);
  });

  test('rejects an acknowledgement from another device', async () => {
    const input = request();
    const waiting = runWorkflow.run(input);
    await new Promise((resolve) => { harness.onPublish = resolve; });

    const body = JSON.stringify({ kind: 'relay-status', thingName: 'sh-OTHER', receivedAt: Date.now(), payload: Buffer.from(JSON.stringify({ relay: 'relay1', state: 'ON', timestamp: Date.now(), commandId: input.commandId, result: 'APPLIED' })).toString('base64') });
    const entry = toPlatformEvent(body, 'bus');
    const outcome = await acknowledge({ detail: JSON.parse(entry.Detail) }, lambdaContext('ack'));

    expect(outcome).toEqual({ outcome: 'UNKNOWN_COMMAND' });
    expect((await waiting).output.outcome.status).toBe('TIMED_OUT');
  });

  test('resumes the workflow when an earlier attempt stored the answer', async () => {
    const input = request();
    const waiting = runWorkflow.run(input);
    await new Promise((resolve) => { harness.onPublish = resolve; });
    // The first attempt stored the answer and then failed before resuming the workflow.
    await db.send(new UpdateCommand({
      TableName: tableName(registry.commandsTable),
      Key: { commandId: input.commandId },
      UpdateExpression: 'SET #status = :acknowledged, acknowledgement = :answer',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':acknowledged': 'ACKNOWLEDGED', ':answer': { result: 'APPLIED', state: 'ON', timestamp: Date.now() } },
    }));

    const outcome = await acknowledge(relayReportEvent({ relay: 'relay1', state: 'ON', timestamp: Date.now(), commandId: input.commandId, result: 'APPLIED' }), lambdaContext('ack'));

    expect(outcome).toEqual({ outcome: 'RESUMED' });
    expect((await waiting).output.outcome.status).toBe('SUCCEEDED');
    expect((await commandRecord(input.commandId))?.status).toBe('SUCCEEDED');
  });

  test('applies a stored answer when the resume was lost', async () => {
    const input = request();
    const waiting = runWorkflow.run(input);
    await new Promise((resolve) => { harness.onPublish = resolve; });
    // The answer was stored, but resuming the workflow never succeeded, so it times out.
    await db.send(new UpdateCommand({
      TableName: tableName(registry.commandsTable),
      Key: { commandId: input.commandId },
      UpdateExpression: 'SET #status = :acknowledged, acknowledgement = :answer',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':acknowledged': 'ACKNOWLEDGED', ':answer': { result: 'APPLIED', state: 'ON', timestamp: Date.now() } },
    }));

    const execution = await waiting;

    expect(execution.output.outcome.status).toBe('SUCCEEDED');
    expect((await commandRecord(input.commandId))?.status).toBe('SUCCEEDED');
    expect((await deviceRecord()).relays.relay1.state).toBe('ON');
  });

  test('records a local relay change and ignores an older one', async () => {
    const now = Date.now();
    const newer = await acknowledge(relayReportEvent({ relay: 'relay2', state: 'ON', timestamp: now }), lambdaContext('ack'));
    const older = await acknowledge(relayReportEvent({ relay: 'relay2', state: 'OFF', timestamp: now - 5000 }, now + 1), lambdaContext('ack'));

    expect(newer).toEqual({ outcome: 'STATE_RECORDED' });
    expect(older).toEqual({ outcome: 'STALE_STATE' });
    expect((await deviceRecord()).relays.relay2).toMatchObject({ state: 'ON', updatedAt: now });
  });

  test('fails when acknowledgementTimeout is out of range', () => {
    const scope = new Stack(new App(), 'Invalid');
    const invalidRegistry = new DeviceRegistry(scope, 'Registry');
    const bus = new PlatformEventBus(scope, 'Events');
    expect(() => new RelayCommandFlow(scope, 'Flow', {
      registry: invalidRegistry,
      eventBus: bus.eventBus,
      iotDataEndpoint: 'example.iot.us-east-1.amazonaws.com',
      acknowledgementTimeout: Duration.hours(2),
    })).toThrow(/Invalid acknowledgementTimeout of 2 hours: it must be between 1 second and 1 hour/);
  });
});
