import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { lambdaContext, templateOf, WorkflowHarness } from './harness';
import { localBucketName, startLocalS3 } from './local-s3';
import { LocalEventsEndpoint } from '../../sandbox/src/events/local-events-endpoint';
import { LocalS3Endpoint } from '../../sandbox/src/s3/local-s3-endpoint';
import { renderDefinition } from '../../sandbox/src/stepfunctions/definition';
import { DeviceRegistry, PlatformApi, PlatformAuth, PlatformEventBus, PlatformEventSource, PlatformEventType, PlatformSigningKeys, PlatformStorage } from '../../src';
import { issueClaimToken } from '../../src/domain/claim-token';
import { validateContract } from '../../src/domain/contract-validation';
import { CapabilityDocument, capabilitiesHash } from '../../src/domain/ui-config';
import { toPlatformEvent } from '../../src/iot/private/device-message';
import { DeviceOnboardingWorkflow } from '../../src/workflows/device-onboarding-workflow';

const USER_A = 'user-a';
const USER_B = 'user-b';
const MINUTE_MS = 60 * 1000;

let harness: WorkflowHarness;
let s3: LocalS3Endpoint;
let eventBus: LocalEventsEndpoint;
let stack: Stack;
let template: any;
let registry: DeviceRegistry;
let bus: PlatformEventBus;
let storage: PlatformStorage;
let keys: PlatformSigningKeys;
let workflow: DeviceOnboardingWorkflow;
let db: DynamoDBDocumentClient;
let runWorkflow: ReturnType<WorkflowHarness['workflow']>;
let steps: (event: any, context: any) => Promise<any>;
let claimKey: string;

beforeAll(async () => {
  harness = await WorkflowHarness.start();
  stack = new Stack(new App(), 'Test');
  registry = new DeviceRegistry(stack, 'Registry');
  bus = new PlatformEventBus(stack, 'Events');
  storage = new PlatformStorage(stack, 'Storage');
  keys = new PlatformSigningKeys(stack, 'Keys');
  const auth = new PlatformAuth(stack, 'Auth');
  const api = new PlatformApi(stack, 'Api', { userPool: auth.userPool, registry });
  workflow = new DeviceOnboardingWorkflow(stack, 'Onboarding', {
    registry,
    eventBus: bus.eventBus,
    uiConfigBucket: storage.uiConfigBucket,
    claimTokenKey: keys.claimTokenKey,
    api,
  });
  template = templateOf(stack);
  await harness.dynamodb.createTablesFromTemplate(template);
  db = DynamoDBDocumentClient.from(harness.dynamodb.client, { marshallOptions: { removeUndefinedValues: true } });

  s3 = await startLocalS3(template);
  eventBus = await LocalEventsEndpoint.start();
  process.env.AWS_ENDPOINT_URL_S3 = s3.url;
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = eventBus.url;
  claimKey = harness.secrets.get(logicalId(keys.claimTokenKey));

  steps = harness.loadHandler(template, stack, workflow.stepsFunction, path.join(__dirname, '../../src/workflows/device-onboarding.lambda.ts'));
  runWorkflow = harness.workflow(template, stack, workflow.stateMachine, new Map([[workflow.stepsFunction, steps]]));
});

afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_S3;
  delete process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
  await s3?.stop();
  await eventBus?.stop();
  await harness?.stop();
});

beforeEach(() => {
  harness.graphqlRequests.length = 0;
  eventBus.events.length = 0;
  s3.writes.length = 0;
});

function logicalId(construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as any);
}

let sequence = 0;

/** Returns a thing name that no other test uses, so tests do not share registry items. */
function newThing(): string {
  sequence += 1;
  return `sh-SH-ESP32-${String(sequence).padStart(6, '0')}`;
}

/** Returns a valid capability document with two relays, two sensors and a setting. */
function capabilities(overrides: Record<string, unknown> = {}): CapabilityDocument {
  return {
    schemaVersion: 1,
    model: 'esp32-relay-2',
    firmwareVersion: '1.0.0',
    timestamp: Date.now(),
    relays: [{ id: 'relay1', name: 'Heater', maxCurrentA: 10 }, { id: 'relay2', name: 'Lamp' }],
    sensors: [
      { id: 'temperature', type: 'temperature', unit: '°C', min: -40, max: 125 },
      { id: 'energy', type: 'energy', unit: 'kWh', cumulative: true },
    ],
    settings: [{ id: 'brightness', type: 'number', unit: '%', min: 0, max: 100, step: 5 }],
    ...overrides,
  } as CapabilityDocument;
}

