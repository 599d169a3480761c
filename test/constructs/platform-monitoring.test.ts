import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { newStack, propertiesOfType } from './template-helpers';
import { PlatformMonitoring, PlatformMonitoringProps } from '../../src';

function synthesize(props: Partial<PlatformMonitoringProps> = {}) {
  const stack = newStack();
  const stateMachine = new sfn.StateMachine(stack, 'Machine', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Step')) });
  const fn = new lambda.Function(stack, 'Fn', { runtime: lambda.Runtime.NODEJS_LATEST, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})') });
  const queue = new sqs.Queue(stack, 'Dlq');
  const logGroup = new logs.LogGroup(stack, 'HookLogs');
  const monitoring = new PlatformMonitoring(stack, 'Monitoring', {
    stateMachines: [{ name: 'Relay', stateMachine }],
    functions: [{ name: 'Hook', function: fn }],
    failureQueues: [{ name: 'Dlq', queue }],
    provisioningHookLogGroup: logGroup,
    relayCommandLogGroup: logGroup,
    ...props,
  });
  return { monitoring, template: Template.fromStack(stack) };
}

describe('PlatformMonitoring alarms', () => {
  const { monitoring, template } = synthesize();
  const alarms = Object.values(propertiesOfType(template, 'AWS::CloudWatch::Alarm'));

  test('creates an alarm per signal', () => {
    expect(Object.keys(monitoring.alarms).sort()).toEqual([
      'CommandTimeouts', 'DlqMessages', 'HookErrors', 'HookThrottles', 'ProvisioningDenials', 'RelayExecutionsFailed', 'RelayExecutionsTimedOut',
    ]);
  });

  test('notifies the alarm topic from every alarm', () => {
    expect(alarms).toHaveLength(7);
    for (const alarm of alarms) {
      expect(alarm.AlarmActions).toHaveLength(1);
    }
  });

  test('alarms on failed and timed-out executions', () => {
    const metrics = alarms.map((alarm) => alarm.MetricName);
    expect(metrics).toEqual(expect.arrayContaining(['ExecutionsFailed', 'ExecutionsTimedOut', 'Errors', 'Throttles', 'ApproximateNumberOfMessagesVisible']));
  });

  test('counts provisioning denials and command timeouts from logs', () => {
    const filters = Object.values(propertiesOfType(template, 'AWS::Logs::MetricFilter')).map((filter) => filter.FilterPattern);
    expect(filters).toEqual(expect.arrayContaining(['"Provisioning denied"', '"Command timed out without an acknowledgement"']));
  });

  test('encrypts the alarm topic', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.objectLike({ 'Fn::GetAtt': Match.arrayWith(['Arn']) }) });
  });

  test('adds a dashboard', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});

describe('PlatformMonitoring options', () => {
  test('subscribes the alarm email', () => {
    const { template } = synthesize({ alarmEmail: 'oncall@example.com' });

    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });

  test('schedules a daily Device Defender audit when asked', () => {
    const { template } = synthesize({ deviceDefenderAudit: true });

    template.hasResourceProperties('AWS::IoT::ScheduledAudit', { Frequency: 'DAILY' });
    template.resourceCountIs('AWS::IoT::AccountAuditConfiguration', 1);
  });

  test('adds no audit by default', () => {
    const { template } = synthesize();

    template.resourceCountIs('AWS::IoT::ScheduledAudit', 0);
  });

  test('rejects an alarm email without a domain', () => {
    expect(() => synthesize({ alarmEmail: 'x' })).toThrow(/Invalid alarmEmail 'x'/);
  });

  test('rejects a denial threshold of 0', () => {
    expect(() => synthesize({ provisioningDenialThreshold: 0 })).toThrow(/Invalid provisioningDenialThreshold 0: it must be a whole number of at least 1/);
  });
});
