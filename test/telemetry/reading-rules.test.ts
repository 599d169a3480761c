import * as path from 'node:path';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import { LocalEventsEndpoint } from '../../sandbox/src/events/local-events-endpoint';
import { LocalFirehoseEndpoint } from '../../sandbox/src/firehose/local-firehose-endpoint';
import { DeviceRegistry, PlatformApi, PlatformAuth, PlatformEventBus, PlatformEventType, PlatformStorage, TelemetryPipeline } from '../../src';
import { AutomationRules } from '../../src/automation/automation-rules';
import { AutomationRule, MAX_TRIGGER_READING_AGE_MS, readingTriggerDedupKey } from '../../src/domain/automation-rules';
import { validateContract } from '../../src/domain/contract-validation';
import { SensorReading } from '../../src/domain/telemetry';
import { toPlatformEvent } from '../../src/iot/private/device-message';
import { ReadingRuleEvaluator, RULES_CACHE_TTL_MS } from '../../src/telemetry/private/reading-rules';
import { lambdaContext, templateOf, WorkflowHarness } from '../workflows/harness';

const OWNER = 'user-a';
const THING = 'sh-SH-ESP32-000700';

function rule(overrides: Partial<AutomationRule> = {}): AutomationRule {
  return {
    ruleId: 'rule-AAAAAAAAAAAAAAAA',
    ownerId: OWNER,
    name: 'Heater off above 30 °C',
    enabled: true,
    condition: { deviceId: THING, source: 'READING', sensorId: 'temperature', operator: 'GT', threshold: 30 },
    action: { deviceId: THING, relay: 'relay1', state: 'OFF' },
    cooldownSeconds: 300,
    createdAt: 0,
    updatedAt: 0,
    ...overrides,
  };
}

function reading(value: number | null, timestamp: number, sensorId = 'temperature'): SensorReading {
  return { sensorId, value, timestamp, receivedAt: timestamp };
}

