/**
 * The local sandbox: runs the SmartHomePlatform stack of a synthesized cloud assembly on
 * 127.0.0.1 with no AWS account. Every service the stack uses is started from the template
 * (see docs/sandbox.md for the mapping and the differences from AWS).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { LocalAppSyncServer } from './appsync/local-appsync-server';
import { AssemblyStack, readAssemblyStacks, selectPlatformStack } from './assembly/cloud-assembly';
import { InventoryEntry, inventoryOf } from './assembly/inventory';
import { LocalCognitoEndpoint } from './cognito/local-cognito-endpoint';
import type { LocalUserPool } from './cognito/local-user-pool';
import { LocalDynamoDb } from './dynamodb/local-dynamodb';
import { LocalEventRouter } from './events/local-event-router';
import { LocalEventsEndpoint } from './events/local-events-endpoint';
import { LocalFirehoseEndpoint } from './firehose/local-firehose-endpoint';
import { LocalIotDataEndpoint } from './iot/local-iot-data-endpoint';
import { LocalIotJobsEndpoint } from './iot/local-iot-jobs-endpoint';
import { LocalThingRegistry } from './iot/local-thing-registry';
import { LocalKmsEndpoint } from './kms/local-kms-endpoint';
import { LocalLambdaEndpoint } from './lambda/local-lambda-endpoint';
import { LambdaInvocationError, LocalLambdaRuntime } from './lambda/local-lambda-runtime';
import { LocalIotCore } from './local-iot-core';
import { LocalServiceAddresses, localResolver } from './local-references';
import { LocalS3Endpoint } from './s3/local-s3-endpoint';
import { LocalSecretsEndpoint } from './secrets/local-secrets-endpoint';
import { LocalSqs, eventSourceMappingsFromTemplate } from './sqs/local-sqs';
import { LOCAL_ACCOUNT, LOCAL_REGION, localReference } from './stepfunctions/definition';
import { LocalStepFunctionsEndpoint } from './stepfunctions/local-sfn-endpoint';
import { LocalWorkflow } from './stepfunctions/local-workflow';
import { TaskTokens } from './stepfunctions/task-tokens';

/** A user of the local user pool, created at start. */
export interface SandboxUser {
  readonly username: string;
  readonly password: string;
  readonly groups?: readonly string[];
}

export interface SandboxOptions {
  /** Cloud assembly folder (cdk.out). */
  readonly assembly: string;
  /** Stage (nested assembly display name) of the platform stack, when the assembly has several. */
  readonly stage?: string;
  /** Stack name or artifact id of the platform stack. */
  readonly stack?: string;
  /** Folder for certificates, the endpoints file and the function log. Default `.sandbox` in the working directory. */
  readonly dataDirectory?: string;
  /** TCP port of the MQTT broker; 0 (the default) picks a free one. */
  readonly mqttPort?: number;
  /** TCP port of the GraphQL server; 0 (the default) picks a free one. */
  readonly apiPort?: number;
  /** Keeps DynamoDB data in `<dataDirectory>/dynamodb` across runs. Default: in memory. */
  readonly persistDynamoDb?: boolean;
  /** Users to create in the local user pool. */
  readonly users?: readonly SandboxUser[];
  /** Serial numbers to add to the provisioning allow-list table, when the stack has one. */
  readonly allowedSerials?: readonly string[];
  /** Milliseconds that Step Functions Wait states wait instead of their own duration. */
  readonly waitStateMs?: number;
  /** Factor applied to SQS visibility timeouts, so redeliveries come sooner. Default 1. */
  readonly visibilityTimeoutScale?: number;
  /** Sandbox log lines (starts, stops, errors). */
  readonly log?: (line: string) => void;
  /** Lines that Lambda handlers write. */
  readonly functionLog?: (functionName: string, line: string) => void;
}

/** Executions of one state machine in this sandbox. */
export interface WorkflowStatistics {
  readonly type: string;
  readonly executions: number;
  readonly succeeded: number;
  /** States entered per execution; Step Functions bills Standard workflows by these. */
  readonly stateTransitions: { readonly median: number; readonly min: number; readonly max: number };
  readonly averageDurationMs: number;
}

