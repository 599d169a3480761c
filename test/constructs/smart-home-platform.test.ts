import { CfnElement, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { logicalIdOf, newStack, propertiesOfType, renderTokens } from './template-helpers';
import { PlatformMfa, SmartHomePlatform, SmartHomePlatformProps } from '../../src';

const STATEFUL_TYPES = ['AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::Cognito::UserPool', 'AWS::KMS::Key', 'AWS::SecretsManager::Secret'];

function synthesize(props: Partial<SmartHomePlatformProps> = {}) {
  const stack = newStack();
  const platform = new SmartHomePlatform(stack, 'Platform', { stage: 'dev', ...props });
  const template = Template.fromStack(stack);
  const platformKey = { 'Fn::GetAtt': [stack.getLogicalId(platform.encryptionKey.node.defaultChild as CfnElement), 'Arn'] };
  return { stack, platform, template, platformKey };
}

describe('SmartHomePlatform composition', () => {
  const { template } = synthesize();

  test.each([
    ['AWS::KMS::Key', 2],
    ['AWS::Cognito::UserPool', 1],
    ['AWS::Cognito::IdentityPool', 1],
    ['AWS::DynamoDB::Table', 11],
    ['AWS::S3::Bucket', 4],
    ['AWS::Events::EventBus', 1],
    ['AWS::Events::Archive', 1],
    ['AWS::IoT::ProvisioningTemplate', 1],
    ['AWS::IoT::Policy', 2],
    ['AWS::IoT::TopicRule', 6],
    ['AWS::AppSync::GraphQLApi', 1],
    ['AWS::SSM::Parameter', 9],
    ['AWS::Lambda::Function', 13],
    ['AWS::StepFunctions::StateMachine', 6],
    ['Custom::IotClaimCertificate', 1],
    ['Custom::IotDataEndpoint', 1],
  ])('creates %s resources: %d', (type, count) => {
    template.resourceCountIs(type, count);
  });
});

describe('SmartHomePlatform functions', () => {
  const { template } = synthesize({ logRetention: logs.RetentionDays.ONE_MONTH });
  const functions = propertiesOfType(template, 'AWS::Lambda::Function');
  const logGroups = propertiesOfType(template, 'AWS::Logs::LogGroup');

  test.each(Object.keys(functions))('%s runs on nodejs26.x', (id) => {
    expect(functions[id].Runtime).toBe('nodejs26.x');
  });

  test.each(Object.keys(functions))('%s has active tracing', (id) => {
    expect(functions[id].TracingConfig).toEqual({ Mode: 'Active' });
  });

  test.each(Object.keys(functions))('%s logs JSON to its own log group', (id) => {
    const logGroupId = functions[id].LoggingConfig.LogGroup.Ref;

    expect(functions[id].LoggingConfig.LogFormat).toBe('JSON');
    expect(logGroups[logGroupId]).toBeDefined();
  });

  test.each(Object.keys(functions))('%s log group keeps logs for logRetention', (id) => {
    expect(logGroups[functions[id].LoggingConfig.LogGroup.Ref].RetentionInDays).toBe(30);
  });

  test('gives every function its own log group', () => {
    const used = Object.values(functions).map((fn) => fn.LoggingConfig.LogGroup.Ref);

    expect(new Set(used).size).toBe(used.length);
  });

  test.each(Object.keys(logGroups))('%s has a retention', (id) => {
    expect(logGroups[id].RetentionInDays).toBe(30);
  });
});

describe('SmartHomePlatform encryption', () => {
  const { template, platformKey } = synthesize();

  test.each(Object.entries(propertiesOfType(template, 'AWS::SQS::Queue')))('queue %s uses the platform key', (_id, queue) => {
    expect(queue.KmsMasterKeyId).toEqual(platformKey);
  });

  test.each(Object.entries(propertiesOfType(template, 'AWS::DynamoDB::Table')))('table %s uses the platform key', (_id, table) => {
    expect(table.SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: platformKey });
  });

  test.each(Object.entries(propertiesOfType(template, 'AWS::S3::Bucket')))('bucket %s is encrypted', (_id, bucket) => {
    const algorithm = bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm;

    expect(['aws:kms', 'AES256']).toContain(algorithm);
  });

  test('encrypts every bucket but the log bucket with the platform key', () => {
    const keys = Object.values(propertiesOfType(template, 'AWS::S3::Bucket'))
      .map((bucket) => bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID);

    expect(keys.filter((key) => key === undefined)).toHaveLength(1);
    expect(keys.filter((key) => key !== undefined)).toEqual([platformKey, platformKey, platformKey]);
  });

  test.each(Object.entries(propertiesOfType(template, 'AWS::Logs::LogGroup')))('log group %s uses the platform key', (_id, logGroup) => {
    expect(logGroup.KmsKeyId).toEqual(platformKey);
  });

  test('stores the claim certificate secret with the platform key', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: platformKey });
  });

  test('encrypts function environments with the platform key', () => {
    const keys = Object.values(propertiesOfType(template, 'AWS::Lambda::Function')).map((fn) => fn.KmsKeyArn);

    expect(keys).toHaveLength(13);
    expect(keys.filter((key) => JSON.stringify(key) !== JSON.stringify(platformKey))).toEqual([]);
  });

  test('rotates the platform key', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  test('keeps key material out of the template', () => {
    const text = JSON.stringify(template.toJSON());

    expect(text).not.toMatch(/PRIVATE KEY/);
    expect(text).not.toMatch(/BEGIN CERTIFICATE/);
  });
});

