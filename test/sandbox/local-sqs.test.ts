import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { exampleDevAssembly } from './example-assembly';
import { LocalEventsEndpoint } from '../../sandbox/src/events/local-events-endpoint';
import { functionDefinitionsFromTemplate, LocalLambdaRuntime } from '../../sandbox/src/lambda/local-lambda-runtime';
import { eventSourceMappingsFromTemplate, LocalSqs, md5OfMessageAttributes, SqsLambdaEvent } from '../../sandbox/src/sqs/local-sqs';
import { resolveIntrinsic } from '../../sandbox/src/stepfunctions/definition';

const REPOSITORY = path.join(__dirname, '..', '..');
const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:000000000000:commands';
const DLQ_ARN = 'arn:aws:sqs:eu-west-1:000000000000:commands-dlq';

/** Loads the synthesized dev template, or fails with the command that creates it. */
function loadDevTemplate(): any {
  const assembly = exampleDevAssembly();
  const templates = readdirSync(assembly).filter((name) => name.endsWith('.template.json'));
  if (templates.length !== 1) {
    throw new Error(`Expected one template in ${assembly}, found ${templates.length}.`);
  }
  return JSON.parse(readFileSync(path.join(assembly, templates[0]), 'utf8'));
}

function resourceId(template: any, type: string, prefix: string): string {
  const id = Object.keys(template.Resources).find((key) => key.startsWith(prefix) && template.Resources[key].Type === type);
  if (!id) {
    throw new Error(`The dev template has no ${type} whose logical id starts with ${prefix}.`);
  }
  return id;
}

/** Returns the queue with a dead-letter queue whose logical id starts with `prefix`. */
function sourceQueueId(template: any, prefix: string): string {
  const id = Object.keys(template.Resources).find((key) => key.startsWith(prefix) && template.Resources[key].Properties?.RedrivePolicy !== undefined);
  if (!id) {
    throw new Error(`The dev template has no queue with a redrive policy whose logical id starts with ${prefix}.`);
  }
  return id;
}

