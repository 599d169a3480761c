import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { DeviceOnboardingFunction } from './device-onboarding-function';
import { createEventDeadLetterQueue, createWorkflowFunction, createWorkflowStateMachine, invokeStep, WorkflowEnvironment } from './private/workflow-resources';
import { PlatformApi } from '../api/platform-api';
import { PlatformEventSource, PlatformEventType } from '../events/event-contracts';
import { acknowledgeRules } from '../private/acknowledge';
import { DeviceRegistry } from '../registry/device-registry';

/**
 * Properties of a DeviceOnboardingWorkflow.
 */
export interface DeviceOnboardingWorkflowProps {
  /** Registry with the devices, links and pairing codes tables. */
  readonly registry: DeviceRegistry;

  /** Bus with the Device Capabilities Reported events, which also receives Device Onboarded and Device Linked. */
  readonly eventBus: events.IEventBus;

  /**
   * Bucket of the generated UI configs, written under `ui/`. When the bucket is encrypted with a
   * KMS key that `uiConfigBucket.encryptionKey` names, the workflow may use the key to write.
   * An imported bucket without its key needs that grant from the caller.
   */
  readonly uiConfigBucket: s3.IBucket;

  /** Secret with the HMAC key of auto-discovery claim tokens, such as `PlatformSigningKeys.claimTokenKey`. */
  readonly claimTokenKey: secretsmanager.ISecret;

  /**
   * API whose onDeviceUpdate subscribers learn that their device was onboarded or linked.
   * @default - owners are not notified
   */
  readonly api?: PlatformApi;

  /**
   * Key that encrypts the logs, the dead-letter queue and the function's environment.
   * @default - AWS managed keys
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Registers devices from the capability documents that they publish after every connect, and
 * links them to their owner by auto-discovery claim token. Each Device Capabilities Reported
 * event starts one execution:
 *
 * 1. An invalid document is recorded on the device as `lastRejection` with its reasons, and the
 *    execution ends successfully in "Capabilities rejected".
 * 2. The device's model, firmware version, capabilities (without the claim token) and their hash
 *    are written to the devices table. Unchanged capabilities only move `lastSeenAt`.
 * 3. Changed capabilities get a new UI config at `ui/<thingName>/<capabilitiesHash>.json`.
 * 4. A claim token links an unowned device to the token's user, once per token. A device owned
 *    by another user is never relinked, and a rejected token is recorded as `lastClaimRejection`.
 * 5. Device Onboarded (changed capabilities) and Device Linked (new link) go to the bus with
 *    source `cdk-smart-home.workflow`, and the owner is notified through the API.
 *
 * It is an Express workflow, because every device runs it on every connect and it ends within
 * seconds. Express workflows cost per request and duration instead of per state transition, but
 * run at least once. Every step is therefore idempotent. Results are cached per action and
 * message (`dedupKey`) for an hour, and every write is conditional, so a repeated message or step
 * writes nothing twice. A retried step may send an event or a notification again, so consumers
 * drop repeats by the `dedupKey` in the event detail. A step that still fails after its retries
 * is recorded on the device as `lastOnboardingFailure`, and the execution fails in "Onboarding
 * failed".
 *
 * @example
 * const keys = new PlatformSigningKeys(this, 'Keys');
 * new DeviceOnboardingWorkflow(this, 'Onboarding', {
 *   registry,
 *   eventBus: bus.eventBus,
 *   uiConfigBucket: storage.uiConfigBucket,
 *   claimTokenKey: keys.claimTokenKey,
 *   api,
 * });
 */
export class DeviceOnboardingWorkflow extends Construct {
  /** The Express state machine. */
  public readonly stateMachine: sfn.StateMachine;
  /** Runs the workflow's steps. */
  public readonly stepsFunction: lambda.IFunction;
  /** Rule that starts an execution for each Device Capabilities Reported event. */
  public readonly capabilitiesRule: events.Rule;
  /** Receives the events that the rule could not deliver to the state machine. */
  public readonly deadLetterQueue: sqs.IQueue;