describe('SmartHomePlatform props', () => {
  test('passes the thing name prefix to the topic rules', () => {
    const { template } = synthesize({ provisioning: { thingNamePrefix: 'home-dev-' } });

    const sql = Object.values(propertiesOfType(template, 'AWS::IoT::TopicRule'))
      .map((rule) => String(renderTokens(rule.TopicRulePayload.Sql)));
    expect(sql.filter((statement) => statement.includes("startswith(clientId, 'home-dev-')"))).toHaveLength(2);
  });

  test('presence rules skip claim certificate sessions', () => {
    const { template } = synthesize({});

    const claimCertificateId = logicalIdOf(template, 'Custom::IotClaimCertificate');
    const presence = Object.values(propertiesOfType(template, 'AWS::IoT::TopicRule'))
      .map((rule) => String(renderTokens(rule.TopicRulePayload.Sql)))
      .filter((statement) => statement.includes('$aws/events/presence/'));
    expect(presence).toHaveLength(2);
    for (const statement of presence) {
      expect(statement).toContain(`AND principalIdentifier <> '<GetAtt:${claimCertificateId}.CertificateId>'`);
    }
  });

  test('stores parameters under the prefix and stage', () => {
    const { template } = synthesize({ stage: 'prod', parameterPrefix: 'home' });

    const names = Object.values(propertiesOfType(template, 'AWS::SSM::Parameter')).map((parameter) => parameter.Name as string);
    expect(names).toHaveLength(9);
    expect(names.filter((name) => !name.startsWith('/home/prod/'))).toEqual([]);
  });

  test('uses smart-home as the default parameter prefix', () => {
    const { template } = synthesize();

    template.hasResourceProperties('AWS::SSM::Parameter', { Name: '/smart-home/dev/iot/data-endpoint' });
  });

  test('retains stateful resources by default', () => {
    const { template } = synthesize();

    const policies = STATEFUL_TYPES.flatMap((type) => Object.values(template.findResources(type)).map((resource) => resource.DeletionPolicy));

    expect(policies.length).toBeGreaterThan(10);
    expect(policies.filter((policy) => policy !== 'Retain')).toEqual([]);
  });

  test('deletes stateful resources with RemovalPolicy.DESTROY', () => {
    const { template } = synthesize({ removalPolicy: RemovalPolicy.DESTROY });

    const policies = STATEFUL_TYPES.flatMap((type) => Object.values(template.findResources(type)).map((resource) => resource.DeletionPolicy));

    expect(policies.length).toBeGreaterThan(10);
    expect(policies.filter((policy) => policy !== 'Delete')).toEqual([]);
    const tables = Object.values(propertiesOfType(template, 'AWS::DynamoDB::Table'));
    expect(tables.filter((table) => table.DeletionProtectionEnabled !== false)).toEqual([]);
  });

  test('uses the allowlist instead of a table when allowedSerials is set', () => {
    const { template } = synthesize({ provisioning: { serialPattern: '^SH-ESP32-[0-9]{6}$', allowedSerials: ['SH-ESP32-000123'] } });

    template.resourceCountIs('AWS::DynamoDB::Table', 10);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ALLOWED_SERIALS: 'SH-ESP32-000123' }) },
    });
  });

  test('passes auth settings through', () => {
    const { template } = synthesize({ auth: { mfa: PlatformMfa.REQUIRED } });

    template.hasResourceProperties('AWS::Cognito::UserPool', { MfaConfiguration: 'ON' });
  });

  test('rejects an invalid stage', () => {
    expect(() => synthesize({ stage: 'dev/1' })).toThrow(/Invalid stage 'dev\/1'/);
  });
});
