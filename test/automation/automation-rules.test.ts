import * as path from 'node:path';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { loadResolver } from '../../sandbox/src/appsync/resolver-runtime';
import { DeviceRegistry, PlatformApi, PlatformAuth } from '../../src';
import { INVOKE_RESOLVER_CODE } from '../../src/api/private/resolver-code';
import { AutomationRules } from '../../src/automation/automation-rules';
import { RULE_ID_PATTERN } from '../../src/domain/automation-rules';
import { lambdaContext, templateOf, WorkflowHarness } from '../workflows/harness';

const USER_A = 'user-a';
const USER_B = 'user-b';
const USER_FULL = 'user-full';
const DEVICE_A = 'sh-SH-ESP32-000101';
const DEVICE_A2 = 'sh-SH-ESP32-000102';
const DEVICE_B = 'sh-SH-ESP32-000103';
const DEVICE_FULL = 'sh-SH-ESP32-000104';

let harness: WorkflowHarness;
let stack: Stack;
let template: any;
let registry: DeviceRegistry;
let rules: AutomationRules;
let db: DynamoDBDocumentClient;
let resolve: (event: any, context: any) => Promise<any>;

function tableName(table: { node: { defaultChild?: any } }): string {
  return stack.getLogicalId(table.node.defaultChild);
}

function call(field: string, args: Record<string, unknown>, sub: string | undefined) {
  return resolve({ field, arguments: args, identity: sub ? { sub, groups: [] } : undefined }, lambdaContext('rules'));
}

function ruleInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'Heater off on over-current',
    condition: { deviceId: DEVICE_A, source: 'ANOMALY', anomalyKind: 'OVER_CURRENT' },
    action: { deviceId: DEVICE_A, relay: 'relay1', state: 'OFF' },
    ...overrides,
  };
}

async function storedRules(ownerId: string): Promise<any[]> {
  const result = await db.send(new QueryCommand({
    TableName: tableName(rules.rulesTable),
    KeyConditionExpression: 'ownerId = :owner',
    ExpressionAttributeValues: { ':owner': ownerId },
    ConsistentRead: true,
  }));
  return result.Items ?? [];
}

async function storedRule(ownerId: string, ruleId: string): Promise<any> {
  return (await db.send(new GetCommand({ TableName: tableName(rules.rulesTable), Key: { ownerId, ruleId }, ConsistentRead: true }))).Item;
}

beforeAll(async () => {
  harness = await WorkflowHarness.start();
  stack = new Stack(new App(), 'Test');
  registry = new DeviceRegistry(stack, 'Registry');
  const auth = new PlatformAuth(stack, 'Auth');
  const api = new PlatformApi(stack, 'Api', { userPool: auth.userPool, registry });
  rules = new AutomationRules(stack, 'Rules', { api, registry });
  template = templateOf(stack);
  await harness.dynamodb.createTablesFromTemplate(template);
  db = DynamoDBDocumentClient.from(harness.dynamodb.client, { marshallOptions: { removeUndefinedValues: true } });
  resolve = harness.loadHandler(template, stack, rules.resolverFunction, path.join(__dirname, '../../src/automation/automation-rules.lambda.ts'));

  const devices: [string, string][] = [[DEVICE_A, USER_A], [DEVICE_A2, USER_A], [DEVICE_B, USER_B], [DEVICE_FULL, USER_FULL]];
  for (const [thingName, ownerId] of devices) {
    await db.send(new PutCommand({
      TableName: tableName(registry.devicesTable),
      Item: {
        thingName,
        ownerId,
        capabilities: { relays: [{ id: 'relay1', name: 'Heater' }, { id: 'relay2' }], sensors: [{ id: 'temperature', type: 'temperature', unit: '°C' }] },
        relays: {},
      },
    }));
    await db.send(new PutCommand({ TableName: tableName(registry.linksTable), Item: { userId: ownerId, thingName, role: 'OWNER' } }));
  }
});

afterAll(async () => {
  await harness?.stop();
});

