import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesisfirehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TelemetryProcessorFunction } from './telemetry-processor-function';
import { AutomationRules } from '../automation/automation-rules';
import { PlatformEventSource, PlatformEventType } from '../events/event-contracts';
import { acknowledgeKmsGrantWildcards, acknowledgeRules } from '../private/acknowledge';
import { createHandler } from '../private/handler';
import { DeviceRegistry } from '../registry/device-registry';

/** Prefix of the telemetry archive in the archive bucket. */
const ARCHIVE_PREFIX = 'telemetry/';

/**
 * Properties of a TelemetryPipeline.
 */
export interface TelemetryPipelineProps {
  /** Registry whose devices table receives the latest readings and energy totals. */
  readonly registry: DeviceRegistry;
  /** Bus with the Telemetry Reported and Energy Status Reported events. */
  readonly eventBus: events.IEventBus;
  /** Bucket that receives the archive, partitioned by date. */
  readonly archiveBucket: s3.IBucket;

  /**
   * How long recent readings stay in the readings table.
   * @default Duration.days(7)
   */
  readonly readingRetention?: Duration;

  /**
   * Absolute current limit in amperes, for example the circuit's fuse. Readings above it, or
   * above a relay's rated current, are over-current anomalies.
   * @default - only relays' rated currents apply
   */
  readonly currentLimitAmperes?: number;

  /**
   * Key that encrypts the tables, the queues, the delivery stream and the logs.
   * @default - a new customer managed key with rotation
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Removal policy of the tables.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Telemetry storage and anomaly detection. Telemetry and energy events from the bus queue up
 * (with a dead-letter queue) for a processor function that works in batches: it updates each
 * device's latest readings and energy totals, keeps recent readings in a table with a TTL, runs
 * a per-device anomaly detector that emits Telemetry Anomaly Detected events, and archives
 * every message through Firehose to S3, partitioned by date, with a Glue table for Athena.
 * After `evaluateAutomationRules`, it also compares telemetry readings with the owners' READING
 * rules and emits Automation Rule Triggered events. No Step Functions execution runs per message.
 *
 * @example
 * new TelemetryPipeline(this, 'Telemetry', {
 *   registry,
 *   eventBus: bus.eventBus,
 *   archiveBucket: storage.archiveBucket,
 *   currentLimitAmperes: 16,
 * });
 */
export class TelemetryPipeline extends Construct {
  /** Recent readings keyed by `thingName` and `sensorTime` (`<sensorId>#<timestamp>`), with a TTL. */
  public readonly readingsTable: dynamodb.Table;
  /** Per-device detector and energy state. */
  public readonly stateTable: dynamodb.Table;
  /** Queue of telemetry and energy events. */
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly processorFunction: lambda.IFunction;
  public readonly deliveryStream: kinesisfirehose.CfnDeliveryStream;
  /** Glue database and table that make the archive queryable with Athena. */
  public readonly glueDatabaseName: string;
  public readonly glueTableName: string;

  private readonly processor: lambda.Function;
  private rulesEvaluated = false;

