import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { LocalEventsEndpoint } from '../../sandbox/src/events/local-events-endpoint';
import { renderDefinition } from '../../sandbox/src/stepfunctions/definition';
import { LocalWorkflow } from '../../sandbox/src/stepfunctions/local-workflow';
import { DeviceRegistry, PlatformApi, PlatformAuth, PlatformEventBus, PlatformEventSource, PlatformEventType, RelayCommandFlow } from '../../src';
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
let stack: Stack;
let template: any;
let registry: DeviceRegistry;
let rules: AutomationRules;
let workflow: AnomalyResponseWorkflow;
let relayCommands: RelayCommandFlow;
let alertTopic: sns.Topic;
let db: DynamoDBDocumentClient;
let runWorkflow: LocalWorkflow;
let runRelayWorkflow: LocalWorkflow;
let rulesHandler: Handler;
let acknowledge: Handler;
/** Parameters of each sns:publish task, as the local integration receives them. */
const topicMessages: any[] = [];
/** Makes the local sns:publish integration fail while it is true. */
let topicFails = false;

beforeAll(async () => {
  harness = await WorkflowHarness.start();
  eventBus = await LocalEventsEndpoint.start();
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = eventBus.url;

  stack = new Stack(new App(), 'Test');
  registry = new DeviceRegistry(stack, 'Registry');
  const bus = new PlatformEventBus(stack, 'Events');
  const auth = new PlatformAuth(stack, 'Auth');
  const api = new PlatformApi(stack, 'Api', { userPool: auth.userPool, registry });
  alertTopic = new sns.Topic(stack, 'AlertTopic', { enforceSSL: true });
  rules = new AutomationRules(stack, 'Rules', { api, registry });
  workflow = new AnomalyResponseWorkflow(stack, 'AnomalyResponse', { registry, eventBus: bus.eventBus, rules, api, alertTopic });
  relayCommands = new RelayCommandFlow(stack, 'RelayCommands', {
    registry, eventBus: bus.eventBus, api, iotDataEndpoint: harness.recorderUrl, acknowledgementTimeout: Duration.seconds(2),
  });
  template = templateOf(stack);
  await harness.dynamodb.createTablesFromTemplate(template);
  db = DynamoDBDocumentClient.from(harness.dynamodb.client, { marshallOptions: { removeUndefinedValues: true } });

  rulesHandler = harness.loadHandler(template, stack, rules.resolverFunction, path.join(__dirname, '../../src/automation/automation-rules.lambda.ts'));
  const steps = harness.loadHandler(template, stack, workflow.stepsFunction, path.join(__dirname, '../../src/automation/anomaly-response.lambda.ts'));
  runWorkflow = localWorkflow(workflow.stateMachine, new Map([[workflow.stepsFunction, steps]]));

  const relaySteps = harness.loadHandler(template, stack, relayCommands.stepsFunction, path.join(__dirname, '../../src/workflows/relay-command.lambda.ts'));
  acknowledge = harness.loadHandler(template, stack, relayCommands.acknowledgementFunction, path.join(__dirname, '../../src/workflows/relay-acknowledgement.lambda.ts'));
  runRelayWorkflow = localWorkflow(relayCommands.stateMachine, new Map([[relayCommands.stepsFunction, relaySteps]]));
});

afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
  await eventBus?.stop();
  await harness?.stop();
});

beforeEach(() => {
  harness.graphqlRequests.length = 0;
  harness.publishes.length = 0;
  harness.onPublish = () => undefined;
  eventBus.events.length = 0;
  eventBus.failNextEntries(0);
  topicMessages.length = 0;
  topicFails = false;
});

/** Creates a local execution of a synthesized state machine that records sns:publish in topicMessages. */
function localWorkflow(stateMachine: sfn.StateMachine, handlers: Map<lambda.IFunction, Handler>): LocalWorkflow {
  const byLogicalId = new Map<string, Handler>();
  for (const [fn, handler] of handlers) {
    byLogicalId.set(logicalId(fn), handler);
  }
  return new LocalWorkflow({
    template,
    stateMachineLogicalId: logicalId(stateMachine),
    taskTokens: harness.taskTokens,
    invokeLambda: async (functionId, payload) => byLogicalId.get(functionId)!(JSON.parse(JSON.stringify(payload)), lambdaContext(functionId)),
    services: {
      'sns:publish': async (parameters) => {
        if (topicFails) {
          const error = new Error('Topic is not reachable');
          error.name = 'SNS.InternalErrorException';
          throw error;
        }
        topicMessages.push(parameters);
        return { MessageId: `message-${topicMessages.length}` };
      },
    },
  });
}