/** Endpoints and files of a running sandbox, as written to `<dataDirectory>/endpoints.json`. */
export interface SandboxEndpoints {
  readonly stackName: string;
  readonly stage?: string;
  readonly region: string;
  readonly mqtt: { readonly host: string; readonly port: number };
  readonly graphqlUrl: string;
  readonly realtimeUrl: string;
  readonly cognitoUrl: string;
  readonly userPoolId: string;
  readonly userPoolClientId: string;
  readonly dynamodbUrl: string;
  readonly provisioningTemplateName: string;
  readonly thingNamePrefix: string;
  readonly caFile: string;
  readonly claimCertFile: string;
  readonly claimKeyFile: string;
  readonly otaPublicKeyFile?: string;
  readonly tables: Readonly<Record<string, string>>;
  readonly buckets: Readonly<Record<string, string>>;
}

export class Sandbox {
  /** Starts every local service of the selected platform stack and returns once they listen. */
  public static async start(options: SandboxOptions): Promise<Sandbox> {
    const log = options.log ?? (() => undefined);
    const stack = selectPlatformStack(readAssemblyStacks(options.assembly), { stage: options.stage, stack: options.stack });
    const inventory = inventoryOf(stack.template);
    const dataDirectory = resolve(options.dataDirectory ?? '.sandbox');
    mkdirSync(dataDirectory, { recursive: true });

    const sandbox = new Sandbox(stack, inventory, dataDirectory, options);
    try {
      await sandbox.startServices();
    } catch (error) {
      await sandbox.stop().catch(() => undefined);
      throw error;
    }
    log(`sandbox: ${stack.stackName} running`);
    return sandbox;
  }

  public readonly taskTokens = new TaskTokens();
  public dynamodb!: LocalDynamoDb;
  public secrets!: LocalSecretsEndpoint;
  public s3!: LocalS3Endpoint;
  public kms!: LocalKmsEndpoint;
  public firehose!: LocalFirehoseEndpoint;
  public events!: LocalEventsEndpoint;
  public stepFunctions!: LocalStepFunctionsEndpoint;
  public iotJobs!: LocalIotJobsEndpoint;
  public iotData!: LocalIotDataEndpoint;
  public lambdaEndpoint!: LocalLambdaEndpoint;
  public runtime!: LocalLambdaRuntime;
  public sqs!: LocalSqs;
  public eventRouter!: LocalEventRouter;
  public cognito!: LocalCognitoEndpoint;
  public userPool!: LocalUserPool;
  public appSync!: LocalAppSyncServer;
  public iot!: LocalIotCore;
  public readonly registry = new LocalThingRegistry(`arn:aws:iot:${LOCAL_REGION}:${LOCAL_ACCOUNT}`);
  public endpoints!: SandboxEndpoints;
  private readonly workflows = new Map<string, LocalWorkflow>();
  private resolveValue!: (value: unknown) => string;
  private addresses!: LocalServiceAddresses;
  private readonly log: (line: string) => void;

  private constructor(
    public readonly stack: AssemblyStack,
    public readonly inventory: readonly InventoryEntry[],
    public readonly dataDirectory: string,
    private readonly options: SandboxOptions,
  ) {
    this.log = options.log ?? (() => undefined);
  }

  /** The template of the running stack. */
  public get template() {
    return this.stack.template;
  }

  /** Logical ids of the resources of a type. */
  public resourcesOfType(type: string): string[] {
    return Object.entries(this.template.Resources).filter(([, resource]) => resource.Type === type).map(([logicalId]) => logicalId);
  }

  /** The local workflow of a state machine, by logical id. */
  public workflow(stateMachineLogicalId: string): LocalWorkflow {
    const workflow = this.workflows.get(stateMachineLogicalId);
    if (!workflow) throw new Error(`State machine ${stateMachineLogicalId} is not part of this sandbox.`);
    return workflow;
  }

