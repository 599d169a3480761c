import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { LocalEventsEndpoint } from '../../sandbox/src/events/local-events-endpoint';
import { LocalFirehoseEndpoint } from '../../sandbox/src/firehose/local-firehose-endpoint';
import { LocalWorkflow } from '../../sandbox/src/stepfunctions/local-workflow';
import {
  DeviceRegistry,
  PlatformApi,
  PlatformAuth,
  PlatformEventBus,
  PlatformEventSource,
  PlatformEventType,
  PlatformStorage,
  RelayCommandFlow,
  TelemetryPipeline,
} from '../../src';
import { AnomalyResponseWorkflow } from '../../src/automation/anomaly-response-workflow';
import { AutomationRules } from '../../src/automation/automation-rules';
import { automationCommandId } from '../../src/domain/automation-rules';
import { toPlatformEvent } from '../../src/iot/private/device-message';
import { lambdaContext, templateOf, WorkflowHarness } from '../workflows/harness';

const OWNER = 'user-a';
const OTHER_USER = 'user-b';

type Handler = (event: any, context: any) => Promise<any>;

let harness: WorkflowHarness;
let eventBus: LocalEventsEndpoint;
let firehose: LocalFirehoseEndpoint;
let stack: Stack;
let template: any;
let registry: DeviceRegistry;
let rules: AutomationRules;
let workflow: AnomalyResponseWorkflow;
let relayCommands: RelayCommandFlow;
let telemetry: TelemetryPipeline;
let db: DynamoDBDocumentClient;
let runWorkflow: LocalWorkflow;
let runRelayWorkflow: LocalWorkflow;
let rulesHandler: Handler;
let acknowledge: Handler;
let processor: Handler;

beforeAll(async () => {
  harness = await WorkflowHarness.start();
  eventBus = await LocalEventsEndpoint.start();
  firehose = await LocalFirehoseEndpoint.start();
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = eventBus.url;
  process.env.AWS_ENDPOINT_URL_FIREHOSE = firehose.url;

  stack = new Stack(new App(), 'Test');
  registry = new DeviceRegistry(stack, 'Registry');
  const bus = new PlatformEventBus(stack, 'Events');
  const auth = new PlatformAuth(stack, 'Auth');
  const api = new PlatformApi(stack, 'Api', { userPool: auth.userPool, registry });
  const storage = new PlatformStorage(stack, 'Storage');
  rules = new AutomationRules(stack, 'Rules', { api, registry });
  workflow = new AnomalyResponseWorkflow(stack, 'AnomalyResponse', { registry, eventBus: bus.eventBus, rules, api });
  relayCommands = new RelayCommandFlow(stack, 'RelayCommands', {
    registry, eventBus: bus.eventBus, api, iotDataEndpoint: harness.recorderUrl, acknowledgementTimeout: Duration.seconds(2),
  });
  telemetry = new TelemetryPipeline(stack, 'Telemetry', { registry, eventBus: bus.eventBus, archiveBucket: storage.archiveBucket });
  telemetry.evaluateAutomationRules(rules);
  template = templateOf(stack);
  await harness.dynamodb.createTablesFromTemplate(template);
  db = DynamoDBDocumentClient.from(harness.dynamodb.client, { marshallOptions: { removeUndefinedValues: true } });

  rulesHandler = harness.loadHandler(template, stack, rules.resolverFunction, path.join(__dirname, '../../src/automation/automation-rules.lambda.ts'));
  const steps = harness.loadHandler(template, stack, workflow.stepsFunction, path.join(__dirname, '../../src/automation/anomaly-response.lambda.ts'));
  runWorkflow = harness.workflow(template, stack, workflow.stateMachine, new Map([[workflow.stepsFunction, steps]]));
  const relaySteps = harness.loadHandler(template, stack, relayCommands.stepsFunction, path.join(__dirname, '../../src/workflows/relay-command.lambda.ts'));
  acknowledge = harness.loadHandler(template, stack, relayCommands.acknowledgementFunction, path.join(__dirname, '../../src/workflows/relay-acknowledgement.lambda.ts'));
  runRelayWorkflow = harness.workflow(template, stack, relayCommands.stateMachine, new Map([[relayCommands.stepsFunction, relaySteps]]));
  processor = loadProcessor();
});

afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
  delete process.env.AWS_ENDPOINT_URL_FIREHOSE;
  await firehose?.stop();
  await eventBus?.stop();
  await harness?.stop();
});

beforeEach(() => {
  harness.graphqlRequests.length = 0;
  harness.onPublish = () => undefined;
  eventBus.events.length = 0;
  eventBus.failNextEntries(0);
});

/** Loads the telemetry processor as a new Lambda instance, with an empty rules cache. */
function loadProcessor(): Handler {
  return harness.loadHandler(template, stack, telemetry.processorFunction, path.join(__dirname, '../../src/telemetry/telemetry-processor.lambda.ts'));
}

function logicalId(construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as any);
}

let sequence = 0;

/** Returns a thing name that no other test uses, so tests share no rules, cooldowns or records. */
function newThing(): string {
  sequence += 1;
  return `sh-SH-ESP32-${String(500 + sequence).padStart(6, '0')}`;
}

/** Registers a device with a relay and a temperature sensor, owned by and linked to `ownerId`. */
async function addDevice(thingName: string, ownerId = OWNER): Promise<void> {
  await db.send(new PutCommand({
    TableName: logicalId(registry.devicesTable),
    Item: {
      thingName,
      ownerId,
      capabilities: { relays: [{ id: 'relay1', name: 'Heater' }], sensors: [{ id: 'temperature', type: 'temperature', unit: '°C' }] },
      relays: {},
    },
  }));
  await db.send(new PutCommand({ TableName: logicalId(registry.linksTable), Item: { userId: ownerId, thingName, role: 'OWNER' } }));
}

/** Creates a rule through the rules function, as the API does: heater off above 30 °C. */
async function createHeaterRule(thingName: string, overrides: Record<string, unknown> = {}): Promise<any> {
  const input = {
    name: 'Heater off above 30 °C',
    condition: { deviceId: thingName, source: 'READING', sensorId: 'temperature', operator: 'GT', threshold: 30 },
    action: { deviceId: thingName, relay: 'relay1', state: 'OFF' },
    ...overrides,
  };
  return rulesHandler({ field: 'createAutomationRule', arguments: { input }, identity: { sub: OWNER, groups: [] } }, lambdaContext('rules'));
}

let messageCount = 0;
let lastTimestamp = Date.now();

/** Builds the SQS record of a telemetry message, as the bus rule queues it. */
function telemetryRecord(thingName: string, temperature: number): { messageId: string; body: string } {
  messageCount += 1;
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  const payload = { timestamp: lastTimestamp, readings: { temperature } };
  const body = JSON.stringify({ kind: 'telemetry', thingName, receivedAt: Date.now(), payload: Buffer.from(JSON.stringify(payload)).toString('base64') });
  const entry = toPlatformEvent(body, 'bus');
  const event = { 'detail-type': entry.DetailType, 'source': entry.Source, 'detail': JSON.parse(entry.Detail) };
  return { messageId: `message-${messageCount}`, body: JSON.stringify(event) };
}

/** Processes one batch and returns the details of the Automation Rule Triggered events it put on the bus. */
async function processBatch(records: { messageId: string; body: string }[], handler = processor): Promise<any[]> {
  const before = eventBus.events.length;
  const result = await handler({ Records: records }, lambdaContext('processor'));
  expect(result.batchItemFailures).toEqual([]);
  return eventBus.events.slice(before)
    .filter((event) => event.detailType === PlatformEventType.AUTOMATION_RULE_TRIGGERED)
    .map((event) => event.detail);
}

function relayRequests() {
  return eventBus.events.filter((event) => event.detailType === PlatformEventType.RELAY_COMMAND_REQUESTED);
}

function alertUpdates() {
  return harness.graphqlRequests.map((request) => request.variables.input).filter((input) => input.kind === 'alert');
}

async function triggerRecordOf(detail: any): Promise<any> {
  const alertId = `${String(detail.reading.timestamp).padStart(13, '0')}#${detail.dedupKey}`;
  const key = { thingName: detail.thingName, alertId };
  return (await db.send(new GetCommand({ TableName: logicalId(workflow.alertsTable), Key: key, ConsistentRead: true }))).Item;
}