describe('createAutomationRule', () => {
  test('stores rule with defaults', async () => {
    const rule = await call('createAutomationRule', { input: ruleInput() }, USER_A);

    expect(rule.ruleId).toMatch(RULE_ID_PATTERN);
    expect(rule).toMatchObject({
      ownerId: USER_A,
      name: 'Heater off on over-current',
      enabled: true,
      cooldownSeconds: 300,
      schedule: null,
      lastFiredAt: null,
      condition: { deviceId: DEVICE_A, source: 'ANOMALY', anomalyKind: 'OVER_CURRENT', sensorId: null, operator: null, threshold: null },
      action: { deviceId: DEVICE_A, relay: 'relay1', state: 'OFF' },
    });
    expect(rule.createdAt).toBe(rule.updatedAt);
    const stored = await storedRule(USER_A, rule.ruleId);
    expect(stored.conditionDeviceId).toBe(DEVICE_A);
    expect(stored.name).toBe('Heater off on over-current');
  });

  test('stores rule across two devices', async () => {
    const input = ruleInput({
      condition: { deviceId: DEVICE_A, source: 'READING', sensorId: 'temperature', operator: 'GT', threshold: 28 },
      action: { deviceId: DEVICE_A2, relay: 'relay2', state: 'ON' },
      schedule: { startMinute: 1320, endMinute: 360, timeZone: 'Europe/Berlin' },
      cooldownSeconds: 600,
    });

    const rule = await call('createAutomationRule', { input }, USER_A);

    expect(rule.condition).toEqual({ deviceId: DEVICE_A, source: 'READING', anomalyKind: null, sensorId: 'temperature', operator: 'GT', threshold: 28 });
    expect(rule.action).toEqual({ deviceId: DEVICE_A2, relay: 'relay2', state: 'ON' });
    expect(rule.schedule).toEqual({ startMinute: 1320, endMinute: 360, timeZone: 'Europe/Berlin' });
    expect(rule.cooldownSeconds).toBe(600);
  });

  test('rejects another user\'s action device', async () => {
    const before = await storedRules(USER_B);

    const attempt = call('createAutomationRule', {
      input: ruleInput({
        condition: { deviceId: DEVICE_B, source: 'ANOMALY' },
        action: { deviceId: DEVICE_A, relay: 'relay1', state: 'OFF' },
      }),
    }, USER_B);

    await expect(attempt).rejects.toMatchObject({ name: 'NotAuthorizedError', message: `Device '${DEVICE_A}' is not linked to you.` });
    expect(await storedRules(USER_B)).toEqual(before);
  });

  test('rejects another user\'s condition device', async () => {
    const before = await storedRules(USER_B);

    const attempt = call('createAutomationRule', {
      input: ruleInput({
        condition: { deviceId: DEVICE_A, source: 'ANOMALY' },
        action: { deviceId: DEVICE_B, relay: 'relay1', state: 'OFF' },
      }),
    }, USER_B);

    await expect(attempt).rejects.toMatchObject({ name: 'NotAuthorizedError' });
    expect(await storedRules(USER_B)).toEqual(before);
  });

  test('rejects unknown device like another user\'s', async () => {
    const attempt = call('createAutomationRule', { input: ruleInput({ action: { deviceId: 'sh-UNKNOWN', relay: 'relay1', state: 'OFF' } }) }, USER_A);

    await expect(attempt).rejects.toThrow("Device 'sh-UNKNOWN' is not linked to you.");
  });

  test('rejects device whose owner changed', async () => {
    // A stale link: the user is still linked, but the registry names another owner.
    await db.send(new PutCommand({ TableName: tableName(registry.linksTable), Item: { userId: USER_A, thingName: DEVICE_B, role: 'OWNER' } }));

    const attempt = call('createAutomationRule', { input: ruleInput({ action: { deviceId: DEVICE_B, relay: 'relay1', state: 'OFF' } }) }, USER_A);

    await expect(attempt).rejects.toMatchObject({ name: 'NotAuthorizedError' });
  });

  test('rejects relay the device lacks', async () => {
    const attempt = call('createAutomationRule', { input: ruleInput({ action: { deviceId: DEVICE_A, relay: 'relay9', state: 'OFF' } }) }, USER_A);

    await expect(attempt).rejects.toMatchObject({
      name: 'InvalidRequestError',
      message: `Device '${DEVICE_A}' has no relay 'relay9'; its relays are: relay1, relay2.`,
    });
  });

  test('rejects sensor the device lacks', async () => {
    const attempt = call('createAutomationRule', {
      input: ruleInput({
        condition: { deviceId: DEVICE_A, source: 'READING', sensorId: 'humidity', operator: 'GT', threshold: 60 },
      }),
    }, USER_A);

    await expect(attempt).rejects.toMatchObject({
      name: 'InvalidRequestError',
      message: `Device '${DEVICE_A}' has no sensor 'humidity'; its sensors are: temperature.`,
    });
  });

  test('rejects invalid definition', async () => {
    const attempt = call('createAutomationRule', { input: ruleInput({ cooldownSeconds: 30 }) }, USER_A);

    await expect(attempt).rejects.toMatchObject({ name: 'InvalidRequestError' });
    await expect(attempt).rejects.toThrow(/cooldownSeconds is 30; expected a whole number of seconds from 60/);
  });

  test('rejects rule over per-user limit', async () => {
    for (let index = 0; index < 100; index++) {
      await db.send(new PutCommand({
        TableName: tableName(rules.rulesTable),
        Item: { ownerId: USER_FULL, ruleId: `rule-seeded${String(index).padStart(7, '0')}`, conditionDeviceId: DEVICE_FULL },
      }));
    }
    const input = ruleInput({ condition: { deviceId: DEVICE_FULL, source: 'ANOMALY' }, action: { deviceId: DEVICE_FULL, relay: 'relay1', state: 'OFF' } });

    const attempt = call('createAutomationRule', { input }, USER_FULL);

    await expect(attempt).rejects.toThrow('You already have 100 automation rules, the maximum; delete a rule before you create another.');
    expect(await storedRules(USER_FULL)).toHaveLength(100);
  });

  test('rejects request without user', async () => {
    await expect(call('createAutomationRule', { input: ruleInput() }, undefined)).rejects.toMatchObject({ name: 'NotAuthorizedError' });
  });
});

