import { createPublicKey } from 'crypto';
import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { OtaRolloutFunction } from './ota-rollout-function';
import { ROLLOUT_REJECTION_ERRORS } from './private/errors';
import {
  DEFAULT_WAVES, IN_PROGRESS_TIMEOUT_LIMITS_MINUTES, JOB_ID_PREFIX, MAX_PROGRESS_CHECKS, MAX_TIMED_OUT_RETRIES,
  POLL_INTERVAL_LIMITS_SECONDS, wavesProblem,
} from './private/rollout-settings';
import { PlatformEventType } from '../events/event-contracts';
import { acknowledgeKmsGrantWildcards, acknowledgeRules } from '../private/acknowledge';
import { createHandler } from '../private/handler';
import { createEventDeadLetterQueue, createWorkflowStateMachine, invokeStep } from '../workflows/private/workflow-resources';

/** Devices that a rollout updates: a thing group, things, or both. */
export interface FirmwareRolloutTargets {
  /** ARN of a thing group; things in its child groups are included. */
  readonly thingGroupArn?: string;
  /** ARNs of up to 100 things. */
  readonly thingArns?: string[];
}

/**
 * Input of an OtaRolloutWorkflow execution, also the detail of a Firmware Rollout Requested event.
 */
export interface FirmwareRolloutRequest {
  /** Id of the rollout, matching `^[A-Za-z0-9_-]{1,60}$`. The AWS IoT job id is `ota-<rolloutId>`. */
  readonly rolloutId: string;
  /** Version of the image, as the device reports it after the update, such as `1.2.0`. */
  readonly version: string;
  /** Key of the image in the firmware bucket. */
  readonly imageKey: string;
  /**
   * Key of the image's signature in the firmware bucket: the base64 DER signature as text.
   * @default `<imageKey>.sig`
   */
  readonly signatureKey?: string;
  readonly targets: FirmwareRolloutTargets;
  /**
   * Waves of this rollout, overriding the construct's `waves`.
   * @default - the construct's waves
   */
  readonly waves?: number[];
}

/** Job executions of a rollout by status, from AWS IoT's job process details. */
export interface FirmwareRolloutCounts {
  readonly targets: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly rejected: number;
  readonly timedOut: number;
  readonly canceled: number;
  readonly removed: number;
  readonly queued: number;
  readonly inProgress: number;
}

/** Detail of a Firmware Rollout Completed event. */
export interface FirmwareRolloutCompletedDetail {
  readonly rolloutId: string;
  readonly version?: string;
  /**
   * `COMPLETED` (every execution finished below the failure threshold), `ABORTED` (the job was
   * cancelled), `REJECTED` (the request or the image was refused before any job existed) or
   * `FAILED` (a step failed after its retries).
   */
  readonly status: string;
  /** Cause of the rollout's end, such as `FAILURE_THRESHOLD_EXCEEDED` or an error name. */
  readonly reason?: string;
  /** AWS IoT job id; absent when no job was created. */
  readonly jobId?: string;
  /** Final execution counts; absent when no job was created. */
  readonly counts?: FirmwareRolloutCounts;
  /** Message of the error that rejected or failed the rollout. */
  readonly errorMessage?: string;
  /** ARN of the execution that ran the rollout. */
  readonly execution: string;
  /** Epoch milliseconds. */
  readonly finishedAt: number;
}

/**
 * Properties of an OtaRolloutWorkflow.
 */
export interface OtaRolloutWorkflowProps {
  /** Bucket with the firmware images and their `.sig` signature objects, such as `PlatformStorage.firmwareBucket`. */
  readonly firmwareBucket: s3.IBucket;

  /** Bus with the Firmware Rollout Requested events, which also receives Firmware Rollout Completed. */
  readonly eventBus: events.IEventBus;

  /**
   * Asymmetric KMS key (`ECC_NIST_P256`, `SIGN_VERIFY`) whose signatures the workflow accepts.
   * Its public key must be the one built into the firmware.
   * @default - a new key, unless imageSigningPublicKeyPem is set
   */
  readonly signingKey?: kms.IKey;

