import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../stepfunctions/definition';
export { functionDefinitionsFromTemplate } from './template-functions';

/** A Lambda function that the local runtime can run: a bundled Node.js asset and its configuration. */
export interface LocalFunctionDefinition {
  /** Logical id of the AWS::Lambda::Function in the template. */
  readonly logicalId: string;
  /** Name that callers may use in place of the logical id, and the value of AWS_LAMBDA_FUNCTION_NAME. */
  readonly functionName: string;
  /** Folder with the bundled code, such as `cdk.out/asset.<hash>.lambda`. */
  readonly codeDirectory: string;
  /** Module and export of the handler, such as `index.handler`. */
  readonly handler: string;
  /** Environment variables of the function, already resolved to local values. */
  readonly environment: Record<string, string>;
  readonly timeoutSeconds: number;
  /** Memory size in MB (128 when unset, as Lambda defaults). Also caps the worker's V8 heap. */
  readonly memoryMb?: number;
  /** Lambda runtime identifier, such as `nodejs20.x`, which sets `AWS_EXECUTION_ENV`. */
  readonly runtime?: string;
}

/** The error document of a failed invocation, as Lambda returns it with `X-Amz-Function-Error`. */
export interface LambdaErrorDocument {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace?: string[];
}

/** Raised for an invocation that failed: a handler error, a timeout, an init error or a crash. */
export class LambdaInvocationError extends Error {
  public readonly errorType: string;
  public readonly errorMessage: string;
  public readonly trace?: string[];

  public constructor(document: LambdaErrorDocument) {
    super(`${document.errorType}: ${document.errorMessage}`);
    this.name = 'LambdaInvocationError';
    this.errorType = document.errorType;
    this.errorMessage = document.errorMessage;
    this.trace = document.trace;
  }

  /** The error as Lambda's Invoke API returns it in the response payload. */
  public toDocument(): LambdaErrorDocument {
    return { errorType: this.errorType, errorMessage: this.errorMessage, trace: this.trace ?? [] };
  }
}

/** Raised for an invocation of a function that is not registered. */
export class FunctionNotFoundError extends Error {
  public constructor(public readonly functionName: string, public readonly functionArn: string) {
    super(`Function not found: ${functionArn}`);
    this.name = 'ResourceNotFoundException';
  }
}

export interface LocalLambdaRuntimeOptions {
  /** Variables every function gets, such as AWS_REGION, credentials and AWS_ENDPOINT_URL_*. They override template variables of the same name. */
  readonly baseEnvironment: Record<string, string>;
  /** A node_modules folder from which handlers resolve `@aws-sdk/*`, as the Lambda Node.js runtime provides it. */
  readonly nodeModulesPath: string;
  /** Instances per function that run at the same time. Further invocations wait. Defaults to 4. */
  readonly maxInstancesPerFunction?: number;
  /** Receives each line that a handler writes to stdout or stderr. Lines are dropped when unset. */
  readonly log?: (functionName: string, line: string) => void;
}

/** Lambda allows the init phase 10 seconds before it retries init as part of the invocation. */
const INIT_LIMIT_SECONDS = 10;
const DEFAULT_MEMORY_MB = 128;
const WORKER_FILE = path.join(__dirname, 'lambda-worker.js');

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'init-error'; error: LambdaErrorDocument }
  | { type: 'result'; requestId: string; payload: string }
  | { type: 'error'; requestId: string; error: LambdaErrorDocument }
  | { type: 'crash'; requestId?: string; error: LambdaErrorDocument };

interface InvocationRequest {
  readonly requestId: string;
  readonly event: string;
  readonly invokedFunctionArn: string;
  readonly clientContext?: unknown;
}

/** Options of one invocation. */
export interface InvokeOptions {
  /** Client context that `context.clientContext` returns, as Invoke's X-Amz-Client-Context carries it. */
  readonly clientContext?: unknown;
}

/**
 * Runs Lambda functions from their bundled assets, each in its own worker threads with its own
 * environment variables. Instances stay warm between invocations and run one invocation at a
 * time. A busy function starts another instance, up to `maxInstancesPerFunction`, and further
 * invocations wait in order. A handler that runs past its timeout is terminated and its instance
 * replaced, and the invocation fails with `Sandbox.Timedout` as in Lambda.
 */
export class LocalLambdaRuntime {
  private readonly functions = new Map<string, FunctionPool>();
  private readonly names = new Map<string, FunctionPool>();
  private readonly region: string;
  private readonly maxInstances: number;
  private stopped = false;

