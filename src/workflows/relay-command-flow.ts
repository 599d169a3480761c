import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { WorkflowEnvironment, createWorkflowFunction, createWorkflowStateMachine, createEventDeadLetterQueue, invokeStep } from './private/workflow-resources';
import { RelayAcknowledgementFunction } from './relay-acknowledgement-function';
import { RelayCommandFunction } from './relay-command-function';
import { PlatformApi } from '../api/platform-api';
import { PlatformEventSource, PlatformEventType } from '../events/event-contracts';
import { acknowledgeRules } from '../private/acknowledge';
import { DeviceRegistry } from '../registry/device-registry';

/**
 * Properties of a RelayCommandFlow.
 */
export interface RelayCommandFlowProps {
  /** Registry with the devices, links and commands tables. */
  readonly registry: DeviceRegistry;

  /** Bus with the Relay State Reported and Relay Command Requested events. */
  readonly eventBus: events.IEventBus;

  /** The account's AWS IoT data endpoint (ATS), where commands are published. */
  readonly iotDataEndpoint: string;

  /**
   * API whose onDeviceUpdate subscribers receive each command's outcome.
   * @default - outcomes are recorded in the registry only
   */
  readonly api?: PlatformApi;

  /**
   * How long the workflow waits for the device's acknowledgement before the command ends
   * TIMED_OUT. Commands also expire on the device after this time, so a late delivery is
   * dropped instead of switching the relay.
   * @default Duration.seconds(10)
   */
  readonly acknowledgementTimeout?: Duration;

  /**
   * Key that encrypts the logs, the dead-letter queues and the functions' environment.
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
 * Switches a relay and waits for the device to confirm it. A Standard workflow, because it waits
 * for a callback (`.waitForTaskToken`), which Express workflows do not support. It checks that
 * the requesting user owns the device, records the command as PENDING, publishes it to
 * `iot/control/<thing>/relay` and waits for the acknowledgement on `iot/status/<thing>/relay`.
 * The task token stays in the commands table, keyed by commandId, and never reaches the device.
 * The command ends SUCCEEDED, REJECTED, EXPIRED or TIMED_OUT, and the owner receives the
 * outcome on onDeviceUpdate.
 *
 * Executions start from Relay Command Requested events on the bus, or directly with the
 * commandId as execution name, which makes a repeated start of the same command a no-op.
 *
 * @example
 * const flow = new RelayCommandFlow(this, 'RelayCommands', {
 *   registry,
 *   eventBus: bus.eventBus,
 *   iotDataEndpoint: provisioning.dataEndpointAddress,
 *   acknowledgementTimeout: Duration.seconds(15),
 * });
 */
export class RelayCommandFlow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  /** Runs the workflow's steps. */
  public readonly stepsFunction: lambda.IFunction;
  /** Receives relay reports and resumes waiting workflows. */
  public readonly acknowledgementFunction: lambda.IFunction;
  /** How long the workflow waits for an acknowledgement. */
  public readonly acknowledgementTimeout: Duration;
  /** Dead-letter queue of the event rules' targets. */
  public readonly deadLetterQueue: sqs.IQueue;