  constructor(scope: Construct, id: string, props: TelemetryPipelineProps) {
    super(scope, id);
    const stack = Stack.of(this);

    const retention = props.readingRetention ?? Duration.days(7);
    if (!retention.isUnresolved() && (retention.toSeconds() < 3600 || retention.toSeconds() > 365 * 24 * 3600)) {
      throw new Error(`Invalid readingRetention of ${retention.toHumanString()}: it must be between 1 hour and 365 days.`);
    }
    if (props.currentLimitAmperes !== undefined && !(props.currentLimitAmperes > 0 && props.currentLimitAmperes <= 1000)) {
      throw new Error(`Invalid currentLimitAmperes ${props.currentLimitAmperes}: it must be more than 0 and at most 1000 amperes.`);
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const encryptionKey = props.encryptionKey ?? new kms.Key(this, 'Key', { description: 'Encrypts the telemetry pipeline', enableKeyRotation: true, removalPolicy });
    encryptionKey.grantEncryptDecrypt(new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`));

    // Tables.
    const tableProps = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    };
    this.readingsTable = new dynamodb.Table(this, 'Readings', {
      ...tableProps,
      partitionKey: { name: 'thingName', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sensorTime', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'ttl',
    });
    this.stateTable = new dynamodb.Table(this, 'State', {
      ...tableProps,
      partitionKey: { name: 'thingName', type: dynamodb.AttributeType.STRING },
    });

    // Queue between the bus and the processor.
    this.deadLetterQueue = new sqs.Queue(this, 'Dlq', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: encryptionKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const dlqReason = 'This queue is the dead-letter queue of the telemetry queue.';
    acknowledgeRules(this.deadLetterQueue, [{ id: 'AwsSolutions-SQS3', reason: dlqReason }, { id: 'Serverless-SQSRedrivePolicy', reason: dlqReason }]);
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: encryptionKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(4),
      visibilityTimeout: Duration.minutes(3),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });
    encryptionKey.grant(new iam.ServicePrincipal('events.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey');
    new events.Rule(this, 'TelemetryEvents', {
      eventBus: props.eventBus,
      description: 'Telemetry and energy status from devices',
      eventPattern: {
        source: [PlatformEventSource.DEVICE],
        detailType: [
          PlatformEventType.TELEMETRY_REPORTED,
          PlatformEventType.ENERGY_STATUS_REPORTED,
          PlatformEventType.DEVICE_CONNECTED,
          PlatformEventType.DEVICE_DISCONNECTED,
        ],
      },
      targets: [new targets.SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 8 })],
    });

    // Archive: Firehose to S3, partitioned by the time Firehose receives each record.
    this.deliveryStream = this.createDeliveryStream(props.archiveBucket, encryptionKey, props.logRetention);

    // Processor.
    const processor = createHandler(this, 'Processor', TelemetryProcessorFunction, {
      description: 'Stores telemetry and energy readings, detects anomalies and archives every message',
      invokedSynchronously: true,
      timeout: Duration.seconds(60),
      encryptionKey,
      logRetention: props.logRetention,
      environment: {
        DEVICES_TABLE: props.registry.devicesTable.tableName,
        READINGS_TABLE: this.readingsTable.tableName,
        TELEMETRY_STATE_TABLE: this.stateTable.tableName,
        DELIVERY_STREAM_NAME: this.deliveryStream.ref,
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        READING_RETENTION_SECONDS: String(retention.toSeconds()),
        ...(props.currentLimitAmperes !== undefined ? { CURRENT_LIMIT_A: String(props.currentLimitAmperes) } : {}),
      },
    });
    processor.addEventSource(new SqsEventSource(this.queue, {
      batchSize: 50,
      maxBatchingWindow: Duration.seconds(1),
      reportBatchItemFailures: true,
    }));
    props.registry.devicesTable.grantReadWriteData(processor);
    this.readingsTable.grantWriteData(processor);
    this.stateTable.grantReadWriteData(processor);
    props.eventBus.grantPutEventsTo(processor);
    processor.addToRolePolicy(new iam.PolicyStatement({ actions: ['firehose:PutRecordBatch'], resources: [this.deliveryStream.attrArn] }));
    acknowledgeKmsGrantWildcards(processor.role!);
    acknowledgeRules(processor.role!, [{
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(props.registry.devicesTable.node.defaultChild as dynamodb.CfnTable)}.Arn>/index/*]`,
      reason: 'CDK grants read and write on the devices table together with its indexes; the processor reads items by key only.',
    }]);
    acknowledgeRules(processor, [{
      id: 'Serverless-LambdaEventSourceMappingDestination',
      reason: 'SQS event sources support no on-failure destination; failed messages move to the queue\'s dead-letter queue through its redrive policy.',
    }]);
    this.processorFunction = processor;
    this.processor = processor;

