import { CfnElement, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { newStack } from './template-helpers';
import { PlatformEventBus, PlatformEventBusProps } from '../../src';

function synthesize(props: PlatformEventBusProps = {}) {
  const stack = newStack();
  const events = new PlatformEventBus(stack, 'Events', props);
  return { stack, events, template: Template.fromStack(stack) };
}

describe('PlatformEventBus validation', () => {
  test('rejects an archive retention of 12 hours', () => {
    expect(() => synthesize({ archiveRetention: Duration.hours(12) })).toThrow(/Invalid archiveRetention of 12 hours: it must be at least 1 day/);
  });
});

describe('PlatformEventBus', () => {
  test('creates a custom bus', () => {
    const { template } = synthesize({ eventBusName: 'smart-home-dev' });

    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'smart-home-dev' });
  });

  test('archives the bus for 30 days by default', () => {
    const { stack, events, template } = synthesize();

    template.hasResourceProperties('AWS::Events::Archive', {
      SourceArn: { 'Fn::GetAtt': [stack.getLogicalId(events.eventBus.node.defaultChild as CfnElement), 'Arn'] },
      RetentionDays: 30,
    });
  });

  test('archives every platform source', () => {
    const { template } = synthesize();

    template.hasResourceProperties('AWS::Events::Archive', {
      EventPattern: { source: ['cdk-smart-home.device', 'cdk-smart-home.workflow', 'cdk-smart-home.api'] },
    });
  });

  test('keeps archiveRetention', () => {
    const { template } = synthesize({ archiveRetention: Duration.days(7) });

    template.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 7 });
  });

  test('accepts a retention of one day', () => {
    const { template } = synthesize({ archiveRetention: Duration.days(1) });

    template.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 1 });
  });

  test('retains the archive by default', () => {
    const { template } = synthesize();

    template.hasResource('AWS::Events::Archive', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  test('deletes the archive with RemovalPolicy.DESTROY', () => {
    const { template } = synthesize({ removalPolicy: RemovalPolicy.DESTROY });

    template.hasResource('AWS::Events::Archive', { DeletionPolicy: 'Delete' });
  });

  test('rejects a retention under a day', () => {
    expect(() => synthesize({ archiveRetention: Duration.days(0) })).toThrow('Invalid archiveRetention of 0 days: it must be at least 1 day.');
  });
});