describe('READING rules end to end', () => {
  test('over threshold switches the relay', async () => {
    const thing = newThing();
    await addDevice(thing);
    const rule = await createHeaterRule(thing);

    const triggers = await processBatch([telemetryRecord(thing, 31.5)]);
    expect(triggers).toHaveLength(1);
    const execution = await runWorkflow.run(triggers[0]);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toEqual(expect.arrayContaining(['Event has a reading?', 'Record rule trigger', 'Rule fired', 'Notify rule owner', 'Rule trigger handled']));
    const requests = relayRequests();
    expect(requests).toHaveLength(1);
    expect(requests[0].source).toBe(PlatformEventSource.WORKFLOW);
    expect(requests[0].detail).toEqual({
      commandId: automationCommandId(triggers[0].dedupKey, rule.ruleId),
      thingName: thing,
      requestedBy: OWNER,
      relay: 'relay1',
      state: 'OFF',
      requestedAt: expect.any(Number),
      source: 'automation',
    });
  });

  test('records the trigger and notifies the owner', async () => {
    const thing = newThing();
    await addDevice(thing);
    const rule = await createHeaterRule(thing);

    const [trigger] = await processBatch([telemetryRecord(thing, 31.5)]);
    await runWorkflow.run(trigger);

    const record = await triggerRecordOf(trigger);
    expect(record).toMatchObject({
      thingName: thing,
      ownerId: OWNER,
      ruleOwnerId: OWNER,
      ruleId: rule.ruleId,
      kind: 'READING_THRESHOLD',
      sensorId: 'temperature',
      value: 31.5,
      condition: { operator: 'GT', threshold: 30 },
      readingAt: trigger.reading.timestamp,
      skips: {},
      failures: [],
    });
    expect(record.actions).toEqual([expect.objectContaining({ ruleId: rule.ruleId, commandId: automationCommandId(trigger.dedupKey, rule.ruleId), relay: 'relay1', state: 'OFF' })]);
    expect(record.ttl).toBeGreaterThan(Date.now() / 1000 + 89 * 24 * 3600);
    const updates = alertUpdates();
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ deviceId: thing, ownerId: OWNER, kind: 'alert' });
  });

  test('under threshold emits no trigger', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createHeaterRule(thing);

    const triggers = await processBatch([telemetryRecord(thing, 29.9), telemetryRecord(thing, 30)]);

    expect(triggers).toEqual([]);
    expect(relayRequests()).toHaveLength(0);
  });

  test('rejects rule of a device the owner no longer owns', async () => {
    const thing = newThing();
    await addDevice(thing);
    const rule = await createHeaterRule(thing);
    const [trigger] = await processBatch([telemetryRecord(thing, 31.5)]);
    // The device moves to another user before the workflow runs.
    await db.send(new DeleteCommand({ TableName: logicalId(registry.linksTable), Key: { userId: OWNER, thingName: thing } }));
    await addDevice(thing, OTHER_USER);

    const execution = await runWorkflow.run(trigger);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Rule skipped');
    expect(relayRequests()).toHaveLength(0);
    expect(alertUpdates()).toHaveLength(0);
    const record = await triggerRecordOf(trigger);
    expect(record.ownerId).toBe(OTHER_USER);
    expect(record.actions).toEqual([]);
    expect(record.skips[rule.ruleId]).toMatchObject({ reason: 'NOT_AUTHORIZED', deviceId: thing });
    const stored = (await db.send(new GetCommand({ TableName: logicalId(rules.rulesTable), Key: { ownerId: OWNER, ruleId: rule.ruleId } }))).Item!;
    expect(stored.lastFiredAt).toBeUndefined();
  });

  test('rule of a previous owner emits no trigger', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createHeaterRule(thing);
    await addDevice(thing, OTHER_USER);

    const triggers = await processBatch([telemetryRecord(thing, 31.5)], loadProcessor());

    expect(triggers).toEqual([]);
  });

  test('repeated trigger within cooldown fires once', async () => {
    const thing = newThing();
    await addDevice(thing);
    const rule = await createHeaterRule(thing);
    // Two processor instances, so neither has the other's firing of the rule in memory.
    const [first] = await processBatch([telemetryRecord(thing, 31.5)]);
    const [second] = await processBatch([telemetryRecord(thing, 32)], loadProcessor());
    expect(second.dedupKey).not.toBe(first.dedupKey);

    await runWorkflow.run(first);
    const execution = await runWorkflow.run(second);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Rule skipped');
    expect(relayRequests()).toHaveLength(1);
    expect(relayRequests()[0].detail.commandId).toBe(automationCommandId(first.dedupKey, rule.ruleId));
    expect((await triggerRecordOf(second)).skips[rule.ruleId]).toMatchObject({ reason: 'COOLDOWN', lastFiredAt: expect.any(Number) });
    expect(alertUpdates()).toHaveLength(1);
  });

  test('duplicated telemetry delivery fires once', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createHeaterRule(thing);
    const record = telemetryRecord(thing, 31.5);
    // SQS delivers the message twice, to two processor instances.
    const [first] = await processBatch([record]);
    const [second] = await processBatch([record], loadProcessor());
    expect(second).toEqual(first);

    const executions = [await runWorkflow.run(first), await runWorkflow.run(second)];

    expect(executions.map((execution) => execution.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(relayRequests()).toHaveLength(1);
    expect((await triggerRecordOf(first)).actions).toHaveLength(1);
    expect(alertUpdates()).toHaveLength(1);
  });

  test('concurrent duplicates fire once', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createHeaterRule(thing);
    const [trigger] = await processBatch([telemetryRecord(thing, 31.5)]);

    const executions = await Promise.all([runWorkflow.run(trigger, 'copy-1'), runWorkflow.run(trigger, 'copy-2')]);

    expect(executions.map((execution) => execution.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(relayRequests()).toHaveLength(1);
    expect((await triggerRecordOf(trigger)).actions).toHaveLength(1);
  });

  test('skips a rule changed since the trigger', async () => {
    const thing = newThing();
    await addDevice(thing);
    const rule = await createHeaterRule(thing);
    const [trigger] = await processBatch([telemetryRecord(thing, 31.5)]);
    await rulesHandler({
      field: 'updateAutomationRule',
      arguments: {
        ruleId: rule.ruleId,
        input: {
          name: rule.name,
          condition: { deviceId: thing, source: 'READING', sensorId: 'temperature', operator: 'GT', threshold: 35 },
          action: rule.action,
        },
      },
      identity: { sub: OWNER, groups: [] },
    }, lambdaContext('rules'));

    await runWorkflow.run(trigger);

    expect(relayRequests()).toHaveLength(0);
    expect((await triggerRecordOf(trigger)).skips[rule.ruleId]).toMatchObject({ reason: 'RULE_CHANGED' });
  });

  test('fails on a malformed trigger', async () => {
    const thing = newThing();
    const detail = { thingName: thing, ownerId: OWNER, ruleId: 'rule-0123456789abcdef', reading: { sensorId: 'temperature', value: 'hot', timestamp: Date.now() }, dedupKey: 'dedup-malformed' };

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('InvalidRequestError');
    expect(execution.statesEntered).toEqual(['Event has a reading?', 'Record rule trigger', 'Record failure', 'Anomaly response failed']);
    const record = await triggerRecordOf(detail);
    expect(record.failures).toEqual([expect.objectContaining({ error: 'InvalidRequestError', cause: expect.stringMatching(/\/reading\/value must be number/) })]);
    expect(relayRequests()).toHaveLength(0);
  });

  test('relay command flow switches the relay', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createHeaterRule(thing);
    const [trigger] = await processBatch([telemetryRecord(thing, 31.5)]);
    await runWorkflow.run(trigger);
    // The virtual device applies each command it receives and acknowledges it.
    harness.onPublish = (message) => {
      const command = message.payload;
      const report = { relay: command.relay, state: command.state, timestamp: Date.now(), commandId: command.commandId, result: 'APPLIED' };
      const body = JSON.stringify({ kind: 'relay-status', thingName: thing, receivedAt: Date.now(), payload: Buffer.from(JSON.stringify(report)).toString('base64') });
      void acknowledge({ detail: JSON.parse(toPlatformEvent(body, 'bus').Detail) }, lambdaContext('ack'));
    };

    const relayExecution = await runRelayWorkflow.run(relayRequests()[0].detail);

    expect(relayExecution.status).toBe('SUCCEEDED');
    const device = (await db.send(new GetCommand({ TableName: logicalId(registry.devicesTable), Key: { thingName: thing } }))).Item!;
    expect(device.relays.relay1.state).toBe('OFF');
  });
});