let lastReceivedAt = 0;

/**
 * Builds the detail of the Device Capabilities Reported event that a device's message becomes
 * after the topic rule and the forwarder. The rule target passes this detail as the input.
 */
function reportedDetail(thingName: string, document: unknown): any {
  // Receive times only increase, as AWS IoT's clock does for one device's messages.
  lastReceivedAt = Math.max(Date.now(), lastReceivedAt + 1);
  const body = JSON.stringify({ kind: 'capabilities', thingName, receivedAt: lastReceivedAt, payload: Buffer.from(JSON.stringify(document)).toString('base64') });
  const entry = toPlatformEvent(body, 'bus');
  expect(entry.DetailType).toBe(PlatformEventType.DEVICE_CAPABILITIES_REPORTED);
  return JSON.parse(entry.Detail);
}

async function deviceItem(thingName: string): Promise<any> {
  return (await db.send(new GetCommand({ TableName: logicalId(registry.devicesTable), Key: { thingName }, ConsistentRead: true }))).Item;
}

async function linkItem(userId: string, thingName: string): Promise<any> {
  return (await db.send(new GetCommand({ TableName: logicalId(registry.linksTable), Key: { userId, thingName } }))).Item;
}

function uiConfigObject(key: string): any {
  const stored = s3.object(localBucketName(stack, storage.uiConfigBucket), key);
  return stored ? JSON.parse(stored.body.toString('utf8')) : undefined;
}

function uiWritesFor(thingName: string) {
  return s3.writes.filter((write) => write.key.startsWith(`ui/${thingName}/`));
}

function eventsFor(thingName: string) {
  return eventBus.events.filter((event) => event.detail.thingName === thingName);
}

function deviceUpdates() {
  return harness.graphqlRequests.map((request) => request.variables.input);
}

