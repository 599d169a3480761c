import { CfnElement, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { logicalIdOf, newStack, propertiesOfType } from './template-helpers';
import { PlatformStorage, PlatformStorageProps } from '../../src';

function synthesize(props: PlatformStorageProps = {}) {
  const stack = newStack();
  const storage = new PlatformStorage(stack, 'Storage', props);
  const template = Template.fromStack(stack);
  return { stack, storage, template, buckets: propertiesOfType(template, 'AWS::S3::Bucket') };
}

function bucketId(stack: Stack, bucket: s3.Bucket): string {
  return stack.getLogicalId(bucket.node.defaultChild as CfnElement);
}

describe('PlatformStorage buckets', () => {
  const { stack, storage, template, buckets } = synthesize();
  const accessLogsId = bucketId(stack, storage.accessLogsBucket);
  const dataBuckets = {
    firmware: bucketId(stack, storage.firmwareBucket),
    uiConfig: bucketId(stack, storage.uiConfigBucket),
    archive: bucketId(stack, storage.archiveBucket),
  };
  const keyId = logicalIdOf(template, 'AWS::KMS::Key');

  test('creates four buckets', () => {
    expect(Object.keys(buckets).sort()).toEqual([accessLogsId, ...Object.values(dataBuckets)].sort());
  });

  test.each(Object.keys(buckets))('%s blocks public access', (id) => {
    expect(buckets[id].PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });

  test.each(Object.keys(buckets))('%s is versioned', (id) => {
    expect(buckets[id].VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  test.each(Object.keys(buckets))('%s is encrypted', (id) => {
    expect(buckets[id].BucketEncryption.ServerSideEncryptionConfiguration).toHaveLength(1);
  });

  test.each(Object.keys(buckets))('%s rejects requests without TLS', (id) => {
    const policies = Object.values(propertiesOfType(template, 'AWS::S3::BucketPolicy')).filter((policy) => policy.Bucket.Ref === id);

    expect(policies).toHaveLength(1);
    expect(policies[0].PolicyDocument.Statement).toContainEqual(expect.objectContaining({
      Effect: 'Deny',
      Action: 's3:*',
      Principal: { AWS: '*' },
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    }));
  });

  test.each(Object.entries(dataBuckets))('%s uses the customer managed key', (_name, id) => {
    expect(buckets[id].BucketEncryption.ServerSideEncryptionConfiguration[0]).toEqual({
      BucketKeyEnabled: true,
      ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    });
  });

  test.each(Object.entries(dataBuckets))('%s writes access logs', (name, id) => {
    expect(buckets[id].LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: accessLogsId }, LogFilePrefix: `${name.toLowerCase()}/` });
  });

  test.each(Object.entries(dataBuckets))('%s enforces bucket owner ownership', (_name, id) => {
    expect(buckets[id].OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
  });

  test('keeps access logs out of the log bucket', () => {
    expect(buckets[accessLogsId].LoggingConfiguration).toBeUndefined();
  });

  test('encrypts the log bucket with S3-managed keys', () => {
    expect(buckets[accessLogsId].BucketEncryption.ServerSideEncryptionConfiguration).toEqual([{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]);
  });

  test('retains every bucket', () => {
    const retained = Object.keys(template.findResources('AWS::S3::Bucket', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' }));

    expect(retained).toHaveLength(4);
  });

  test('moves the archive to infrequent access after 30 days', () => {
    expect(buckets[dataBuckets.archive].LifecycleConfiguration.Rules).toEqual([expect.objectContaining({
      Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }],
      ExpirationInDays: 730,
      Status: 'Enabled',
    })]);
  });

  test('keeps replaced firmware for a year', () => {
    const rules = buckets[dataBuckets.firmware].LifecycleConfiguration.Rules;

    expect(rules).toEqual([expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 365 } })]);
  });

  test('lets S3 log delivery write the log bucket', () => {
    expect(buckets[accessLogsId].AccessControl).toBe('LogDeliveryWrite');
    expect(buckets[accessLogsId].OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerPreferred' }] });
  });
});

describe('PlatformStorage props', () => {
  test('expires the archive after archiveRetention', () => {
    const { template } = synthesize({ archiveRetention: Duration.days(365) });

    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 365, Transitions: Match.anyValue() })] },
    });
  });

  test('rejects an archiveRetention in hours under 30 days', () => {
    expect(() => synthesize({ archiveRetention: Duration.hours(100) })).toThrow(/Invalid archiveRetention of 4 days 4 hours: it must be more than 30 days/);
  });

  test('rejects an archiveRetention of 30 days', () => {
    expect(() => synthesize({ archiveRetention: Duration.days(30) })).toThrow(/it must be more than 30 days/);
  });

  test('accepts an archiveRetention of 31 days', () => {
    expect(() => synthesize({ archiveRetention: Duration.days(31) })).not.toThrow();
  });

  test('rejects a firmwareNoncurrentRetention of 0 days', () => {
    expect(() => synthesize({ firmwareNoncurrentRetention: Duration.days(0) })).toThrow(/Invalid firmwareNoncurrentRetention of 0 days: it must be at least 1 day/);
  });

  test('keeps replaced firmware for firmwareNoncurrentRetention', () => {
    const { stack, storage, buckets } = synthesize({ firmwareNoncurrentRetention: Duration.days(90) });

    const rules = buckets[bucketId(stack, storage.firmwareBucket)].LifecycleConfiguration.Rules;

    expect(rules[0].NoncurrentVersionExpiration).toEqual({ NoncurrentDays: 90 });
  });

  test('deletes buckets with RemovalPolicy.DESTROY', () => {
    const { template } = synthesize({ removalPolicy: RemovalPolicy.DESTROY });

    expect(Object.keys(template.findResources('AWS::S3::Bucket', { DeletionPolicy: 'Delete' }))).toHaveLength(4);
  });

  test.each([29, 1, 0])('rejects archiveRetention of %d days', (days) => {
    expect(() => synthesize({ archiveRetention: Duration.days(days) })).toThrow(/Invalid archiveRetention of .*: it must be more than 30 days/);
  });
});
