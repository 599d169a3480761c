import { CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { listOf, newStack, propertiesOfType, RenderedStatement, renderTokens } from './template-helpers';
import { PlatformTopicRules, PlatformTopicRulesProps } from '../../src';

interface Synthesized {
  readonly stack: Stack;
  readonly rules: PlatformTopicRules;
  readonly bus: events.EventBus;
  readonly template: Template;
}

function synthesize(props: Partial<PlatformTopicRulesProps> = {}): Synthesized {
  const stack = newStack();
  const bus = new events.EventBus(stack, 'Bus');
  const rules = new PlatformTopicRules(stack, 'Rules', { eventBus: bus, ...props });
  return { stack, rules, bus, template: Template.fromStack(stack) };
}

function logicalId(stack: Stack, queue: sqs.Queue): string {
  return stack.getLogicalId(queue.node.defaultChild as CfnElement);
}

const DEVICE_RULES = [
  { id: 'Capabilities', kind: 'capabilities', topicFilter: 'iot/capabilities/+', queue: 'device' },
  { id: 'RelayStatus', kind: 'relay-status', topicFilter: 'iot/status/+/relay', queue: 'device' },
  { id: 'EnergyStatus', kind: 'energy-status', topicFilter: 'iot/status/+/energy', queue: 'telemetry' },
  { id: 'Telemetry', kind: 'telemetry', topicFilter: 'iot/telemetry/+', queue: 'telemetry' },
] as const;

describe('PlatformTopicRules rules', () => {
  const { stack, rules, template } = synthesize({ thingNamePrefix: 'home-' });
  const resources = template.toJSON().Resources;
  const payloads = Object.fromEntries(Object.entries(rules.rules).map(([id, rule]) =>
    [id, resources[stack.getLogicalId(rule)].Properties.TopicRulePayload]));
  const queueOf = { device: logicalId(stack, rules.deviceEventsQueue), telemetry: logicalId(stack, rules.telemetryQueue) };

  test('creates the six rules', () => {
    expect(Object.keys(rules.rules).sort()).toEqual(['Capabilities', 'Connected', 'Disconnected', 'EnergyStatus', 'RelayStatus', 'Telemetry']);
    template.resourceCountIs('AWS::IoT::TopicRule', 6);
  });

  test.each(Object.keys(payloads))('%s uses SQL version 2016-03-23', (id) => {
    expect(payloads[id].AwsIotSqlVersion).toBe('2016-03-23');
  });

  test.each(Object.keys(payloads))('%s is enabled', (id) => {
    expect(payloads[id].RuleDisabled).toBe(false);
  });

  test.each(Object.keys(payloads))('%s sends failures to the rule errors queue', (id) => {
    expect(payloads[id].ErrorAction).toEqual({
      Sqs: { QueueUrl: { Ref: logicalId(stack, rules.ruleErrorsQueue) }, RoleArn: expect.anything(), UseBase64: false },
    });
  });

  test.each(DEVICE_RULES)('$id takes the thing name from topic(3)', ({ id, topicFilter }) => {
    expect(payloads[id].Sql).toContain('topic(3) AS thingName');
    expect(topicFilter.split('/')[2]).toBe('+');
  });

  test.each(DEVICE_RULES)('$id keeps the payload base64-encoded', ({ id }) => {
    expect(payloads[id].Sql).toMatch(/^SELECT encode\(\*, 'base64'\) AS payload, /);
  });

  test.each(DEVICE_RULES)('$id reads $kind messages from $topicFilter', ({ id, kind, topicFilter }) => {
    expect(payloads[id].Sql).toContain(`'${kind}' AS kind FROM '${topicFilter}'`);
  });

  test.each(DEVICE_RULES)('$id writes to the $queue queue', ({ id, queue }) => {
    expect(payloads[id].Actions).toEqual([{ Sqs: { QueueUrl: { Ref: queueOf[queue] }, RoleArn: expect.anything(), UseBase64: false } }]);
  });

  test.each([
    ['Connected', 'connected'],
    ['Disconnected', 'disconnected'],
  ])('%s filters lifecycle events on the prefix', (id, eventType) => {
    expect(payloads[id].Sql).toContain(`FROM '$aws/events/presence/${eventType}/+' WHERE startswith(clientId, 'home-')`);
    expect(payloads[id].Sql).toContain('clientId AS thingName');
  });

  test.each(['Connected', 'Disconnected'])('%s writes to the device queue', (id) => {
    expect(payloads[id].Actions).toEqual([{ Sqs: { QueueUrl: { Ref: queueOf.device }, RoleArn: expect.anything(), UseBase64: false } }]);
  });

  test('uses the sh- prefix by default', () => {
    const defaults = synthesize();

    defaults.template.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: { Sql: Match.stringLikeRegexp("WHERE startswith\\(clientId, 'sh-'\\)$") },
    });
  });

  test('uses a role that only IoT of this account assumes', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      Description: 'Assumed by AWS IoT topic rules to queue device messages',
      AssumeRolePolicyDocument: {
        Statement: [{
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'iot.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
        }],
      },
    });
  });
});