describe('DeviceOnboardingWorkflow execution', () => {
  test('registers a new device', async () => {
    const thing = newThing();
    const document = capabilities();
    const detail = reportedDetail(thing, document);

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Device onboarded');
    const hash = capabilitiesHash(document);
    const item = await deviceItem(thing);
    expect(item).toMatchObject({
      thingName: thing,
      model: 'esp32-relay-2',
      firmwareVersion: '1.0.0',
      capabilitiesHash: hash,
      capabilitiesReceivedAt: detail.receivedAt,
      lastSeenAt: detail.receivedAt,
      relays: {},
      uiConfigKey: `ui/${thing}/${hash}.json`,
    });
    expect(item.capabilities).toEqual(document);
    expect(typeof item.createdAt).toBe('number');
    expect(item.ownerId).toBeUndefined();
  });

  test('stores a valid UI config', async () => {
    const thing = newThing();
    const document = capabilities();

    await runWorkflow.run(reportedDetail(thing, document));

    const key = `ui/${thing}/${capabilitiesHash(document)}.json`;
    expect(uiWritesFor(thing).map((write) => write.key)).toEqual([key]);
    expect(uiWritesFor(thing)[0].contentType).toBe('application/json');
    const ui = uiConfigObject(key);
    expect(validateContract('ui-config', ui)).toEqual({ valid: true, errors: [] });
    expect(ui.deviceId).toBe(thing);
    expect(ui.capabilitiesHash).toBe(capabilitiesHash(document));
    expect(ui.components.map((component: any) => component.type)).toEqual(['toggle', 'toggle', 'value', 'total', 'slider']);
  });

  test('emits Device Onboarded without notifying anyone', async () => {
    const thing = newThing();
    const document = capabilities();
    const detail = reportedDetail(thing, document);

    await runWorkflow.run(detail);

    const events = eventsFor(thing);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      eventBusName: logicalId(bus.eventBus),
      source: PlatformEventSource.WORKFLOW,
      detailType: PlatformEventType.DEVICE_ONBOARDED,
    });
    expect(events[0].detail).toEqual({
      thingName: thing,
      model: 'esp32-relay-2',
      firmwareVersion: '1.0.0',
      capabilitiesHash: capabilitiesHash(document),
      uiConfigKey: `ui/${thing}/${capabilitiesHash(document)}.json`,
      ownerId: null,
      firstRegistration: true,
      receivedAt: detail.receivedAt,
      dedupKey: detail.dedupKey,
    });
    expect(deviceUpdates()).toEqual([]);
  });

  test('changes only lastSeenAt for unchanged capabilities', async () => {
    const thing = newThing();
    await runWorkflow.run(reportedDetail(thing, capabilities()));
    const before = await deviceItem(thing);

    const repeat = reportedDetail(thing, capabilities({ timestamp: Date.now() + 1000 }));
    const execution = await runWorkflow.run(repeat);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Nothing changed');
    const after = await deviceItem(thing);
    expect(after.lastSeenAt).toBe(repeat.receivedAt);
    expect({ ...after, lastSeenAt: undefined }).toEqual({ ...before, lastSeenAt: undefined });
    expect(uiWritesFor(thing)).toHaveLength(1);
    expect(eventsFor(thing)).toHaveLength(1);
  });

  test('regenerates the UI for changed capabilities', async () => {
    const thing = newThing();
    await runWorkflow.run(reportedDetail(thing, capabilities()));
    const changed = capabilities({ firmwareVersion: '1.1.0', relays: [{ id: 'relay1' }, { id: 'relay2' }, { id: 'relay3', name: 'Fan' }] });

    const execution = await runWorkflow.run(reportedDetail(thing, changed));

    expect(execution.status).toBe('SUCCEEDED');
    const key = `ui/${thing}/${capabilitiesHash(changed)}.json`;
    expect(uiWritesFor(thing)).toHaveLength(2);
    expect(s3.keys(localBucketName(stack, storage.uiConfigBucket), `ui/${thing}/`)).toHaveLength(2);
    const item = await deviceItem(thing);
    expect(item.uiConfigKey).toBe(key);
    expect(item.firmwareVersion).toBe('1.1.0');
    expect(item.capabilitiesHash).toBe(capabilitiesHash(changed));
    const toggles = uiConfigObject(key).components.filter((component: any) => component.type === 'toggle');
    expect(toggles.map((toggle: any) => toggle.relay)).toEqual(['relay1', 'relay2', 'relay3']);
    const onboarded = eventsFor(thing).map((event) => event.detail.firstRegistration);
    expect(onboarded).toEqual([true, false]);
  });

  test('keeps newer capabilities when an older document arrives late', async () => {
    const thing = newThing();
    const older = reportedDetail(thing, capabilities());
    const newerDocument = capabilities({ firmwareVersion: '2.0.0' });
    await runWorkflow.run(reportedDetail(thing, newerDocument));

    const execution = await runWorkflow.run(older);

    expect(execution.status).toBe('SUCCEEDED');
    expect((await deviceItem(thing)).capabilitiesHash).toBe(capabilitiesHash(newerDocument));
    expect(eventsFor(thing)).toHaveLength(1);
  });

  test('records an invalid document and succeeds', async () => {
    const thing = newThing();
    const { model: _model, ...withoutModel } = capabilities();
    const detail = reportedDetail(thing, withoutModel);
    expect(detail.valid).toBe(false);

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toEqual(['Capabilities valid?', 'Record rejection', 'Capabilities rejected']);
    const item = await deviceItem(thing);
    expect(item.lastRejection).toEqual({ at: detail.receivedAt, errors: detail.errors });
    expect(item.lastRejection.errors.join()).toMatch(/model/);
    expect(item.capabilities).toBeUndefined();
    expect(typeof item.createdAt).toBe('number');
    expect(uiWritesFor(thing)).toHaveLength(0);
    expect(eventsFor(thing)).toHaveLength(0);
  });

  test('registers a device after a rejection', async () => {
    const thing = newThing();
    const { model: _model, ...withoutModel } = capabilities();
    const rejected = reportedDetail(thing, withoutModel);
    await runWorkflow.run(rejected);

    const execution = await runWorkflow.run(reportedDetail(thing, capabilities()));

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Device onboarded');
    const item = await deviceItem(thing);
    expect(item.capabilitiesHash).toBeDefined();
    expect(item.uiConfigKey).toBeDefined();
    expect(item.lastRejection.at).toBe(rejected.receivedAt);
    expect(eventsFor(thing).map((event) => event.detail.firstRegistration)).toEqual([true]);
  });

  test('rejects repeated relay ids', async () => {
    const thing = newThing();
    const detail = reportedDetail(thing, capabilities({ relays: [{ id: 'relay1' }, { id: 'relay1' }] }));
    expect(detail.valid).toBe(true);

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Capabilities rejected');
    const item = await deviceItem(thing);
    expect(item.lastRejection.errors).toEqual(["relay id 'relay1' is declared more than once"]);
    expect(item.capabilitiesHash).toBeUndefined();
    expect(eventsFor(thing)).toHaveLength(0);
  });

  test('onboards an unknown sensor type as text', async () => {
    const thing = newThing();
    const document = capabilities({ relays: [], sensors: [{ id: 'co2', type: 'air_quality_index', unit: 'ppm' }], settings: undefined });

    const execution = await runWorkflow.run(reportedDetail(thing, document));

    expect(execution.status).toBe('SUCCEEDED');
    const ui = uiConfigObject((await deviceItem(thing)).uiConfigKey);
    expect(validateContract('ui-config', ui).valid).toBe(true);
    expect(ui.components).toEqual([
      { id: 'sensor.co2', type: 'text', label: 'co2', group: 'sensors', sensor: 'co2', sourceType: 'air_quality_index', unit: 'ppm' },
    ]);
    expect(eventsFor(thing).map((event) => event.detailType)).toEqual([PlatformEventType.DEVICE_ONBOARDED]);
  });

  test('handles a duplicate event once', async () => {
    const thing = newThing();
    const token = issueClaimToken(USER_A, claimKey, Date.now()).token;
    const detail = reportedDetail(thing, capabilities({ claimToken: token }));

    const first = await runWorkflow.run(detail);
    const second = await runWorkflow.run(detail);

    expect(first.status).toBe('SUCCEEDED');
    expect(second.status).toBe('SUCCEEDED');
    expect(uiWritesFor(thing)).toHaveLength(1);
    expect(eventsFor(thing).map((event) => event.detailType)).toEqual([PlatformEventType.DEVICE_ONBOARDED, PlatformEventType.DEVICE_LINKED]);
    expect(deviceUpdates()).toHaveLength(1);
    expect((await deviceItem(thing)).ownerId).toBe(USER_A);
  });

  test('rejects step input without dedupKey', async () => {
    const step = { action: 'register', thingName: newThing(), receivedAt: Date.now(), message: capabilities() };

    await expect(steps(step, lambdaContext('steps'))).rejects.toThrow(/Invalid onboarding step input: dedupKey undefined must be a deduplication key/);
  });

  test('records a failure when events cannot be sent', async () => {
    const thing = newThing();
    // Every attempt of the step fails: the first one and its four retries.
    eventBus.failNextEntries(5);

    const execution = await runWorkflow.run(reportedDetail(thing, capabilities()));

    eventBus.failNextEntries(0);
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('TransientDependencyError');
    expect(execution.statesEntered.slice(-2)).toEqual(['Record failure', 'Onboarding failed']);
    const failure = (await deviceItem(thing)).lastOnboardingFailure;
    expect(failure.error).toBe('TransientDependencyError');
    expect(failure.message).toMatch(/PutEvents rejected 1 of 1 entries: ThrottlingException/);
  });
});

