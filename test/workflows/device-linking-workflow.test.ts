import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { lambdaContext, templateOf, WorkflowHarness } from './harness';
import { LocalEventsEndpoint } from '../../sandbox/src/events/local-events-endpoint';
import { renderDefinition } from '../../sandbox/src/stepfunctions/definition';
import { DeviceRegistry, PlatformApi, PlatformAuth, PlatformEventBus, PlatformEventSource, PlatformEventType, PlatformSigningKeys } from '../../src';
import { validateContract } from '../../src/domain/contract-validation';
import { generatePairingCode, hashPairingCode, MAX_PAIRING_ATTEMPTS, normalizePairingCode, PAIRING_CODE_TTL_MS } from '../../src/domain/pairing-codes';
import { DeviceLinkingWorkflow } from '../../src/workflows/device-linking-workflow';

const HANDLER_PATH = path.join(__dirname, '../../src/workflows/device-linking.lambda.ts');
const INSTALLER = 'installer-1';

type Handler = (event: any, context: any) => Promise<any>;

let harness: WorkflowHarness;
let eventsEndpoint: LocalEventsEndpoint;
let stack: Stack;
let template: any;
let linking: DeviceLinkingWorkflow;
let registry: DeviceRegistry;
let bus: PlatformEventBus;
let db: DynamoDBDocumentClient;
let pepper: string;
let steps: Handler;
let pairing: Handler;
let runLink: ReturnType<WorkflowHarness['workflow']>;
let runUnlink: ReturnType<WorkflowHarness['workflow']>;

beforeAll(async () => {
  harness = await WorkflowHarness.start();
  eventsEndpoint = await LocalEventsEndpoint.start();
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = eventsEndpoint.url;

  stack = new Stack(new App(), 'Test');
  registry = new DeviceRegistry(stack, 'Registry');
  bus = new PlatformEventBus(stack, 'Events');
  const auth = new PlatformAuth(stack, 'Auth');
  const api = new PlatformApi(stack, 'Api', { userPool: auth.userPool, registry });
  const keys = new PlatformSigningKeys(stack, 'Keys');
  linking = new DeviceLinkingWorkflow(stack, 'Linking', {
    registry,
    eventBus: bus.eventBus,
    pairingCodePepper: keys.pairingCodePepper,
    iotDataEndpoint: harness.recorderUrl,
    api,
  });
  template = templateOf(stack);
  await harness.dynamodb.createTablesFromTemplate(template);
  db = DynamoDBDocumentClient.from(harness.dynamodb.client, { marshallOptions: { removeUndefinedValues: true } });
  pepper = harness.secrets.get(logicalId(keys.pairingCodePepper));

  steps = harness.loadHandler(template, stack, linking.stepsFunction, HANDLER_PATH);
  pairing = harness.loadHandler(template, stack, linking.pairingFunction, HANDLER_PATH);
  runLink = harness.workflow(template, stack, linking.linkStateMachine, new Map([[linking.stepsFunction, steps]]));
  runUnlink = harness.workflow(template, stack, linking.unlinkStateMachine, new Map([[linking.stepsFunction, steps]]));
});

afterAll(async () => {
  await eventsEndpoint?.stop();
  await harness?.stop();
  delete process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
});

beforeEach(() => {
  harness.publishes.length = 0;
  harness.graphqlRequests.length = 0;
  eventsEndpoint.events.length = 0;
});

function logicalId(construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as any);
}

const tableName = (table: DeviceRegistry['devicesTable']) => logicalId(table);

let sequence = 0;
function unique(prefix: string): string {
  sequence += 1;
  return `${prefix}-${Date.now().toString(36)}-${sequence}`;
}

async function registerDevice(fields: Record<string, unknown> = {}): Promise<string> {
  const thingName = unique('sh-SH-ESP32');
  await db.send(new PutCommand({
    TableName: tableName(registry.devicesTable),
    Item: { thingName, model: 'SH-ESP32', capabilities: { relays: [{ id: 'relay1' }] }, createdAt: Date.now(), ...fields },
  }));
  return thingName;
}