  /** Records the local claim certificate, which references to the claim certificate resource resolve to. */
  public useClaimCertificate(certificateId: string): void {
    this.addresses.claimCertificateId = certificateId;
  }

  /** Resolves a template value (Ref, Fn::GetAtt, Fn::Join) to its local value. */
  public resolve(value: unknown): string {
    return this.resolveValue(value);
  }

  /**
   * Returns, for each state machine, how many executions ran and how many state transitions
   * (states entered) each took, as the medians and ranges of the executions that ended.
   */
  public workflowStatistics(): Record<string, WorkflowStatistics> {
    const statistics: Record<string, WorkflowStatistics> = {};
    for (const logicalId of this.resourcesOfType('AWS::StepFunctions::StateMachine')) {
      const prefix = `${localReference(this.template as any, logicalId).replace(':stateMachine:', ':execution:')}:`;
      const ended = this.stepFunctions.allExecutions().filter((execution) => execution.executionArn.startsWith(prefix) && execution.result);
      const transitions = ended.map((execution) => execution.result!.statesEntered.length).sort((a, b) => a - b);
      statistics[logicalId] = {
        type: String(this.template.Resources[logicalId].Properties?.StateMachineType ?? 'STANDARD'),
        executions: ended.length,
        succeeded: ended.filter((execution) => execution.result!.status === 'SUCCEEDED').length,
        stateTransitions: {
          median: transitions.length === 0 ? 0 : transitions[Math.floor((transitions.length - 1) / 2)],
          min: transitions[0] ?? 0,
          max: transitions[transitions.length - 1] ?? 0,
        },
        averageDurationMs: averageOf(ended.map((execution) => execution.result!.durationMs ?? 0)),
      };
    }
    return statistics;
  }

  /** Waits until no rule action, event delivery or execution started so far is running. */
  public async settle(): Promise<void> {
    await this.iot.settle();
    await this.eventRouter.settle();
    await this.stepFunctions.settle();
  }

  /** Stops every service. */
  public async stop(): Promise<void> {
    const steps: [string, (() => Promise<void>) | undefined][] = [
      ['iot', this.iot && (() => this.iot.stop())],
      ['sqs', this.sqs && (async () => this.sqs.stop())],
      ['appsync', this.appSync && (() => this.appSync.stop())],
      ['lambda runtime', this.runtime && (() => this.runtime.stop())],
      ['lambda endpoint', this.lambdaEndpoint && (() => this.lambdaEndpoint.stop())],
      ['iot data endpoint', this.iotData && (() => this.iotData.stop())],
      ['iot jobs endpoint', this.iotJobs && (() => this.iotJobs.stop())],
      ['step functions endpoint', this.stepFunctions && (() => this.stepFunctions.stop())],
      ['events endpoint', this.events && (() => this.events.stop())],
      ['firehose endpoint', this.firehose && (() => this.firehose.stop())],
      ['kms endpoint', this.kms && (() => this.kms.stop())],
      ['s3 endpoint', this.s3 && (() => this.s3.stop())],
      ['secrets endpoint', this.secrets && (() => this.secrets.stop())],
      ['cognito endpoint', this.cognito && (() => this.cognito.stop())],
      ['dynamodb', this.dynamodb && (() => this.dynamodb.stop())],
    ];
    for (const [name, stop] of steps) {
      if (!stop) continue;
      try {
        await stop();
      } catch (error) {
        this.log(`sandbox: stopping the ${name} failed: ${(error as Error).message}`);
      }
    }
  }

