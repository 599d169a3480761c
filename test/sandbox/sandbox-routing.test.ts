import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAssemblyStacks, selectPlatformStack } from '../../sandbox/src/assembly/cloud-assembly';
import { inventoryOf, UnsupportedResourceError } from '../../sandbox/src/assembly/inventory';
import { LocalEventRouter } from '../../sandbox/src/events/local-event-router';
import { LocalRulesEngine } from '../../sandbox/src/iot-rules/local-rules-engine';
import { ProvisioningTemplateBody, ProvisioningTemplateError } from '../../sandbox/src/local-iot/provisioning-template';

const SQS_RULE = {
  Type: 'AWS::IoT::TopicRule',
  Properties: {
    TopicRulePayload: {
      Sql: "SELECT encode(*, 'base64') AS payload, topic(3) AS thingName FROM 'iot/telemetry/+'",
      Actions: [{ Sqs: { QueueUrl: { Ref: 'Telemetry' }, UseBase64: false } }],
      ErrorAction: { Sqs: { QueueUrl: { Ref: 'RuleErrors' }, UseBase64: false } },
    },
  },
};

describe('LocalRulesEngine', () => {
  test('sends the selected fields to the action queue', async () => {
    const sent: { queue: string; body: string }[] = [];
    const engine = new LocalRulesEngine({ Resources: { Rule: SQS_RULE } }, {
      sendToQueue: async (queue, body) => {
        sent.push({ queue, body });
      },
      invokeFunction: async () => undefined,
    });

    engine.publish({ topic: 'iot/telemetry/dev-1', payload: Buffer.from('{"a":1}') });
    await engine.settle();

    expect(sent).toHaveLength(1);
    expect(sent[0].queue).toBe('Telemetry');
    expect(JSON.parse(sent[0].body)).toEqual({ payload: Buffer.from('{"a":1}').toString('base64'), thingName: 'dev-1' });
  });

  test('sends a failed action to the error action', async () => {
    const sent: { queue: string; body: string }[] = [];
    const engine = new LocalRulesEngine({ Resources: { Rule: SQS_RULE } }, {
      sendToQueue: async (queue, body) => {
        if (queue === 'Telemetry') throw new Error('queue is full');
        sent.push({ queue, body });
      },
      invokeFunction: async () => undefined,
    });

    engine.publish({ topic: 'iot/telemetry/dev-1', payload: Buffer.from('{}'), clientId: 'dev-1' });
    await engine.settle();

    expect(sent.map((message) => message.queue)).toEqual(['RuleErrors']);
    const error = JSON.parse(sent[0].body);
    expect(error).toMatchObject({ ruleName: 'Rule', topic: 'iot/telemetry/dev-1', clientId: 'dev-1', base64OriginalPayload: Buffer.from('{}').toString('base64') });
    expect(error.failures).toEqual([{ failedAction: 'SqsAction', failedResource: 'Telemetry', errorMessage: 'queue is full' }]);
    expect(engine.statistics).toMatchObject({ actionsFailed: 1, errorActions: 1, dropped: 0 });
  });

  test('ignores topics outside the rule', async () => {
    const sent: string[] = [];
    const engine = new LocalRulesEngine({ Resources: { Rule: SQS_RULE } }, {
      sendToQueue: async (queue) => {
        sent.push(queue);
      },
      invokeFunction: async () => undefined,
    });

    engine.publish({ topic: 'iot/capabilities/dev-1', payload: Buffer.from('{}') });
    await engine.settle();

    expect(sent).toEqual([]);
  });

  test('rejects an action kind it cannot run', () => {
    const rule = { Type: 'AWS::IoT::TopicRule', Properties: { TopicRulePayload: { Sql: "SELECT * FROM 'a/b'", Actions: [{ Kinesis: {} }] } } };
    const targets = { sendToQueue: async () => undefined, invokeFunction: async () => undefined };
    expect(() => new LocalRulesEngine({ Resources: { KinesisRule: rule } }, targets)).toThrow(/KinesisRule.*Kinesis/);
  });
});