async function waitFor(description: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Creates queue `commands` with dead-letter queue `commands-dlq` and a 1-second visibility timeout scaled to 50 ms. */
function commandQueues(maxReceiveCount = 3): LocalSqs {
  const sqs = new LocalSqs({ visibilityTimeoutScale: 0.05 });
  sqs.createQueue('CommandsDlq', { arn: DLQ_ARN, url: 'https://sqs.eu-west-1.amazonaws.com/000000000000/commands-dlq' });
  sqs.createQueue('Commands', {
    arn: QUEUE_ARN,
    url: 'https://sqs.eu-west-1.amazonaws.com/000000000000/commands',
    visibilityTimeoutSeconds: 1,
    redrivePolicy: { deadLetterTargetArn: DLQ_ARN, maxReceiveCount },
  });
  return sqs;
}

describe('LocalSqs.fromTemplate', () => {
  test('creates the template queues', () => {
    const template = loadDevTemplate();
    const queueId = sourceQueueId(template, 'PlatformTopicRulesDeviceEvents');
    const dlqId = template.Resources[queueId].Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0];

    const sqs = LocalSqs.fromTemplate(template);
    const queue = sqs.queue(queueId);

    expect(sqs.queue(resolveIntrinsic(template, { 'Fn::GetAtt': [queueId, 'Arn'] }))).toBe(queue);
    expect(sqs.queue(resolveIntrinsic(template, { Ref: queueId }))).toBe(queue);
    expect(queue.options.visibilityTimeoutSeconds).toBe(180);
    expect(queue.options.redrivePolicy).toEqual({ deadLetterTargetArn: sqs.queue(dlqId).arn, maxReceiveCount: 5 });
    expect(sqs.depth(queueId)).toBe(0);
  });

  test('rejects a missing dead-letter queue', () => {
    const template = { Resources: { Source: { Type: 'AWS::SQS::Queue', Properties: { RedrivePolicy: { deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:gone', maxReceiveCount: 3 } } } } };

    expect(() => LocalSqs.fromTemplate(template)).toThrow(/Queue Source has dead-letter queue arn:aws:sqs:us-east-1:000000000000:gone/);
  });
});

describe('eventSourceMappingsFromTemplate', () => {
  test('reads the dev template mappings', () => {
    const template = loadDevTemplate();
    const forwarderId = resourceId(template, 'AWS::Lambda::Function', 'PlatformTopicRulesForwarder');
    const processorId = resourceId(template, 'AWS::Lambda::Function', 'PlatformTelemetryProcessor');

    const mappings = eventSourceMappingsFromTemplate(template);

    const forwarderMappings = mappings.filter((mapping) => mapping.functionLogicalId === forwarderId);
    expect(forwarderMappings.map((mapping) => mapping.queueLogicalId).sort()).toEqual([
      sourceQueueId(template, 'PlatformTopicRulesDeviceEvents'),
      sourceQueueId(template, 'PlatformTopicRulesTelemetry'),
    ].sort());
    for (const mapping of forwarderMappings) {
      expect(mapping.batchSize).toBe(10);
      expect(mapping.maximumBatchingWindowSeconds).toBe(0);
      expect(mapping.reportBatchItemFailures).toBe(true);
      expect(mapping.enabled).toBe(true);
    }
    const telemetry = mappings.find((mapping) => mapping.functionLogicalId === processorId)!;
    expect(telemetry.batchSize).toBe(50);
    expect(telemetry.maximumBatchingWindowSeconds).toBe(1);
    expect(telemetry.queue).toBe(sourceQueueId(template, 'PlatformTelemetryQueue'));
  });

  test('rejects a mapping from a stream', () => {
    const template = {
      Resources: {
        Fn: { Type: 'AWS::Lambda::Function', Properties: {} },
        Stream: { Type: 'AWS::Kinesis::Stream', Properties: {} },
        StreamMapping: { Type: 'AWS::Lambda::EventSourceMapping', Properties: { EventSourceArn: { 'Fn::GetAtt': ['Stream', 'Arn'] }, FunctionName: { Ref: 'Fn' } } },
      },
    };

    expect(() => eventSourceMappingsFromTemplate(template)).toThrow(/Event source mapping StreamMapping reads .*not an SQS queue of the template/);
  });
});

describe('LocalSqs event source mappings', () => {
  let sqs: LocalSqs;

  afterEach(async () => {
    await sqs.stop();
  });

  test('builds Lambda SQS records', async () => {
    sqs = commandQueues();
    const events: SqsLambdaEvent[] = [];
    sqs.addEventSourceMapping({ queue: 'Commands', invoke: async (event) => { events.push(event); } });
    const attributes = { deviceId: { dataType: 'String', stringValue: 'plug-1' }, signature: { dataType: 'Binary', binaryValue: Buffer.from([1, 2, 3]) } };

    const messageId = sqs.send(QUEUE_ARN, '{"relay":"r1"}', attributes);
    await waitFor('one invocation', () => events.length === 1);

    const record = events[0].Records[0];
    expect(Object.keys(record).sort()).toEqual([
      'attributes', 'awsRegion', 'body', 'eventSource', 'eventSourceARN', 'md5OfBody', 'md5OfMessageAttributes', 'messageAttributes', 'messageId', 'receiptHandle',
    ]);
    expect(record.messageId).toBe(messageId);
    expect(record.body).toBe('{"relay":"r1"}');
    expect(record.md5OfBody).toBe(createHash('md5').update('{"relay":"r1"}').digest('hex'));
    expect(record.md5OfMessageAttributes).toBe(md5OfMessageAttributes(attributes));
    expect(record.eventSource).toBe('aws:sqs');
    expect(record.eventSourceARN).toBe(QUEUE_ARN);
    expect(record.awsRegion).toBe('eu-west-1');
    expect(record.attributes.ApproximateReceiveCount).toBe('1');
    expect(Number(record.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(Number(record.attributes.SentTimestamp));
    expect(record.messageAttributes).toEqual({
      deviceId: { stringValue: 'plug-1', binaryValue: undefined, stringListValues: [], binaryListValues: [], dataType: 'String' },
      signature: { stringValue: undefined, binaryValue: 'AQID', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
    });
    await waitFor('the message to be deleted', () => sqs.depth('Commands') === 0);
  });

  test('computes MD5OfMessageAttributes', () => {
    // The digest that SQS returns for one String attribute `a` with value `b`: the encoding is
    // 0x00000001 'a' 0x00000006 'String' 0x01 0x00000001 'b'.
    const encoded = Buffer.concat([
      Buffer.from([0, 0, 0, 1]), Buffer.from('a'),
      Buffer.from([0, 0, 0, 6]), Buffer.from('String'),
      Buffer.from([1]),
      Buffer.from([0, 0, 0, 1]), Buffer.from('b'),
    ]);

    expect(md5OfMessageAttributes({ a: { dataType: 'String', stringValue: 'b' } })).toBe(createHash('md5').update(encoded).digest('hex'));
  });

  test('redelivers only reported failures', async () => {
    sqs = commandQueues();
    const events: SqsLambdaEvent[] = [];
    // Sent before the mapping starts, so the first batch contains all three.
    const ids = ['first', 'second', 'third'].map((body) => sqs.send('Commands', body));

    sqs.addEventSourceMapping({
      queue: 'Commands',
      reportBatchItemFailures: true,
      invoke: async (event) => {
        events.push(event);
        return events.length === 1 ? { batchItemFailures: [{ itemIdentifier: ids[1] }] } : { batchItemFailures: [] };
      },
    });
    await waitFor('the redelivery', () => events.length === 2 && sqs.depth('Commands') === 0);

    expect(events[0].Records.map((record) => record.messageId)).toEqual(ids);
    expect(events[1].Records.map((record) => record.messageId)).toEqual([ids[1]]);
    expect(events[1].Records[0].attributes.ApproximateReceiveCount).toBe('2');
    const firstReceive = events[0].Records[1].attributes.ApproximateFirstReceiveTimestamp;
    expect(events[1].Records[0].attributes.ApproximateFirstReceiveTimestamp).toBe(firstReceive);
  });

  test('redelivers the whole batch after an error', async () => {
    sqs = commandQueues();
    const batches: string[][] = [];
    sqs.addEventSourceMapping({
      queue: 'Commands',
      batchSize: 5,
      maximumBatchingWindowSeconds: 0.2,
      reportBatchItemFailures: true,
      invoke: async (event) => {
        batches.push(event.Records.map((record) => record.body).sort());
        if (batches.length === 1) {
          throw new Error('DynamoDB throttled the batch');
        }
      },
    });

    sqs.send('Commands', 'a');
    sqs.send('Commands', 'b');
    await waitFor('two invocations', () => batches.length === 2 && sqs.depth('Commands') === 0);

    expect(batches).toEqual([['a', 'b'], ['a', 'b']]);
  });

  test('fails the whole batch for an unknown itemIdentifier', async () => {
    sqs = commandQueues();
    const batches: string[][] = [];
    sqs.addEventSourceMapping({
      queue: 'Commands',
      batchSize: 5,
      maximumBatchingWindowSeconds: 0.2,
      reportBatchItemFailures: true,
      invoke: async (event) => {
        batches.push(event.Records.map((record) => record.body).sort());
        return batches.length === 1 ? { batchItemFailures: [{ itemIdentifier: 'not-a-message-id' }] } : {};
      },
    });

    sqs.send('Commands', 'a');
    sqs.send('Commands', 'b');
    await waitFor('two invocations', () => batches.length === 2 && sqs.depth('Commands') === 0);

    expect(batches).toEqual([['a', 'b'], ['a', 'b']]);
  });

  test('ignores batchItemFailures without ReportBatchItemFailures', async () => {
    sqs = commandQueues();
    let invocations = 0;
    sqs.addEventSourceMapping({
      queue: 'Commands',
      invoke: async (event) => {
        invocations += 1;
        return { batchItemFailures: [{ itemIdentifier: event.Records[0].messageId }] };
      },
    });

    sqs.send('Commands', 'a');
    await waitFor('the message to be deleted', () => sqs.depth('Commands') === 0);
    await new Promise((resolve) => setTimeout(resolve, 150));

    expect(invocations).toBe(1);
  });

  test('moves a message to the DLQ after maxReceiveCount', async () => {
    sqs = commandQueues(2);
    const receiveCounts: string[] = [];
    sqs.addEventSourceMapping({
      queue: 'Commands',
      invoke: async (event) => {
        receiveCounts.push(event.Records[0].attributes.ApproximateReceiveCount);
        throw new Error('relay did not answer');
      },
    });

    const messageId = sqs.send('Commands', 'turn on', { commandId: { dataType: 'String', stringValue: 'c-1' } });
    await waitFor('the message in the dead-letter queue', () => sqs.depth(DLQ_ARN) === 1);

    expect(receiveCounts).toEqual(['1', '2']);
    expect(sqs.depth('Commands')).toBe(0);
    const [moved] = sqs.messages('CommandsDlq');
    expect(moved.messageId).toBe(messageId);
    expect(moved.body).toBe('turn on');
    expect(moved.messageAttributes.commandId.stringValue).toBe('c-1');
  });

  test('waits for the batching window', async () => {
    sqs = commandQueues();
    const batches: { size: number; at: number }[] = [];
    sqs.addEventSourceMapping({
      queue: 'Commands',
      batchSize: 5,
      maximumBatchingWindowSeconds: 1,
      invoke: async (event) => {
        batches.push({ size: event.Records.length, at: Date.now() });
      },
    });

    const sentAt = Date.now();
    sqs.send('Commands', 'a');
    await new Promise((resolve) => setTimeout(resolve, 100));
    sqs.send('Commands', 'b');
    await waitFor('the first batch', () => batches.length === 1);

    expect(batches[0].size).toBe(2);
    expect(batches[0].at - sentAt).toBeGreaterThanOrEqual(950);

    const fullAt = Date.now();
    for (const body of ['c', 'd', 'e', 'f', 'g']) {
      sqs.send('Commands', body);
    }
    await waitFor('the full batch', () => batches.length === 2);

    expect(batches[1].size).toBe(5);
    expect(batches[1].at - fullAt).toBeLessThan(500);
  });

  test('rejects large batches without a window', () => {
    sqs = commandQueues();

    expect(() => sqs.addEventSourceMapping({ queue: 'Commands', batchSize: 50, invoke: async () => undefined })).toThrow(/MaximumBatchingWindowInSeconds of at least 1/);
  });
});

describe('LocalSqs with the bundled forwarder', () => {
  test('forwards device messages and redrives malformed ones', async () => {
    const template = loadDevTemplate();
    const forwarderId = resourceId(template, 'AWS::Lambda::Function', 'PlatformTopicRulesForwarder');
    const queueId = sourceQueueId(template, 'PlatformTopicRulesDeviceEvents');
    const dlqId = template.Resources[queueId].Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0];
    const events = await LocalEventsEndpoint.start();
    const runtime = new LocalLambdaRuntime({
      baseEnvironment: { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_ENDPOINT_URL_EVENTBRIDGE: events.url },
      nodeModulesPath: path.join(REPOSITORY, 'node_modules'),
    });
    // 180 s of visibility timeout become 0.36 s.
    const sqs = LocalSqs.fromTemplate(template, { visibilityTimeoutScale: 0.002 });
    try {
      for (const definition of functionDefinitionsFromTemplate(template, exampleDevAssembly(), (value) => resolveIntrinsic(template, value))) {
        runtime.register(definition);
      }
      const mapping = eventSourceMappingsFromTemplate(template).find((item) => item.queueLogicalId === queueId)!;
      const presence = { kind: 'presence', thingName: 'plug-1', eventType: 'connected', timestamp: 1700000000000, versionNumber: 1, sessionIdentifier: 's-1', receivedAt: 1700000000100 };
      // Both are queued before the mapping starts, so the first batch contains both.
      sqs.send(queueId, JSON.stringify(presence));
      const malformedId = sqs.send(queueId, '{"kind":"presence"}');

      sqs.addEventSourceMapping({ ...mapping, invoke: (event) => runtime.invoke(mapping.functionLogicalId, event) });
      await waitFor('the malformed message in the dead-letter queue', () => sqs.depth(dlqId) === 1, 20_000);

      expect(sqs.depth(queueId)).toBe(0);
      expect(sqs.messages(dlqId)[0].messageId).toBe(malformedId);
      expect(events.events).toHaveLength(1);
      expect(events.events[0].detail.thingName).toBe('plug-1');
      // The malformed message is received maxReceiveCount (5) times before it moves.
      expect(runtime.invocationCount(forwarderId)).toBe(5);
    } finally {
      await sqs.stop();
      await runtime.stop();
      await events.stop();
    }
  });
});
