import { CfnElement, Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DeviceLinkingFunction } from './device-linking-function';
import { REGISTRY_TABLE_ENV } from './private/registry-env';
import { WorkflowEnvironment, createWorkflowFunction, createWorkflowStateMachine, invokeStep } from './private/workflow-resources';
import { PlatformApi } from '../api/platform-api';
import { acknowledgeKmsGrantWildcards, acknowledgeRules } from '../private/acknowledge';
import { createHandler } from '../private/handler';
import { DeviceRegistry } from '../registry/device-registry';

/**
 * Properties of a DeviceLinkingWorkflow.
 */
export interface DeviceLinkingWorkflowProps {
  /** Registry with the devices, links and pairing codes tables. */
  readonly registry: DeviceRegistry;

  /** Bus that receives the Device Linked and Device Unlinked events. */
  readonly eventBus: events.IEventBus;

  /** Secret whose string value is the pepper of pairing code hashes, such as `PlatformSigningKeys.pairingCodePepper`. */
  readonly pairingCodePepper: secretsmanager.ISecret;

  /** The account's AWS IoT data endpoint (ATS), where reset commands are published. */
  readonly iotDataEndpoint: string;

  /**
   * API whose onDeviceUpdate subscribers receive the linked and removed updates.
   * @default - changes are recorded in the registry only
   */
  readonly api?: PlatformApi;

  /**
   * Key that encrypts the logs and the functions' environment.
   * @default - AWS managed keys
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
}

/** Errors that reject a pairing attempt and count as a failed attempt of the user. */
const COUNTED_PAIRING_ERRORS = [
  'PairingCodeInvalidError',
  'PairingCodeNotFoundError',
  'PairingCodeExpiredError',
  'PairingCodeUsedError',
  'PairingDeviceOwnedByAnotherUserError',
];

/** Actions of the handler that the state machines run; `issue` runs on the pairing function only. */
const STEP_ACTIONS = ['checkCode', 'link', 'recordFailedAttempt', 'notifyLinked', 'emitLinked', 'unlink', 'reset', 'notifyRemoved', 'emitUnlinked'];

/**
 * AWS AppSync limits the execution time of a request to 30 seconds (its service quotas), so an
 * execution that runs longer has no caller left to receive its outcome.
 */
const EXECUTION_TIMEOUT = Duration.seconds(30);

/**
 * Links devices to users with pairing codes and removes them again, as two Express workflows
 * that the GraphQL API runs with `StartSyncExecution`. They are Express because every step is
 * short and the caller waits for the outcome: the output, or the error name of the Fail state,
 * becomes the mutation's response.
 *
 * **Link** (`linkStateMachine`), input `{ userId, code, requestedAt }`: counts the user's failed
 * attempts of the last 15 minutes, looks up the code by its peppered HMAC and decides with
 * `evaluatePairingAttempt`. A link claims the code with a conditional write, so it is single use
 * even under concurrent requests. It then sets the device's `ownerId` (only if absent or already
 * this user), writes the links item, pushes a `linked` update to the owner and emits Device
 * Linked. Output: `{ outcome: 'LINKED' | 'ALREADY_LINKED', deviceId }`; a user who already owns
 * the device gets ALREADY_LINKED and nothing changes. A rejected attempt ends with one of the
 * errors `PairingCodeInvalidError`, `PairingCodeNotFoundError`, `PairingCodeExpiredError`,
 * `PairingCodeUsedError`, `PairingDeviceOwnedByAnotherUserError` and
 * `PairingTooManyAttemptsError`. Each of them except the last adds one to the user's failed
 * attempts.
 *
 * **Unlink** (`unlinkStateMachine`), input `{ userId, deviceId, requestedAt }`: only the device's
 * owner may remove it, and anyone else gets `NotAuthorizedError` with nothing changed. The
 * workflow deletes the links, clears the device's owner, name and room, publishes a reset
 * command to `iot/control/<thing>/reset`, pushes a final update with `removed: true`, which ends
 * the device's subscriptions, and emits Device Unlinked. Output: `{ outcome: 'UNLINKED',
 * deviceId }`. Removing a device that is already removed also raises `NotAuthorizedError`,
 * because the former owner no longer owns it.
 *
 * Other failures end with the error's name, such as `InvalidRequestError` or
 * `TransientDependencyError` after the retries. The registry changes come before the
 * notification, the event and the reset, so an execution that fails in those later steps has
 * still linked or removed the device.
 *
 * `pairingFunction` issues pairing codes for installers: invoke it with
 * `{ action: 'issue', deviceId, issuedBy }` to get `{ deviceId, code, expiresAt }`. Only the
 * code's hash is stored, so the returned code cannot be read again.
 *
 * @example
 * const linking = new DeviceLinkingWorkflow(this, 'Linking', {
 *   registry,
 *   eventBus: bus.eventBus,
 *   pairingCodePepper: keys.pairingCodePepper,
 *   iotDataEndpoint: provisioning.dataEndpointAddress,
 *   api,
 * });
 * linking.grantStartSync(resolverFunction);
 * linking.grantIssuePairingCode(resolverFunction);
 */
export class DeviceLinkingWorkflow extends Construct {
  /** Links a device to a user with a pairing code. */
  public readonly linkStateMachine: sfn.StateMachine;
  /** Removes a device from its owner and resets it. */
  public readonly unlinkStateMachine: sfn.StateMachine;
  /** Runs the steps of both workflows. */
  public readonly stepsFunction: lambda.IFunction;
  /** Issues pairing codes (action `issue`); it accepts no other action. */
  public readonly pairingFunction: lambda.IFunction;