  constructor(scope: Construct, id: string, props: DeviceOnboardingWorkflowProps) {
    super(scope, id);

    const environment: WorkflowEnvironment = {
      registry: props.registry,
      api: props.api,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    };
    const steps = createWorkflowFunction(this, 'Steps', DeviceOnboardingFunction, environment, {
      description: 'Device onboarding workflow steps: register devices, store UI configs and link owners by claim token',
      invokedSynchronously: true,
      environment: {
        UI_CONFIG_BUCKET: props.uiConfigBucket.bucketName,
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        CLAIM_TOKEN_KEY_SECRET_ARN: props.claimTokenKey.secretArn,
      },
    });
    this.grantStepAccess(steps, props);
    this.stepsFunction = steps;

    this.stateMachine = createWorkflowStateMachine(this, 'StateMachine', {
      definition: this.buildDefinition(steps),
      type: sfn.StateMachineType.EXPRESS,
      // Five minutes is the maximum duration of an Express workflow. Each step has a 20-second
      // function timeout and up to five attempts.
      timeout: Duration.minutes(5),
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    });
    acknowledgeRules(this.stateMachine.role, [{
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(steps.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
      reason: 'CDK grants the workflow every version and alias of its own steps function.',
    }]);

    this.deadLetterQueue = createEventDeadLetterQueue(this, 'EventsDlq', props.encryptionKey);
    this.capabilitiesRule = new events.Rule(this, 'CapabilitiesReports', {
      eventBus: props.eventBus,
      description: 'Device Capabilities Reported events start a device onboarding workflow',
      eventPattern: { source: [PlatformEventSource.DEVICE], detailType: [PlatformEventType.DEVICE_CAPABILITIES_REPORTED] },
      targets: [new targets.SfnStateMachine(this.stateMachine, {
        input: events.RuleTargetInput.fromEventPath('$.detail'),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(1),
      })],
    });
  }

  /**
   * Grants the steps function what its steps use, and nothing more: items of the devices, links
   * and pairing codes tables, object writes under `ui/`, the claim token key, and PutEvents on
   * the bus. createWorkflowFunction has granted the idempotency table and publishDeviceUpdate.
   */
  private grantStepAccess(steps: lambda.Function, props: DeviceOnboardingWorkflowProps): void {
    const registry = props.registry;
    registry.devicesTable.grant(steps, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    registry.linksTable.grant(steps, 'dynamodb:PutItem');
    registry.pairingCodesTable.grant(steps, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    // Table.grant leaves out the tables' key, which the registry shares between its tables.
    registry.encryptionKey.grantEncryptDecrypt(steps);

    const uiConfigObjects = props.uiConfigBucket.arnForObjects('ui/*');
    steps.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [uiConfigObjects] }));
    // With SSE-KMS, writing an object needs a data key from the bucket's key.
    props.uiConfigBucket.encryptionKey?.grant(steps, 'kms:GenerateDataKey');
    const bucketResource = props.uiConfigBucket.node.defaultChild as s3.CfnBucket | undefined;
    if (bucketResource) {
      acknowledgeRules(steps.role!, [{
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(bucketResource).getLogicalId(bucketResource)}.Arn>/ui/*]`,
        reason: 'Each device has its own UI config objects under ui/<thingName>/, named by the hash of its capabilities.',
      }]);
    }

    props.claimTokenKey.grantRead(steps);
    props.eventBus.grantPutEventsTo(steps);
  }

  /** Builds the state machine's states; the class documentation describes the steps. */
  private buildDefinition(steps: lambda.IFunction): sfn.IChainable {
    const envelope = { thingName: sfn.JsonPath.stringAt('$.thingName'), dedupKey: sfn.JsonPath.stringAt('$.dedupKey') };
    const receivedAt = sfn.JsonPath.numberAt('$.receivedAt');

    const recordRejection = invokeStep(this, 'Record rejection', steps, {
      action: 'reject', ...envelope, receivedAt, errors: sfn.JsonPath.objectAt('$.errors'),
    }, { resultSelector: { 'recorded.$': '$.Payload.recorded' }, resultPath: '$.rejection' });
    const register = invokeStep(this, 'Register device', steps, {
      action: 'register', ...envelope, receivedAt, message: sfn.JsonPath.objectAt('$.message'),
    }, {
      resultSelector: {
        'rejected.$': '$.Payload.rejected',
        'changed.$': '$.Payload.changed',
        'firstRegistration.$': '$.Payload.firstRegistration',
        'ownerId.$': '$.Payload.ownerId',
        'uiConfigKey.$': '$.Payload.uiConfigKey',
        'capabilitiesHash.$': '$.Payload.capabilitiesHash',
      },
      resultPath: '$.registration',
    });
    const storeUiConfig = invokeStep(this, 'Store UI config', steps, {
      action: 'storeUiConfig',
      ...envelope,
      receivedAt,
      message: sfn.JsonPath.objectAt('$.message'),
      capabilitiesHash: sfn.JsonPath.stringAt('$.registration.capabilitiesHash'),
    }, { resultSelector: { 'uiConfigKey.$': '$.Payload.uiConfigKey', 'current.$': '$.Payload.current' }, resultPath: '$.uiConfig' });
    const claim = invokeStep(this, 'Link owner by claim token', steps, {
      action: 'claim', ...envelope, claimToken: sfn.JsonPath.stringAt('$.message.claimToken'),
    }, { resultSelector: { 'linked.$': '$.Payload.linked', 'outcome.$': '$.Payload.outcome', 'ownerId.$': '$.Payload.ownerId' }, resultPath: '$.claim' });
    const outcome = {
      ...envelope,
      receivedAt,
      registration: sfn.JsonPath.objectAt('$.registration'),
      claim: sfn.JsonPath.objectAt('$.claim'),
    };
    const emitEvents = invokeStep(this, 'Send onboarding events', steps, {
      action: 'emitEvents',
      ...outcome,
      model: sfn.JsonPath.stringAt('$.message.model'),
      firmwareVersion: sfn.JsonPath.stringAt('$.message.firmwareVersion'),
    }, { resultSelector: { 'detailTypes.$': '$.Payload.detailTypes' }, resultPath: '$.events' });
    const notify = invokeStep(this, 'Notify owner', steps, {
      action: 'notifyOwner', ...outcome,
    }, { resultSelector: { 'notified.$': '$.Payload.notified' }, resultPath: '$.notification' });
    const recordFailure = invokeStep(this, 'Record failure', steps, {
      action: 'recordFailure', ...envelope, failure: sfn.JsonPath.objectAt('$.failure'),
    }, { resultSelector: { 'error.$': '$.Payload.error' }, resultPath: '$.failureRecord' });

    // A concurrent copy of the same message keeps the step's idempotency record in progress until it ends.
    const tasksInOrder: tasks.LambdaInvoke[] = [recordRejection, register, storeUiConfig, claim, emitEvents, notify, recordFailure];
    for (const task of tasksInOrder) {
      task.addRetry({ errors: ['IdempotencyAlreadyInProgressError'], interval: Duration.seconds(2), backoffRate: 2, maxAttempts: 3 });
    }
    for (const task of tasksInOrder.filter((item) => item !== recordFailure)) {
      task.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.failure' });
    }
    recordFailure.addCatch(new sfn.Fail(this, 'Failure not recorded', { error: 'DeviceOnboardingFailureNotRecorded', causePath: '$.failure.Cause' }), {
      errors: ['States.ALL'],
      resultPath: '$.failureRecordError',
    });
    recordFailure.next(new sfn.Fail(this, 'Onboarding failed', { errorPath: '$.failure.Error', causePath: '$.failure.Cause' }));

    const rejected = new sfn.Succeed(this, 'Capabilities rejected');
    const announce = new sfn.Choice(this, 'Anything to announce?')
      .when(sfn.Condition.or(
        sfn.Condition.booleanEquals('$.registration.changed', true),
        sfn.Condition.booleanEquals('$.claim.linked', true),
      ), emitEvents.next(notify).next(new sfn.Succeed(this, 'Device onboarded')))
      .otherwise(new sfn.Succeed(this, 'Nothing changed'));
    const noClaim = new sfn.Pass(this, 'No claim token', {
      result: sfn.Result.fromObject({ linked: false, outcome: 'NO_TOKEN', ownerId: null }),
      resultPath: '$.claim',
    });
    const claimChoice = new sfn.Choice(this, 'Claim token present?')
      .when(sfn.Condition.isPresent('$.message.claimToken'), claim.next(announce))
      .otherwise(noClaim.next(announce));
    const registered = new sfn.Choice(this, 'Capabilities changed?')
      .when(sfn.Condition.booleanEquals('$.registration.rejected', true), rejected)
      .when(sfn.Condition.booleanEquals('$.registration.changed', true), storeUiConfig.next(claimChoice))
      .otherwise(claimChoice);

    return new sfn.Choice(this, 'Capabilities valid?')
      .when(sfn.Condition.and(sfn.Condition.isPresent('$.valid'), sfn.Condition.booleanEquals('$.valid', true)), register.next(registered))
      .otherwise(recordRejection.next(rejected));
  }
}
