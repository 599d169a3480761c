import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DeviceMessageForwarderFunction } from './device-message-forwarder-function';
import { ruleDefinitions, TOPIC_RULE_SQL_VERSION } from './private/topic-rule-sql';
import { THING_NAME_PREFIX_PATTERN } from '../domain/identity';
import { acknowledgeKmsGrantWildcards, acknowledgeRules } from '../private/acknowledge';
import { createHandler } from '../private/handler';
import { requireMatch } from '../private/validation';

/**
 * Properties of a PlatformTopicRules.
 */
export interface PlatformTopicRulesProps {
  /** Bus that receives the domain events. */
  readonly eventBus: events.IEventBus;

  /**
   * Prefix of every thing name. Lifecycle events of clients whose id does not start with it
   * are not forwarded.
   * @default 'sh-'
   */
  readonly thingNamePrefix?: string;

  /**
   * Id of the fleet provisioning claim certificate. Devices connect with it, under their future
   * thing name, before they have their own certificate; the presence rules skip those sessions.
   * @default - sessions of every certificate are forwarded
   */
  readonly claimCertificateId?: string;

  /**
   * Key that encrypts the queues, the logs and the forwarder's environment.
   * @default - a new customer managed key with rotation
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How many times a queued message is tried before it moves to its dead-letter queue.
   * @default 5
   */
  readonly maxReceiveCount?: number;

  /**
   * How long the functions' logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * AWS IoT topic rules that turn device messages and lifecycle events into domain events on the
 * platform bus. IoT rules cannot target EventBridge directly, so each rule writes to an SQS queue
 * with a dead-letter queue, and a forwarder function validates each message against the device
 * contract and puts it on the bus. Every rule uses SQL version 2016-03-23 and has an error
 * action that keeps the failed message in the rule errors queue.
 *
 * @example
 * const rules = new PlatformTopicRules(this, 'Rules', { eventBus: bus.eventBus, thingNamePrefix: 'home-' });
 */
export class PlatformTopicRules extends Construct {
  /** Queue of capability, relay status and lifecycle messages. */
  public readonly deviceEventsQueue: sqs.Queue;
  /** Queue of telemetry and energy messages, apart so bursts cannot delay commands. */
  public readonly telemetryQueue: sqs.Queue;
  /** Dead-letter queues of the two ingress queues. */
  public readonly deadLetterQueues: sqs.Queue[];
  /** Messages that a rule action failed to deliver. */
  public readonly ruleErrorsQueue: sqs.Queue;
  /** The topic rules by id: Capabilities, RelayStatus, EnergyStatus, Telemetry, Connected, Disconnected. */
  public readonly rules: { [id: string]: iot.CfnTopicRule };
  /** The function that puts queued messages on the bus. */
  public readonly forwarderFunction: lambda.IFunction;

  constructor(scope: Construct, id: string, props: PlatformTopicRulesProps) {
    super(scope, id);
    const stack = Stack.of(this);

    const thingNamePrefix = props.thingNamePrefix ?? 'sh-';
    requireMatch('thingNamePrefix', thingNamePrefix, THING_NAME_PREFIX_PATTERN, 'Use at most 63 letters, digits, :, _ or -.');
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(`Invalid maxReceiveCount ${maxReceiveCount}: SQS accepts 1 to 1000.`);
    }
    if (props.claimCertificateId !== undefined && !Token.isUnresolved(props.claimCertificateId) && !/^[0-9a-f]{64}$/.test(props.claimCertificateId)) {
      throw new Error(`Invalid claimCertificateId '${props.claimCertificateId}': an AWS IoT certificate id is 64 lowercase hexadecimal characters.`);
    }
    const encryptionKey = props.encryptionKey ?? new kms.Key(this, 'Key', {
      description: 'Encrypts the IoT ingress queues and logs',
      enableKeyRotation: true,
    });
    encryptionKey.grantEncryptDecrypt(new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`));

    // Queues: ingress with dead-letter queues, and the sink of rule action errors.
    this.ruleErrorsQueue = this.createQueue('RuleErrors', encryptionKey);
    const deviceDlq = this.createQueue('DeviceEventsDlq', encryptionKey);
    const telemetryDlq = this.createQueue('TelemetryDlq', encryptionKey);
    for (const sink of [this.ruleErrorsQueue, deviceDlq, telemetryDlq]) {
      acknowledgeRules(sink, [
        { id: 'AwsSolutions-SQS3', reason: 'This queue is a dead-letter destination, where failed messages stay for inspection and redrive.' },
        { id: 'Serverless-SQSRedrivePolicy', reason: 'This queue is a dead-letter destination, where failed messages stay for inspection and redrive.' },
      ]);
    }
    this.deadLetterQueues = [deviceDlq, telemetryDlq];
    this.deviceEventsQueue = this.createQueue('DeviceEvents', encryptionKey, { queue: deviceDlq, maxReceiveCount });
    this.telemetryQueue = this.createQueue('Telemetry', encryptionKey, { queue: telemetryDlq, maxReceiveCount });

    // The forwarder validates each message and puts it on the bus.
    const forwarder = createHandler(this, 'Forwarder', DeviceMessageForwarderFunction, {
      description: 'Validates device messages queued by the IoT topic rules and puts them on the platform bus',
      timeout: Duration.seconds(30),
      encryptionKey,
      logRetention: props.logRetention,
      invokedSynchronously: true,
      environment: { EVENT_BUS_NAME: props.eventBus.eventBusName },
    });
    props.eventBus.grantPutEventsTo(forwarder);
    for (const queue of [this.deviceEventsQueue, this.telemetryQueue]) {
      forwarder.addEventSource(new SqsEventSource(queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
      }));
    }
    acknowledgeRules(forwarder, [{
      id: 'Serverless-LambdaEventSourceMappingDestination',
      reason: 'SQS event sources support no on-failure destination; failed messages move to each queue\'s dead-letter queue through its redrive policy.',
    }]);
    this.forwarderFunction = forwarder;

    // The rules. Device payloads stay base64-encoded in the queue so that no field of a payload
    // can overwrite the thing name taken from the topic.
    const role = new iam.Role(this, 'RuleRole', {
      assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
      description: 'Assumed by AWS IoT topic rules to queue device messages',
    });
    for (const queue of [this.deviceEventsQueue, this.telemetryQueue, this.ruleErrorsQueue]) {
      queue.grantSendMessages(role);
    }
    acknowledgeKmsGrantWildcards(role);

    this.rules = {};
    for (const definition of ruleDefinitions(thingNamePrefix, props.claimCertificateId)) {
      const queue = definition.queue === 'device' ? this.deviceEventsQueue : this.telemetryQueue;
      this.rules[definition.id] = new iot.CfnTopicRule(this, `${definition.id}Rule`, {
        topicRulePayload: {
          description: definition.description,
          sql: definition.sql,
          awsIotSqlVersion: TOPIC_RULE_SQL_VERSION,
          ruleDisabled: false,
          actions: [{ sqs: { queueUrl: queue.queueUrl, roleArn: role.roleArn, useBase64: false } }],
          errorAction: { sqs: { queueUrl: this.ruleErrorsQueue.queueUrl, roleArn: role.roleArn, useBase64: false } },
        },
      });
    }
  }

  private createQueue(id: string, encryptionKey: kms.IKey, deadLetterQueue?: sqs.DeadLetterQueue): sqs.Queue {
    return new sqs.Queue(this, id, {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: encryptionKey,
      dataKeyReuse: Duration.hours(1),
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      visibilityTimeout: Duration.seconds(180),
      deadLetterQueue,
    });
  }
}