describe('listAutomationRules', () => {
  test('returns only caller\'s rules', async () => {
    await call('createAutomationRule', { input: ruleInput({ name: 'B rule', condition: { deviceId: DEVICE_B, source: 'ANOMALY' }, action: { deviceId: DEVICE_B, relay: 'relay1', state: 'OFF' } }) }, USER_B);

    const pageA = await call('listAutomationRules', {}, USER_A);
    const pageB = await call('listAutomationRules', {}, USER_B);

    expect(pageA.items.length).toBeGreaterThan(0);
    expect(pageA.items.every((rule: any) => rule.ownerId === USER_A)).toBe(true);
    expect(pageB.items.map((rule: any) => rule.name)).toEqual(['B rule']);
    expect(pageB.nextToken).toBeNull();
  });

  test('pages with next token', async () => {
    const all = await call('listAutomationRules', {}, USER_A);
    const first = await call('listAutomationRules', { limit: 1 }, USER_A);
    const second = await call('listAutomationRules', { limit: 1, nextToken: first.nextToken }, USER_A);

    expect(all.items.length).toBeGreaterThanOrEqual(2);
    expect(first.items).toHaveLength(1);
    expect(second.items).toHaveLength(1);
    expect(second.items[0].ruleId).not.toBe(first.items[0].ruleId);
  });

  test('rejects another user\'s token', async () => {
    const first = await call('listAutomationRules', { limit: 1 }, USER_A);

    await expect(call('listAutomationRules', { nextToken: first.nextToken }, USER_B)).rejects.toThrow(/nextToken is not a token from a previous listAutomationRules page/);
  });

  test('rejects limit of 0', async () => {
    await expect(call('listAutomationRules', { limit: 0 }, USER_A)).rejects.toMatchObject({ name: 'InvalidRequestError' });
  });
});