describe('LocalEventRouter', () => {
  const template = {
    Resources: {
      Bus: { Type: 'AWS::Events::EventBus', Properties: {} },
      Workflow: { Type: 'AWS::StepFunctions::StateMachine', Properties: {} },
      Dlq: { Type: 'AWS::SQS::Queue', Properties: {} },
      Rule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          EventBusName: { Ref: 'Bus' },
          EventPattern: { 'source': ['cdk-smart-home.device'], 'detail-type': ['Telemetry Reported'] },
          Targets: [{
            Id: 'Target0',
            Arn: { Ref: 'Workflow' },
            InputPath: '$.detail',
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['Dlq', 'Arn'] } },
            RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60 },
          }],
        },
      },
    },
  };
  const event = (detailType: string) => ({ eventId: 'e-1', eventBusName: 'Bus', source: 'cdk-smart-home.device', detailType, detail: { thingName: 'dev-1' } });

  test('starts the target with the input path applied', async () => {
    const started: unknown[] = [];
    const router = new LocalEventRouter(template, {
      startExecution: async (_id, input) => {
        started.push(input);
      },
      sendToQueue: async () => undefined,
      invokeFunction: async () => undefined,
    }, { resolve: (value: any) => value.Ref ?? String(value), retryDelayMs: 1 });

    router.route(event('Telemetry Reported'));
    router.route(event('Device Connected'));
    await router.settle();

    expect(started).toEqual([{ thingName: 'dev-1' }]);
    expect(router.statistics).toMatchObject({ delivered: 1, unmatched: 1 });
  });

  test('sends an undeliverable event to the dead-letter queue after its retries', async () => {
    let attempts = 0;
    const deadLettered: { queue: string; body: string }[] = [];
    const router = new LocalEventRouter(template, {
      startExecution: async () => {
        attempts += 1;
        throw new Error('throttled');
      },
      sendToQueue: async (queue, body) => {
        deadLettered.push({ queue, body });
      },
      invokeFunction: async () => undefined,
    }, { resolve: (value: any) => value.Ref ?? String(value), retryDelayMs: 1 });

    router.route(event('Telemetry Reported'));
    await router.settle();

    expect(attempts).toBe(3);
    expect(deadLettered).toHaveLength(1);
    expect(deadLettered[0].queue).toBe('Dlq');
    expect(JSON.parse(deadLettered[0].body)).toMatchObject({ 'id': 'e-1', 'detail-type': 'Telemetry Reported', 'detail': { thingName: 'dev-1' } });
  });
});

describe('inventoryOf', () => {
  test('classifies local and inert resources', () => {
    const entries = inventoryOf({ Resources: { Table: { Type: 'AWS::DynamoDB::Table' }, Alarm: { Type: 'AWS::CloudWatch::Alarm' } } });
    expect(entries.map((entry) => [entry.logicalId, entry.treatment])).toEqual([['Table', 'emulated'], ['Alarm', 'no-local-behaviour']]);
  });

  test('rejects an unknown resource type with its logical id', () => {
    const run = () => inventoryOf({ Resources: { Stream: { Type: 'AWS::Kinesis::Stream' }, Table: { Type: 'AWS::DynamoDB::Table' } } });
    expect(run).toThrow(UnsupportedResourceError);
    expect(run).toThrow(/Stream \(AWS::Kinesis::Stream\)/);
  });

  test('rejects a function that is not Node.js', () => {
    expect(() => inventoryOf({ Resources: { Fn: { Type: 'AWS::Lambda::Function', Properties: { Runtime: 'python3.13', Code: { S3Key: 'x.zip' } } } } }))
      .toThrow(/Fn \(AWS::Lambda::Function\).*python3.13/);
  });
});

