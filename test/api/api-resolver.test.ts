import * as path from 'node:path';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { localReference } from '../../sandbox/src/stepfunctions/definition';
import { PlatformApi, PlatformAuth, PlatformEventBus, DeviceRegistry, PlatformSigningKeys, PlatformStorage, RelayCommandFlow } from '../../src';
import { PlatformApiResolvers } from '../../src/api/platform-api-resolvers';
import { verifyClaimToken } from '../../src/domain/claim-token';
import { lambdaContext, templateOf, WorkflowHarness } from '../workflows/harness';

const USER_A = 'user-a';
const USER_B = 'user-b';
const DEVICE_A = 'sh-SH-ESP32-000001';
const DEVICE_A2 = 'sh-SH-ESP32-000002';
const DEVICE_B = 'sh-SH-ESP32-000003';

let harness: WorkflowHarness;
let stack: Stack;
let template: any;
let registry: DeviceRegistry;
let resolvers: PlatformApiResolvers;
let keys: PlatformSigningKeys;
let relayCommands: RelayCommandFlow;
let db: DynamoDBDocumentClient;
let ota: sfn.StateMachine;
const FLEET_GROUP = 'arn:aws:iot:us-east-1:000000000000:thinggroup/fleet';
let resolve: (event: any, context: any) => Promise<any>;

function tableName(table: { node: { defaultChild?: any } }): string {
  return stack.getLogicalId(table.node.defaultChild);
}

function call(field: string, args: Record<string, unknown>, sub: string | undefined, groups: string[] = []) {
  return resolve({ field, arguments: args, identity: sub ? { sub, groups } : undefined }, lambdaContext('resolver'));
}