  constructor(scope: Construct, id: string, props: DeviceLinkingWorkflowProps) {
    super(scope, id);

    this.stepsFunction = this.createStepsFunction(props);
    this.pairingFunction = this.createPairingFunction(props);
    this.linkStateMachine = this.createLinkStateMachine(this.stepsFunction, props);
    this.unlinkStateMachine = this.createUnlinkStateMachine(this.stepsFunction, props);
  }

  /**
   * Grants permission to run both workflows with StartSyncExecution.
   */
  public grantStartSync(grantee: iam.IGrantable): iam.Grant {
    return this.linkStateMachine.grantStartSyncExecution(grantee)
      .combine(this.unlinkStateMachine.grantStartSyncExecution(grantee));
  }

  /**
   * Grants permission to invoke the pairing function, which issues pairing codes.
   */
  public grantIssuePairingCode(grantee: iam.IGrantable): iam.Grant {
    return this.pairingFunction.grantInvoke(grantee);
  }

  private createStepsFunction(props: DeviceLinkingWorkflowProps): lambda.Function {
    const environment: WorkflowEnvironment = {
      registry: props.registry,
      api: props.api,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    };
    const steps = createWorkflowFunction(this, 'Steps', DeviceLinkingFunction, environment, {
      description: 'Device linking workflow steps: check pairing codes, link, unlink and reset devices',
      invokedSynchronously: true,
      timeout: Duration.seconds(10),
      environment: {
        DEVICE_LINKING_ACTIONS: STEP_ACTIONS.join(','),
        PAIRING_CODE_PEPPER_SECRET: props.pairingCodePepper.secretArn,
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        IOT_DATA_ENDPOINT: props.iotDataEndpoint,
        LINKS_BY_THING_INDEX: DeviceRegistry.LINKS_BY_THING_INDEX,
      },
    });
    props.registry.devicesTable.grantReadWriteData(steps);
    props.registry.linksTable.grantReadWriteData(steps);
    props.registry.pairingCodesTable.grantReadWriteData(steps);
    props.pairingCodePepper.grantRead(steps);
    props.eventBus.grantPutEventsTo(steps);
    steps.addToRolePolicy(new iam.PolicyStatement({
      actions: ['iot:Publish'],
      resources: [Stack.of(this).formatArn({ service: 'iot', resource: 'topic', resourceName: 'iot/control/*/reset' })],
    }));
    acknowledgeRules(steps.role!, [{
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/iot/control/*/reset]',
      reason: 'The reset goes to the reset topic of whichever device its owner removes; the workflow checks ownership before publishing.',
    }]);
    return steps;
  }

  private createPairingFunction(props: DeviceLinkingWorkflowProps): lambda.Function {
    // Its own function, so the API's permission to issue codes reaches no workflow step, and the
    // function reads devices and writes pairing codes only.
    const registry = props.registry;
    const pairing = createHandler(this, 'Pairing', DeviceLinkingFunction, {
      description: 'Issues pairing codes for installers and stores only their hashes',
      invokedSynchronously: true,
      timeout: Duration.seconds(10),
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
      // The handler reads every table name when it loads; the grants below limit what it can access.
      environment: {
        [REGISTRY_TABLE_ENV.devices]: registry.devicesTable.tableName,
        [REGISTRY_TABLE_ENV.links]: registry.linksTable.tableName,
        [REGISTRY_TABLE_ENV.pairingCodes]: registry.pairingCodesTable.tableName,
        [REGISTRY_TABLE_ENV.commands]: registry.commandsTable.tableName,
        [REGISTRY_TABLE_ENV.idempotency]: registry.idempotencyTable.tableName,
        DEVICE_LINKING_ACTIONS: 'issue',
        PAIRING_CODE_PEPPER_SECRET: props.pairingCodePepper.secretArn,
      },
    });
    // Statements on the table ARNs alone, because Table.grant adds the devices table's indexes,
    // which this function never reads.
    pairing.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [registry.devicesTable.tableArn] }));
    pairing.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [registry.pairingCodesTable.tableArn] }));
    // These are the key actions of CDK's table write grant.
    registry.encryptionKey.grant(pairing, 'kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*');
    props.pairingCodePepper.grantRead(pairing);
    acknowledgeKmsGrantWildcards(pairing.role!);
    return pairing;
  }

  private createLinkStateMachine(steps: lambda.IFunction, props: DeviceLinkingWorkflowProps): sfn.StateMachine {
    const checkCode = invokeStep(this, 'Check pairing code', steps, {
      action: 'checkCode',
      userId: sfn.JsonPath.stringAt('$.userId'),
      code: sfn.JsonPath.stringAt('$.code'),
      requestedAt: sfn.JsonPath.numberAt('$.requestedAt'),
    }, {
      resultSelector: { 'outcome.$': '$.Payload.outcome', 'deviceId.$': '$.Payload.deviceId', 'codeHash.$': '$.Payload.codeHash' },
      resultPath: '$.decision',
    });
    const link = invokeStep(this, 'Link device', steps, {
      action: 'link',
      userId: sfn.JsonPath.stringAt('$.userId'),
      codeHash: sfn.JsonPath.stringAt('$.decision.codeHash'),
    }, {
      resultSelector: { 'outcome.$': '$.Payload.outcome', 'deviceId.$': '$.Payload.deviceId', 'linkedAt.$': '$.Payload.linkedAt' },
      resultPath: '$.link',
    });
    const notify = invokeStep(this, 'Notify owner of link', steps, {
      action: 'notifyLinked',
      userId: sfn.JsonPath.stringAt('$.userId'),
      deviceId: sfn.JsonPath.stringAt('$.link.deviceId'),
      linkedAt: sfn.JsonPath.numberAt('$.link.linkedAt'),
    }, { resultPath: sfn.JsonPath.DISCARD });
    const emit = invokeStep(this, 'Emit Device Linked', steps, {
      action: 'emitLinked',
      userId: sfn.JsonPath.stringAt('$.userId'),
      deviceId: sfn.JsonPath.stringAt('$.link.deviceId'),
      linkedAt: sfn.JsonPath.numberAt('$.link.linkedAt'),
      requestedAt: sfn.JsonPath.numberAt('$.requestedAt'),
    }, { resultPath: sfn.JsonPath.DISCARD });
    const recordFailure = invokeStep(this, 'Record failed attempt', steps, {
      action: 'recordFailedAttempt',
      userId: sfn.JsonPath.stringAt('$.userId'),
      error: sfn.JsonPath.stringAt('$.error.Error'),
    }, { resultPath: sfn.JsonPath.DISCARD });

    const linked = new sfn.Pass(this, 'Device linked', { parameters: { 'outcome': 'LINKED', 'deviceId.$': '$.link.deviceId' } });
    const alreadyLinked = new sfn.Pass(this, 'Already linked', { parameters: { 'outcome': 'ALREADY_LINKED', 'deviceId.$': '$.decision.deviceId' } });
    const rejected = new sfn.Fail(this, 'Pairing rejected', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
    const failed = new sfn.Fail(this, 'Link failed', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
    // Without the record, the attempt would go uncounted, so the request fails with the
    // recording's error instead of telling the user why the code was rejected.
    const notRecorded = new sfn.Fail(this, 'Attempt not recorded', { errorPath: '$.recordError.Error', causePath: '$.recordError.Cause' });

    checkCode.addCatch(recordFailure, { errors: COUNTED_PAIRING_ERRORS, resultPath: '$.error' });
    checkCode.addCatch(rejected, { errors: ['PairingTooManyAttemptsError'], resultPath: '$.error' });
    checkCode.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });
    link.addCatch(recordFailure, { errors: COUNTED_PAIRING_ERRORS, resultPath: '$.error' });
    link.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });
    recordFailure.addCatch(notRecorded, { errors: ['States.ALL'], resultPath: '$.recordError' });
    notify.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });
    emit.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });
    recordFailure.next(rejected);

    const definition = checkCode.next(new sfn.Choice(this, 'Already owner?')
      .when(sfn.Condition.stringEquals('$.decision.outcome', 'ALREADY_LINKED'), alreadyLinked)
      .otherwise(link.next(new sfn.Choice(this, 'Linked by this request?')
        .when(sfn.Condition.stringEquals('$.link.outcome', 'ALREADY_LINKED'), alreadyLinked)
        .otherwise(notify.next(emit).next(linked)))));

    return this.createStateMachine('LinkStateMachine', definition, steps, props);
  }

  private createUnlinkStateMachine(steps: lambda.IFunction, props: DeviceLinkingWorkflowProps): sfn.StateMachine {
    const unlink = invokeStep(this, 'Unlink device', steps, {
      action: 'unlink',
      userId: sfn.JsonPath.stringAt('$.userId'),
      deviceId: sfn.JsonPath.stringAt('$.deviceId'),
      requestedAt: sfn.JsonPath.numberAt('$.requestedAt'),
    }, {
      resultSelector: { 'deviceId.$': '$.Payload.deviceId', 'unlinkedAt.$': '$.Payload.unlinkedAt' },
      resultPath: '$.unlink',
    });
    const reset = invokeStep(this, 'Publish reset', steps, {
      action: 'reset',
      userId: sfn.JsonPath.stringAt('$.userId'),
      deviceId: sfn.JsonPath.stringAt('$.unlink.deviceId'),
    }, { resultPath: sfn.JsonPath.DISCARD });
    const notify = invokeStep(this, 'Notify owner of removal', steps, {
      action: 'notifyRemoved',
      userId: sfn.JsonPath.stringAt('$.userId'),
      deviceId: sfn.JsonPath.stringAt('$.unlink.deviceId'),
      unlinkedAt: sfn.JsonPath.numberAt('$.unlink.unlinkedAt'),
    }, { resultPath: sfn.JsonPath.DISCARD });
    const emit = invokeStep(this, 'Emit Device Unlinked', steps, {
      action: 'emitUnlinked',
      userId: sfn.JsonPath.stringAt('$.userId'),
      deviceId: sfn.JsonPath.stringAt('$.unlink.deviceId'),
      unlinkedAt: sfn.JsonPath.numberAt('$.unlink.unlinkedAt'),
      requestedAt: sfn.JsonPath.numberAt('$.requestedAt'),
    }, { resultPath: sfn.JsonPath.DISCARD });

    const unlinked = new sfn.Pass(this, 'Device unlinked', { parameters: { 'outcome': 'UNLINKED', 'deviceId.$': '$.unlink.deviceId' } });
    const rejected = new sfn.Fail(this, 'Unlink rejected', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
    const failed = new sfn.Fail(this, 'Unlink failed', { errorPath: '$.error.Error', causePath: '$.error.Cause' });

    unlink.addCatch(rejected, { errors: ['NotAuthorizedError', 'InvalidRequestError'], resultPath: '$.error' });
    unlink.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });
    for (const task of [reset, notify, emit]) {
      task.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });
    }

    const definition = unlink.next(reset).next(notify).next(emit).next(unlinked);
    return this.createStateMachine('UnlinkStateMachine', definition, steps, props);
  }

  private createStateMachine(id: string, definition: sfn.IChainable, steps: lambda.IFunction, props: DeviceLinkingWorkflowProps): sfn.StateMachine {
    const stateMachine = createWorkflowStateMachine(this, id, {
      definition,
      type: sfn.StateMachineType.EXPRESS,
      timeout: EXECUTION_TIMEOUT,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    });
    acknowledgeRules(stateMachine.role, [{
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(steps)}.Arn>:*]`,
      reason: 'CDK grants the workflow every version and alias of its own steps function.',
    }]);
    return stateMachine;
  }
}

function logicalIdOf(construct: Construct): string {
  const resource = construct.node.defaultChild as CfnElement;
  return Stack.of(construct).getLogicalId(resource);
}