async function issueCode(deviceId: string): Promise<string> {
  const issued = await pairing({ action: 'issue', deviceId, issuedBy: INSTALLER }, lambdaContext('pairing'));
  return issued.code;
}

/** Writes a pairing code record directly, for states that issue cannot produce, such as a past expiry. */
async function storeCode(deviceId: string, fields: Record<string, unknown> = {}): Promise<string> {
  const code = generatePairingCode();
  const issuedAt = Date.now() - PAIRING_CODE_TTL_MS;
  await db.send(new PutCommand({
    TableName: tableName(registry.pairingCodesTable),
    Item: {
      codeHash: hashPairingCode(code, pepper),
      thingName: deviceId,
      issuedAt,
      issuedBy: INSTALLER,
      expiresAt: issuedAt + PAIRING_CODE_TTL_MS,
      ttl: Math.ceil(issuedAt / 1000) + 86_400,
      ...fields,
    },
  }));
  return code;
}

function link(userId: string, code: string) {
  return runLink.run({ userId, code, requestedAt: Date.now() }, unique('link'));
}

function unlink(userId: string, deviceId: string) {
  return runUnlink.run({ userId, deviceId, requestedAt: Date.now() }, unique('unlink'));
}

async function deviceItem(thingName: string) {
  return (await db.send(new GetCommand({ TableName: tableName(registry.devicesTable), Key: { thingName } }))).Item;
}

async function linkItem(userId: string, thingName: string) {
  return (await db.send(new GetCommand({ TableName: tableName(registry.linksTable), Key: { userId, thingName } }))).Item;
}

async function linksOf(thingName: string) {
  const result = await db.send(new QueryCommand({
    TableName: tableName(registry.linksTable),
    IndexName: DeviceRegistry.LINKS_BY_THING_INDEX,
    KeyConditionExpression: 'thingName = :thing',
    ExpressionAttributeValues: { ':thing': thingName },
  }));
  return result.Items ?? [];
}

async function codeItem(code: string) {
  return (await db.send(new GetCommand({ TableName: tableName(registry.pairingCodesTable), Key: { codeHash: hashPairingCode(code, pepper) } }))).Item;
}

async function scanTable(table: DeviceRegistry['devicesTable']) {
  return (await db.send(new ScanCommand({ TableName: tableName(table) }))).Items ?? [];
}

async function failedAttempts(userId: string): Promise<number> {
  const items = await scanTable(registry.pairingCodesTable);
  return items
    .filter((item) => String(item.codeHash).startsWith(`attempts#${userId}#`))
    .reduce((total, item) => total + Number(item.attempts), 0);
}

function updatesFor(thingName: string) {
  return harness.graphqlRequests.map((body) => body.variables.input).filter((input) => input.deviceId === thingName);
}

function eventsFor(thingName: string) {
  return eventsEndpoint.events.filter((entry) => entry.detail?.thingName === thingName);
}

