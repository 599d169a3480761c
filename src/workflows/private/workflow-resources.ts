import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { RETRYABLE_ERRORS } from './errors';
import { REGISTRY_TABLE_ENV } from './registry-env';
import { PlatformApi } from '../../api/platform-api';
import { acknowledgeKmsGrantWildcards, acknowledgeRules } from '../../private/acknowledge';
import { createHandler, HandlerFunctionClass } from '../../private/handler';
import { DeviceRegistry } from '../../registry/device-registry';

/** Settings that every workflow's functions share. */
export interface WorkflowEnvironment {
  readonly registry: DeviceRegistry;
  readonly api?: PlatformApi;
  readonly encryptionKey?: kms.IKey;
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Creates a workflow function with the registry's table names and the API URL in its
 * environment, and access to the idempotency table and to publishDeviceUpdate.
 */
export function createWorkflowFunction(
  scope: Construct,
  id: string,
  functionClass: HandlerFunctionClass,
  workflow: WorkflowEnvironment,
  options: { description: string; invokedSynchronously: boolean; environment?: Record<string, string>; timeout?: Duration },
): lambda.Function {
  const registry = workflow.registry;
  const fn = createHandler(scope, id, functionClass, {
    description: options.description,
    invokedSynchronously: options.invokedSynchronously,
    timeout: options.timeout ?? Duration.seconds(20),
    encryptionKey: workflow.encryptionKey,
    logRetention: workflow.logRetention,
    environment: {
      [REGISTRY_TABLE_ENV.devices]: registry.devicesTable.tableName,
      [REGISTRY_TABLE_ENV.links]: registry.linksTable.tableName,
      [REGISTRY_TABLE_ENV.pairingCodes]: registry.pairingCodesTable.tableName,
      [REGISTRY_TABLE_ENV.commands]: registry.commandsTable.tableName,
      [REGISTRY_TABLE_ENV.idempotency]: registry.idempotencyTable.tableName,
      ...(workflow.api ? { GRAPHQL_URL: workflow.api.graphqlUrl } : {}),
      ...options.environment,
    },
  });
  registry.idempotencyTable.grantReadWriteData(fn);
  workflow.api?.grantPublishDeviceUpdate(fn);
  acknowledgeKmsGrantWildcards(fn.role!);
  for (const table of [registry.devicesTable, registry.linksTable, registry.commandsTable]) {
    acknowledgeRules(fn.role!, [{
      id: `AwsSolutions-IAM5[Resource::<${tableLogicalId(table)}.Arn>/index/*]`,
      reason: 'Handlers query the table\'s secondary indexes, such as devices by owner and commands by thing.',
    }]);
  }
  return fn;
}

function tableLogicalId(table: { node: { defaultChild?: unknown } }): string {
  const child = table.node.defaultChild as { stack: { getLogicalId(element: unknown): string } };
  return child.stack.getLogicalId(child);
}

/**
 * Creates a Lambda task that retries throttling, transient dependency errors and Lambda
 * service errors with exponential backoff and jitter. The payload carries the execution id, so
 * a handler can make its steps idempotent per execution.
 */
export function invokeStep(
  scope: Construct,
  id: string,
  fn: lambda.IFunction,
  payload: Record<string, unknown>,
  options: { resultSelector?: Record<string, string>; resultPath?: string; waitForTaskToken?: boolean; timeout?: Duration } = {},
): tasks.LambdaInvoke {
  const task = new tasks.LambdaInvoke(scope, id, {
    lambdaFunction: fn,
    payload: sfn.TaskInput.fromObject({ ...payload, execution: sfn.JsonPath.executionId }),
    integrationPattern: options.waitForTaskToken ? sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN : sfn.IntegrationPattern.REQUEST_RESPONSE,
    resultSelector: options.resultSelector,
    resultPath: options.resultPath,
    taskTimeout: options.timeout ? sfn.Timeout.duration(options.timeout) : undefined,
    retryOnServiceExceptions: false,
  });
  task.addRetry({
    errors: RETRYABLE_ERRORS,
    interval: Duration.seconds(1),
    backoffRate: 2,
    maxAttempts: 4,
    jitterStrategy: sfn.JitterType.FULL,
  });
  return task;
}

/** Creates a state machine with X-Ray tracing and logs of every event, without execution data. */
export function createWorkflowStateMachine(
  scope: Construct,
  id: string,
  options: { definition: sfn.IChainable; type: sfn.StateMachineType; timeout: Duration; encryptionKey?: kms.IKey; logRetention?: logs.RetentionDays },
): sfn.StateMachine {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: options.logRetention ?? logs.RetentionDays.ONE_YEAR,
    encryptionKey: options.encryptionKey,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const stateMachine = new sfn.StateMachine(scope, id, {
    definitionBody: sfn.DefinitionBody.fromChainable(options.definition),
    stateMachineType: options.type,
    timeout: options.timeout,
    tracingEnabled: true,
    // Execution data would put task tokens and device data in the logs.
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
  });
  acknowledgeRules(stateMachine, [
    { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'Step Functions log delivery and X-Ray support no resource-level permissions.' },
  ]);
  return stateMachine;
}

/** Creates the encrypted dead-letter queue of EventBridge rule targets. */
export function createEventDeadLetterQueue(scope: Construct, id: string, encryptionKey?: kms.IKey): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: encryptionKey ? sqs.QueueEncryption.KMS : sqs.QueueEncryption.SQS_MANAGED,
    encryptionMasterKey: encryptionKey,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  // EventBridge writes to the queue as itself, so it needs the key to encrypt messages.
  encryptionKey?.grant(new iam.ServicePrincipal('events.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey');
  acknowledgeRules(queue, [
    { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of the workflow\'s event rule targets.' },
    { id: 'Serverless-SQSRedrivePolicy', reason: 'This queue is the dead-letter queue of the workflow\'s event rule targets.' },
  ]);
  return queue;
}
