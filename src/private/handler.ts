import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeRules, skipCheckovChecks } from './acknowledge';

/** Constructor of a function class that projen generates for each `*.lambda.ts` handler. */
export type HandlerFunctionClass = new (scope: Construct, id: string, props?: lambda.FunctionOptions) => lambda.Function;

/** Settings shared by every handler the library creates. */
export interface HandlerOptions {
  readonly description: string;
  readonly environment?: Record<string, string>;
  readonly timeout?: Duration;
  readonly memorySize?: number;
  /** Key for the log group and the environment variables. */
  readonly encryptionKey?: kms.IKey;
  /** @default logs.RetentionDays.ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
  /**
   * True for functions that callers invoke synchronously (API calls, hooks, SQS event source
   * mappings, Step Functions tasks), where the caller receives every error. Other functions get
   * an encrypted dead-letter queue for failed asynchronous events.
   */
  readonly invokedSynchronously: boolean;
  readonly reservedConcurrentExecutions?: number;
}

/**
 * Creates a handler function with its own role, a log group with a retention period, X-Ray
 * tracing, JSON logs and encrypted environment variables.
 */
export function createHandler(scope: Construct, id: string, functionClass: HandlerFunctionClass, options: HandlerOptions): lambda.Function {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: options.logRetention ?? logs.RetentionDays.ONE_YEAR,
    encryptionKey: options.encryptionKey,
  });

  // A role per function, granting logs access to its own log group only, instead of the
  // AWSLambdaBasicExecutionRole managed policy that reaches every log group in the account.
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `Execution role of ${options.description}`,
  });
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [logGroup.logGroupArn, `${logGroup.logGroupArn}:log-stream:*`],
  }));

  let deadLetterQueue: sqs.IQueue | undefined;
  if (!options.invokedSynchronously) {
    deadLetterQueue = new sqs.Queue(scope, `${id}Dlq`, {
      encryption: options.encryptionKey ? sqs.QueueEncryption.KMS : sqs.QueueEncryption.SQS_MANAGED,
      encryptionMasterKey: options.encryptionKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledgeRules(deadLetterQueue, [
      { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of a function\'s asynchronous invocations.' },
      { id: 'Serverless-SQSRedrivePolicy', reason: 'This queue is the dead-letter queue of a function\'s asynchronous invocations.' },
    ]);
  }

  const fn = new functionClass(scope, id, {
    description: options.description,
    role,
    logGroup,
    loggingFormat: lambda.LoggingFormat.JSON,
    tracing: lambda.Tracing.ACTIVE,
    timeout: options.timeout ?? Duration.seconds(10),
    memorySize: options.memorySize ?? 512,
    architecture: lambda.Architecture.ARM_64,
    environmentEncryption: options.encryptionKey,
    reservedConcurrentExecutions: options.reservedConcurrentExecutions,
    deadLetterQueue,
    environment: {
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: id,
      AWS_ACCOUNT_ID: Stack.of(scope).account,
      ...options.environment,
    },
  });

  acknowledgeRules(role, [
    {
      id: 'AwsSolutions-IAM5[Resource::<' + Stack.of(scope).getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup) + '.Arn>:log-stream:*]',
      reason: 'Lambda creates log streams with generated names inside the function\'s own log group.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions.',
    },
  ]);
  const checkovSkips = [
    { id: 'CKV_AWS_117', reason: 'The function calls only AWS APIs over TLS; a VPC would add NAT cost and cold-start time without reducing exposure.' },
    { id: 'CKV_AWS_115', reason: 'Reserving concurrency fails deployment in accounts with the default concurrency quota; throttling is alarmed instead.' },
  ];
  if (options.invokedSynchronously) {
    const reason = 'Invoked synchronously, so the caller receives every error and there is no asynchronous event to dead-letter.';
    checkovSkips.push({ id: 'CKV_AWS_116', reason });
    acknowledgeRules(fn, [{ id: 'Serverless-LambdaDLQ', reason }]);
  }
  skipCheckovChecks(fn, checkovSkips);
  return fn;
}