  public constructor(private readonly options: LocalLambdaRuntimeOptions) {
    this.region = options.baseEnvironment.AWS_REGION ?? LOCAL_REGION;
    this.maxInstances = options.maxInstancesPerFunction ?? 4;
    if (!Number.isInteger(this.maxInstances) || this.maxInstances < 1) {
      throw new Error(`maxInstancesPerFunction must be a positive integer, got ${this.maxInstances}.`);
    }
    if (!existsSync(options.nodeModulesPath)) {
      throw new Error(`nodeModulesPath ${options.nodeModulesPath} does not exist. Pass the node_modules folder that contains @aws-sdk.`);
    }
  }

  /** Makes a function invocable by its logical id, its name and its ARN. Starts no worker. */
  public register(definition: LocalFunctionDefinition): void {
    if (this.stopped) {
      throw new Error(`Cannot register ${definition.logicalId}: the runtime is stopped.`);
    }
    if (this.functions.has(definition.logicalId) || this.names.has(definition.functionName)) {
      throw new Error(`Function ${definition.logicalId} (${definition.functionName}) is already registered.`);
    }
    if (!existsSync(definition.codeDirectory) || !statSync(definition.codeDirectory).isDirectory()) {
      throw new Error(`Code directory ${definition.codeDirectory} of function ${definition.logicalId} does not exist. Run \`npx projen bundle && npm run synth:example\` to build the assets.`);
    }
    if (!(definition.timeoutSeconds > 0)) {
      throw new Error(`Function ${definition.logicalId} has timeout ${definition.timeoutSeconds}, but it must be a positive number of seconds.`);
    }
    const pool = new FunctionPool(definition, this.workerSettings(definition), this.maxInstances, this.options.log);
    this.functions.set(definition.logicalId, pool);
    this.names.set(definition.functionName, pool);
  }

  /**
   * Invokes a function synchronously and returns its result, parsed from the JSON that Lambda
   * would return. Accepts a logical id, a function name, or a full or partial function ARN with
   * or without a qualifier (every qualifier runs the one registered version). Rejects with
   * LambdaInvocationError when the invocation fails and with FunctionNotFoundError for an unknown
   * function.
   */
  public async invoke(logicalIdOrNameOrArn: string, event: unknown, options: InvokeOptions = {}): Promise<unknown> {
    const pool = this.lookup(logicalIdOrNameOrArn);
    if (this.stopped) {
      throw new LambdaInvocationError({ errorType: 'Sandbox.Stopped', errorMessage: 'The local Lambda runtime is stopped.' });
    }
    const requestId = randomUUID();
    const payload = await pool.invoke({
      requestId,
      event: JSON.stringify(event ?? null),
      invokedFunctionArn: this.functionArn(pool.definition.functionName),
      clientContext: options.clientContext,
    });
    return JSON.parse(payload);
  }

  /** Number of invocations that a function received, whether they succeeded or not. */
  public invocationCount(logicalId: string): number {
    return this.lookup(logicalId).invocations;
  }

  /** Number of instances (worker threads) that a function has, idle or busy. */
  public instanceCount(logicalId: string): number {
    return this.lookup(logicalId).instanceCount;
  }

  /** Returns the definition of a function, looked up as `invoke` does. Throws FunctionNotFoundError for an unknown function. */
  public functionDefinition(logicalIdOrNameOrArn: string): LocalFunctionDefinition {
    return this.lookup(logicalIdOrNameOrArn).definition;
  }

  /** Registered function definitions. */
  public definitions(): LocalFunctionDefinition[] {
    return [...this.functions.values()].map((pool) => pool.definition);
  }

  /** Returns the ARN that a function has locally. */
  public functionArn(functionName: string): string {
    return `arn:aws:lambda:${this.region}:${LOCAL_ACCOUNT}:function:${functionName}`;
  }