describe('DeviceLinkingWorkflow link', () => {
  test('links the device with a valid code', async () => {
    const thing = await registerDevice();
    const code = await issueCode(thing);

    const execution = await link('user-a', code);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output).toEqual({ outcome: 'LINKED', deviceId: thing });
    expect(await linkItem('user-a', thing)).toMatchObject({ userId: 'user-a', thingName: thing, role: 'OWNER' });
    expect((await deviceItem(thing))?.ownerId).toBe('user-a');
    const used = await codeItem(code);
    expect(used?.usedBy).toBe('user-a');
    expect(typeof used?.usedAt).toBe('number');
  });

  test('pushes a linked update to the owner', async () => {
    const thing = await registerDevice();

    await link('user-a', await issueCode(thing));

    const updates = updatesFor(thing);
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ deviceId: thing, ownerId: 'user-a', kind: 'linked' });
  });

  test('emits Device Linked', async () => {
    const thing = await registerDevice();

    await link('user-a', await issueCode(thing));

    const events = eventsFor(thing);
    expect(events).toHaveLength(1);
    expect(events[0].source).toBe(PlatformEventSource.WORKFLOW);
    expect(events[0].detailType).toBe(PlatformEventType.DEVICE_LINKED);
    expect(events[0].eventBusName).toBe(logicalId(bus.eventBus));
    expect(events[0].detail).toMatchObject({ thingName: thing, userId: 'user-a' });
    expect(events[0].detail.dedupKey).toMatch(/^[0-9a-f]{64}$/);
  });

  test('retries a throttled event', async () => {
    const thing = await registerDevice();
    const code = await issueCode(thing);
    eventsEndpoint.failNextEntries(1);

    const execution = await link('user-a', code);

    expect(execution.output).toEqual({ outcome: 'LINKED', deviceId: thing });
    expect(eventsFor(thing)).toHaveLength(1);
    expect(updatesFor(thing)).toHaveLength(1);
  });

  test('accepts the code in lower case with spaces', async () => {
    const thing = await registerDevice();
    const code = await issueCode(thing);

    const execution = await link('user-a', code.toLowerCase().replace(/-/g, ' '));

    expect(execution.output).toEqual({ outcome: 'LINKED', deviceId: thing });
  });

  test('returns ALREADY_LINKED for the owner', async () => {
    const thing = await registerDevice();
    const code = await issueCode(thing);
    const owner = unique('user');
    await link(owner, code);
    const before = { device: await deviceItem(thing), link: await linkItem(owner, thing), code: await codeItem(code) };
    harness.graphqlRequests.length = 0;
    eventsEndpoint.events.length = 0;

    const execution = await link(owner, code);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output).toEqual({ outcome: 'ALREADY_LINKED', deviceId: thing });
    expect(await deviceItem(thing)).toEqual(before.device);
    expect(await linkItem(owner, thing)).toEqual(before.link);
    expect(await codeItem(code)).toEqual(before.code);
    expect(updatesFor(thing)).toEqual([]);
    expect(eventsFor(thing)).toEqual([]);
    expect(await failedAttempts(owner)).toBe(0);
  });

  test('completes a link that lacks its links item', async () => {
    const thing = await registerDevice();
    const code = await issueCode(thing);
    await link('user-a', code);
    await db.send(new DeleteCommand({ TableName: tableName(registry.linksTable), Key: { userId: 'user-a', thingName: thing } }));

    const execution = await link('user-a', code);

    expect(execution.output).toEqual({ outcome: 'ALREADY_LINKED', deviceId: thing });
    expect(await linkItem('user-a', thing)).toMatchObject({ role: 'OWNER' });
  });

  test('rejects a code whose device another user owns', async () => {
    // evaluatePairingAttempt checks the owner before the code's state, so a used code of an
    // owned device reports the owner.
    const thing = await registerDevice();
    const code = await issueCode(thing);
    await link('user-a', code);
    const user = unique('user');

    const execution = await link(user, code);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('PairingDeviceOwnedByAnotherUserError');
    expect(execution.statesEntered).toContain('Record failed attempt');
    expect((await deviceItem(thing))?.ownerId).toBe('user-a');
    expect(await linkItem(user, thing)).toBeUndefined();
    expect(await failedAttempts(user)).toBe(1);
  });

  test('rejects a used code after the device was removed', async () => {
    const thing = await registerDevice();
    const code = await issueCode(thing);
    await link('user-a', code);
    await unlink('user-a', thing);
    const user = unique('user');

    const execution = await link(user, code);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('PairingCodeUsedError');
    expect((await deviceItem(thing))?.ownerId).toBeUndefined();
    expect(await failedAttempts(user)).toBe(1);
  });

  test('rejects an expired code', async () => {
    const thing = await registerDevice();
    const code = await storeCode(thing, { expiresAt: Date.now() - 1000 });
    const user = unique('user');

    const execution = await link(user, code);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('PairingCodeExpiredError');
    expect((await deviceItem(thing))?.ownerId).toBeUndefined();
    expect((await codeItem(code))?.usedAt).toBeUndefined();
    expect(await failedAttempts(user)).toBe(1);
  });

  test('rejects an unknown code', async () => {
    const user = unique('user');

    const execution = await link(user, generatePairingCode());

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('PairingCodeNotFoundError');
    expect(await failedAttempts(user)).toBe(1);
  });

  test('rejects a malformed code without echoing it', async () => {
    const user = unique('user');

    const execution = await link(user, 'WXYZ-1234-!!');

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('PairingCodeInvalidError');
    expect(execution.cause).not.toContain('WXYZ');
    expect(await failedAttempts(user)).toBe(1);
  });

  test('rejects a device owned by another user', async () => {
    const thing = await registerDevice({ ownerId: 'user-a' });
    const code = await issueCode(thing);
    const user = unique('user');

    const execution = await link(user, code);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('PairingDeviceOwnedByAnotherUserError');
    expect((await deviceItem(thing))?.ownerId).toBe('user-a');
    expect((await codeItem(code))?.usedAt).toBeUndefined();
    expect(updatesFor(thing)).toEqual([]);
    expect(eventsFor(thing)).toEqual([]);
  });

  test('blocks the sixth attempt even with a valid code', async () => {
    const thing = await registerDevice();
    const code = await issueCode(thing);
    const user = unique('user');
    for (let attempt = 1; attempt <= MAX_PAIRING_ATTEMPTS; attempt++) {
      const wrong = await link(user, generatePairingCode());
      expect(wrong.error).toBe('PairingCodeNotFoundError');
    }

    const execution = await link(user, code);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('PairingTooManyAttemptsError');
    expect(execution.statesEntered).not.toContain('Record failed attempt');
    expect((await deviceItem(thing))?.ownerId).toBeUndefined();
    expect((await codeItem(code))?.usedAt).toBeUndefined();
    expect(await failedAttempts(user)).toBe(MAX_PAIRING_ATTEMPTS);
  });

  test('counts attempts per user', async () => {
    const blocked = unique('user');
    for (let attempt = 1; attempt <= MAX_PAIRING_ATTEMPTS; attempt++) {
      await link(blocked, generatePairingCode());
    }
    const thing = await registerDevice();

    const execution = await link(unique('user'), await issueCode(thing));

    expect(execution.output).toEqual({ outcome: 'LINKED', deviceId: thing });
  });

  test('lets one of two concurrent users win', async () => {
    const thing = await registerDevice();
    const code = await issueCode(thing);

    const executions = await Promise.all([link('user-a', code), link('user-b', code)]);

    const winners = executions.filter((execution) => execution.status === 'SUCCEEDED');
    const losers = executions.filter((execution) => execution.status === 'FAILED');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(winners[0].output).toEqual({ outcome: 'LINKED', deviceId: thing });
    expect(['PairingCodeUsedError', 'PairingDeviceOwnedByAnotherUserError']).toContain(losers[0].error);
    const winner = executions[0].status === 'SUCCEEDED' ? 'user-a' : 'user-b';
    expect((await deviceItem(thing))?.ownerId).toBe(winner);
    expect((await codeItem(code))?.usedBy).toBe(winner);
    expect((await linksOf(thing)).map((item) => item.userId)).toEqual([winner]);
    expect(eventsFor(thing)).toHaveLength(1);
  });

  test('rejects input without a user', async () => {
    const execution = await runLink.run({ userId: '', code: generatePairingCode(), requestedAt: Date.now() }, unique('link'));

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('InvalidRequestError');
    expect(execution.cause).toMatch(/userId "" must be a user id/);
  });
});

