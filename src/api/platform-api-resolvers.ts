import { CfnResource, Duration, Stack } from 'aws-cdk-lib';
import * as appsync from 'aws-cdk-lib/aws-appsync';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ApiResolverFunction } from './api-resolver-function';
import { PlatformApi } from './platform-api';
import { INVOKE_RESOLVER_CODE, ME_RESOLVER_CODE, PUBLISH_UPDATE_RESOLVER_CODE, REMOVE_DEVICE_RESOLVER_CODE, SUBSCRIPTION_RESOLVER_CODE } from './private/resolver-code';
import { PlatformAuth } from '../auth/platform-auth';
import { acknowledgeRules } from '../private/acknowledge';
import { DeviceRegistry } from '../registry/device-registry';
import { createWorkflowFunction } from '../workflows/private/workflow-resources';
import { RelayCommandFlow } from '../workflows/relay-command-flow';

/**
 * Properties of PlatformApiResolvers.
 */
export interface PlatformApiResolversProps {
  /** The API to add resolvers to. */
  readonly api: PlatformApi;
  readonly registry: DeviceRegistry;
  /** Bucket with the devices' UI documents. */
  readonly uiConfigBucket: s3.IBucket;
  /** The workflow that controlRelay starts. */
  readonly relayCommands: RelayCommandFlow;
  /** Express workflow that addDevice runs synchronously. */
  readonly linkStateMachine: sfn.IStateMachine;
  /** Express workflow that removeDevice runs synchronously. */
  readonly unlinkStateMachine: sfn.IStateMachine;
  /** Function that issues pairing codes (action `issue`). */
  readonly pairingFunction: lambda.IFunction;
  /** HMAC key of auto-discovery claim tokens. */
  readonly claimTokenKey: secretsmanager.ISecret;

  /**
   * Workflow that startFirmwareRollout starts.
   * @default - startFirmwareRollout fails with an error saying that the platform has no OTA rollout workflow
   */
  readonly otaRolloutStateMachine?: sfn.IStateMachine;

  /**
   * Thing group that a rollout targets when the request names none.
   * @default - the request must name a thing group
   */
  readonly fleetThingGroupArn?: string;

  /**
   * Key that encrypts the function's logs and environment.
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
 * Resolvers of the platform API. One function resolves every user-facing field with the
 * caller's identity from the verified token, and checks on the server that the caller owns
 * the device a field names. onDeviceUpdate sets a filter on the subscriber's own user id, so a
 * client cannot subscribe to another user's devices by choosing its own filter.
 *
 * controlRelay returns at once with the command in PENDING; the outcome arrives on
 * onDeviceUpdate. addDevice and removeDevice run their Express workflows synchronously and
 * return their result or error.
 *
 * @example
 * new PlatformApiResolvers(this, 'Resolvers', {
 *   api, registry, uiConfigBucket: storage.uiConfigBucket, relayCommands,
 *   linkStateMachine: linking.linkStateMachine, unlinkStateMachine: linking.unlinkStateMachine,
 *   pairingFunction: linking.pairingFunction, claimTokenKey: keys.claimTokenKey,
 * });
 */
export class PlatformApiResolvers extends Construct {
  /** The function behind every user-facing field. */
  public readonly resolverFunction: lambda.IFunction;

  constructor(scope: Construct, id: string, props: PlatformApiResolversProps) {
    super(scope, id);

    const fn = createWorkflowFunction(this, 'Resolver', ApiResolverFunction, {
      registry: props.registry,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    }, {
      description: 'Resolves the platform API\'s fields with ownership checks',
      invokedSynchronously: true,
      timeout: Duration.seconds(25),
      environment: {
        UI_CONFIG_BUCKET: props.uiConfigBucket.bucketName,
        RELAY_COMMAND_STATE_MACHINE_ARN: props.relayCommands.stateMachine.stateMachineArn,
        COMMAND_TTL_MS: String(props.relayCommands.acknowledgementTimeout.toMilliseconds()),
        LINK_STATE_MACHINE_ARN: props.linkStateMachine.stateMachineArn,
        UNLINK_STATE_MACHINE_ARN: props.unlinkStateMachine.stateMachineArn,
        PAIRING_FUNCTION_NAME: props.pairingFunction.functionName,
        CLAIM_TOKEN_KEY_SECRET: props.claimTokenKey.secretArn,
        ADMINS_GROUP: PlatformAuth.ADMINS_GROUP,
        ...(props.otaRolloutStateMachine ? { OTA_STATE_MACHINE_ARN: props.otaRolloutStateMachine.stateMachineArn } : {}),
        ...(props.fleetThingGroupArn ? { FLEET_THING_GROUP_ARN: props.fleetThingGroupArn } : {}),
      },
    });
    props.registry.devicesTable.grantReadWriteData(fn);
    props.registry.linksTable.grantReadData(fn);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [props.uiConfigBucket.arnForObjects('ui/*')] }));
    props.uiConfigBucket.encryptionKey?.grantDecrypt(fn);
    props.relayCommands.stateMachine.grantStartExecution(fn);
    fn.addToRolePolicy(new iam.PolicyStatement({
      actions: ['states:StartSyncExecution'],
      resources: [props.linkStateMachine.stateMachineArn, props.unlinkStateMachine.stateMachineArn],
    }));
    props.pairingFunction.grantInvoke(fn);
    props.otaRolloutStateMachine?.grantStartExecution(fn);
    props.claimTokenKey.grantRead(fn);
    acknowledgeRules(fn.role!, [
      {
        id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.uiConfigBucket)}.Arn>/ui/*]`,
        reason: 'The resolver reads the UI document of whichever device the caller owns; documents are named after the device and its capabilities.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.pairingFunction)}.Arn>:*]`,
        reason: 'CDK grants invoke on every version and alias of the pairing code function.',
      },
    ]);
    this.resolverFunction = fn;

    const dataSource = props.api.api.addLambdaDataSource('Resolver', fn);
    acknowledgeRules(dataSource, [{
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(fn)}.Arn>:*]`,
      reason: 'CDK grants AppSync invoke on every version and alias of the resolver function.',
    }]);
    const resolve = (typeName: string, fieldName: string, code: string, source: appsync.BaseDataSource = dataSource) =>
      source.createResolver(`${typeName}${fieldName}`, {
        typeName,
        fieldName,
        runtime: appsync.FunctionRuntime.JS_1_0_0,
        code: appsync.Code.fromInline(code),
      });

    for (const field of ['getMyDevices', 'getDeviceState', 'getDeviceUi']) {
      resolve('Query', field, INVOKE_RESOLVER_CODE);
    }
    for (const field of ['controlRelay', 'registerDevice', 'addDevice', 'createClaimToken', 'createPairingCode', 'startFirmwareRollout']) {
      resolve('Mutation', field, INVOKE_RESOLVER_CODE);
    }
    resolve('Mutation', 'removeDevice', REMOVE_DEVICE_RESOLVER_CODE);
    resolve('Subscription', 'onDeviceUpdate', SUBSCRIPTION_RESOLVER_CODE);
    resolve('Query', 'me', ME_RESOLVER_CODE, props.api.noneDataSource);
    resolve('Mutation', 'publishDeviceUpdate', PUBLISH_UPDATE_RESOLVER_CODE, props.api.noneDataSource);
  }
}

function logicalIdOf(construct: { node: { defaultChild?: unknown } }): string {
  const resource = construct.node.defaultChild as CfnResource;
  return Stack.of(resource).getLogicalId(resource);
}