  /**
   * PEM public key (P-256) whose signatures the workflow accepts, for images signed offline
   * with openssl instead of KMS. Exclusive with signingKey.
   * @default - signatures are verified with the signing key's public key
   */
  readonly imageSigningPublicKeyPem?: string;

  /**
   * Thing groups that rollouts may target.
   * @default - any thing group of the stack's account and region
   */
  readonly thingGroupArns?: string[];

  /**
   * Cumulative percentages of the targets that each wave reaches: whole numbers from 1 to 100,
   * increasing, ending at 100. They set the job's exponential rollout rate.
   * @default [5, 50, 100]
   */
  readonly waves?: number[];

  /**
   * Percentage of failed, rejected and timed-out executions among the finished ones at which
   * the rollout is cancelled, from 1 to 100.
   * @default 20
   */
  readonly abortThresholdPercentage?: number;

  /**
   * Finished executions needed before the failure rate can cancel the rollout.
   * @default 10
   */
  readonly abortMinNumberOfExecutedThings?: number;

  /**
   * How long a device may stay IN_PROGRESS before its execution is TIMED_OUT; whole minutes
   * from 1 minute to 7 days.
   * @default Duration.minutes(60)
   */
  readonly inProgressTimeout?: Duration;

  /**
   * How often a TIMED_OUT execution is retried, from 0 to 10. FAILED and REJECTED executions
   * are never retried.
   * @default 1
   */
  readonly timedOutRetries?: number;

  /**
   * Time between two checks of the job's progress, from 10 seconds to 1 hour.
   * @default Duration.seconds(60)
   */
  readonly pollInterval?: Duration;

  /**
   * How long a rollout may run before the job is cancelled and the rollout ends ABORTED. At
   * most 2,000 poll intervals, because a Standard execution has at most 25,000 history events.
   * @default - 24 hours, or 2,000 poll intervals when that is shorter
   */
  readonly rolloutTimeout?: Duration;

  /**
   * Key that encrypts the rollouts table, the logs, the dead-letter queue and the function's
   * environment.
   * @default - AWS managed keys
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Removal policy of the rollouts table and the signing key that the construct creates.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Settings after defaults and checks. */
interface ResolvedSettings {
  readonly waves: number[];
  readonly abortThresholdPercentage: number;
  readonly abortMinNumberOfExecutedThings: number;
  readonly inProgressTimeout: Duration;
  readonly timedOutRetries: number;
  readonly pollInterval: Duration;
  readonly rolloutTimeout: Duration;
}

/**
 * Rolls out signed firmware to ESP32 devices with one AWS IoT job per rollout, and stops the
 * rollout when too many devices fail. A Standard workflow, because a rollout runs for hours.
 *
 * Executions start from Firmware Rollout Requested events on the bus, or directly with
 * StartExecution and the rolloutId as execution name; the input is a FirmwareRolloutRequest.
 *
 * 1. **Verify firmware image** streams the image from the firmware bucket once, computing its
 *    SHA-256 digest and size, and verifies the signature in `<imageKey>.sig` (base64 DER ECDSA
 *    P-256 over the SHA-256 digest of the image) with the signing key's public key. A missing,
 *    placeholder, malformed or non-verifying signature, a missing or oversized image, and an
 *    invalid request end the execution in "Firmware rejected" before any job exists.
 * 2. **Create job** creates the SNAPSHOT job `ota-<rolloutId>` whose document follows
 *    `contract/schemas/ota-job.schema.json`, with a pre-signed image URL, the waves' rollout
 *    rate, abort criteria, an in-progress timeout, and retries of TIMED_OUT executions only.
 * 3. **Wait for devices** and **Check job progress** repeat until every execution finished
 *    (COMPLETED) or AWS IoT cancelled the job (ABORTED). When the failure rate among finished
 *    executions reaches the threshold, or the rollout timeout passes, the workflow cancels the
 *    job without force (ABORTED).
 * 4. **Record device outcomes** writes each device's execution status to `rolloutsTable`, and
 *    **Record rollout outcome** writes the summary under the sort key `#rollout` and sends
 *    Firmware Rollout Completed with the counts.
 *
 * Every task retries transient errors and catches the rest into a step that records the
 * rollout as FAILED, cancels its job if one exists, and sends Firmware Rollout Completed.
 * COMPLETED ends the execution successfully; ABORTED, REJECTED and FAILED end it failed, so
 * failed-execution alarms cover stopped rollouts.
 *
 * @example
 * const ota = new OtaRolloutWorkflow(this, 'Ota', {
 *   firmwareBucket: storage.firmwareBucket,
 *   eventBus: bus.eventBus,
 *   thingGroupArns: [provisioning.fleetThingGroup.attrArn],
 *   waves: [10, 50, 100],
 * });
 * ota.grantStartRollout(releasePipelineRole);
 */
export class OtaRolloutWorkflow extends Construct {
  /** The Standard state machine. */
  public readonly stateMachine: sfn.StateMachine;
  /** Runs the workflow's steps. */
  public readonly stepsFunction: lambda.IFunction;
  /** Key whose signatures the workflow accepts; undefined when imageSigningPublicKeyPem is set. */
  public readonly signingKey?: kms.IKey;
  /** Outcome of each device per rollout, keyed by `rolloutId` and `thingName`, and each rollout's summary under `#rollout`. */
  public readonly rolloutsTable: dynamodb.Table;
  /** Role that AWS IoT assumes to pre-sign the image URLs of job documents. */
  public readonly presignRole: iam.Role;
  /** Rule that starts an execution for each Firmware Rollout Requested event. */
  public readonly requestsRule: events.Rule;
  /** Receives the events that the rule could not deliver to the state machine. */
  public readonly deadLetterQueue: sqs.IQueue;