describe('DeviceLinkingWorkflow unlink', () => {
  async function linkedDevice(owner: string): Promise<string> {
    const thing = await registerDevice();
    await link(owner, await issueCode(thing));
    await db.send(new UpdateCommand({
      TableName: tableName(registry.devicesTable),
      Key: { thingName: thing },
      UpdateExpression: 'SET #name = :name, room = :room',
      ExpressionAttributeNames: { '#name': 'name' },
      ExpressionAttributeValues: { ':name': 'Kitchen light', ':room': 'Kitchen' },
    }));
    harness.graphqlRequests.length = 0;
    eventsEndpoint.events.length = 0;
    return thing;
  }

  test('removes the owner, name, room and link', async () => {
    const thing = await linkedDevice('user-a');

    const execution = await unlink('user-a', thing);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output).toEqual({ outcome: 'UNLINKED', deviceId: thing });
    expect(await linkItem('user-a', thing)).toBeUndefined();
    const device = await deviceItem(thing);
    expect(device?.ownerId).toBeUndefined();
    expect(device?.name).toBeUndefined();
    expect(device?.room).toBeUndefined();
    expect(device?.model).toBe('SH-ESP32');
  });

  test('publishes a valid reset command', async () => {
    const thing = await linkedDevice('user-a');

    await unlink('user-a', thing);

    expect(harness.publishes).toHaveLength(1);
    expect(harness.publishes[0].topic).toBe(`iot/control/${thing}/reset`);
    expect(harness.publishes[0].qos).toBe(1);
    expect(validateContract('reset', harness.publishes[0].payload)).toEqual({ valid: true, errors: [] });
  });

  test('pushes a final removed update', async () => {
    const thing = await linkedDevice('user-a');

    await unlink('user-a', thing);

    const updates = updatesFor(thing);
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ deviceId: thing, ownerId: 'user-a', kind: 'removed', removed: true });
  });

  test('emits Device Unlinked', async () => {
    const thing = await linkedDevice('user-a');

    await unlink('user-a', thing);

    const events = eventsFor(thing);
    expect(events).toHaveLength(1);
    expect(events[0].source).toBe(PlatformEventSource.WORKFLOW);
    expect(events[0].detailType).toBe(PlatformEventType.DEVICE_UNLINKED);
    expect(events[0].detail).toMatchObject({ thingName: thing, userId: 'user-a' });
  });

  test('rejects another user and changes nothing', async () => {
    const thing = await linkedDevice('user-a');
    const before = { device: await deviceItem(thing), link: await linkItem('user-a', thing) };

    const execution = await unlink('user-b', thing);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('NotAuthorizedError');
    expect(execution.cause).toMatch(/only its owner can remove it/);
    expect(await deviceItem(thing)).toEqual(before.device);
    expect(await linkItem('user-a', thing)).toEqual(before.link);
    expect(harness.publishes).toEqual([]);
    expect(updatesFor(thing)).toEqual([]);
    expect(eventsFor(thing)).toEqual([]);
  });

  test('rejects removing a removed device', async () => {
    const thing = await linkedDevice('user-a');
    await unlink('user-a', thing);

    const execution = await unlink('user-a', thing);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('NotAuthorizedError');
    expect(harness.publishes).toHaveLength(1);
  });

  test('deletes other users\' links to the device', async () => {
    const thing = await linkedDevice('user-a');
    await db.send(new PutCommand({ TableName: tableName(registry.linksTable), Item: { userId: 'user-c', thingName: thing, role: 'MEMBER' } }));

    await unlink('user-a', thing);

    expect(await linksOf(thing)).toEqual([]);
  });

  test('lets a new owner link the removed device', async () => {
    const thing = await linkedDevice('user-a');
    await unlink('user-a', thing);

    const execution = await link('user-b', await issueCode(thing));

    expect(execution.output).toEqual({ outcome: 'LINKED', deviceId: thing });
    expect((await deviceItem(thing))?.ownerId).toBe('user-b');
  });

  test('rejects a device id that is not a thing name', async () => {
    const execution = await unlink('user-a', 'iot/control/#');

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('InvalidRequestError');
    expect(harness.publishes).toEqual([]);
  });
});