    // Glue catalog for Athena, with partition projection so no crawler is needed.
    this.glueDatabaseName = `${stack.stackName}_telemetry`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
    this.glueTableName = 'readings';
    const database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: { name: this.glueDatabaseName, description: 'Smart-home telemetry archive' },
    });
    const table = new glue.CfnTable(this, 'Table', {
      catalogId: stack.account,
      databaseName: this.glueDatabaseName,
      tableInput: {
        name: this.glueTableName,
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          'classification': 'json',
          'projection.enabled': 'true',
          'projection.day.type': 'date',
          'projection.day.format': 'yyyy/MM/dd',
          'projection.day.range': '2024/01/01,NOW',
          'projection.day.interval': '1',
          'projection.day.interval.unit': 'DAYS',
          'storage.location.template': `s3://${props.archiveBucket.bucketName}/${ARCHIVE_PREFIX}\${day}/`,
        },
        partitionKeys: [{ name: 'day', type: 'string' }],
        storageDescriptor: {
          location: `s3://${props.archiveBucket.bucketName}/${ARCHIVE_PREFIX}`,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: { serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' },
          columns: [
            { name: 'thingname', type: 'string' },
            { name: 'kind', type: 'string' },
            { name: 'timestamp', type: 'bigint' },
            { name: 'receivedat', type: 'bigint' },
            { name: 'readings', type: 'map<string,double>' },
            { name: 'energykwh', type: 'double' },
            { name: 'powerw', type: 'double' },
            { name: 'voltagev', type: 'double' },
            { name: 'currenta', type: 'double' },
            { name: 'relay', type: 'string' },
          ],
        },
      },
    });
    table.node.addDependency(database);
  }

  /**
   * Makes the processor compare every telemetry reading with the enabled READING rules of the
   * device's owner. For each rule whose threshold a reading crosses inside the rule's schedule
   * window and outside its cooldown, it puts an Automation Rule Triggered event on the bus,
   * which an AnomalyResponseWorkflow with the same rules handles. The processor may query the
   * rules table's byDevice index and nothing else of the table.
   */
  public evaluateAutomationRules(rules: AutomationRules): void {
    if (this.rulesEvaluated) {
      throw new Error(`TelemetryPipeline '${this.node.path}' already evaluates automation rules, so remove the second evaluateAutomationRules call.`);
    }
    this.rulesEvaluated = true;

    const processor = this.processor;
    processor.addEnvironment('AUTOMATION_RULES_TABLE', rules.rulesTable.tableName);
    processor.addEnvironment('AUTOMATION_RULES_BY_DEVICE_INDEX', AutomationRules.RULES_BY_DEVICE_INDEX);
    processor.addToRolePolicy(new iam.PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: [`${rules.rulesTable.tableArn}/index/${AutomationRules.RULES_BY_DEVICE_INDEX}`],
    }));
    rules.rulesTable.encryptionKey?.grantDecrypt(processor);
  }

  private createDeliveryStream(bucket: s3.IBucket, encryptionKey: kms.IKey, logRetention?: logs.RetentionDays): kinesisfirehose.CfnDeliveryStream {
    const logGroup = new logs.LogGroup(this, 'DeliveryLogs', { retention: logRetention ?? logs.RetentionDays.ONE_YEAR, encryptionKey });
    const logStream = new logs.LogStream(this, 'DeliveryLogStream', { logGroup });
    const role = new iam.Role(this, 'DeliveryRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', { conditions: { StringEquals: { 'sts:ExternalId': Stack.of(this).account } } }),
      description: 'Lets Firehose write the telemetry archive',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['s3:AbortMultipartUpload', 's3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads', 's3:PutObject'],
      resources: [bucket.bucketArn, bucket.arnForObjects(`${ARCHIVE_PREFIX}*`), bucket.arnForObjects('telemetry-errors/*')],
    }));
    bucket.encryptionKey?.grantEncrypt(role);
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['logs:PutLogEvents'], resources: [logGroup.logGroupArn, `${logGroup.logGroupArn}:log-stream:*`] }));
    acknowledgeKmsGrantWildcards(role);
    const bucketId = Stack.of(this).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
    const logGroupId = Stack.of(this).getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup);
    acknowledgeRules(role, [
      { id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${ARCHIVE_PREFIX}*]`, reason: 'Firehose writes objects with generated names under the archive prefix.' },
      { id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/telemetry-errors/*]`, reason: 'Firehose writes records it could not deliver under the error prefix.' },
      { id: `AwsSolutions-IAM5[Resource::<${logGroupId}.Arn>:log-stream:*]`, reason: 'Firehose writes delivery errors to a stream in its own log group.' },
    ]);

    const stream = new kinesisfirehose.CfnDeliveryStream(this, 'Archive', {
      deliveryStreamType: 'DirectPut',
      deliveryStreamEncryptionConfigurationInput: { keyType: 'CUSTOMER_MANAGED_CMK', keyArn: encryptionKey.keyArn },
      extendedS3DestinationConfiguration: {
        bucketArn: bucket.bucketArn,
        roleArn: role.roleArn,
        prefix: `${ARCHIVE_PREFIX}!{timestamp:yyyy/MM/dd}/`,
        errorOutputPrefix: 'telemetry-errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/',
        bufferingHints: { intervalInSeconds: 300, sizeInMBs: 64 },
        compressionFormat: 'UNCOMPRESSED',
        encryptionConfiguration: bucket.encryptionKey ? { kmsEncryptionConfig: { awskmsKeyArn: bucket.encryptionKey.keyArn } } : undefined,
        cloudWatchLoggingOptions: { enabled: true, logGroupName: logGroup.logGroupName, logStreamName: logStream.logStreamName },
      },
    });
    encryptionKey.grant(role, 'kms:Decrypt', 'kms:GenerateDataKey');
    stream.node.addDependency(role);
    return stream;
  }
}