  constructor(scope: Construct, id: string, props: OtaRolloutWorkflowProps) {
    super(scope, id);

    const settings = resolveSettings(props);
    if (props.thingGroupArns !== undefined && props.thingGroupArns.length === 0) {
      throw new Error('Invalid thingGroupArns: the list is empty; list the thing groups that rollouts may target, or leave it unset to allow any group.');
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.signingKey = this.createSigningKey(props, removalPolicy);

    this.rolloutsTable = new dynamodb.Table(this, 'Rollouts', {
      partitionKey: { name: 'rolloutId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'thingName', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: props.encryptionKey ? dynamodb.TableEncryption.CUSTOMER_MANAGED : dynamodb.TableEncryption.AWS_MANAGED,
      encryptionKey: props.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    });

    this.presignRole = this.createPresignRole(props.firmwareBucket);
    const steps = this.createStepsFunction(props, settings);
    this.stepsFunction = steps;

    this.stateMachine = createWorkflowStateMachine(this, 'StateMachine', {
      definition: this.buildDefinition(steps, settings.pollInterval),
      type: sfn.StateMachineType.STANDARD,
      // The steps end the rollout at rolloutTimeout. The extra hour covers cancelling the job and
      // recording the devices, so the execution timeout is only a backstop.
      timeout: settings.rolloutTimeout.plus(Duration.hours(1)),
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    });
    acknowledgeRules(this.stateMachine.role, [{
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(steps.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
      reason: 'CDK grants the workflow every version and alias of its own steps function.',
    }]);

    this.deadLetterQueue = createEventDeadLetterQueue(this, 'EventsDlq', props.encryptionKey);
    this.requestsRule = new events.Rule(this, 'RolloutRequests', {
      eventBus: props.eventBus,
      description: 'Firmware Rollout Requested events start an OTA rollout workflow',
      eventPattern: { detailType: [PlatformEventType.FIRMWARE_ROLLOUT_REQUESTED] },
      targets: [new targets.SfnStateMachine(this.stateMachine, {
        input: events.RuleTargetInput.fromEventPath('$.detail'),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(1),
      })],
    });
  }

  /**
   * Grants permission to start rollouts with StartExecution.
   */
  public grantStartRollout(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }

  private createSigningKey(props: OtaRolloutWorkflowProps, removalPolicy: RemovalPolicy): kms.IKey | undefined {
    if (props.imageSigningPublicKeyPem !== undefined) {
      if (props.signingKey) {
        throw new Error('Set either signingKey or imageSigningPublicKeyPem, not both: the workflow verifies signatures with one public key.');
      }
      checkPublicKeyPem(props.imageSigningPublicKeyPem);
      return undefined;
    }
    if (props.signingKey) {
      return props.signingKey;
    }
    const key = new kms.Key(this, 'SigningKey', {
      description: 'Signs OTA firmware images (ECDSA P-256 over the SHA-256 digest of the image)',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy,
    });
    acknowledgeRules(key, [{
      id: 'AwsSolutions-KMS5',
      reason: 'AWS KMS does not rotate asymmetric keys; a new signing key needs a firmware release that carries its public key.',
    }]);
    return key;
  }

  /**
   * Creates the role that AWS IoT assumes to pre-sign image URLs: it reads objects of the
   * firmware bucket and decrypts them with the bucket's key, and only AWS IoT of this account
   * may assume it.
   */
  private createPresignRole(bucket: s3.IBucket): iam.Role {
    const role = new iam.Role(this, 'PresignRole', {
      assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'Assumed by AWS IoT Jobs to pre-sign firmware image URLs in OTA job documents',
    });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects('*')] }));
    bucket.encryptionKey?.grantDecrypt(role);
    this.acknowledgeBucketObjects(role, bucket, 'AWS IoT pre-signs the URL of whichever image a rollout names; the rollout verified that image\'s signature first.');
    return role;
  }