  private async startServices(): Promise<void> {
    const template = this.template;

    // Storage and AWS API stand-ins.
    this.dynamodb = await LocalDynamoDb.start({ path: this.options.persistDynamoDb ? join(this.dataDirectory, 'dynamodb') : undefined });
    await this.dynamodb.createTablesFromTemplate(template as any, { ignoreExisting: this.options.persistDynamoDb === true });
    this.secrets = await LocalSecretsEndpoint.start();
    this.s3 = await LocalS3Endpoint.start();
    this.resourcesOfType('AWS::S3::Bucket').forEach((bucket) => this.s3.createBucket(bucket));
    this.kms = await LocalKmsEndpoint.start();
    this.firehose = await LocalFirehoseEndpoint.start();
    this.events = await LocalEventsEndpoint.start();
    this.events.recordEvents = false;
    this.stepFunctions = await LocalStepFunctionsEndpoint.start(this.taskTokens);
    this.stepFunctions.onExecutionEnded = (executionArn, result) => {
      if (result.status !== 'SUCCEEDED') {
        this.log(`stepfunctions: ${executionArn} ${result.status}: ${result.error} ${result.cause ?? ''} (states: ${result.statesEntered.join(' > ')})`);
      }
    };
    this.iotJobs = await LocalIotJobsEndpoint.start();
    this.iotData = await LocalIotDataEndpoint.start((topic, payload, qos) => this.iot.publishFromCloud(topic, payload, qos));

    // Users, and the references that the template's environment variables resolve to.
    this.cognito = await LocalCognitoEndpoint.start({ log: this.log });
    this.userPool = this.cognito.userPool;
    for (const user of this.options.users ?? []) {
      this.userPool.createUser(user.username, user.password, [...(user.groups ?? [])], undefined, stableSub(user.username));
    }
    // The Lambda endpoint needs the runtime, and the functions' environment needs its URL,
    // which the runtime reads when it starts a worker.
    const baseEnvironment = this.baseEnvironment();
    this.runtime = new LocalLambdaRuntime({
      baseEnvironment,
      nodeModulesPath: resolve(__dirname, '..', '..', 'node_modules'),
      log: this.options.functionLog,
    });
    this.lambdaEndpoint = await LocalLambdaEndpoint.start(this.runtime);
    baseEnvironment.AWS_ENDPOINT_URL_LAMBDA = this.lambdaEndpoint.url;
    this.appSync = await LocalAppSyncServer.start({
      template,
      userPool: this.userPool,
      invokeLambda: (functionLogicalId, event) => this.runtime.invoke(functionLogicalId, event),
      port: this.options.apiPort,
      log: this.log,
      // Handlers sign their publishDeviceUpdate calls with the local credentials of baseEnvironment.
      iamCredentials: { [baseEnvironment.AWS_ACCESS_KEY_ID]: baseEnvironment.AWS_SECRET_ACCESS_KEY },
      accountId: LOCAL_ACCOUNT,
    });
    this.addresses = {
      graphqlUrl: this.appSync.graphqlUrl,
      iotDataEndpointUrl: this.iotData.url,
      userPoolId: this.userPool.userPoolId,
      userPoolClientId: this.userPool.clientId,
    };
    this.resolveValue = localResolver(template, this.addresses);
    for (const key of this.resourcesOfType('AWS::KMS::Key')) {
      if (template.Resources[key].Properties?.KeySpec === 'ECC_NIST_P256') {
        this.kms.createKey(this.resolve({ 'Fn::GetAtt': [key, 'Arn'] }));
      }
    }

    // Functions, queues, workflows and event rules.
    this.registerFunctions();
    this.sqs = LocalSqs.fromTemplate(template, { visibilityTimeoutScale: this.options.visibilityTimeoutScale ?? 1, log: this.log });
    for (const mapping of eventSourceMappingsFromTemplate(template)) {
      this.sqs.addEventSourceMapping({
        ...mapping,
        queue: mapping.queueLogicalId,
        invoke: (event: unknown) => this.runtime.invoke(mapping.functionLogicalId, event),
      });
    }
    this.registerWorkflows();
    this.eventRouter = new LocalEventRouter(template, {
      startExecution: async (stateMachineLogicalId, input) => {
        this.stepFunctions.startExecution(localReference(template as any, stateMachineLogicalId), input);
      },
      sendToQueue: async (queue, body) => {
        this.sqs.send(queue, body);
      },
      invokeFunction: (functionLogicalId, event) => this.invokeAsync(functionLogicalId, event),
    }, { resolve: (value) => this.resolve(value), log: this.log });
    this.events.onEvent = (event) => this.eventRouter.route(event);

    // IoT Core: CA, broker with the template's policies, provisioning, rules and jobs.
    this.iot = await LocalIotCore.start({
      sandbox: this,
      dataDirectory: this.dataDirectory,
      mqttPort: this.options.mqttPort,
      log: this.log,
    });
    await this.seedAllowList();
    this.endpoints = this.describeEndpoints();
    writeFileSync(join(this.dataDirectory, 'endpoints.json'), JSON.stringify(this.endpoints, null, 2));
  }