describe('DeviceLinkingWorkflow issue', () => {
  test('returns a code and stores only its hash', async () => {
    const thing = await registerDevice();
    const before = Date.now();

    const issued = await pairing({ action: 'issue', deviceId: thing, issuedBy: INSTALLER }, lambdaContext('pairing'));

    expect(issued.deviceId).toBe(thing);
    expect(issued.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}$/);
    expect(issued.expiresAt).toBeGreaterThanOrEqual(before + PAIRING_CODE_TTL_MS);
    expect(issued.expiresAt).toBeLessThanOrEqual(Date.now() + PAIRING_CODE_TTL_MS);
    const stored = await codeItem(issued.code);
    expect(stored).toMatchObject({ thingName: thing, issuedBy: INSTALLER, expiresAt: issued.expiresAt });
    expect(stored?.ttl).toBeGreaterThanOrEqual(Math.ceil(issued.expiresAt / 1000));
    const tables = JSON.stringify([await scanTable(registry.pairingCodesTable), await scanTable(registry.idempotencyTable)]);
    expect(tables).not.toContain(issued.code);
    expect(tables).not.toContain(normalizePairingCode(issued.code));
  });

  test('issues a new code on every call', async () => {
    const thing = await registerDevice();

    const first = await issueCode(thing);
    const second = await issueCode(thing);

    expect(second).not.toBe(first);
  });

  test('rejects a device that is not registered', async () => {
    await expect(pairing({ action: 'issue', deviceId: 'sh-UNKNOWN-1', issuedBy: INSTALLER }, lambdaContext('pairing')))
      .rejects.toMatchObject({ name: 'DeviceNotFoundError' });
  });

  test('pairing function rejects workflow actions', async () => {
    await expect(pairing({ action: 'unlink', userId: 'user-a', deviceId: 'sh-X', requestedAt: 1, execution: 'e' }, lambdaContext('pairing')))
      .rejects.toMatchObject({ name: 'InvalidRequestError', message: expect.stringMatching(/it accepts: issue\./) });
  });

  test('steps function rejects issue', async () => {
    await expect(steps({ action: 'issue', deviceId: 'sh-X', issuedBy: INSTALLER }, lambdaContext('steps')))
      .rejects.toMatchObject({ name: 'InvalidRequestError' });
  });
});