describe('DeviceOnboardingWorkflow claim tokens', () => {
  test('links the device to the token user', async () => {
    const thing = newThing();
    const issued = issueClaimToken(USER_A, claimKey, Date.now());
    const detail = reportedDetail(thing, capabilities({ claimToken: issued.token }));

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output.claim).toEqual({ linked: true, outcome: 'LINKED', ownerId: USER_A });
    const item = await deviceItem(thing);
    expect(item.ownerId).toBe(USER_A);
    expect(item.capabilities.claimToken).toBeUndefined();
    expect(JSON.stringify(item)).not.toContain(issued.token);
    const link = await linkItem(USER_A, thing);
    expect(link).toEqual({ userId: USER_A, thingName: thing, role: 'OWNER', linkedAt: expect.any(Number), method: 'CLAIM_TOKEN' });
    const used = await db.send(new GetCommand({ TableName: logicalId(registry.pairingCodesTable), Key: { codeHash: `claim#${issued.payload.jti}` } }));
    expect(used.Item).toMatchObject({ kind: 'CLAIM_TOKEN', userId: USER_A, thingName: thing, dedupKey: detail.dedupKey });
    expect(used.Item!.ttl).toBeGreaterThanOrEqual(Math.ceil(issued.payload.exp / 1000));
  });

  test('notifies the new owner and emits Device Linked', async () => {
    const thing = newThing();
    const detail = reportedDetail(thing, capabilities({ claimToken: issueClaimToken(USER_A, claimKey, Date.now()).token }));

    await runWorkflow.run(detail);

    const updates = deviceUpdates();
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ deviceId: thing, ownerId: USER_A, kind: 'linked' });
    expect(JSON.parse(updates[0].state)).toMatchObject({ deviceId: thing, relays: [], readings: [] });
    const events = eventsFor(thing);
    expect(events.map((event) => event.detailType)).toEqual([PlatformEventType.DEVICE_ONBOARDED, PlatformEventType.DEVICE_LINKED]);
    expect(events[0].detail.ownerId).toBe(USER_A);
    expect(events[1].detail).toEqual({ thingName: thing, userId: USER_A, role: 'OWNER', method: 'CLAIM_TOKEN', dedupKey: detail.dedupKey });
    expect(events[1].source).toBe(PlatformEventSource.WORKFLOW);
  });

  const rejectedTokens: [string, () => string, string][] = [
    ['expired', () => issueClaimToken(USER_A, claimKey, Date.now() - 20 * MINUTE_MS, 15 * MINUTE_MS).token, 'TOKEN_EXPIRED'],
    ['tampered', () => {
      const [payload, signature] = issueClaimToken(USER_A, claimKey, Date.now()).token.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      return `${Buffer.from(JSON.stringify({ ...claims, sub: USER_B })).toString('base64url')}.${signature}`;
    }, 'TOKEN_SIGNATURE_INVALID'],
    ['signed with another key', () => issueClaimToken(USER_A, 'k'.repeat(64), Date.now()).token, 'TOKEN_SIGNATURE_INVALID'],
  ];

  test.each(rejectedTokens)('does not link with a token %s', async (_case, token, reason) => {
    const thing = newThing();

    const execution = await runWorkflow.run(reportedDetail(thing, capabilities({ claimToken: token() })));

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output.claim.outcome).toBe(reason);
    const item = await deviceItem(thing);
    expect(item.ownerId).toBeUndefined();
    expect(item.lastClaimRejection).toMatchObject({ reason, at: expect.any(Number) });
    expect(item.uiConfigKey).toBeDefined();
    expect(await linkItem(USER_A, thing)).toBeUndefined();
    expect(await linkItem(USER_B, thing)).toBeUndefined();
    expect(eventsFor(thing).map((event) => event.detailType)).toEqual([PlatformEventType.DEVICE_ONBOARDED]);
    expect(deviceUpdates()).toEqual([]);
  });

  test('does not link with a reused token', async () => {
    const first = newThing();
    const second = newThing();
    const token = issueClaimToken(USER_A, claimKey, Date.now()).token;
    await runWorkflow.run(reportedDetail(first, capabilities({ claimToken: token })));

    const execution = await runWorkflow.run(reportedDetail(second, capabilities({ claimToken: token })));

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output.claim.outcome).toBe('TOKEN_REUSED');
    expect((await deviceItem(first)).ownerId).toBe(USER_A);
    expect((await deviceItem(second)).ownerId).toBeUndefined();
    expect((await deviceItem(second)).lastClaimRejection.reason).toBe('TOKEN_REUSED');
    expect(await linkItem(USER_A, second)).toBeUndefined();
  });

  test('keeps the owner when another user claims', async () => {
    const thing = newThing();
    await runWorkflow.run(reportedDetail(thing, capabilities({ claimToken: issueClaimToken(USER_A, claimKey, Date.now()).token })));
    harness.graphqlRequests.length = 0;
    eventBus.events.length = 0;

    const execution = await runWorkflow.run(reportedDetail(thing, capabilities({ claimToken: issueClaimToken(USER_B, claimKey, Date.now()).token })));

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output.claim).toEqual({ linked: false, outcome: 'OWNED_BY_ANOTHER_USER', ownerId: USER_A });
    const item = await deviceItem(thing);
    expect(item.ownerId).toBe(USER_A);
    expect(item.lastClaimRejection.reason).toBe('OWNED_BY_ANOTHER_USER');
    expect(await linkItem(USER_A, thing)).toBeDefined();
    expect(await linkItem(USER_B, thing)).toBeUndefined();
    expect(eventsFor(thing)).toEqual([]);
    expect(deviceUpdates()).toEqual([]);
  });

  test('changes nothing for a token of the owner', async () => {
    const thing = newThing();
    const token = issueClaimToken(USER_A, claimKey, Date.now()).token;
    await runWorkflow.run(reportedDetail(thing, capabilities({ claimToken: token })));
    const linkBefore = await linkItem(USER_A, thing);
    eventBus.events.length = 0;
    harness.graphqlRequests.length = 0;

    // The firmware sends its stored token after every connect, and the app may issue a new one.
    const resent = await runWorkflow.run(reportedDetail(thing, capabilities({ claimToken: token })));
    const fresh = await runWorkflow.run(reportedDetail(thing, capabilities({ claimToken: issueClaimToken(USER_A, claimKey, Date.now()).token })));

    expect(resent.output.claim.outcome).toBe('ALREADY_LINKED');
    expect(fresh.output.claim.outcome).toBe('ALREADY_LINKED');
    expect(fresh.statesEntered).toContain('Nothing changed');
    const item = await deviceItem(thing);
    expect(item.ownerId).toBe(USER_A);
    expect(item.lastClaimRejection).toBeUndefined();
    expect(await linkItem(USER_A, thing)).toEqual(linkBefore);
    expect(eventsFor(thing)).toEqual([]);
    expect(deviceUpdates()).toEqual([]);
  });

  test('never links by a bare owner id', async () => {
    const forwarded = newThing();
    const forged = newThing();
    const document = { ...capabilities(), ownerId: USER_A };
    const forwardedDetail = reportedDetail(forwarded, document);
    // A detail that claims validity, as a direct StartExecution could send it.
    const forgedDetail = { ...reportedDetail(forged, document), valid: true, errors: [], message: document };

    const forwardedRun = await runWorkflow.run(forwardedDetail);
    const forgedRun = await runWorkflow.run(forgedDetail);

    for (const [execution, thing] of [[forwardedRun, forwarded], [forgedRun, forged]] as const) {
      expect(execution.status).toBe('SUCCEEDED');
      expect(execution.statesEntered).toContain('Capabilities rejected');
      const item = await deviceItem(thing);
      expect(item.ownerId).toBeUndefined();
      expect(item.lastRejection.errors.join()).toMatch(/ownerId/);
      expect(await linkItem(USER_A, thing)).toBeUndefined();
    }
    expect(deviceUpdates()).toEqual([]);
  });
});