describe('ReadingRuleEvaluator', () => {
  const now = Date.parse('2025-01-15T12:00:00Z');

  /** An evaluator whose rules query returns `rules` and counts its calls. */
  function evaluatorWith(rules: AutomationRule[]) {
    const calls: string[] = [];
    const evaluator = new ReadingRuleEvaluator(async (thingName, ownerId) => {
      calls.push(`${thingName}|${ownerId}`);
      return rules;
    });
    return { evaluator, calls };
  }

  test('fires over the threshold', async () => {
    const { evaluator } = evaluatorWith([rule()]);

    const triggers = await evaluator.evaluate(THING, OWNER, [reading(31.5, now)], now);

    expect(triggers.map((trigger) => trigger.detail)).toEqual([{
      thingName: THING,
      ownerId: OWNER,
      ruleId: 'rule-AAAAAAAAAAAAAAAA',
      reading: { sensorId: 'temperature', value: 31.5, timestamp: now },
      condition: { operator: 'GT', threshold: 30 },
      dedupKey: readingTriggerDedupKey(THING, 'rule-AAAAAAAAAAAAAAAA', 'temperature', now),
    }]);
    expect(validateContract('automation-rule-triggered', triggers[0].detail)).toEqual({ valid: true, errors: [] });
  });

  test.each([
    ['at the threshold', 30, 'GT'],
    ['under a GT threshold', 29, 'GT'],
    ['over an LT threshold', 31, 'LT'],
  ] as const)('ignores a reading %s', async (_case, value, operator) => {
    const { evaluator } = evaluatorWith([rule({ condition: { deviceId: THING, source: 'READING', sensorId: 'temperature', operator, threshold: 30 } })]);

    expect(await evaluator.evaluate(THING, OWNER, [reading(value, now)], now)).toEqual([]);
  });

  test('fires under an LT threshold', async () => {
    const { evaluator } = evaluatorWith([rule({ condition: { deviceId: THING, source: 'READING', sensorId: 'temperature', operator: 'LT', threshold: 5 } })]);

    expect(await evaluator.evaluate(THING, OWNER, [reading(4.5, now)], now)).toHaveLength(1);
  });

  test('ignores missing values and other sensors', async () => {
    const { evaluator } = evaluatorWith([rule()]);

    const triggers = await evaluator.evaluate(THING, OWNER, [reading(null, now), reading(45, now, 'humidity')], now);

    expect(triggers).toEqual([]);
  });

  test('ignores disabled and ANOMALY rules', async () => {
    const { evaluator } = evaluatorWith([
      rule({ enabled: false }),
      rule({ ruleId: 'rule-BBBBBBBBBBBBBBBB', condition: { deviceId: THING, source: 'ANOMALY', sensorId: 'temperature' } }),
    ]);

    expect(await evaluator.evaluate(THING, OWNER, [reading(31.5, now)], now)).toEqual([]);
  });

  test('ignores readings outside the schedule window', async () => {
    // 22:00 to 06:00 UTC, and the reading is at 12:00 UTC.
    const { evaluator } = evaluatorWith([rule({ schedule: { startMinute: 1320, endMinute: 360, timeZone: 'UTC' } })]);

    expect(await evaluator.evaluate(THING, OWNER, [reading(31.5, now)], now)).toEqual([]);
  });

  test('ignores a rule in its cooldown', async () => {
    const { evaluator } = evaluatorWith([rule({ lastFiredAt: now - 299_000 })]);

    expect(await evaluator.evaluate(THING, OWNER, [reading(31.5, now)], now)).toEqual([]);
  });

  test('ignores a reading too old to act on', async () => {
    const { evaluator } = evaluatorWith([rule()]);

    const triggers = await evaluator.evaluate(THING, OWNER, [reading(31.5, now - MAX_TRIGGER_READING_AGE_MS - 1)], now);

    expect(triggers).toEqual([]);
  });

  test('ignores a device without owner', async () => {
    const { evaluator, calls } = evaluatorWith([rule()]);

    expect(await evaluator.evaluate(THING, undefined, [reading(31.5, now)], now)).toEqual([]);
    expect(calls).toEqual([]);
  });

  test('queries once per device within the TTL', async () => {
    const { evaluator, calls } = evaluatorWith([]);

    for (let index = 0; index < 50; index += 1) {
      await evaluator.evaluate(THING, OWNER, [reading(20 + index, now + index)], now + index);
    }
    await evaluator.evaluate('sh-SH-ESP32-000701', OWNER, [reading(31.5, now)], now);

    expect(calls).toEqual([`${THING}|${OWNER}`, `sh-SH-ESP32-000701|${OWNER}`]);
  });

  test('queries again after the TTL', async () => {
    const { evaluator, calls } = evaluatorWith([]);

    await evaluator.evaluate(THING, OWNER, [reading(31.5, now)], now);
    await evaluator.evaluate(THING, OWNER, [reading(31.5, now)], now + RULES_CACHE_TTL_MS);

    expect(calls).toHaveLength(2);
  });

  test('fires once per cooldown in one instance', async () => {
    const { evaluator } = evaluatorWith([rule({ cooldownSeconds: 60 })]);

    const first = await evaluator.evaluate(THING, OWNER, [reading(31.5, now)], now);
    const withinCooldown = await evaluator.evaluate(THING, OWNER, [reading(32, now + 59_000)], now + 59_000);
    const afterCooldown = await evaluator.evaluate(THING, OWNER, [reading(32, now + 60_000)], now + 60_000);

    expect(first).toHaveLength(1);
    expect(withinCooldown).toEqual([]);
    expect(afterCooldown).toHaveLength(1);
  });

  test('fires again after release', async () => {
    const { evaluator } = evaluatorWith([rule()]);
    const first = await evaluator.evaluate(THING, OWNER, [reading(31.5, now)], now);

    evaluator.release(first);
    const retried = await evaluator.evaluate(THING, OWNER, [reading(31.5, now)], now + 1000);

    expect(retried.map((trigger) => trigger.detail)).toEqual(first.map((trigger) => trigger.detail));
  });
});

