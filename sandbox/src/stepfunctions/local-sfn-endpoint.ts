import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import type { LocalExecution, LocalWorkflow } from './local-workflow';
import { TaskFailedError, TaskTokens } from './task-tokens';

interface ExecutionRecord {
  readonly executionArn: string;
  readonly input: string;
  readonly startDate: number;
  result?: LocalExecution;
  readonly done: Promise<LocalExecution>;
}

/**
 * The Step Functions API calls that the platform's handlers make, on 127.0.0.1, so they use
 * their real AWS SDK client through `AWS_ENDPOINT_URL_SFN`: StartExecution and
 * StartSyncExecution of registered local workflows, DescribeExecution, and the task token calls
 * (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat).
 */
export class LocalStepFunctionsEndpoint {
  public static async start(taskTokens: TaskTokens, port = 0): Promise<LocalStepFunctionsEndpoint> {
    const endpoint = new LocalStepFunctionsEndpoint(taskTokens);
    await new Promise<void>((resolve, reject) => {
      endpoint.server.once('error', reject);
      endpoint.server.listen(port, '127.0.0.1', () => resolve());
    });
    return endpoint;
  }

  private readonly server: Server;
  private readonly workflows = new Map<string, LocalWorkflow>();
  private readonly executions = new Map<string, ExecutionRecord>();


  private constructor(private readonly taskTokens: TaskTokens) {
    this.server = createServer((request, response) => {
      void this.handle(request, response);
    });
  }

  /** Called when an execution ends; the sandbox logs failed executions here. */
  public onExecutionEnded: (executionArn: string, result: LocalExecution) => void = () => undefined;

  /** Endpoint URL for AWS SDK clients. */
  public get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Makes a local workflow startable under a state machine ARN. */
  public register(stateMachineArn: string, workflow: LocalWorkflow): void {
    this.workflows.set(stateMachineArn, workflow);
  }

  /** Executions started through this endpoint, by execution ARN. */
  public execution(executionArn: string): { done: Promise<LocalExecution>; result?: LocalExecution } | undefined {
    return this.executions.get(executionArn);
  }

  /**
   * Starts an execution of a registered workflow, as StartExecution does, and returns its ARN;
   * the sandbox's EventBridge targets call this.
   */
  public startExecution(stateMachineArn: string, input: unknown, name?: string): { executionArn: string; done: Promise<LocalExecution> } {
    const record = this.start({ stateMachineArn, input: JSON.stringify(input ?? {}), name });
    return { executionArn: record.executionArn, done: record.done };
  }

  /** Executions started so far, in order of start. */
  public allExecutions(): { executionArn: string; startDate: number; result?: LocalExecution }[] {
    return [...this.executions.values()];
  }

  /** Waits until every execution started so far has ended. */
  public async settle(): Promise<void> {
    await Promise.all([...this.executions.values()].map((execution) => execution.done));
  }

  private start(body: any): ExecutionRecord {
    const workflow = this.workflows.get(body.stateMachineArn);
    if (!workflow) {
      throw Object.assign(new Error(`State Machine Does Not Exist: '${body.stateMachineArn}'`), { name: 'StateMachineDoesNotExist' });
    }
    const name = body.name ?? `local-${Date.now()}-${Math.random().toString(16).slice(2, 10)}`;
    const executionArn = `${String(body.stateMachineArn).replace(':stateMachine:', ':execution:')}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      // Step Functions returns the first execution for a repeated start with the same name and input.
      if (existing.input !== (body.input ?? '{}')) {
        throw Object.assign(new Error(`Execution Already Exists: '${executionArn}'`), { name: 'ExecutionAlreadyExists' });
      }
      return existing;
    }
    const input = body.input ?? '{}';
    const record: ExecutionRecord = {
      executionArn,
      input,
      startDate: Date.now(),
      done: workflow.run(parseJson(input, 'InvalidExecutionInput', 'input'), name).then((result) => {
        record.result = result;
        this.onExecutionEnded(executionArn, result);
        return result;
      }),
    };
    this.executions.set(executionArn, record);
    return record;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) {
      chunks.push(chunk as Buffer);
    }
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.split('.').pop();
    let body: any;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      switch (operation) {
        case 'StartExecution': {
          const execution = this.start(body);
          return reply(response, 200, { executionArn: execution.executionArn, startDate: execution.startDate / 1000 });
        }
        case 'StartSyncExecution': {
          const execution = this.start(body);
          const result = await execution.done;
          return reply(response, 200, {
            executionArn: execution.executionArn,
            stateMachineArn: body.stateMachineArn,
            status: result.status,
            output: result.output === undefined ? undefined : JSON.stringify(result.output),
            error: result.error,
            cause: result.cause,
            startDate: execution.startDate / 1000,
            stopDate: Date.now() / 1000,
          });
        }
        case 'DescribeExecution': {
          const execution = this.executions.get(body.executionArn);
          if (!execution) {
            return reply(response, 400, { __type: 'ExecutionDoesNotExist', message: `Execution Does Not Exist: '${body.executionArn}'` });
          }
          return reply(response, 200, {
            executionArn: execution.executionArn,
            status: execution.result?.status ?? 'RUNNING',
            output: execution.result?.output === undefined ? undefined : JSON.stringify(execution.result.output),
            error: execution.result?.error,
            cause: execution.result?.cause,
            startDate: execution.startDate / 1000,
          });
        }
        case 'SendTaskSuccess':
          this.taskTokens.sendSuccess(body.taskToken, parseJson(body.output, 'InvalidOutput', 'output'));
          break;
        case 'SendTaskFailure':
          this.taskTokens.sendFailure(body.taskToken, body.error ?? 'States.TaskFailed', body.cause ?? '');
          break;
        case 'SendTaskHeartbeat':
          break;
        default:
          return reply(response, 400, { __type: 'UnknownOperationException', message: `The local endpoint does not support ${target}.` });
      }
      return reply(response, 200, {});
    } catch (error) {
      const known = error instanceof TaskFailedError || ['StateMachineDoesNotExist', 'ExecutionAlreadyExists', 'InvalidExecutionInput', 'InvalidOutput'].includes((error as Error).name);
      const name = known ? (error as Error).name : 'InvalidToken';
      return reply(response, 400, { __type: name, message: (error as Error).message });
    }
  }
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
  response.end(JSON.stringify(body));
}

/** Parses a JSON string of a request, failing with the Step Functions error for that field. */
function parseJson(text: unknown, errorName: string, field: string): unknown {
  try {
    return JSON.parse(String(text));
  } catch (error) {
    throw Object.assign(new Error(`Invalid ${field}: ${(error as Error).message}`), { name: errorName });
  }
}