function logicalId(construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as any);
}

let sequence = 0;

/** Returns a thing name that no other test uses, so tests share no alerts, rules or cooldowns. */
function newThing(): string {
  sequence += 1;
  return `sh-SH-ESP32-${String(200 + sequence).padStart(6, '0')}`;
}

/** Registers a device with two relays and a current sensor, owned by and linked to `ownerId`, or unowned for null. */
async function addDevice(thingName: string, ownerId: string | null = OWNER): Promise<void> {
  await db.send(new PutCommand({
    TableName: logicalId(registry.devicesTable),
    Item: {
      thingName,
      ...(ownerId ? { ownerId } : {}),
      capabilities: { relays: [{ id: 'relay1', name: 'Heater', maxCurrentA: 10 }, { id: 'relay2' }], sensors: [{ id: 'current', type: 'current', unit: 'A' }] },
      relays: {},
    },
  }));
  if (ownerId) {
    await db.send(new PutCommand({ TableName: logicalId(registry.linksTable), Item: { userId: ownerId, thingName, role: 'OWNER' } }));
  }
}

/** Creates a rule through the rules function, as the API does. */
async function createRule(input: Record<string, unknown>, ownerId = OWNER): Promise<any> {
  return rulesHandler({ field: 'createAutomationRule', arguments: { input }, identity: { sub: ownerId, groups: [] } }, lambdaContext('rules'));
}

function overCurrentRule(thingName: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'Heater off on over-current',
    condition: { deviceId: thingName, source: 'ANOMALY', anomalyKind: 'OVER_CURRENT' },
    action: { deviceId: thingName, relay: 'relay1', state: 'OFF' },
    ...overrides,
  };
}

let lastTimestamp = Date.now();

/** Returns the detail of a Telemetry Anomaly Detected event as the telemetry processor emits it. */
function anomalyDetail(thingName: string, overrides: Record<string, unknown> = {}): any {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  sequence += 1;
  return {
    thingName,
    ownerId: OWNER,
    anomaly: {
      kind: 'OVER_CURRENT',
      severity: 'MEDIUM',
      sensorId: 'energy-current',
      value: 14.2,
      expected: { min: 0, max: 10 },
      explanation: 'The current of 14.2 A is above the limit of 10 A.',
      timestamp: lastTimestamp,
      ...overrides,
    },
    dedupKey: `dedup-${sequence}-${lastTimestamp}`,
  };
}

async function alertOf(detail: any): Promise<any> {
  const alertId = `${String(detail.anomaly.timestamp).padStart(13, '0')}#${detail.dedupKey}`;
  const key = { thingName: detail.thingName, alertId };
  return (await db.send(new GetCommand({ TableName: logicalId(workflow.alertsTable), Key: key, ConsistentRead: true }))).Item;
}

function relayRequests() {
  return eventBus.events.filter((event) => event.detailType === PlatformEventType.RELAY_COMMAND_REQUESTED);
}

function alertUpdates() {
  return harness.graphqlRequests.map((request) => request.variables.input).filter((input) => input.kind === 'alert');
}

