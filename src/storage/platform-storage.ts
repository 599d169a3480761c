import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeRules, skipCheckovChecks } from '../private/acknowledge';

/**
 * Properties of a PlatformStorage.
 */
export interface PlatformStorageProps {
  /**
   * Key that encrypts the firmware, UI config and archive buckets. The access log bucket uses
   * S3-managed keys because S3 server access logging cannot write to a KMS-encrypted bucket.
   * @default - a new customer managed key with rotation
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long the archive bucket keeps telemetry and logs before they expire.
   * @default Duration.days(730)
   */
  readonly archiveRetention?: Duration;

  /**
   * How long replaced firmware images stay available for rollback analysis.
   * @default Duration.days(365)
   */
  readonly firmwareNoncurrentRetention?: Duration;

  /**
   * Removal policy of the buckets.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The platform's S3 buckets: signed OTA firmware images (versioned), generated UI configs,
 * and an archive for telemetry and logs. Every bucket blocks public access, rejects requests
 * without TLS, is encrypted and writes server access logs.
 *
 * @example
 * const storage = new PlatformStorage(this, 'Storage', { archiveRetention: Duration.days(365) });
 */
export class PlatformStorage extends Construct {
  /** Signed firmware images and their signatures, versioned. */
  public readonly firmwareBucket: s3.Bucket;
  /** UI config documents generated from capability documents, one per device. */
  public readonly uiConfigBucket: s3.Bucket;
  /** Telemetry archive, partitioned by date, and long-term logs. */
  public readonly archiveBucket: s3.Bucket;
  /** Server access logs of the other buckets. */
  public readonly accessLogsBucket: s3.Bucket;
  /** The key that encrypts the firmware, UI config and archive buckets. */
  public readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: PlatformStorageProps = {}) {
    super(scope, id);

    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const archiveRetention = props.archiveRetention ?? Duration.days(730);
    const firmwareNoncurrentRetention = props.firmwareNoncurrentRetention ?? Duration.days(365);
    if (!archiveRetention.isUnresolved() && archiveRetention.toHours() <= 30 * 24) {
      throw new Error(`Invalid archiveRetention of ${archiveRetention.toHumanString()}: it must be more than 30 days, because objects move to infrequent access after 30 days.`);
    }
    if (!firmwareNoncurrentRetention.isUnresolved() && firmwareNoncurrentRetention.toHours() < 24) {
      throw new Error(`Invalid firmwareNoncurrentRetention of ${firmwareNoncurrentRetention.toHumanString()}: it must be at least 1 day.`);
    }

    this.encryptionKey = props.encryptionKey ?? new kms.Key(this, 'Key', {
      description: 'Encrypts the platform buckets',
      enableKeyRotation: true,
      removalPolicy,
    });

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      removalPolicy,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
    });
    acknowledgeRules(this.accessLogsBucket, [
      { id: 'AwsSolutions-S1', reason: 'This bucket is the access log destination; logging it into itself would loop.' },
    ]);
    skipCheckovChecks(this.accessLogsBucket, [
      { id: 'CKV_AWS_18', reason: 'This bucket is the access log destination; logging it into itself would loop.' },
      { id: 'CKV_AWS_145', reason: 'S3 server access logging cannot deliver to a bucket encrypted with a KMS key, so this bucket uses SSE-S3.' },
    ]);

    this.firmwareBucket = this.createBucket('Firmware', removalPolicy, [
      { noncurrentVersionExpiration: firmwareNoncurrentRetention, abortIncompleteMultipartUploadAfter: Duration.days(7) },
    ]);
    this.uiConfigBucket = this.createBucket('UiConfig', removalPolicy, [
      { noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(7) },
    ]);
    this.archiveBucket = this.createBucket('Archive', removalPolicy, [
      {
        transitions: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(30) }],
        expiration: archiveRetention,
        noncurrentVersionExpiration: Duration.days(7),
        abortIncompleteMultipartUploadAfter: Duration.days(7),
      },
    ]);
  }

  private createBucket(id: string, removalPolicy: RemovalPolicy, lifecycleRules: s3.LifecycleRule[]): s3.Bucket {
    return new s3.Bucket(this, id, {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.encryptionKey,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: `${id.toLowerCase()}/`,
      lifecycleRules,
      removalPolicy,
    });
  }
}