  /** Terminates every worker. Running and waiting invocations fail with `Sandbox.Stopped`. */
  public async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.functions.values()].map((pool) => pool.stop()));
  }

  private lookup(logicalIdOrNameOrArn: string): FunctionPool {
    let name = logicalIdOrNameOrArn;
    const functionPart = name.indexOf(':function:');
    if (functionPart >= 0) {
      name = name.slice(functionPart + ':function:'.length);
    }
    // What remains is `name` or `name:qualifier`.
    name = name.split(':')[0];
    const pool = this.functions.get(name) ?? this.names.get(name);
    if (!pool) {
      const arn = logicalIdOrNameOrArn.startsWith('arn:') ? logicalIdOrNameOrArn : this.functionArn(name);
      throw new FunctionNotFoundError(name, arn);
    }
    return pool;
  }

  private workerSettings(definition: LocalFunctionDefinition): WorkerSettings {
    const memoryMb = definition.memoryMb ?? DEFAULT_MEMORY_MB;
    const nodeMajor = process.versions.node.split('.')[0];
    const runtime = definition.runtime ?? `nodejs${nodeMajor}.x`;
    const logGroupName = `/aws/lambda/${definition.functionName}`;
    const environment: Record<string, string> = {
      ...definition.environment,
      ...this.options.baseEnvironment,
      AWS_REGION: this.region,
      AWS_DEFAULT_REGION: this.options.baseEnvironment.AWS_DEFAULT_REGION ?? this.region,
      AWS_LAMBDA_FUNCTION_NAME: definition.functionName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_LAMBDA_LOG_GROUP_NAME: logGroupName,
      AWS_EXECUTION_ENV: `AWS_Lambda_${runtime}`,
      LAMBDA_TASK_ROOT: definition.codeDirectory,
      _HANDLER: definition.handler,
      NODE_PATH: this.options.nodeModulesPath,
    };
    return { environment, memoryMb, logGroupName, nodeModulesPath: this.options.nodeModulesPath };
  }
}

interface WorkerSettings {
  readonly environment: Record<string, string>;
  readonly memoryMb: number;
  readonly logGroupName: string;
  readonly nodeModulesPath: string;
}

/** The instances of one function, and the invocations that wait for a free one. */
class FunctionPool {
  public invocations = 0;
  private readonly instances = new Set<FunctionInstance>();
  private readonly idle: FunctionInstance[] = [];
  private readonly waiting: { resolve: (instance: FunctionInstance) => void; reject: (error: Error) => void }[] = [];
  private stopped = false;

  public constructor(
    public readonly definition: LocalFunctionDefinition,
    private readonly settings: WorkerSettings,
    private readonly maxInstances: number,
    private readonly log: ((functionName: string, line: string) => void) | undefined,
  ) {}

  public get instanceCount(): number {
    return this.instances.size;
  }

  public async invoke(request: InvocationRequest): Promise<string> {
    this.invocations += 1;
    const instance = await this.acquire();
    try {
      return await instance.invoke(request);
    } finally {
      this.release(instance);
    }
  }

  public async stop(): Promise<void> {
    this.stopped = true;
    for (const waiter of this.waiting.splice(0)) {
      waiter.reject(stoppedError());
    }
    await Promise.all([...this.instances].map((instance) => instance.terminate()));
  }