describe('AnomalyResponseWorkflow execution', () => {
  test('over-current switches the rule\'s relay off', async () => {
    const thing = newThing();
    await addDevice(thing);
    const rule = await createRule(overCurrentRule(thing));
    const detail = anomalyDetail(thing);

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Rule fired');
    const requests = relayRequests();
    expect(requests).toHaveLength(1);
    expect(requests[0].source).toBe(PlatformEventSource.WORKFLOW);
    expect(requests[0].detail).toEqual({
      commandId: automationCommandId(detail.dedupKey, rule.ruleId),
      thingName: thing,
      requestedBy: OWNER,
      relay: 'relay1',
      state: 'OFF',
      requestedAt: expect.any(Number),
      source: 'automation',
    });
  });

  test('records the alert with its action', async () => {
    const thing = newThing();
    await addDevice(thing);
    const rule = await createRule(overCurrentRule(thing));
    const detail = anomalyDetail(thing);

    await runWorkflow.run(detail);

    const alert = await alertOf(detail);
    expect(alert).toMatchObject({
      thingName: thing,
      ownerId: OWNER,
      dedupKey: detail.dedupKey,
      kind: 'OVER_CURRENT',
      detectorSeverity: 'MEDIUM',
      severity: 'HIGH',
      sensorId: 'energy-current',
      value: 14.2,
      anomalyAt: detail.anomaly.timestamp,
      skips: {},
      failures: [],
    });
    expect(alert.actions).toEqual([expect.objectContaining({ ruleId: rule.ruleId, commandId: automationCommandId(detail.dedupKey, rule.ruleId), relay: 'relay1', state: 'OFF' })]);
    expect(alert.ttl).toBeGreaterThan(Date.now() / 1000 + 89 * 24 * 3600);
    const stored = (await db.send(new GetCommand({ TableName: logicalId(rules.rulesTable), Key: { ownerId: OWNER, ruleId: rule.ruleId } }))).Item!;
    expect(stored.lastFiredAt).toEqual(expect.any(Number));
  });

  test('notifies the owner and the topic', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createRule(overCurrentRule(thing));
    const detail = anomalyDetail(thing);

    await runWorkflow.run(detail);

    const updates = alertUpdates();
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ deviceId: thing, ownerId: OWNER, kind: 'alert' });
    expect(topicMessages).toHaveLength(1);
    expect(topicMessages[0].Subject).toBe(`HIGH OVER_CURRENT anomaly on ${thing}`);
    expect(JSON.parse(topicMessages[0].Message)).toMatchObject({ thingName: thing, ownerId: OWNER, kind: 'OVER_CURRENT', severity: 'HIGH', value: 14.2 });
    expect(topicMessages[0].MessageAttributes).toEqual({
      severity: { DataType: 'String', StringValue: 'HIGH' },
      kind: { DataType: 'String', StringValue: 'OVER_CURRENT' },
      thingName: { DataType: 'String', StringValue: thing },
    });
  });

  test('same event twice has one effect', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createRule(overCurrentRule(thing));
    const detail = anomalyDetail(thing);

    const first = await runWorkflow.run(detail);
    const second = await runWorkflow.run(detail);

    expect(first.status).toBe('SUCCEEDED');
    expect(second.status).toBe('SUCCEEDED');
    expect(relayRequests()).toHaveLength(1);
    expect(alertUpdates()).toHaveLength(1);
    expect((await alertOf(detail)).actions).toHaveLength(1);
  });

  test('concurrent copies of one event fire once', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createRule(overCurrentRule(thing));
    const detail = anomalyDetail(thing);

    const executions = await Promise.all([runWorkflow.run(detail, 'copy-1'), runWorkflow.run(detail, 'copy-2')]);

    expect(executions.map((execution) => execution.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(relayRequests()).toHaveLength(1);
    expect((await alertOf(detail)).actions).toHaveLength(1);
  });

  test('second anomaly within cooldown does not fire', async () => {
    const thing = newThing();
    await addDevice(thing);
    const rule = await createRule(overCurrentRule(thing));
    const first = anomalyDetail(thing);
    const second = anomalyDetail(thing);

    await runWorkflow.run(first);
    const execution = await runWorkflow.run(second);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Rule skipped');
    expect(relayRequests()).toHaveLength(1);
    expect(relayRequests()[0].detail.commandId).toBe(automationCommandId(first.dedupKey, rule.ruleId));
    const alert = await alertOf(second);
    expect(alert.actions).toEqual([]);
    expect(alert.skips[rule.ruleId]).toMatchObject({ reason: 'COOLDOWN', lastFiredAt: expect.any(Number) });
  });

  test('concurrent anomalies fire once', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createRule(overCurrentRule(thing));
    const details = [anomalyDetail(thing), anomalyDetail(thing), anomalyDetail(thing)];

    const executions = await Promise.all(details.map((detail) => runWorkflow.run(detail)));

    expect(executions.every((execution) => execution.status === 'SUCCEEDED')).toBe(true);
    expect(relayRequests()).toHaveLength(1);
    const alerts = await Promise.all(details.map(alertOf));
    expect(alerts.filter((alert) => alert.actions.length === 1)).toHaveLength(1);
    expect(alerts.filter((alert) => Object.values(alert.skips).some((skip: any) => skip.reason === 'COOLDOWN'))).toHaveLength(2);
  });

  test('fires again after cooldown', async () => {
    const thing = newThing();
    await addDevice(thing);
    const rule = await createRule(overCurrentRule(thing, { cooldownSeconds: 60 }));
    await runWorkflow.run(anomalyDetail(thing));
    // Move the last firing back past the 60-second cooldown.
    const key = { ownerId: OWNER, ruleId: rule.ruleId };
    const stored = (await db.send(new GetCommand({ TableName: logicalId(rules.rulesTable), Key: key }))).Item!;
    await db.send(new PutCommand({ TableName: logicalId(rules.rulesTable), Item: { ...stored, lastFiredAt: Date.now() - 61_000 } }));

    await runWorkflow.run(anomalyDetail(thing));

    expect(relayRequests()).toHaveLength(2);
  });

  test('skips rule whose action device was unlinked', async () => {
    const thing = newThing();
    const heater = newThing();
    await addDevice(thing);
    await addDevice(heater);
    const rule = await createRule(overCurrentRule(thing, { action: { deviceId: heater, relay: 'relay2', state: 'OFF' } }));
    await db.send(new DeleteCommand({ TableName: logicalId(registry.linksTable), Key: { userId: OWNER, thingName: heater } }));
    const detail = anomalyDetail(thing);

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Rule skipped');
    expect(relayRequests()).toHaveLength(0);
    const alert = await alertOf(detail);
    expect(alert.actions).toEqual([]);
    expect(alert.skips[rule.ruleId]).toMatchObject({ reason: 'NOT_AUTHORIZED', deviceId: heater });
    const stored = (await db.send(new GetCommand({ TableName: logicalId(rules.rulesTable), Key: { ownerId: OWNER, ruleId: rule.ruleId } }))).Item!;
    expect(stored.lastFiredAt).toBeUndefined();
  });

  test('skips rule whose action device changed owner', async () => {
    const thing = newThing();
    const heater = newThing();
    await addDevice(thing);
    await addDevice(heater);
    const rule = await createRule(overCurrentRule(thing, { action: { deviceId: heater, relay: 'relay1', state: 'OFF' } }));
    // The link remains, but the registry names another owner.
    await db.send(new PutCommand({
      TableName: logicalId(registry.devicesTable),
      Item: { thingName: heater, ownerId: OTHER_USER, capabilities: { relays: [{ id: 'relay1' }] }, relays: {} },
    }));
    const detail = anomalyDetail(thing);

    await runWorkflow.run(detail);

    expect(relayRequests()).toHaveLength(0);
    expect((await alertOf(detail)).skips[rule.ruleId]).toMatchObject({ reason: 'NOT_AUTHORIZED', deviceId: heater });
  });

  test('outside schedule window nothing fires', async () => {
    const thing = newThing();
    await addDevice(thing);
    // 22:00 to 06:00 UTC, and the anomaly happens at 12:00 UTC.
    const rule = await createRule(overCurrentRule(thing, { schedule: { startMinute: 1320, endMinute: 360, timeZone: 'UTC' } }));
    const detail = anomalyDetail(thing, { timestamp: Date.parse('2025-01-15T12:00:00Z') });

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('No matching rule');
    expect(relayRequests()).toHaveLength(0);
    expect((await alertOf(detail)).skips[rule.ruleId]).toMatchObject({ reason: 'OUTSIDE_SCHEDULE' });
  });

  test('inside schedule window fires', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createRule(overCurrentRule(thing, { schedule: { startMinute: 1320, endMinute: 360, timeZone: 'UTC' } }));
    const detail = anomalyDetail(thing, { timestamp: Date.parse('2025-01-15T23:30:00Z') });

    await runWorkflow.run(detail);

    expect(relayRequests()).toHaveLength(1);
  });

  test('no rule records and notifies only', async () => {
    const thing = newThing();
    await addDevice(thing);
    const detail = anomalyDetail(thing);

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('No matching rule');
    expect(execution.statesEntered).not.toContain('Fire matching rules');
    expect(relayRequests()).toHaveLength(0);
    expect(alertUpdates()).toHaveLength(1);
    expect(topicMessages).toHaveLength(1);
    expect(await alertOf(detail)).toMatchObject({ severity: 'HIGH', actions: [], skips: {} });
  });

  test('ignores rules that do not match', async () => {
    const thing = newThing();
    const other = newThing();
    await addDevice(thing);
    await addDevice(other);
    await createRule(overCurrentRule(thing, { condition: { deviceId: thing, source: 'ANOMALY', anomalyKind: 'SPIKE' } }));
    await createRule(overCurrentRule(other));
    await createRule(overCurrentRule(thing, { enabled: false }));
    await createRule(overCurrentRule(thing, { condition: { deviceId: thing, source: 'READING', sensorId: 'current', operator: 'GT', threshold: 10 } }));

    const execution = await runWorkflow.run(anomalyDetail(thing));

    expect(execution.statesEntered).toContain('No matching rule');
    expect(relayRequests()).toHaveLength(0);
  });

  test('ignores rules of a previous owner', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createRule(overCurrentRule(thing));
    // The device moves to another user, whose rules now apply.
    await addDevice(thing, OTHER_USER);

    const execution = await runWorkflow.run(anomalyDetail(thing, {}));

    expect(execution.statesEntered).toContain('No matching rule');
    expect(relayRequests()).toHaveLength(0);
    expect(alertUpdates()[0]).toMatchObject({ ownerId: OTHER_USER });
  });

  test('device without owner records alert only', async () => {
    const thing = newThing();
    await addDevice(thing, null);
    const detail = { ...anomalyDetail(thing), ownerId: null };

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Device has no owner');
    expect(alertUpdates()).toHaveLength(0);
    expect(topicMessages).toHaveLength(1);
    expect(await alertOf(detail)).toMatchObject({ ownerId: null, severity: 'HIGH' });
  });

  test('repeated anomalies escalate severity', async () => {
    const thing = newThing();
    await addDevice(thing);
    const spike = { kind: 'SPIKE', severity: 'LOW', sensorId: 'current' };
    const details = [anomalyDetail(thing, spike), anomalyDetail(thing, spike), anomalyDetail(thing, spike)];

    for (const detail of details) {
      await runWorkflow.run(detail);
    }

    const severities = await Promise.all(details.map(async (detail) => (await alertOf(detail)).severity));
    expect(severities).toEqual(['LOW', 'LOW', 'MEDIUM']);
  });

  test('topic failure still fires rules', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createRule(overCurrentRule(thing));
    topicFails = true;
    const detail = anomalyDetail(thing);

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Record notification failure');
    expect(relayRequests()).toHaveLength(1);
    expect((await alertOf(detail)).failures).toEqual([expect.objectContaining({ step: 'notify', error: 'SNS.InternalErrorException' })]);
  });

  test('records a rule that cannot fire', async () => {
    const thing = newThing();
    await addDevice(thing);
    const rule = await createRule(overCurrentRule(thing));
    // Every attempt of the request fails: the first one and its four retries.
    eventBus.failNextEntries(5);
    const detail = anomalyDetail(thing);

    const execution = await runWorkflow.run(detail);

    eventBus.failNextEntries(0);
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).toContain('Rule failure recorded');
    const alert = await alertOf(detail);
    expect(alert.actions).toEqual([]);
    expect(alert.failures).toEqual([expect.objectContaining({ ruleId: rule.ruleId, error: 'TransientDependencyError', cause: expect.stringMatching(/PutEvents rejected the Relay Command Requested event: ThrottlingException/) })]);
  });

  test('fails on a malformed event', async () => {
    const execution = await runWorkflow.run({ thingName: newThing(), dedupKey: 'dedup-malformed', anomaly: { kind: 'FIRE' } });

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('AnomalyResponseFailureNotRecorded');
    expect(execution.statesEntered).toEqual(['Event has a reading?', 'Classify severity', 'Record failure', 'Failure not recorded']);
  });

  test('records a failed step on the alert', async () => {
    const thing = newThing();
    await addDevice(thing);
    const detail = anomalyDetail(thing, { value: 'high' });

    const execution = await runWorkflow.run(detail);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('InvalidRequestError');
    expect(execution.statesEntered.slice(-2)).toEqual(['Record failure', 'Anomaly response failed']);
    const alert = await alertOf(detail);
    expect(alert.failures).toEqual([expect.objectContaining({ error: 'InvalidRequestError', cause: expect.stringMatching(/anomaly.value "high" must be a finite number/) })]);
  });

  test('relay command flow switches the relay', async () => {
    const thing = newThing();
    await addDevice(thing);
    await createRule(overCurrentRule(thing));
    await runWorkflow.run(anomalyDetail(thing));
    // The virtual device applies each command it receives and acknowledges it.
    harness.onPublish = (message) => {
      const command = message.payload;
      const report = { relay: command.relay, state: command.state, timestamp: Date.now(), commandId: command.commandId, result: 'APPLIED' };
      const body = JSON.stringify({ kind: 'relay-status', thingName: thing, receivedAt: Date.now(), payload: Buffer.from(JSON.stringify(report)).toString('base64') });
      void acknowledge({ detail: JSON.parse(toPlatformEvent(body, 'bus').Detail) }, lambdaContext('ack'));
    };

    const relayExecution = await runRelayWorkflow.run(relayRequests()[0].detail);

    expect(relayExecution.status).toBe('SUCCEEDED');
    expect(relayExecution.output.outcome.status).toBe('SUCCEEDED');
    const device = (await db.send(new GetCommand({ TableName: logicalId(registry.devicesTable), Key: { thingName: thing } }))).Item!;
    expect(device.relays.relay1.state).toBe('OFF');
  });
});