  /** Invokes a function as an asynchronous invocation: two retries, then its dead-letter queue. */
  public async invokeAsync(functionLogicalId: string, event: unknown): Promise<void> {
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        await this.runtime.invoke(functionLogicalId, event);
        return;
      } catch (error) {
        lastError = error as Error;
      }
    }
    const deadLetter = this.template.Resources[functionLogicalId]?.Properties?.DeadLetterConfig?.TargetArn;
    const queue = deadLetter?.['Fn::GetAtt']?.[0] ?? deadLetter?.Ref;
    this.log(`lambda ${functionLogicalId}: asynchronous invocation failed 3 times${queue ? `, event sent to ${queue}` : ', event dropped'}: ${lastError?.message}`);
    if (queue) {
      this.sqs.send(queue, JSON.stringify(event));
    }
  }

  private baseEnvironment(): Record<string, string> {
    return {
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: this.dynamodb.endpoint,
      AWS_ENDPOINT_URL_SFN: this.stepFunctions.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: this.secrets.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: this.events.url,
      AWS_ENDPOINT_URL_S3: this.s3.url,
      AWS_ENDPOINT_URL_KMS: this.kms.url,
      AWS_ENDPOINT_URL_FIREHOSE: this.firehose.url,
      AWS_ENDPOINT_URL_IOT: this.iotJobs.url,
      AWS_ENDPOINT_URL_IOT_DATA_PLANE: this.iotData.url,
      AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1',
    };
  }

  private registerFunctions(): void {
    for (const logicalId of this.resourcesOfType('AWS::Lambda::Function')) {
      const properties = this.template.Resources[logicalId].Properties ?? {};
      const objectKey = properties.Code?.S3Key;
      const codeDirectory = typeof objectKey === 'string' ? this.stack.assetPaths.get(objectKey) : undefined;
      if (!codeDirectory) {
        throw new Error(`Function ${logicalId} has no file asset in the cloud assembly (S3Key ${JSON.stringify(objectKey)}). Synthesize the app again with its assets.`);
      }
      const environment: Record<string, string> = {};
      for (const [name, value] of Object.entries((properties.Environment?.Variables ?? {}) as Record<string, unknown>)) {
        environment[name] = this.resolve(value);
      }
      this.runtime.register({
        logicalId,
        functionName: logicalId,
        codeDirectory,
        handler: String(properties.Handler ?? 'index.handler'),
        environment,
        timeoutSeconds: Number(properties.Timeout ?? 3),
        memoryMb: Number(properties.MemorySize ?? 128),
      });
    }
  }

  private registerWorkflows(): void {
    for (const logicalId of this.resourcesOfType('AWS::StepFunctions::StateMachine')) {
      const workflow = new LocalWorkflow({
        template: this.template,
        stateMachineLogicalId: logicalId,
        taskTokens: this.taskTokens,
        waitTimeOverrideMs: this.options.waitStateMs,
        invokeLambda: async (functionLogicalId, payload) => {
          try {
            return await this.runtime.invoke(functionLogicalId, payload);
          } catch (error) {
            // Step Functions matches Retry and Catch on the function's error type.
            if (error instanceof LambdaInvocationError) {
              throw Object.assign(new Error(error.errorMessage), { name: error.errorType });
            }
            throw error;
          }
        },
      });
      this.workflows.set(logicalId, workflow);
      this.stepFunctions.register(localReference(this.template as any, logicalId), workflow);
    }
  }

  private async seedAllowList(): Promise<void> {
    const serials = this.options.allowedSerials ?? [];
    if (serials.length === 0) return;
    const table = this.allowListTable();
    if (!table) {
      this.log('sandbox: the stack has no serial allow-list table; --allow-serial has no effect (the hook uses its ALLOWED_SERIALS setting)');
      return;
    }
    for (const serial of serials) {
      await this.dynamodb.client.send(new PutItemCommand({ TableName: table, Item: { serial: { S: serial } } }));
    }
  }

  /** Table of the pre-provisioning hook's serial allow-list, if the stack has one. */
  public allowListTable(): string | undefined {
    const hook = this.iot.hookFunctionLogicalId;
    const value = hook ? this.template.Resources[hook]?.Properties?.Environment?.Variables?.ALLOWLIST_TABLE_NAME : undefined;
    return value === undefined ? undefined : this.resolve(value);
  }

  private describeEndpoints(): SandboxEndpoints {
    const tables: Record<string, string> = {};
    const buckets: Record<string, string> = {};
    for (const entry of this.registryOfNames()) {
      if (entry.type === 'table') tables[entry.name] = entry.value;
      else buckets[entry.name] = entry.value;
    }
    return {
      stackName: this.stack.stackName,
      stage: this.stack.stage,
      region: LOCAL_REGION,
      mqtt: { host: this.iot.broker.host, port: this.iot.broker.port },
      graphqlUrl: this.appSync.graphqlUrl,
      realtimeUrl: this.appSync.realtimeUrl,
      cognitoUrl: this.cognito.url,
      userPoolId: this.userPool.userPoolId,
      userPoolClientId: this.userPool.clientId,
      dynamodbUrl: this.dynamodb.endpoint,
      provisioningTemplateName: this.iot.provisioningTemplateName,
      thingNamePrefix: this.iot.thingNamePrefix,
      caFile: this.iot.files.caFile,
      claimCertFile: this.iot.files.claimCertFile,
      claimKeyFile: this.iot.files.claimKeyFile,
      otaPublicKeyFile: this.iot.files.otaPublicKeyFile,
      tables,
      buckets,
    };
  }

  /**
   * Returns the local value of an environment variable that the template gives a function, for
   * example `DEVICES_TABLE`; the first function that sets it decides.
   */
  public environmentValue(name: string): string {
    for (const logicalId of this.resourcesOfType('AWS::Lambda::Function')) {
      const value = this.template.Resources[logicalId].Properties?.Environment?.Variables?.[name];
      if (value !== undefined) return this.resolve(value);
    }
    throw new Error(`No function of ${this.stack.stackName} has the environment variable ${name}.`);
  }

  /** SSM parameter names of the platform with their local values, for `up` to print. */
  public parameters(): Record<string, string> {
    const values: Record<string, string> = {};
    for (const logicalId of this.resourcesOfType('AWS::SSM::Parameter')) {
      const properties = this.template.Resources[logicalId].Properties ?? {};
      values[this.resolve(properties.Name ?? logicalId)] = this.resolve(properties.Value);
    }
    return values;
  }

  private registryOfNames(): { type: 'table' | 'bucket'; name: string; value: string }[] {
    const names: { type: 'table' | 'bucket'; name: string; value: string }[] = [];
    for (const [name, value] of Object.entries(this.parameters())) {
      const short = name.split('/').pop() ?? name;
      if (this.template.Resources[value]?.Type === 'AWS::S3::Bucket') names.push({ type: 'bucket', name: short, value });
    }
    for (const logicalId of this.resourcesOfType('AWS::DynamoDB::Table')) {
      names.push({ type: 'table', name: logicalId, value: logicalId });
    }
    return names;
  }
}

function averageOf(values: readonly number[]): number {
  return values.length === 0 ? 0 : Math.round(values.reduce((sum, value) => sum + value, 0) / values.length);
}

/**
 * Returns the same user id (`sub`) for a username on every start, so that devices linked to a
 * user in a persisted DynamoDB folder stay linked after a restart.
 */
function stableSub(username: string): string {
  const hex = createHash('sha256').update(`smart-home-sandbox user ${username}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