describe('updateAutomationRule', () => {
  test('replaces definition', async () => {
    const created = await call('createAutomationRule', { input: ruleInput({ schedule: { startMinute: 0, endMinute: 60, timeZone: 'UTC' } }) }, USER_A);

    const updated = await call('updateAutomationRule', {
      ruleId: created.ruleId,
      input: ruleInput({ name: 'Lamp on', enabled: false, action: { deviceId: DEVICE_A2, relay: 'relay2', state: 'ON' }, cooldownSeconds: 120 }),
    }, USER_A);

    expect(updated).toMatchObject({ ruleId: created.ruleId, name: 'Lamp on', enabled: false, cooldownSeconds: 120, schedule: null, createdAt: created.createdAt });
    expect(updated.action).toEqual({ deviceId: DEVICE_A2, relay: 'relay2', state: 'ON' });
    expect(updated.updatedAt).toBeGreaterThanOrEqual(created.updatedAt);
    const stored = await storedRule(USER_A, created.ruleId);
    expect(stored.schedule).toBeUndefined();
    expect(stored.name).toBe('Lamp on');
  });

  test('rejects another user\'s rule', async () => {
    const created = await call('createAutomationRule', { input: ruleInput({ name: 'Mine' }) }, USER_A);
    const input = ruleInput({ name: 'Taken', condition: { deviceId: DEVICE_B, source: 'ANOMALY' }, action: { deviceId: DEVICE_B, relay: 'relay1', state: 'ON' } });

    const attempt = call('updateAutomationRule', { ruleId: created.ruleId, input }, USER_B);

    await expect(attempt).rejects.toMatchObject({ name: 'NotAuthorizedError', message: `Automation rule '${created.ruleId}' is not one of your rules.` });
    expect((await storedRule(USER_A, created.ruleId)).name).toBe('Mine');
    expect(await storedRule(USER_B, created.ruleId)).toBeUndefined();
  });

  test('rejects device of another user', async () => {
    const created = await call('createAutomationRule', { input: ruleInput({ name: 'Keep me' }) }, USER_A);

    const attempt = call('updateAutomationRule', { ruleId: created.ruleId, input: ruleInput({ action: { deviceId: DEVICE_FULL, relay: 'relay1', state: 'OFF' } }) }, USER_A);

    await expect(attempt).rejects.toMatchObject({ name: 'NotAuthorizedError' });
    expect((await storedRule(USER_A, created.ruleId)).action.deviceId).toBe(DEVICE_A);
  });

  test('rejects malformed rule id', async () => {
    await expect(call('updateAutomationRule', { ruleId: 'abc', input: ruleInput() }, USER_A)).rejects.toMatchObject({ name: 'InvalidRequestError' });
  });
});

describe('deleteAutomationRule', () => {
  test('deletes own rule', async () => {
    const created = await call('createAutomationRule', { input: ruleInput({ name: 'Short-lived' }) }, USER_A);

    const deleted = await call('deleteAutomationRule', { ruleId: created.ruleId }, USER_A);

    expect(deleted).toBe(created.ruleId);
    expect(await storedRule(USER_A, created.ruleId)).toBeUndefined();
    const page = await call('listAutomationRules', { limit: 50 }, USER_A);
    expect(page.items.map((rule: any) => rule.ruleId)).not.toContain(created.ruleId);
  });

  test('rejects another user\'s rule', async () => {
    const created = await call('createAutomationRule', { input: ruleInput({ name: 'Not yours' }) }, USER_A);

    await expect(call('deleteAutomationRule', { ruleId: created.ruleId }, USER_B)).rejects.toMatchObject({ name: 'NotAuthorizedError' });
    expect(await storedRule(USER_A, created.ruleId)).toBeDefined();
  });

  test('rejects deleted rule', async () => {
    const created = await call('createAutomationRule', { input: ruleInput({ name: 'Twice' }) }, USER_A);
    await call('deleteAutomationRule', { ruleId: created.ruleId }, USER_A);

    await expect(call('deleteAutomationRule', { ruleId: created.ruleId }, USER_A)).rejects.toMatchObject({ name: 'NotAuthorizedError' });
  });
});