  private createStepsFunction(props: OtaRolloutWorkflowProps, settings: ResolvedSettings): lambda.Function {
    const stack = Stack.of(this);
    const signingEnvironment: Record<string, string> = this.signingKey
      ? { SIGNING_KEY_ARN: this.signingKey.keyArn }
      : { SIGNING_PUBLIC_KEY_PEM: props.imageSigningPublicKeyPem! };
    const steps = createHandler(this, 'Steps', OtaRolloutFunction, {
      description: 'OTA rollout workflow steps: verify signed firmware, create and watch the AWS IoT job, record outcomes',
      invokedSynchronously: true,
      // Streaming a 16 MiB image and recording a page of 100 devices take a few seconds; the
      // margin covers slow S3 reads and DynamoDB retries.
      timeout: Duration.seconds(60),
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
      environment: {
        FIRMWARE_BUCKET: props.firmwareBucket.bucketName,
        ROLLOUTS_TABLE: this.rolloutsTable.tableName,
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        PRESIGN_ROLE_ARN: this.presignRole.roleArn,
        ...signingEnvironment,
        ROLLOUT_WAVES: settings.waves.join(','),
        ABORT_THRESHOLD_PERCENTAGE: String(settings.abortThresholdPercentage),
        ABORT_MIN_EXECUTED_THINGS: String(settings.abortMinNumberOfExecutedThings),
        IN_PROGRESS_TIMEOUT_MINUTES: String(settings.inProgressTimeout.toMinutes()),
        TIMED_OUT_RETRIES: String(settings.timedOutRetries),
        ROLLOUT_TIMEOUT_SECONDS: String(settings.rolloutTimeout.toSeconds()),
        ...(props.thingGroupArns ? { ALLOWED_THING_GROUP_ARNS: props.thingGroupArns.join(',') } : {}),
      },
    });

    // Images and signatures. With ListBucket, S3 returns 404 NoSuchKey for a missing image
    // instead of 403, so a missing image is rejected with FirmwareImageNotFoundError.
    steps.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [props.firmwareBucket.arnForObjects('*')] }));
    steps.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.firmwareBucket.bucketArn] }));
    props.firmwareBucket.encryptionKey?.grantDecrypt(steps);
    this.acknowledgeBucketObjects(steps.role!, props.firmwareBucket, 'A rollout reads the image and the signature that its request names.');
    this.signingKey?.grant(steps, 'kms:GetPublicKey');

    // The job: CreateJob checks the job and each target; the presign role is passed to AWS IoT.
    const jobs = stack.formatArn({ service: 'iot', resource: 'job', resourceName: `${JOB_ID_PREFIX}*` });
    const things = stack.formatArn({ service: 'iot', resource: 'thing', resourceName: '*' });
    const thingGroups = props.thingGroupArns ?? [stack.formatArn({ service: 'iot', resource: 'thinggroup', resourceName: '*' })];
    steps.addToRolePolicy(new iam.PolicyStatement({ actions: ['iot:CreateJob'], resources: [jobs, things, ...thingGroups] }));
    steps.addToRolePolicy(new iam.PolicyStatement({ actions: ['iot:ListThingsInThingGroup'], resources: thingGroups }));
    steps.addToRolePolicy(new iam.PolicyStatement({ actions: ['iot:DescribeJob', 'iot:CancelJob', 'iot:ListJobExecutionsForJob'], resources: [jobs] }));
    steps.addToRolePolicy(new iam.PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [this.presignRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'iot.amazonaws.com' } },
    }));
    const iotArn = (resource: string) => `arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:${resource}`;
    acknowledgeRules(steps.role!, [
      { id: `AwsSolutions-IAM5[Resource::${iotArn(`job/${JOB_ID_PREFIX}*`)}]`, reason: `Each rollout creates and watches its own job, named ${JOB_ID_PREFIX}<rolloutId>.` },
      { id: `AwsSolutions-IAM5[Resource::${iotArn('thing/*')}]`, reason: 'A rollout may target any device of the fleet by thing ARN; the request names them.' },
      ...(props.thingGroupArns ? [] : [{
        id: `AwsSolutions-IAM5[Resource::${iotArn('thinggroup/*')}]`,
        reason: 'No thingGroupArns were given, so rollouts may target any thing group of the account and region.',
      }]),
    ]);

    this.rolloutsTable.grant(steps, 'dynamodb:PutItem', 'dynamodb:BatchWriteItem');
    // Table.grant leaves out the table's key.
    props.encryptionKey?.grantEncryptDecrypt(steps);
    props.eventBus.grantPutEventsTo(steps);
    acknowledgeKmsGrantWildcards(steps.role!);
    return steps;
  }

  private acknowledgeBucketObjects(role: iam.IRole, bucket: s3.IBucket, reason: string): void {
    const bucketResource = bucket.node.defaultChild as s3.CfnBucket | undefined;
    const resource = bucketResource
      ? `<${Stack.of(bucketResource).getLogicalId(bucketResource)}.Arn>/*`
      : `${bucket.bucketArn}/*`;
    acknowledgeRules(role, [{ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason }]);
  }

  /** Builds the state machine's states; the class documentation describes the steps. */
  private buildDefinition(steps: lambda.IFunction, pollInterval: Duration): sfn.IChainable {
    const request = sfn.JsonPath.objectAt('$.request');
    const job = sfn.JsonPath.objectAt('$.job');

    const verify = invokeStep(this, 'Verify firmware image', steps, { action: 'verify', request }, {
      resultSelector: {
        'bucket.$': '$.Payload.bucket',
        'key.$': '$.Payload.key',
        'signatureKey.$': '$.Payload.signatureKey',
        'version.$': '$.Payload.version',
        'size.$': '$.Payload.size',
        'sha256.$': '$.Payload.sha256',
        'signature.$': '$.Payload.signature',
      },
      resultPath: '$.image',
    });
    const createJob = invokeStep(this, 'Create job', steps, { action: 'createJob', request, image: sfn.JsonPath.objectAt('$.image') }, {
      resultSelector: { 'jobId.$': '$.Payload.jobId', 'jobArn.$': '$.Payload.jobArn', 'targetCount.$': '$.Payload.targetCount' },
      resultPath: '$.job',
    });
    const checkProgress = invokeStep(this, 'Check job progress', steps, {
      action: 'checkProgress',
      request,
      job,
      startedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
    }, {
      resultSelector: {
        'decision.$': '$.Payload.decision',
        'status.$': '$.Payload.status',
        'reason.$': '$.Payload.reason',
        'counts.$': '$.Payload.counts',
        'failureRatePercentage.$': '$.Payload.failureRatePercentage',
      },
      resultPath: '$.progress',
    });
    const cancelJob = invokeStep(this, 'Cancel job', steps, { action: 'cancelJob', request, job, progress: sfn.JsonPath.objectAt('$.progress') }, {
      resultPath: sfn.JsonPath.DISCARD,
    });
    const recordDevices = invokeStep(this, 'Record device outcomes', steps, {
      action: 'recordDevices',
      request,
      job,
      nextToken: sfn.JsonPath.stringAt('$.devicePage.nextToken'),
    }, { resultSelector: { 'nextToken.$': '$.Payload.nextToken', 'recorded.$': '$.Payload.recorded' }, resultPath: '$.devicePage' });
    const finish = (id: string, status: string | undefined) => invokeStep(this, id, steps, {
      action: 'finish',
      status: status ?? sfn.JsonPath.stringAt('$.progress.status'),
      state: sfn.JsonPath.entirePayload,
    }, { resultSelector: { 'status.$': '$.Payload.status', 'recorded.$': '$.Payload.recorded' }, resultPath: '$.outcome' });
    const recordOutcome = finish('Record rollout outcome', undefined);
    const recordRejection = finish('Record rejection', 'REJECTED');
    const recordFailure = finish('Record failure', 'FAILED');

    const rejected = new sfn.Fail(this, 'Firmware rejected', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
    const failed = new sfn.Fail(this, 'Rollout failed', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
    const aborted = new sfn.Fail(this, 'Rollout aborted', { error: 'FirmwareRolloutAborted', causePath: '$.progress.reason' });
    const duplicate = new sfn.Fail(this, 'Rollout already exists', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
    const notRecorded = new sfn.Fail(this, 'Outcome not recorded', { error: 'FirmwareRolloutOutcomeNotRecorded', causePath: '$.finishError.Cause' });

    verify.addCatch(recordRejection, { errors: ROLLOUT_REJECTION_ERRORS, resultPath: '$.error' });
    verify.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.error' });
    // Another execution owns the job, so this one records nothing that could overwrite its outcome.
    createJob.addCatch(duplicate, { errors: ['FirmwareRolloutExistsError'], resultPath: '$.error' });
    createJob.addCatch(recordRejection, { errors: ROLLOUT_REJECTION_ERRORS, resultPath: '$.error' });
    createJob.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.error' });
    for (const task of [checkProgress, cancelJob, recordDevices, recordOutcome]) {
      task.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.error' });
    }
    for (const task of [recordRejection, recordFailure]) {
      task.addCatch(notRecorded, { errors: ['States.ALL'], resultPath: '$.finishError' });
    }
    recordRejection.next(rejected);
    recordFailure.next(failed);

    const wait = new sfn.Wait(this, 'Wait for devices', { time: sfn.WaitTime.duration(pollInterval) });
    const startRecords = new sfn.Pass(this, 'Start device records', { result: sfn.Result.fromObject({ nextToken: null }), resultPath: '$.devicePage' });
    const outcome = recordOutcome.next(new sfn.Choice(this, 'Rollout aborted?')
      .when(sfn.Condition.stringEquals('$.outcome.status', 'ABORTED'), aborted)
      .otherwise(new sfn.Succeed(this, 'Rollout completed')));
    startRecords.next(recordDevices).next(new sfn.Choice(this, 'More devices?')
      .when(sfn.Condition.and(sfn.Condition.isPresent('$.devicePage.nextToken'), sfn.Condition.isNotNull('$.devicePage.nextToken')), recordDevices)
      .otherwise(outcome));
    wait.next(checkProgress).next(new sfn.Choice(this, 'Rollout finished?')
      .when(sfn.Condition.stringEquals('$.progress.decision', 'CONTINUE'), wait)
      .when(sfn.Condition.stringEquals('$.progress.decision', 'CANCEL'), cancelJob.next(startRecords))
      .otherwise(startRecords));

    return new sfn.Pass(this, 'Start rollout', { parameters: { 'request.$': '$' } })
      .next(verify)
      .next(createJob)
      .next(wait);
  }
}

function resolveSettings(props: OtaRolloutWorkflowProps): ResolvedSettings {
  const pollInterval = props.pollInterval ?? Duration.seconds(60);
  const settings: ResolvedSettings = {
    waves: props.waves ?? DEFAULT_WAVES,
    abortThresholdPercentage: props.abortThresholdPercentage ?? 20,
    abortMinNumberOfExecutedThings: props.abortMinNumberOfExecutedThings ?? 10,
    inProgressTimeout: props.inProgressTimeout ?? Duration.minutes(60),
    timedOutRetries: props.timedOutRetries ?? 1,
    pollInterval,
    rolloutTimeout: props.rolloutTimeout ?? defaultRolloutTimeout(pollInterval),
  };

  const wavesError = wavesProblem(settings.waves);
  if (wavesError) {
    throw new Error(`Invalid waves ${JSON.stringify(settings.waves)}: ${wavesError}.`);
  }
  const threshold = settings.abortThresholdPercentage;
  if (!Number.isFinite(threshold) || threshold < 1 || threshold > 100) {
    throw new Error(`Invalid abortThresholdPercentage of ${threshold}: it must be between 1 and 100.`);
  }
  const minExecuted = settings.abortMinNumberOfExecutedThings;
  if (!Number.isInteger(minExecuted) || minExecuted < 1) {
    throw new Error(`Invalid abortMinNumberOfExecutedThings of ${minExecuted}: it must be a whole number of at least 1.`);
  }
  if (!Number.isInteger(settings.timedOutRetries) || settings.timedOutRetries < 0 || settings.timedOutRetries > MAX_TIMED_OUT_RETRIES) {
    throw new Error(`Invalid timedOutRetries of ${settings.timedOutRetries}: it must be a whole number from 0 to ${MAX_TIMED_OUT_RETRIES}.`);
  }
  if (!settings.inProgressTimeout.isUnresolved()) {
    const minutes = settings.inProgressTimeout.toMinutes({ integral: false });
    const { min, max } = IN_PROGRESS_TIMEOUT_LIMITS_MINUTES;
    if (!Number.isInteger(minutes) || minutes < min || minutes > max) {
      throw new Error(`Invalid inProgressTimeout of ${settings.inProgressTimeout.toHumanString()}: it must be whole minutes from ${min} minute to ${max / 1440} days.`);
    }
  }
  if (!settings.pollInterval.isUnresolved()) {
    const seconds = settings.pollInterval.toSeconds({ integral: false });
    const { min, max } = POLL_INTERVAL_LIMITS_SECONDS;
    if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
      throw new Error(`Invalid pollInterval of ${settings.pollInterval.toHumanString()}: it must be whole seconds from ${min} seconds to ${max / 3600} hour.`);
    }
  }
  if (!settings.rolloutTimeout.isUnresolved() && !settings.pollInterval.isUnresolved()) {
    const timeoutSeconds = settings.rolloutTimeout.toSeconds({ integral: false });
    const checks = timeoutSeconds / settings.pollInterval.toSeconds();
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < settings.pollInterval.toSeconds() || checks > MAX_PROGRESS_CHECKS) {
      throw new Error(
        `Invalid rolloutTimeout of ${settings.rolloutTimeout.toHumanString()}: it must be whole seconds from one pollInterval ` +
        `(${settings.pollInterval.toHumanString()}) to ${MAX_PROGRESS_CHECKS} of them, the most progress checks that fit in one Standard execution's history; raise pollInterval for longer rollouts.`);
    }
  }
  return settings;
}

function defaultRolloutTimeout(pollInterval: Duration): Duration {
  const day = Duration.hours(24);
  if (pollInterval.isUnresolved()) {
    return day;
  }
  return Duration.seconds(Math.min(day.toSeconds(), pollInterval.toSeconds() * MAX_PROGRESS_CHECKS));
}

/** Checks that a PEM is a P-256 public key; tokens are checked when the steps function starts. */
function checkPublicKeyPem(pem: string): void {
  if (Token.isUnresolved(pem)) {
    return;
  }
  let details: { type?: string; curve?: string };
  try {
    const key = createPublicKey(pem);
    details = { type: key.asymmetricKeyType, curve: key.asymmetricKeyDetails?.namedCurve };
  } catch (error) {
    throw new Error(`Invalid imageSigningPublicKeyPem: it is not a PEM public key (${(error as Error).message}).`);
  }
  if (details.type !== 'ec' || details.curve !== 'prime256v1') {
    throw new Error(`Invalid imageSigningPublicKeyPem: it is a ${details.type} ${details.curve ?? ''} key, but firmware signatures need a P-256 (prime256v1) EC key.`.replace('  ', ' '));
  }
}
