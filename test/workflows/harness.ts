import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Context } from 'aws-lambda';
import { LocalDynamoDb } from '../../sandbox/src/dynamodb/local-dynamodb';
import { LocalSecretsEndpoint } from '../../sandbox/src/secrets/local-secrets-endpoint';
import { LOCAL_ACCOUNT, LOCAL_REGION, resolveIntrinsic } from '../../sandbox/src/stepfunctions/definition';
import { LocalStepFunctionsEndpoint } from '../../sandbox/src/stepfunctions/local-sfn-endpoint';
import { LocalWorkflow } from '../../sandbox/src/stepfunctions/local-workflow';
import { TaskTokens } from '../../sandbox/src/stepfunctions/task-tokens';

/** A message that a handler published through the IoT data plane API. */
export interface CapturedPublish {
  readonly topic: string;
  readonly qos: number;
  readonly payload: any;
}

type Handler = (event: any, context: Context) => Promise<any>;

/**
 * Local stand-ins for the services that workflow handlers call: DynamoDB (dynalite), the Step
 * Functions task token API, and a recorder for IoT publishes and GraphQL requests. Everything
 * listens on 127.0.0.1.
 */
export class WorkflowHarness {
  public static async start(): Promise<WorkflowHarness> {
    const dynamodb = await LocalDynamoDb.start();
    const taskTokens = new TaskTokens();
    const sfnEndpoint = await LocalStepFunctionsEndpoint.start(taskTokens);
    const secrets = await LocalSecretsEndpoint.start();
    const harness = new WorkflowHarness(dynamodb, taskTokens, sfnEndpoint, secrets);
    await new Promise<void>((resolve) => harness.recorder.listen(0, '127.0.0.1', () => resolve()));

    process.env.AWS_REGION = LOCAL_REGION;
    process.env.AWS_ACCESS_KEY_ID = 'local';
    process.env.AWS_SECRET_ACCESS_KEY = 'local';
    process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamodb.endpoint;
    process.env.AWS_ENDPOINT_URL_SFN = sfnEndpoint.url;
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = secrets.url;
    process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
    return harness;
  }

  public readonly publishes: CapturedPublish[] = [];
  public readonly graphqlRequests: any[] = [];
  private readonly recorder: Server;

  private constructor(
    public readonly dynamodb: LocalDynamoDb,
    public readonly taskTokens: TaskTokens,
    public readonly stepFunctions: LocalStepFunctionsEndpoint,
    /** Secrets Manager stand-in; secrets are keyed by the ARN or name the handler asks for. */
    public readonly secrets: LocalSecretsEndpoint,
  ) {
    this.recorder = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        const url = new URL(request.url ?? '/', 'http://127.0.0.1');
        const body = Buffer.concat(chunks).toString('utf8');
        if (url.pathname.startsWith('/topics/')) {
          const message = { topic: decodeURIComponent(url.pathname.slice('/topics/'.length)), qos: Number(url.searchParams.get('qos') ?? 0), payload: JSON.parse(body) };
          this.publishes.push(message);
          response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
          setImmediate(() => this.onPublish(message));
          return;
        }
        const graphql = JSON.parse(body);
        this.graphqlRequests.push(graphql);
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { publishDeviceUpdate: graphql.variables?.input ?? null } }));
      });
    });
  }

  /** Called for each IoT publish, after it is recorded. */
  public onPublish: (message: CapturedPublish) => void = () => undefined;

  /** URL that stands in for the IoT data endpoint and the GraphQL endpoint. */
  public get recorderUrl(): string {
    return `http://127.0.0.1:${(this.recorder.address() as AddressInfo).port}`;
  }

  /** Loads a handler module with the environment that the template gives its function. */
  public loadHandler(template: any, stack: Stack, fn: lambda.IFunction, modulePath: string): Handler {
    const logicalId = stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction);
    const variables = template.Resources[logicalId].Properties.Environment?.Variables ?? {};
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(variables)) {
      env[name] = this.resolve(template, value);
    }

    const saved = { ...process.env };
    Object.assign(process.env, env, { AWS_LAMBDA_FUNCTION_NAME: logicalId });
    let loaded: { handler: Handler } | undefined;
    try {
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        loaded = require(modulePath);
      });
    } finally {
      for (const name of Object.keys(process.env)) {
        if (!(name in saved)) delete process.env[name];
      }
      Object.assign(process.env, saved);
    }
    return loaded!.handler;
  }

  /** A local execution of a synthesized state machine whose Lambda tasks run the given handlers. */
  public workflow(template: any, stack: Stack, stateMachine: sfn.StateMachine, handlers: Map<lambda.IFunction, Handler>): LocalWorkflow {
    const byLogicalId = new Map<string, Handler>();
    for (const [fn, handler] of handlers) {
      byLogicalId.set(stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction), handler);
    }
    return new LocalWorkflow({
      template,
      stateMachineLogicalId: stack.getLogicalId(stateMachine.node.defaultChild as sfn.CfnStateMachine),
      taskTokens: this.taskTokens,
      invokeLambda: async (logicalId, payload) => {
        const handler = byLogicalId.get(logicalId);
        if (!handler) {
          throw new Error(`No handler loaded for function ${logicalId}.`);
        }
        return handler(JSON.parse(JSON.stringify(payload)), lambdaContext(logicalId));
      },
    });
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.recorder.close(() => resolve()));
    await this.stepFunctions.stop();
    await this.secrets.stop();
    await this.dynamodb.stop();
  }

  private resolve(template: any, value: unknown): string {
    return resolveIntrinsic(template, value, (_logicalId, attribute) => (attribute === 'GraphQLUrl' ? `${this.recorderUrl}/graphql` : undefined));
  }
}

/** A Lambda context with the fields that Powertools reads. */
export function lambdaContext(functionName: string): Context {
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: `local-${Math.random().toString(16).slice(2)}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => 20_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  } as Context;
}

export function templateOf(stack: Stack): any {
  return Template.fromStack(stack).toJSON();
}