describe('AnomalyResponseWorkflow construct', () => {
  let assertions: Template;
  let definition: any;

  beforeAll(() => {
    assertions = Template.fromJSON(template);
    definition = renderDefinition(template, logicalId(workflow.stateMachine));
  });

  /** Returns every state of the definition, including those inside Map states, by name. */
  function allStates(states: Record<string, any>): [string, any][] {
    return Object.entries(states).flatMap(([name, state]) => [
      [name, state] as [string, any],
      ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
    ]);
  }

  test('is an Express state machine with tracing and logs', () => {
    assertions.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: Match.absent(),
      StateMachineType: 'EXPRESS',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: false }),
    });
    expect(template.Resources[logicalId(workflow.stateMachine)].Properties.StateMachineType).toBe('EXPRESS');
  });

  test('starts from Telemetry Anomaly Detected events', () => {
    assertions.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'source': [PlatformEventSource.WORKFLOW], 'detail-type': [PlatformEventType.TELEMETRY_ANOMALY_DETECTED] },
      Targets: [Match.objectLike({
        Arn: { Ref: logicalId(workflow.stateMachine) },
        InputPath: '$.detail',
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(workflow.deadLetterQueue), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 },
      })],
    });
  });

  test('retries and catches every task state', () => {
    const taskStates = allStates(definition.States).filter(([, state]) => state.Type === 'Task');
    expect(taskStates.map(([name]) => name).sort()).toEqual([
      'Check device ownership', 'Claim cooldown', 'Classify severity', 'Find matching rules', 'Notify owner', 'Notify rule owner', 'Publish alert to topic',
      'Record alert', 'Record failure', 'Record notification failure', 'Record rule action', 'Record rule failure', 'Record rule skip', 'Record rule trigger',
      'Request relay command',
    ]);
    for (const [name, state] of taskStates) {
      const retried = (state.Retry ?? []).flatMap((retry: any) => retry.ErrorEquals);
      const expectedRetries = name === 'Publish alert to topic'
        ? ['States.ALL']
        : ['TransientDependencyError', 'Lambda.TooManyRequestsException', 'IdempotencyAlreadyInProgressError'];
      expect({ name, retried }).toEqual({ name, retried: expect.arrayContaining(expectedRetries) });
      expect({ name, catches: (state.Catch ?? []).map((item: any) => item.ErrorEquals) }).toEqual({ name, catches: [['States.ALL']] });
    }
  });

  test('catches lead to failure records', () => {
    const states = Object.fromEntries(allStates(definition.States));
    const catchTarget = (name: string) => states[name].Catch[0].Next;

    for (const name of ['Classify severity', 'Record alert', 'Find matching rules', 'Fire matching rules', 'Record rule trigger', 'Notify rule owner']) {
      expect({ name, next: catchTarget(name) }).toEqual({ name, next: 'Record failure' });
    }
    for (const name of ['Notify owner', 'Publish alert to topic']) {
      expect({ name, next: catchTarget(name) }).toEqual({ name, next: 'Record notification failure' });
    }
    for (const name of ['Check device ownership', 'Claim cooldown', 'Request relay command', 'Record rule action', 'Record rule skip']) {
      expect({ name, next: catchTarget(name) }).toEqual({ name, next: 'Record rule failure' });
    }
    expect(catchTarget('Record failure')).toBe('Failure not recorded');
    expect(catchTarget('Record rule failure')).toBe('Rule failure not recorded');
    expect(catchTarget('Record notification failure')).toBe('Device has an owner?');
  });

  test('alerts table expires alerts', () => {
    assertions.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'thingName', KeyType: 'HASH' }, { AttributeName: 'alertId', KeyType: 'RANGE' }],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
    });
  });

  test('state machine may publish to the topic', () => {
    const policies = assertions.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^AnomalyResponseStateMachineRole') }] } });
    const statements = Object.values(policies).flatMap((policy: any) => policy.Properties.PolicyDocument.Statement as any[]);
    expect(statements).toEqual(expect.arrayContaining([expect.objectContaining({ Action: 'sns:Publish', Resource: { Ref: logicalId(alertTopic) } })]));
  });

  test('steps may put events on the bus', () => {
    const policies = assertions.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^AnomalyResponseStepsRole') }] } });
    const statements = Object.values(policies).flatMap((policy: any) => policy.Properties.PolicyDocument.Statement as any[]);
    const actions = statements.flatMap((statement) => [statement.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['events:PutEvents', 'appsync:GraphQL', 'dynamodb:UpdateItem', 'dynamodb:Query']));
  });

  test('rejects alert retention under one hour', () => {
    const scope = new Stack(new App(), 'Invalid');
    const invalidRegistry = new DeviceRegistry(scope, 'Registry');
    const invalidAuth = new PlatformAuth(scope, 'Auth');
    const invalidApi = new PlatformApi(scope, 'Api', { userPool: invalidAuth.userPool, registry: invalidRegistry });

    expect(() => new AnomalyResponseWorkflow(scope, 'AnomalyResponse', {
      registry: invalidRegistry,
      eventBus: new PlatformEventBus(scope, 'Events').eventBus,
      rules: new AutomationRules(scope, 'Rules', { api: invalidApi, registry: invalidRegistry }),
      alertRetention: Duration.minutes(30),
    })).toThrow(/Invalid alertRetention of 30 minutes: it must be at least 1 hour/);
  });

  test('reports no cdk-nag findings', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-nag-'));
    const app = new App({ outdir, context: { '@aws-cdk/core:validationReportJson': true } });
    const nagStack = new Stack(app, 'Nag');
    const key = new kms.Key(nagStack, 'Key', { enableKeyRotation: true });
    const nagRegistry = new DeviceRegistry(nagStack, 'Registry', { encryptionKey: key });
    const nagAuth = new PlatformAuth(nagStack, 'Auth');
    const nagApi = new PlatformApi(nagStack, 'Api', { userPool: nagAuth.userPool, registry: nagRegistry, encryptionKey: key });
    const nagRules = new AutomationRules(nagStack, 'Rules', { api: nagApi, registry: nagRegistry, encryptionKey: key });
    new AnomalyResponseWorkflow(nagStack, 'AnomalyResponse', {
      registry: nagRegistry,
      eventBus: new PlatformEventBus(nagStack, 'Events').eventBus,
      rules: nagRules,
      api: nagApi,
      alertTopic: new sns.Topic(nagStack, 'AlertTopic', { enforceSSL: true, masterKey: key }),
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
    expect(findings.filter((finding: string) => / Nag\/(AnomalyResponse|Rules)\//.test(finding))).toEqual([]);
  });
});