describe('resolver', () => {
  test('passes token identity, not arguments', async () => {
    const resolver = loadResolver(INVOKE_RESOLVER_CODE);
    const request = resolver.request({
      info: { fieldName: 'listAutomationRules' },
      arguments: { limit: 50, identity: { sub: USER_B } },
      identity: { sub: USER_A, groups: null },
    });

    const page = await resolve(request.payload, lambdaContext('rules'));

    expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.every((rule: any) => rule.ownerId === USER_A)).toBe(true);
  });

  test('rejects unknown field', async () => {
    await expect(call('getMyDevices', {}, USER_A)).rejects.toMatchObject({ name: 'InvalidRequestError' });
  });
});

describe('AutomationRules construct', () => {
  let assertions: Template;
  beforeAll(() => {
    assertions = Template.fromJSON(template);
  });

  test('rules table is keyed by owner and rule', () => {
    assertions.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'ownerId', KeyType: 'HASH' }, { AttributeName: 'ruleId', KeyType: 'RANGE' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
      DeletionProtectionEnabled: true,
      GlobalSecondaryIndexes: [Match.objectLike({
        IndexName: 'byDevice',
        KeySchema: [{ AttributeName: 'conditionDeviceId', KeyType: 'HASH' }, { AttributeName: 'ownerId', KeyType: 'RANGE' }],
      })],
    });
  });

  test.each([
    ['Query', 'listAutomationRules'],
    ['Mutation', 'createAutomationRule'],
    ['Mutation', 'updateAutomationRule'],
    ['Mutation', 'deleteAutomationRule'],
  ])('resolves %s.%s with the function', (typeName, fieldName) => {
    assertions.hasResourceProperties('AWS::AppSync::Resolver', {
      TypeName: typeName,
      FieldName: fieldName,
      DataSourceName: rules.dataSource.name,
      Runtime: { Name: 'APPSYNC_JS', RuntimeVersion: '1.0.0' },
      Code: INVOKE_RESOLVER_CODE,
    });
  });

  test('data source invokes the rules function', () => {
    assertions.hasResourceProperties('AWS::AppSync::DataSource', {
      Type: 'AWS_LAMBDA',
      Name: 'AutomationRules',
      LambdaConfig: { LambdaFunctionArn: { 'Fn::GetAtt': [stack.getLogicalId(rules.resolverFunction.node.defaultChild as any), 'Arn'] } },
    });
  });
});

describe('schema additions', () => {
  let definition: string;
  beforeAll(() => {
    const schemas = Object.values(template.Resources).filter((resource: any) => resource.Type === 'AWS::AppSync::GraphQLSchema') as any[];
    definition = schemas[0].Properties.Definition;
  });

  test.each([
    ['Query', 'listAutomationRules'],
    ['Mutation', 'createAutomationRule'],
    ['Mutation', 'updateAutomationRule'],
    ['Mutation', 'deleteAutomationRule'],
  ])('%s.%s is for users only', (type, field) => {
    const block = definition.slice(definition.indexOf(`type ${type} {`));
    const body = block.slice(0, block.indexOf('\n}'));
    const line = body.split('\n').find((candidate) => candidate.trim().startsWith(`${field}(`));

    expect(line).toBeDefined();
    expect(line).toContain('@aws_cognito_user_pools');
    expect(line).not.toContain('@aws_iam');
  });

  test('every referenced automation type is defined', () => {
    const referenced = new Set([...definition.matchAll(/\b(Automation\w+|AnomalyKind|ComparisonOperator)\b/g)].map((match) => match[1]));

    for (const name of referenced) {
      expect(definition).toMatch(new RegExp(`^(type|input|enum) ${name}\\b`, 'm'));
    }
  });
});