describe('PlatformTopicRules queues', () => {
  const { stack, rules, template } = synthesize();
  const queues = propertiesOfType(template, 'AWS::SQS::Queue');
  const sinkIds = [...rules.deadLetterQueues, rules.ruleErrorsQueue].map((queue) => logicalId(stack, queue));

  test('creates five queues', () => {
    expect(Object.keys(queues)).toHaveLength(5);
  });

  test.each(Object.keys(queues))('%s is encrypted with KMS', (id) => {
    expect(queues[id].KmsMasterKeyId).toBeDefined();
  });

  test.each(Object.keys(queues))('%s keeps messages for 14 days', (id) => {
    expect(queues[id].MessageRetentionPeriod).toBe(14 * 24 * 3600);
  });

  test('gives every ingress queue a redrive policy', () => {
    const ingress = Object.keys(queues).filter((id) => !sinkIds.includes(id));

    expect(ingress.sort()).toEqual([logicalId(stack, rules.deviceEventsQueue), logicalId(stack, rules.telemetryQueue)].sort());
    for (const id of ingress) {
      expect(queues[id].RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] }, maxReceiveCount: 5 });
    }
  });

  test('sends each ingress queue to its own dead-letter queue', () => {
    const targets = [rules.deviceEventsQueue, rules.telemetryQueue].map((queue) => queues[logicalId(stack, queue)].RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0]);

    expect(targets).toEqual(rules.deadLetterQueues.map((queue) => logicalId(stack, queue)));
  });

  test('rejects requests without TLS on every queue', () => {
    const policies = Object.values(propertiesOfType(template, 'AWS::SQS::QueuePolicy'));
    const secured = policies
      .filter((policy) => (policy.PolicyDocument.Statement as RenderedStatement[]).some((statement) =>
        statement.Effect === 'Deny' && JSON.stringify(statement.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } })))
      .flatMap((policy) => policy.Queues.map((queue: { Ref: string }) => queue.Ref));

    expect(secured.sort()).toEqual(Object.keys(queues).sort());
  });

  test('keeps messages invisible for six forwarder timeouts', () => {
    const forwarder = Object.values(propertiesOfType(template, 'AWS::Lambda::Function'))[0];

    for (const queue of [rules.deviceEventsQueue, rules.telemetryQueue]) {
      expect(queues[logicalId(stack, queue)].VisibilityTimeout).toBeGreaterThanOrEqual(6 * forwarder.Timeout);
    }
  });

  test('uses a custom maxReceiveCount', () => {
    const custom = synthesize({ maxReceiveCount: 3 });

    custom.template.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }) });
  });
});

describe('PlatformTopicRules forwarder', () => {
  const { stack, rules, bus, template } = synthesize();

  test('reads both ingress queues in batches', () => {
    for (const queue of [rules.deviceEventsQueue, rules.telemetryQueue]) {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [logicalId(stack, queue), 'Arn'] },
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
  });

  test('puts events on the bus', () => {
    const busId = stack.getLogicalId(bus.node.defaultChild as CfnElement);

    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ EVENT_BUS_NAME: { Ref: busId } }) },
    });
    const statements = Object.values(propertiesOfType(template, 'AWS::IAM::Policy'))
      .flatMap((policy) => (renderTokens(policy.PolicyDocument) as { Statement: RenderedStatement[] }).Statement);
    const putEvents = statements.filter((statement) => listOf(statement.Action).includes('events:PutEvents'));
    expect(putEvents.flatMap((statement) => listOf(statement.Resource))).toEqual([`<GetAtt:${busId}.Arn>`]);
  });
});

describe('PlatformTopicRules validation', () => {
  test.each([0, -1, 1001, NaN, 2.5])('rejects maxReceiveCount %p', (maxReceiveCount) => {
    expect(() => synthesize({ maxReceiveCount })).toThrow(`Invalid maxReceiveCount ${maxReceiveCount}: SQS accepts 1 to 1000.`);
  });

  test('rejects a claimCertificateId that is not a certificate id', () => {
    expect(() => synthesize({ claimCertificateId: "abc' OR 1=1" })).toThrow(/Invalid claimCertificateId/);
  });

  test.each([1, 1000])('accepts maxReceiveCount %d', (maxReceiveCount) => {
    expect(() => synthesize({ maxReceiveCount })).not.toThrow();
  });

  test.each(["sh'", 'sh/', 'sh+'])('rejects thingNamePrefix %j', (thingNamePrefix) => {
    expect(() => synthesize({ thingNamePrefix })).toThrow(/Invalid thingNamePrefix/);
  });
});