describe('READING rules wiring', () => {
  let assertions: Template;

  beforeAll(() => {
    assertions = Template.fromJSON(template);
  });

  test('starts the workflow from rule triggers', () => {
    assertions.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'source': [PlatformEventSource.WORKFLOW], 'detail-type': [PlatformEventType.AUTOMATION_RULE_TRIGGERED] },
      Targets: [Match.objectLike({
        Arn: { Ref: logicalId(workflow.stateMachine) },
        InputPath: '$.detail',
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(workflow.deadLetterQueue), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 },
      })],
    });
  });

  test('processor may query only the byDevice index', () => {
    const role = (telemetry.processorFunction as lambda.Function).role!;
    const policies = assertions.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: logicalId(role) }] } });
    const statements = Object.values(policies).flatMap((policy: any) => policy.Properties.PolicyDocument.Statement as any[]);
    const rulesTableArn = { 'Fn::GetAtt': [logicalId(rules.rulesTable), 'Arn'] };
    const onRules = statements.filter((statement) => JSON.stringify(statement.Resource).includes(logicalId(rules.rulesTable)));

    expect(onRules).toEqual([expect.objectContaining({
      Action: 'dynamodb:Query',
      Resource: { 'Fn::Join': ['', [rulesTableArn, '/index/byDevice']] },
    })]);
  });

  test('processor knows the rules table and index', () => {
    const variables = template.Resources[logicalId(telemetry.processorFunction as lambda.Function)].Properties.Environment.Variables;

    expect(variables.AUTOMATION_RULES_TABLE).toEqual({ Ref: logicalId(rules.rulesTable) });
    expect(variables.AUTOMATION_RULES_BY_DEVICE_INDEX).toBe('byDevice');
  });

  test('rejects a second evaluateAutomationRules', () => {
    expect(() => telemetry.evaluateAutomationRules(rules)).toThrow(/already evaluates automation rules, so remove the second evaluateAutomationRules call/);
  });

  test('reports no cdk-nag findings', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'reading-rules-nag-'));
    const app = new App({ outdir, context: { '@aws-cdk/core:validationReportJson': true } });
    const nagStack = new Stack(app, 'Nag');
    const key = new kms.Key(nagStack, 'Key', { enableKeyRotation: true });
    const nagRegistry = new DeviceRegistry(nagStack, 'Registry', { encryptionKey: key });
    const nagBus = new PlatformEventBus(nagStack, 'Events');
    const nagAuth = new PlatformAuth(nagStack, 'Auth');
    const nagApi = new PlatformApi(nagStack, 'Api', { userPool: nagAuth.userPool, registry: nagRegistry, encryptionKey: key });
    const nagStorage = new PlatformStorage(nagStack, 'Storage', { encryptionKey: key });
    const nagRules = new AutomationRules(nagStack, 'Rules', { api: nagApi, registry: nagRegistry, encryptionKey: key });
    const nagTelemetry = new TelemetryPipeline(nagStack, 'Telemetry', {
      registry: nagRegistry, eventBus: nagBus.eventBus, archiveBucket: nagStorage.archiveBucket, encryptionKey: key,
    });
    nagTelemetry.evaluateAutomationRules(nagRules);
    new AnomalyResponseWorkflow(nagStack, 'AnomalyResponse', { registry: nagRegistry, eventBus: nagBus.eventBus, rules: nagRules, api: nagApi, encryptionKey: key });
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
    expect(findings.filter((finding: string) => / Nag\/(Telemetry|AnomalyResponse|Rules)\//.test(finding))).toEqual([]);
  });
});