describe('ProvisioningTemplateBody', () => {
  const body = JSON.stringify({
    Parameters: { 'SerialNumber': { Type: 'String' }, 'Model': { Type: 'String', Default: 'unknown' }, 'AWS::IoT::Certificate::Id': { Type: 'String' } },
    Resources: {
      thing: {
        Type: 'AWS::IoT::Thing',
        Properties: {
          ThingName: { 'Fn::Join': ['', ['dev-', { Ref: 'SerialNumber' }]] },
          ThingGroups: ['fleet'],
          AttributePayload: { serial: { Ref: 'SerialNumber' }, model: { Ref: 'Model' } },
        },
      },
      certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' } },
      policy: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: 'DevicePolicy' } },
    },
  });

  test('renders the thing with parameters and defaults', () => {
    const rendered = ProvisioningTemplateBody.parse(body).render({ SerialNumber: 'SH-1' }, 'cert-1');
    expect(rendered).toEqual({
      thingName: 'dev-SH-1',
      thingTypeName: undefined,
      thingGroups: ['fleet'],
      attributes: { serial: 'SH-1', model: 'unknown' },
      policyNames: ['DevicePolicy'],
      certificateStatus: 'ACTIVE',
      deviceConfiguration: {},
    });
  });

  test('rejects a request without a required parameter', () => {
    expect(() => ProvisioningTemplateBody.parse(body).render({}, 'cert-1')).toThrow(ProvisioningTemplateError);
  });

  test('rejects an intrinsic function it cannot apply', () => {
    const unsupported = body.replace('{"Fn::Join":["",["dev-",{"Ref":"SerialNumber"}]]}', '{"Fn::If":["c","a","b"]}');
    expect(() => ProvisioningTemplateBody.parse(unsupported)).toThrow(/Fn::If/);
  });
});

describe('selectPlatformStack', () => {
  function assembly(stages: string[]): string {
    const root = mkdtempSync(join(tmpdir(), 'assembly-'));
    const artifacts: Record<string, unknown> = {};
    for (const stage of stages) {
      mkdirSync(join(root, `assembly-${stage}`));
      writeFileSync(join(root, `assembly-${stage}`, 'manifest.json'), JSON.stringify({
        artifacts: { [`${stage}Stack`]: { type: 'aws:cloudformation:stack', properties: { templateFile: 'stack.template.json', stackName: `SmartHome-${stage}` } } },
      }));
      writeFileSync(join(root, `assembly-${stage}`, 'stack.template.json'), JSON.stringify({ Resources: { Template: { Type: 'AWS::IoT::ProvisioningTemplate' } } }));
      artifacts[`assembly-${stage}`] = { type: 'cdk:cloud-assembly', properties: { directoryName: `assembly-${stage}`, displayName: stage } };
    }
    writeFileSync(join(root, 'manifest.json'), JSON.stringify({ artifacts }));
    return root;
  }

  test('selects the stack of a stage', () => {
    expect(selectPlatformStack(readAssemblyStacks(assembly(['dev', 'prod'])), { stage: 'prod' }).stackName).toBe('SmartHome-prod');
  });

  test('rejects an ambiguous choice and names the stacks', () => {
    expect(() => selectPlatformStack(readAssemblyStacks(assembly(['dev', 'prod'])))).toThrow(/SmartHome-dev \(stage dev\), SmartHome-prod \(stage prod\).*--stage/);
  });

  test('rejects a folder without a manifest', () => {
    expect(() => readAssemblyStacks(mkdtempSync(join(tmpdir(), 'empty-')))).toThrow(/manifest.json is missing/);
  });
});

describe('inventoryOf with SNS', () => {
  test('rejects a function that publishes to an SNS topic', () => {
    const template = {
      Resources: {
        Alerts: { Type: 'AWS::SNS::Topic' },
        Fn: { Type: 'AWS::Lambda::Function', Properties: { Runtime: 'nodejs22.x', Code: { S3Key: 'x.zip' }, Environment: { Variables: { ALERT_TOPIC_ARN: { Ref: 'Alerts' } } } } },
      },
    };
    expect(() => inventoryOf(template)).toThrow(/Fn \(AWS::Lambda::Function\).*SNS topic Alerts/);
  });
});