describe('telemetry processor with READING rules', () => {
  let harness: WorkflowHarness;
  let events: LocalEventsEndpoint;
  let firehose: LocalFirehoseEndpoint;
  let stack: Stack;
  let template: any;
  let registry: DeviceRegistry;
  let rules: AutomationRules;
  let pipeline: TelemetryPipeline;
  let db: DynamoDBDocumentClient;
  let processor: (event: any, context: any) => Promise<any>;
  let messageCount = 0;
  let thingCount = 0;

  function tableName(table: { node: { defaultChild?: any } }): string {
    return stack.getLogicalId(table.node.defaultChild);
  }

  function loadProcessor() {
    return harness.loadHandler(template, stack, pipeline.processorFunction, path.join(__dirname, '../../src/telemetry/telemetry-processor.lambda.ts'));
  }

  function queued(kind: 'telemetry' | 'energy-status', thingName: string, payload: unknown) {
    messageCount += 1;
    const body = JSON.stringify({ kind, thingName, receivedAt: Date.now(), payload: Buffer.from(JSON.stringify(payload)).toString('base64') });
    const entry = toPlatformEvent(body, 'bus');
    const event = { 'detail-type': entry.DetailType, 'source': entry.Source, 'detail': JSON.parse(entry.Detail) };
    return { messageId: `message-${messageCount}`, body: JSON.stringify(event) };
  }

  /** Registers a new device with a temperature sensor, owned by `ownerId` or by no user, and a GT 30 rule of OWNER on it. */
  async function deviceWithRule(ownerId: string | null = OWNER, overrides: Partial<AutomationRule> = {}): Promise<string> {
    thingCount += 1;
    const thingName = `sh-SH-ESP32-${String(800 + thingCount).padStart(6, '0')}`;
    await db.send(new PutCommand({
      TableName: tableName(registry.devicesTable),
      Item: {
        thingName,
        ...(ownerId ? { ownerId } : {}),
        capabilities: { relays: [{ id: 'relay1' }], sensors: [{ id: 'temperature', type: 'temperature', unit: '°C' }] },
        relays: {},
      },
    }));
    const condition = overrides.condition ?? { deviceId: thingName, source: 'READING', sensorId: 'temperature', operator: 'GT', threshold: 30 };
    const stored = rule({
      ruleId: `rule-${String(thingCount).padStart(16, '0')}`,
      action: { deviceId: thingName, relay: 'relay1', state: 'OFF' },
      ...overrides,
      condition: { ...condition, deviceId: thingName },
    });
    await db.send(new PutCommand({ TableName: tableName(rules.rulesTable), Item: { ...stored, conditionDeviceId: thingName } }));
    return thingName;
  }

  function triggersSince(before: number): any[] {
    return events.events.slice(before)
      .filter((event) => event.detailType === PlatformEventType.AUTOMATION_RULE_TRIGGERED)
      .map((event) => event.detail);
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
    const auth = new PlatformAuth(stack, 'Auth');
    const api = new PlatformApi(stack, 'Api', { userPool: auth.userPool, registry });
    const storage = new PlatformStorage(stack, 'Storage');
    rules = new AutomationRules(stack, 'Rules', { api, registry });
    pipeline = new TelemetryPipeline(stack, 'Telemetry', { registry, eventBus: bus.eventBus, archiveBucket: storage.archiveBucket });
    pipeline.evaluateAutomationRules(rules);
    template = templateOf(stack);
    await harness.dynamodb.createTablesFromTemplate(template);
    db = DynamoDBDocumentClient.from(harness.dynamodb.client, { marshallOptions: { removeUndefinedValues: true } });
    processor = loadProcessor();
  });

  afterAll(async () => {
    delete process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
    delete process.env.AWS_ENDPOINT_URL_FIREHOSE;
    await firehose?.stop();
    await events?.stop();
    await harness?.stop();
  });

  beforeEach(() => {
    events.failNextEntries(0);
  });

  test('batch of 50 messages emits one trigger', async () => {
    const thing = await deviceWithRule();
    const start = Date.now();
    const records = Array.from({ length: 50 }, (_, index) => queued('telemetry', thing, { timestamp: start + index, readings: { temperature: 31 + index / 10 } }));
    const before = events.events.length;

    const result = await processor({ Records: records }, lambdaContext('processor'));

    expect(result.batchItemFailures).toEqual([]);
    const triggers = triggersSince(before);
    expect(triggers).toHaveLength(1);
    expect(triggers[0]).toMatchObject({ thingName: thing, ownerId: OWNER, reading: { sensorId: 'temperature', value: 31, timestamp: start } });
    expect(events.events.slice(before).find((event) => event.detailType === PlatformEventType.AUTOMATION_RULE_TRIGGERED)!.source).toBe('cdk-smart-home.workflow');
  });

  test('emits nothing under the threshold', async () => {
    const thing = await deviceWithRule();
    const before = events.events.length;

    await processor({ Records: [queued('telemetry', thing, { timestamp: Date.now(), readings: { temperature: 29.5 } })] }, lambdaContext('processor'));

    expect(triggersSince(before)).toEqual([]);
  });

  test('emits nothing for a device without owner', async () => {
    const thing = await deviceWithRule(null);
    const before = events.events.length;

    await processor({ Records: [queued('telemetry', thing, { timestamp: Date.now(), readings: { temperature: 35 } })] }, lambdaContext('processor'));

    expect(triggersSince(before)).toEqual([]);
  });

  test('emits nothing for a disabled rule', async () => {
    const thing = await deviceWithRule(OWNER, { enabled: false });
    const before = events.events.length;

    await processor({ Records: [queued('telemetry', thing, { timestamp: Date.now(), readings: { temperature: 35 } })] }, lambdaContext('processor'));

    expect(triggersSince(before)).toEqual([]);
  });

  test('emits nothing for an older message', async () => {
    const thing = await deviceWithRule();
    const now = Date.now();
    await processor({ Records: [queued('telemetry', thing, { timestamp: now, readings: { temperature: 20 } })] }, lambdaContext('processor'));
    const before = events.events.length;

    await processor({ Records: [queued('telemetry', thing, { timestamp: now - 1000, readings: { temperature: 35 } })] }, lambdaContext('processor'));

    expect(triggersSince(before)).toEqual([]);
  });

  test('emits nothing for energy reports', async () => {
    const thing = await deviceWithRule(OWNER, {
      condition: { deviceId: 'set-by-deviceWithRule', source: 'READING', sensorId: 'energy-current', operator: 'GT', threshold: 1 },
    });
    const before = events.events.length;

    await processor({ Records: [queued('energy-status', thing, { timestamp: Date.now(), energyKwh: 1, currentA: 5, relay: 'relay1' })] }, lambdaContext('processor'));

    expect(triggersSince(before)).toEqual([]);
  });

  test('redelivered message emits the same trigger', async () => {
    const thing = await deviceWithRule();
    const record = queued('telemetry', thing, { timestamp: Date.now(), readings: { temperature: 31.5 } });
    const before = events.events.length;

    await processor({ Records: [record] }, lambdaContext('processor'));
    await loadProcessor()({ Records: [record] }, lambdaContext('processor'));

    const triggers = triggersSince(before);
    expect(triggers).toHaveLength(2);
    expect(triggers[1]).toEqual(triggers[0]);
  });

  test('retries a message whose trigger was not accepted', async () => {
    const thing = await deviceWithRule();
    const record = queued('telemetry', thing, { timestamp: Date.now(), readings: { temperature: 31.5 } });
    const instance = loadProcessor();
    events.failNextEntries(1);
    const before = events.events.length;

    const failed = await instance({ Records: [record] }, lambdaContext('processor'));
    const retried = await instance({ Records: [record] }, lambdaContext('processor'));

    expect(failed.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(retried.batchItemFailures).toEqual([]);
    const triggers = triggersSince(before);
    expect(triggers).toHaveLength(1);
    expect(triggers[0]).toMatchObject({ thingName: thing, reading: { value: 31.5 } });
  });
});