describe('DeviceLinkingWorkflow construct', () => {
  function buildStack(app = new App()) {
    const scope = new Stack(app, 'Construct');
    const scopeRegistry = new DeviceRegistry(scope, 'Registry');
    const scopeBus = new PlatformEventBus(scope, 'Events');
    const auth = new PlatformAuth(scope, 'Auth');
    const api = new PlatformApi(scope, 'Api', { userPool: auth.userPool, registry: scopeRegistry });
    const keys = new PlatformSigningKeys(scope, 'Keys');
    const workflow = new DeviceLinkingWorkflow(scope, 'Linking', {
      registry: scopeRegistry,
      eventBus: scopeBus.eventBus,
      pairingCodePepper: keys.pairingCodePepper,
      iotDataEndpoint: 'example-ats.iot.us-east-1.amazonaws.com',
      api,
    });
    return { scope, workflow };
  }

  const stateMachineIds = () => [logicalId(linking.linkStateMachine), logicalId(linking.unlinkStateMachine)];

  test('creates two Express state machines', () => {
    const machines = Object.entries(template.Resources).filter(([, resource]: [string, any]) => resource.Type === 'AWS::StepFunctions::StateMachine');

    expect(machines.map(([id]) => id).sort()).toEqual(stateMachineIds().sort());
    for (const [, resource] of machines as [string, any][]) {
      expect(resource.Properties.StateMachineType).toBe('EXPRESS');
      expect(resource.Properties.TracingConfiguration).toEqual({ Enabled: true });
    }
  });

  test('retries and catches on every task', () => {
    for (const id of stateMachineIds()) {
      const definition = renderDefinition(template, id);
      const tasks = Object.entries(definition.States as Record<string, any>).filter(([, state]) => state.Type === 'Task');
      expect(tasks.length).toBeGreaterThan(0);
      for (const [name, state] of tasks) {
        const retried = (state.Retry ?? []).flatMap((retry: any) => retry.ErrorEquals);
        expect({ name, retried }).toEqual({ name, retried: expect.arrayContaining(['TransientDependencyError', 'Lambda.TooManyRequestsException']) });
        const catchAll = (state.Catch ?? []).find((entry: any) => entry.ErrorEquals.includes('States.ALL'));
        expect({ name, catchAllTarget: definition.States[catchAll?.Next]?.Type }).toEqual({ name, catchAllTarget: 'Fail' });
      }
    }
  });

  test('counts rejected attempts before failing', () => {
    const definition = renderDefinition(template, logicalId(linking.linkStateMachine));
    const check = definition.States['Check pairing code'];
    const counted = check.Catch.find((entry: any) => entry.ErrorEquals.includes('PairingCodeNotFoundError'));

    expect(counted.Next).toBe('Record failed attempt');
    expect(definition.States['Record failed attempt'].Next).toBe('Pairing rejected');
    expect(definition.States['Pairing rejected']).toMatchObject({ Type: 'Fail', ErrorPath: '$.error.Error' });
  });

  test('grantStartSync allows both state machines', () => {
    const { scope, workflow } = buildStack();
    const role = new iam.Role(scope, 'Caller', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });

    workflow.grantStartSync(role);

    const policies = Object.values(templateOf(scope).Resources as Record<string, any>)
      .filter((resource) => resource.Type === 'AWS::IAM::Policy' && JSON.stringify(resource.Properties.Roles).includes(scope.getLogicalId(role.node.defaultChild as any)));
    const statements = policies.flatMap((policy) => policy.Properties.PolicyDocument.Statement);
    expect(statements.map((statement) => statement.Action)).toEqual(['states:StartSyncExecution', 'states:StartSyncExecution']);
    expect(statements.map((statement) => statement.Resource)).toEqual([
      { Ref: scope.getLogicalId(workflow.linkStateMachine.node.defaultChild as any) },
      { Ref: scope.getLogicalId(workflow.unlinkStateMachine.node.defaultChild as any) },
    ]);
  });

  test('pairing function can neither publish nor emit', () => {
    const roleId = logicalId(linking.pairingFunction.role! as iam.Role);
    const stepsRoleId = logicalId(linking.stepsFunction.role! as iam.Role);
    const actionsOf = (role: string) => JSON.stringify(Object.values(template.Resources as Record<string, any>)
      .filter((resource) => resource.Type === 'AWS::IAM::Policy' && JSON.stringify(resource.Properties.Roles).includes(role))
      .map((policy) => policy.Properties.PolicyDocument.Statement.map((statement: any) => statement.Action)));

    expect(actionsOf(roleId)).not.toMatch(/iot:Publish|events:PutEvents|dynamodb:(UpdateItem|DeleteItem|Scan|Query)/);
    expect(actionsOf(roleId)).toMatch(/dynamodb:PutItem/);
    expect(actionsOf(stepsRoleId)).toMatch(/iot:Publish/);
    expect(actionsOf(stepsRoleId)).toMatch(/events:PutEvents/);
  });

  test('cdk-nag reports no finding on the construct', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nag-linking-'));
    const app = new App({ outdir, context: { '@aws-cdk/core:validationReportJson': true } });
    buildStack(app);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
    try {
      app.synth();
    } catch (error) {
      // Synthesis throws after writing the report when a plugin reports a finding.
      if (!fs.existsSync(path.join(outdir, 'validation-report.json'))) {
        throw error;
      }
    }
    const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));

    const findings = report.pluginReports.flatMap((plugin: any) => plugin.violations.flatMap((violation: any) => violation.violatingConstructs
      .filter((construct: any) => construct.constructPath.startsWith('Construct/Linking/'))
      .map((construct: any) => `${violation.ruleName} ${construct.constructPath}: ${violation.description.slice(0, 120)}`)));
    expect(findings).toEqual([]);
  });
});