beforeAll(async () => {
  harness = await WorkflowHarness.start();
  stack = new Stack(new App(), 'Test');
  registry = new DeviceRegistry(stack, 'Registry');
  const bus = new PlatformEventBus(stack, 'Events');
  const auth = new PlatformAuth(stack, 'Auth');
  const storage = new PlatformStorage(stack, 'Storage');
  const api = new PlatformApi(stack, 'Api', { userPool: auth.userPool, registry });
  keys = new PlatformSigningKeys(stack, 'Keys');
  relayCommands = new RelayCommandFlow(stack, 'RelayCommands', { registry, eventBus: bus.eventBus, iotDataEndpoint: harness.recorderUrl, api });
  // The linking workflows have their own tests; simple stand-ins keep this stack small.
  const link = new sfn.StateMachine(stack, 'Link', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Linked')), stateMachineType: sfn.StateMachineType.EXPRESS });
  const unlink = new sfn.StateMachine(stack, 'Unlink', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Unlinked')), stateMachineType: sfn.StateMachineType.EXPRESS });
  ota = new sfn.StateMachine(stack, 'Ota', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Rollout')) });
  const pairing = new lambda.Function(stack, 'Pairing', { runtime: lambda.Runtime.NODEJS_LATEST, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})') });
  resolvers = new PlatformApiResolvers(stack, 'Resolvers', {
    api,
    registry,
    uiConfigBucket: storage.uiConfigBucket,
    relayCommands,
    linkStateMachine: link,
    unlinkStateMachine: unlink,
    pairingFunction: pairing,
    claimTokenKey: keys.claimTokenKey,
    otaRolloutStateMachine: ota,
    fleetThingGroupArn: FLEET_GROUP,
  });
  template = templateOf(stack);
  await harness.dynamodb.createTablesFromTemplate(template);
  db = DynamoDBDocumentClient.from(harness.dynamodb.client, { marshallOptions: { removeUndefinedValues: true } });

  resolve = harness.loadHandler(template, stack, resolvers.resolverFunction, path.join(__dirname, '../../src/api/api-resolver.lambda.ts'));
  const steps = harness.loadHandler(template, stack, relayCommands.stepsFunction, path.join(__dirname, '../../src/workflows/relay-command.lambda.ts'));
  const relayLogicalId = stack.getLogicalId(relayCommands.stateMachine.node.defaultChild as sfn.CfnStateMachine);
  const relayWorkflow = harness.workflow(template, stack, relayCommands.stateMachine, new Map([[relayCommands.stepsFunction, steps]]));
  harness.stepFunctions.register(localReference(template, relayLogicalId), relayWorkflow);
  const otaLogicalId = stack.getLogicalId(ota.node.defaultChild as sfn.CfnStateMachine);
  harness.stepFunctions.register(localReference(template, otaLogicalId), harness.workflow(template, stack, ota, new Map()));

  const devices: [string, string][] = [[DEVICE_A, USER_A], [DEVICE_A2, USER_A], [DEVICE_B, USER_B]];
  for (const [thingName, ownerId] of devices) {
    await db.send(new PutCommand({
      TableName: tableName(registry.devicesTable),
      Item: {
        thingName,
        ownerId,
        model: 'esp32-relay-2',
        capabilities: { relays: [{ id: 'relay1', name: 'Heater' }], sensors: [{ id: 'temperature', type: 'temperature', unit: '°C' }] },
        relays: {},
      },
    }));
    await db.send(new PutCommand({ TableName: tableName(registry.linksTable), Item: { userId: ownerId, thingName, role: 'OWNER' } }));
  }
});

afterAll(async () => {
  await harness?.stepFunctions.settle();
  await harness?.stop();
});

describe('getMyDevices', () => {
  test('lists only the caller\'s devices', async () => {
    const page = await call('getMyDevices', {}, USER_A);

    expect(page.items.map((device: any) => device.id).sort()).toEqual([DEVICE_A, DEVICE_A2]);
    expect(page.nextToken).toBeNull();
  });

  test('pages with a capped page size', async () => {
    const first = await call('getMyDevices', { limit: 1 }, USER_A);
    const second = await call('getMyDevices', { limit: 1, nextToken: first.nextToken }, USER_A);

    expect(first.items).toHaveLength(1);
    expect(second.items).toHaveLength(1);
    expect(second.items[0].id).not.toBe(first.items[0].id);
  });

  test('rejects another user\'s page token', async () => {
    const first = await call('getMyDevices', { limit: 1 }, USER_A);

    await expect(call('getMyDevices', { nextToken: first.nextToken }, USER_B)).rejects.toThrow(/nextToken is not a token from a previous getMyDevices page/);
  });

  test('rejects a limit of 0', async () => {
    await expect(call('getMyDevices', { limit: 0 }, USER_A)).rejects.toMatchObject({ name: 'InvalidRequestError' });
  });

  test('rejects a request without a user', async () => {
    await expect(call('getMyDevices', {}, undefined)).rejects.toMatchObject({ name: 'NotAuthorizedError' });
  });
});

describe('ownership', () => {
  test.each([
    ['getDeviceState', { deviceId: DEVICE_A }],
    ['getDeviceUi', { deviceId: DEVICE_A }],
    ['controlRelay', { deviceId: DEVICE_A, relay: 'relay1', state: 'ON' }],
    ['registerDevice', { input: { deviceId: DEVICE_A, name: 'Mine now' } }],
    ['onDeviceUpdate', { deviceId: DEVICE_A }],
  ])('rejects %s on another user\'s device', async (field, args) => {
    await expect(call(field, args, USER_B)).rejects.toMatchObject({ name: 'NotAuthorizedError' });
  });

  test('reports an unknown device like another user\'s device', async () => {
    await expect(call('getDeviceState', { deviceId: 'sh-UNKNOWN' }, USER_A)).rejects.toThrow("Device 'sh-UNKNOWN' is not linked to you.");
  });

  test('leaves another user\'s device unchanged', async () => {
    await call('registerDevice', { input: { deviceId: DEVICE_A, name: 'Taken' } }, USER_B).catch(() => undefined);

    const item = (await db.send(new GetCommand({ TableName: tableName(registry.devicesTable), Key: { thingName: DEVICE_A } }))).Item!;
    expect(item.name).toBeUndefined();
  });
});

describe('device fields', () => {
  test('getDeviceState returns relays of the owner\'s device', async () => {
    const state = await call('getDeviceState', { deviceId: DEVICE_A }, USER_A);

    expect(state).toMatchObject({ deviceId: DEVICE_A, relays: [{ id: 'relay1', name: 'Heater', state: null }], readings: [] });
  });

  test('registerDevice sets the name and room', async () => {
    const device = await call('registerDevice', { input: { deviceId: DEVICE_A2, name: 'Lamp', room: 'Hall' } }, USER_A);

    expect(device).toMatchObject({ id: DEVICE_A2, name: 'Lamp', room: 'Hall' });
  });

  test('registerDevice rejects an empty name', async () => {
    await expect(call('registerDevice', { input: { deviceId: DEVICE_A2, name: ' ' } }, USER_A)).rejects.toThrow('name must be 1 to 64 characters.');
  });

  test('getDeviceUi reports a device without a UI document', async () => {
    await expect(call('getDeviceUi', { deviceId: DEVICE_A }, USER_A)).rejects.toMatchObject({ name: 'DeviceNotFoundError' });
  });
});

describe('controlRelay', () => {
  test('returns a PENDING command and starts the workflow', async () => {
    const command = await call('controlRelay', { deviceId: DEVICE_A, relay: 'relay1', state: 'ON' }, USER_A);

    expect(command).toMatchObject({ deviceId: DEVICE_A, relay: 'relay1', state: 'ON', status: 'PENDING' });
    expect(command.commandId).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    const relayArn = localReference(template, stack.getLogicalId(relayCommands.stateMachine.node.defaultChild as sfn.CfnStateMachine));
    const execution = harness.stepFunctions.execution(`${relayArn.replace(':stateMachine:', ':execution:')}:${command.commandId}`);
    expect(execution).toBeDefined();
  });

  test('rejects a relay the device does not have', async () => {
    await expect(call('controlRelay', { deviceId: DEVICE_A, relay: 'relay7', state: 'ON' }, USER_A)).rejects.toThrow(/has no relay 'relay7'/);
  });
});

describe('onDeviceUpdate', () => {
  test('returns the subscriber as the filter owner', async () => {
    expect(await call('onDeviceUpdate', { deviceId: DEVICE_A }, USER_A)).toEqual({ ownerId: USER_A, deviceId: DEVICE_A });
    expect(await call('onDeviceUpdate', {}, USER_B)).toEqual({ ownerId: USER_B, deviceId: null });
  });
});

describe('claim and pairing codes', () => {
  test('createClaimToken signs a token for the caller', async () => {
    const issued = await call('createClaimToken', {}, USER_A);

    const key = harness.secrets.get(stack.getLogicalId(keys.claimTokenKey.node.defaultChild as any));
    expect(verifyClaimToken(issued.token, key, Date.now()).sub).toBe(USER_A);
    expect(issued.expiresAt).toBeGreaterThan(Date.now());
  });

  test('createPairingCode rejects a user outside the admins group', async () => {
    await expect(call('createPairingCode', { deviceId: DEVICE_A }, USER_A, ['users'])).rejects.toMatchObject({ name: 'NotAuthorizedError' });
  });
});

describe('startFirmwareRollout', () => {
  const input = { rolloutId: 'rollout-2026-12-04', version: '1.1.0', imageKey: 'firmware/1.1.0.bin' };

  test('rejects a user outside the admins group', async () => {
    await expect(call('startFirmwareRollout', { input }, USER_A, ['users'])).rejects.toMatchObject({ name: 'NotAuthorizedError' });
  });

  test('starts the rollout for the fleet group', async () => {
    const rollout = await call('startFirmwareRollout', { input }, 'installer', ['admins']);

    expect(rollout).toMatchObject({ rolloutId: input.rolloutId, version: '1.1.0', status: 'STARTED' });
    const otaArn = localReference(template, stack.getLogicalId(ota.node.defaultChild as sfn.CfnStateMachine));
    const execution = harness.stepFunctions.execution(`${otaArn.replace(':stateMachine:', ':execution:')}:${input.rolloutId}`);
    expect(execution).toBeDefined();
    const result = await execution!.done;
    expect(result.output).toMatchObject({ rolloutId: input.rolloutId, imageKey: input.imageKey, targets: { thingGroupArn: FLEET_GROUP } });
  });

  test('rejects an invalid rolloutId', async () => {
    await expect(call('startFirmwareRollout', { input: { ...input, rolloutId: 'bad id!' } }, 'installer', ['admins']))
      .rejects.toThrow('rolloutId must be 1 to 60 letters, digits, _ or -.');
  });
});