describe('DeviceOnboardingWorkflow construct', () => {
  let assertions: Template;
  let definition: any;

  beforeAll(() => {
    assertions = Template.fromJSON(template);
    definition = renderDefinition(template, logicalId(workflow.stateMachine));
  });

  test('is an Express state machine with tracing and logs', () => {
    assertions.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'EXPRESS',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: false }),
    });
  });

  test('starts from Device Capabilities Reported events', () => {
    assertions.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'source': [PlatformEventSource.DEVICE], 'detail-type': [PlatformEventType.DEVICE_CAPABILITIES_REPORTED] },
      Targets: [Match.objectLike({
        Arn: { Ref: logicalId(workflow.stateMachine) },
        InputPath: '$.detail',
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(workflow.deadLetterQueue), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 },
      })],
    });
  });

  test('retries and catches every task state', () => {
    const taskStates = Object.entries(definition.States as Record<string, any>).filter(([, state]) => state.Type === 'Task');
    expect(taskStates.map(([name]) => name).sort()).toEqual([
      'Link owner by claim token', 'Notify owner', 'Record failure', 'Record rejection', 'Register device', 'Send onboarding events', 'Store UI config',
    ]);
    for (const [name, state] of taskStates) {
      const retried = state.Retry.flatMap((retry: any) => retry.ErrorEquals);
      expect({ name, retried }).toEqual({ name, retried: expect.arrayContaining(['TransientDependencyError', 'Lambda.TooManyRequestsException', 'IdempotencyAlreadyInProgressError']) });
      expect({ name, catches: state.Catch.map((item: any) => item.ErrorEquals) }).toEqual({ name, catches: [['States.ALL']] });
      expect({ name, next: state.Catch[0].Next }).toEqual({ name, next: name === 'Record failure' ? 'Failure not recorded' : 'Record failure' });
    }
  });

  test('begins with the validity choice', () => {
    expect(definition.StartAt).toBe('Capabilities valid?');
    expect(definition.States['Capabilities valid?'].Type).toBe('Choice');
    expect(definition.States['Capabilities rejected'].Type).toBe('Succeed');
    expect(definition.States['Onboarding failed'].Type).toBe('Fail');
  });

  test('writes UI configs only under ui/', () => {
    const bucketArn = { 'Fn::GetAtt': [localBucketName(stack, storage.uiConfigBucket), 'Arn'] };
    assertions.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^OnboardingStepsRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [bucketArn, '/ui/*']] } }),
        ]),
      },
    });
  });

  test('grants the steps only item access to the tables', () => {
    const policies = assertions.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^OnboardingStepsRole') }] } });
    const statements = Object.values(policies).flatMap((policy: any) => policy.Properties.PolicyDocument.Statement as any[]);
    const tables = { devices: registry.devicesTable, links: registry.linksTable, pairingCodes: registry.pairingCodesTable };
    const granted = Object.fromEntries(Object.entries(tables).map(([name, table]) => {
      const arn = JSON.stringify({ 'Fn::GetAtt': [logicalId(table), 'Arn'] });
      const actions = statements
        .filter((statement) => JSON.stringify(statement.Resource).includes(arn))
        .flatMap((statement) => [statement.Action].flat());
      return [name, [...new Set(actions)].sort()];
    }));
    expect(granted).toEqual({
      devices: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      links: ['dynamodb:PutItem'],
      pairingCodes: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    });
  });

  test('grants the secret, the bus and object writes', () => {
    const policies = assertions.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^OnboardingStepsRole') }] } });
    const statements = Object.values(policies).flatMap((policy: any) => policy.Properties.PolicyDocument.Statement as any[]);
    const actions = statements.flatMap((statement) => [statement.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['events:PutEvents', 'secretsmanager:GetSecretValue', 'appsync:GraphQL']));
    expect(actions.filter((action: string) => action.startsWith('s3:'))).toEqual(['s3:PutObject']);
  });

  test('reports no cdk-nag findings', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'onboarding-nag-'));
    const app = new App({ outdir, context: { '@aws-cdk/core:validationReportJson': true } });
    const nagStack = new Stack(app, 'Nag');
    const key = new kms.Key(nagStack, 'Key', { enableKeyRotation: true });
    const nagRegistry = new DeviceRegistry(nagStack, 'Registry', { encryptionKey: key });
    const nagStorage = new PlatformStorage(nagStack, 'Storage', { encryptionKey: key });
    const nagAuth = new PlatformAuth(nagStack, 'Auth');
    new DeviceOnboardingWorkflow(nagStack, 'Onboarding', {
      registry: nagRegistry,
      eventBus: new PlatformEventBus(nagStack, 'Events').eventBus,
      uiConfigBucket: nagStorage.uiConfigBucket,
      claimTokenKey: new PlatformSigningKeys(nagStack, 'Keys', { encryptionKey: key }).claimTokenKey,
      api: new PlatformApi(nagStack, 'Api', { userPool: nagAuth.userPool, registry: nagRegistry, encryptionKey: key }),
      encryptionKey: key,
    });
    new sqs.Queue(nagStack, 'Unencrypted', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
    try {
      app.synth();
    } catch (error) {
      // A plugin with findings makes synth throw after it writes the report, which is read below.
      if (!fs.existsSync(path.join(outdir, 'validation-report.json'))) {
        throw error;
      }
    }

    const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
    const findings = (report.pluginReports as any[])
      .filter((plugin) => /AwsSolutions|Serverless/.test(plugin.pluginName))
      .flatMap((plugin) => plugin.violations.flatMap((violation: any) => violation.violatingConstructs
        .map((construct: any) => `${violation.ruleName} ${construct.constructPath}`)));
    // The queue that breaks the rules shows that the packs ran and reported into this report.
    expect(findings).toContain('AwsSolutions-SQS3 Nag/Unencrypted/Resource');
    expect(findings.filter((finding: string) => finding.includes(' Nag/Onboarding/'))).toEqual([]);
  });
});