  constructor(scope: Construct, id: string, props: RelayCommandFlowProps) {
    super(scope, id);

    this.acknowledgementTimeout = props.acknowledgementTimeout ?? Duration.seconds(10);
    const timeoutSeconds = this.acknowledgementTimeout.toSeconds();
    if (!this.acknowledgementTimeout.isUnresolved() && (timeoutSeconds < 1 || timeoutSeconds > 3600)) {
      throw new Error(`Invalid acknowledgementTimeout of ${this.acknowledgementTimeout.toHumanString()}: it must be between 1 second and 1 hour.`);
    }
    const environment: WorkflowEnvironment = {
      registry: props.registry,
      api: props.api,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    };

    // Functions: the workflow's steps, and the handler of device reports.
    const steps = createWorkflowFunction(this, 'Steps', RelayCommandFunction, environment, {
      description: 'Relay command workflow steps: record, publish and finish commands',
      invokedSynchronously: true,
      environment: {
        IOT_DATA_ENDPOINT: props.iotDataEndpoint,
        COMMAND_TTL_MS: String(this.acknowledgementTimeout.toMilliseconds()),
      },
    });
    props.registry.linksTable.grantReadData(steps);
    props.registry.devicesTable.grantReadWriteData(steps);
    props.registry.commandsTable.grantReadWriteData(steps);
    steps.addToRolePolicy(new iam.PolicyStatement({
      actions: ['iot:Publish'],
      resources: [Stack.of(this).formatArn({ service: 'iot', resource: 'topic', resourceName: 'iot/control/*/relay' })],
    }));
    acknowledgeRules(steps.role!, [{
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/iot/control/*/relay]',
      reason: 'Commands go to the relay control topic of whichever device the user owns; the workflow checks ownership before publishing.',
    }]);
    this.stepsFunction = steps;

    const acknowledgements = createWorkflowFunction(this, 'Acknowledgements', RelayAcknowledgementFunction, environment, {
      description: 'Resumes relay command workflows when devices acknowledge, and records local relay changes',
      invokedSynchronously: false,
    });
    props.registry.devicesTable.grantReadWriteData(acknowledgements);
    props.registry.commandsTable.grantReadWriteData(acknowledgements);
    this.acknowledgementFunction = acknowledgements;

    // The workflow.
    const record = invokeStep(this, 'Record command', steps, { action: 'record', request: sfn.JsonPath.entirePayload }, {
      resultSelector: { 'duplicate.$': '$.Payload.duplicate', 'command.$': '$.Payload.command' },
      resultPath: '$.recorded',
    });
    const publish = invokeStep(this, 'Publish and wait for acknowledgement', steps, {
      action: 'publish',
      taskToken: sfn.JsonPath.taskToken,
      command: sfn.JsonPath.objectAt('$.recorded.command'),
    }, { resultPath: '$.acknowledgement', waitForTaskToken: true, timeout: this.acknowledgementTimeout });
    const complete = invokeStep(this, 'Record outcome', steps, {
      action: 'complete',
      command: sfn.JsonPath.objectAt('$.recorded.command'),
      acknowledgement: sfn.JsonPath.objectAt('$.acknowledgement'),
    }, { resultSelector: { 'status.$': '$.Payload.status' }, resultPath: '$.outcome' });
    const finish = (status: 'TIMED_OUT' | 'FAILED') => invokeStep(this, status === 'TIMED_OUT' ? 'Record timeout' : 'Record failure', steps, {
      action: 'finish',
      status,
      command: sfn.JsonPath.objectAt('$.recorded.command'),
      error: sfn.JsonPath.objectAt('$.error'),
    }, { resultSelector: { 'status.$': '$.Payload.status' }, resultPath: '$.outcome' });
    const recordTimeout = finish('TIMED_OUT');
    const recordFailure = finish('FAILED');

    const rejected = new sfn.Fail(this, 'Request rejected', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
    const failed = new sfn.Fail(this, 'Command failed', { error: 'RelayCommandFailed', causePath: '$.error.Cause' });
    const outcomeNotRecorded = new sfn.Fail(this, 'Outcome not recorded', { error: 'RelayCommandOutcomeNotRecorded', causePath: '$.error.Cause' });

    const notRecorded = new sfn.Fail(this, 'Command not recorded', { error: 'RelayCommandNotRecorded', causePath: '$.error.Cause' });
    record.addCatch(rejected, { errors: ['NotAuthorizedError', 'InvalidRequestError', 'DeviceNotFoundError'], resultPath: '$.error' });
    record.addCatch(notRecorded, { errors: ['States.ALL'], resultPath: '$.error' });
    publish.addCatch(recordTimeout, { errors: ['States.Timeout'], resultPath: '$.error' });
    publish.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.error' });
    complete.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.error' });
    recordTimeout.addCatch(outcomeNotRecorded, { errors: ['States.ALL'], resultPath: '$.error' });
    recordFailure.addCatch(outcomeNotRecorded, { errors: ['States.ALL'], resultPath: '$.error' });

    const definition = record.next(new sfn.Choice(this, 'Already recorded?')
      .when(sfn.Condition.booleanEquals('$.recorded.duplicate', true), new sfn.Succeed(this, 'Duplicate request'))
      .otherwise(publish.next(complete).next(new sfn.Succeed(this, 'Command finished'))));
    recordTimeout.next(new sfn.Succeed(this, 'Command timed out'));
    recordFailure.next(failed);

    this.stateMachine = createWorkflowStateMachine(this, 'StateMachine', {
      definition,
      type: sfn.StateMachineType.STANDARD,
      timeout: this.acknowledgementTimeout.plus(Duration.minutes(10)),
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    });
    this.stateMachine.grantTaskResponse(acknowledgements);
    acknowledgeRules(this.stateMachine.role, [{
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(steps.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
      reason: 'CDK grants the workflow every version and alias of its own steps function.',
    }]);

    // Device reports resume workflows; command requests on the bus start them.
    const deadLetterQueue = createEventDeadLetterQueue(this, 'EventsDlq', props.encryptionKey);
    this.deadLetterQueue = deadLetterQueue;
    new events.Rule(this, 'RelayReports', {
      eventBus: props.eventBus,
      description: 'Relay states and acknowledgements from devices',
      eventPattern: { source: [PlatformEventSource.DEVICE], detailType: [PlatformEventType.RELAY_STATE_REPORTED] },
      targets: [new targets.LambdaFunction(acknowledgements, { deadLetterQueue, retryAttempts: 8, maxEventAge: Duration.hours(1) })],
    });
    new events.Rule(this, 'CommandRequests', {
      eventBus: props.eventBus,
      description: 'Relay Command Requested events start a relay command workflow',
      // Only the platform's own workflows and API put command requests on the bus.
      eventPattern: { source: [PlatformEventSource.WORKFLOW, PlatformEventSource.API], detailType: [PlatformEventType.RELAY_COMMAND_REQUESTED] },
      targets: [new targets.SfnStateMachine(this.stateMachine, {
        input: events.RuleTargetInput.fromEventPath('$.detail'),
        deadLetterQueue,
        retryAttempts: 8,
      })],
    });
  }
}