  private async acquire(): Promise<FunctionInstance> {
    const idle = this.idle.pop();
    if (idle) {
      return idle;
    }
    if (this.instances.size < this.maxInstances) {
      return this.spawn();
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private release(instance: FunctionInstance): void {
    if (!instance.alive || this.stopped) {
      return;
    }
    const next = this.waiting.shift();
    if (next) {
      next.resolve(instance);
    } else {
      this.idle.push(instance);
    }
  }

  private spawn(): FunctionInstance {
    const instance = new FunctionInstance(this.definition, this.settings, this.log, () => this.remove(instance));
    this.instances.add(instance);
    return instance;
  }

  /** Forgets an instance that ended, and starts a replacement for the next waiting invocation. */
  private remove(instance: FunctionInstance): void {
    this.instances.delete(instance);
    const index = this.idle.indexOf(instance);
    if (index >= 0) {
      this.idle.splice(index, 1);
    }
    if (!this.stopped && this.waiting.length > 0 && this.instances.size < this.maxInstances) {
      this.waiting.shift()!.resolve(this.spawn());
    }
  }
}

/** One execution environment: a worker thread that has loaded the handler once. */
class FunctionInstance {
  public alive = true;
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private readyState: 'pending' | 'ready' | 'failed' = 'pending';
  private markReady!: () => void;
  private failInit!: (error: LambdaInvocationError) => void;
  private current?: { requestId: string; resolve: (payload: string) => void; reject: (error: LambdaInvocationError) => void };
  private crash?: LambdaErrorDocument;

  public constructor(
    private readonly definition: LocalFunctionDefinition,
    settings: WorkerSettings,
    log: ((functionName: string, line: string) => void) | undefined,
    private readonly onEnd: () => void,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.failInit = reject;
    });
    // The rejection reaches the invocation through waitUntilReady. This handler keeps it from
    // also counting as unhandled when no invocation waits yet.
    this.ready.catch(() => undefined);

    this.worker = new Worker(WORKER_FILE, {
      env: settings.environment,
      // Options of the parent process, such as ts-node's --require, do not apply to handlers.
      execArgv: [],
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: settings.memoryMb },
      workerData: {
        codeDirectory: definition.codeDirectory,
        handler: definition.handler,
        functionName: definition.functionName,
        memoryMb: settings.memoryMb,
        nodeModulesPath: settings.nodeModulesPath,
        logGroupName: settings.logGroupName,
        logStreamName: logStreamName(),
      },
    });
    forwardLines(this.worker.stdout, (line) => log?.(definition.functionName, line));
    forwardLines(this.worker.stderr, (line) => log?.(definition.functionName, line));
    this.worker.on('message', (message: WorkerMessage) => this.handleMessage(message));
    this.worker.on('error', (error: Error & { code?: string }) => {
      this.crash ??= error.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? { errorType: 'Runtime.OutOfMemory', errorMessage: `Runtime exited with error: the function used more than ${settings.memoryMb} MB` }
        : { errorType: error.name, errorMessage: error.message, trace: String(error.stack ?? '').split('\n') };
    });
    this.worker.on('exit', (code) => this.handleExit(code));
  }

  public async invoke(request: InvocationRequest): Promise<string> {
    await this.waitUntilReady();
    const timeoutMs = this.definition.timeoutSeconds * 1000;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.end({ errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${request.requestId} Error: Task timed out after ${this.definition.timeoutSeconds.toFixed(2)} seconds` });
      }, timeoutMs);
      this.current = {
        requestId: request.requestId,
        resolve: (payload) => {
          clearTimeout(timer);
          resolve(payload);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.worker.postMessage({
        type: 'invoke',
        requestId: request.requestId,
        event: request.event,
        deadline: Date.now() + timeoutMs,
        invokedFunctionArn: request.invokedFunctionArn,
        clientContext: request.clientContext,
      });
    });
  }

  public async terminate(): Promise<void> {
    this.end({ errorType: 'Sandbox.Stopped', errorMessage: 'The local Lambda runtime stopped before the invocation finished.' });
    await this.worker.terminate();
  }

  private async waitUntilReady(): Promise<void> {
    if (this.readyState === 'ready') {
      return;
    }
    const limitSeconds = Math.max(INIT_LIMIT_SECONDS, this.definition.timeoutSeconds);
    const timer = setTimeout(() => {
      this.end({ errorType: 'Sandbox.Timedout', errorMessage: `Init of ${this.definition.functionName} timed out after ${limitSeconds.toFixed(2)} seconds` });
    }, limitSeconds * 1000);
    try {
      await this.ready;
    } finally {
      clearTimeout(timer);
    }
  }

  private handleMessage(message: WorkerMessage): void {
    switch (message.type) {
      case 'ready':
        this.readyState = 'ready';
        this.markReady();
        break;
      case 'init-error':
        // Lambda discards an environment whose init failed and starts a new one for the next invocation.
        this.end(message.error);
        break;
      case 'result':
        if (this.current?.requestId === message.requestId) {
          const current = this.current;
          this.current = undefined;
          current.resolve(message.payload);
        }
        break;
      case 'error':
        if (this.current?.requestId === message.requestId) {
          const current = this.current;
          this.current = undefined;
          current.reject(new LambdaInvocationError(message.error));
        }
        break;
      case 'crash':
        this.crash = message.error;
        break;
    }
  }

  private handleExit(code: number): void {
    this.end(this.crash ?? { errorType: 'Runtime.ExitError', errorMessage: `Runtime exited with error: exit status ${code}` });
  }

  /** Fails the running invocation or the pending init with `reason`, and retires this instance. */
  private end(reason: LambdaErrorDocument): void {
    if (!this.alive) {
      return;
    }
    this.alive = false;
    const error = new LambdaInvocationError(reason);
    if (this.readyState === 'pending') {
      this.readyState = 'failed';
      this.failInit(error);
    }
    const current = this.current;
    this.current = undefined;
    current?.reject(error);
    void this.worker.terminate();
    this.onEnd();
  }
}

function forwardLines(stream: Readable, write: (line: string) => void): void {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', write);
}

/** Returns a log stream name in Lambda's `YYYY/MM/DD/[$LATEST]<32 hex digits>` form. */
function logStreamName(): string {
  const date = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  return `${date}/[$LATEST]${randomBytes(16).toString('hex')}`;
}

function stoppedError(): LambdaInvocationError {
  return new LambdaInvocationError({ errorType: 'Sandbox.Stopped', errorMessage: 'The local Lambda runtime stopped before the invocation started.' });
}
