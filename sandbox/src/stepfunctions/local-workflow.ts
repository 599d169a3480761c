import './node22-polyfill';
import { functionLogicalIdOf, LOCAL_ACCOUNT, LOCAL_REGION, renderDefinition } from './definition';
import { TaskTokens } from './task-tokens';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as (definition: unknown) => { isValid: boolean; errorsText: (separator?: string) => string };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { StateMachine } = require('aws-local-stepfunctions') as typeof import('aws-local-stepfunctions');

/** Runs a Lambda function's handler for a Task state; `logicalId` names the function in the template. */
export type LambdaInvoker = (logicalId: string, payload: unknown) => Promise<unknown>;

/** Runs an optimized service integration, such as `events:putEvents`, with the state's parameters. */
export type ServiceIntegration = (parameters: Record<string, any>) => Promise<unknown>;

export interface LocalWorkflowOptions {
  /** The synthesized CloudFormation template. */
  readonly template: any;
  /** Logical id of the AWS::StepFunctions::StateMachine resource. */
  readonly stateMachineLogicalId: string;
  /** Runs Lambda tasks in this process. */
  readonly invokeLambda: LambdaInvoker;
  /** Integrations by `service:action`, for example `events:putEvents`. */
  readonly services?: Record<string, ServiceIntegration>;
  /** Registry of task tokens for `.waitForTaskToken` states. */
  readonly taskTokens?: TaskTokens;
  /** Milliseconds that every Wait state waits instead of its own duration. Default: as defined. */
  readonly waitTimeOverrideMs?: number;
}

/** Outcome of one local execution. */
export interface LocalExecution {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: any;
  readonly error?: string;
  readonly cause?: string;
  /** Names of the states entered, in order; their count is the number of state transitions. */
  readonly statesEntered: string[];
  /** Wall time of the execution. */
  readonly durationMs?: number;
}

const INTEGRATION_PREFIX = 'arn:aws:states:::';

/**
 * A synthesized state machine definition executed locally by aws-local-stepfunctions. Lambda
 * tasks run the real handler code through `invokeLambda`, `.waitForTaskToken` tasks wait for
 * SendTaskSuccess or SendTaskFailure on `taskTokens`, and service integrations run through
 * `services`. The definition is validated with asl-validator first.
 */
export class LocalWorkflow {
  public readonly definition: Record<string, any>;
  public readonly taskTokens: TaskTokens;
  private readonly machine: InstanceType<typeof StateMachine>;
  private readonly taskStates: Map<string, Record<string, any>>;

  constructor(private readonly options: LocalWorkflowOptions) {
    this.definition = renderDefinition(options.template, options.stateMachineLogicalId);
    const validation = aslValidator(this.definition);
    if (!validation.isValid) {
      throw new Error(`State machine ${options.stateMachineLogicalId} is not valid ASL: ${validation.errorsText('; ')}`);
    }
    this.taskTokens = options.taskTokens ?? new TaskTokens();
    this.taskStates = collectTaskStates(this.definition);
    this.machine = new StateMachine(this.definition as any, { validationOptions: { checkArn: false, checkPaths: true } });
  }

  /** Runs one execution to its end. */
  public async run(input: unknown, executionName = `local-${Date.now()}`): Promise<LocalExecution> {
    const token = this.taskTokens.create();
    const overrides: Record<string, (input: any) => Promise<unknown>> = {};
    for (const [name, state] of this.taskStates) {
      overrides[name] = (stateInput) => this.runTask(state, stateInput, token);
    }

    const started = Date.now();
    const startTime = new Date(started).toISOString();
    const execution = this.machine.run(input as any, {
      overrides: { taskResourceLocalHandlers: overrides as any, waitTimeOverrides: this.waitTimeOverrides() },
      context: {
        Execution: {
          Id: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${this.options.stateMachineLogicalId}:${executionName}`,
          Name: executionName,
          Input: input,
          StartTime: startTime,
        },
        StateMachine: { Id: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${this.options.stateMachineLogicalId}`, Name: this.options.stateMachineLogicalId },
        Task: { Token: token },
      } as any,
    });

    const statesEntered: string[] = [];
    const logging = (async () => {
      for await (const event of execution.eventLogs as AsyncIterable<any>) {
        if (event.type === 'StateEntered') {
          statesEntered.push(event.state.name);
        }
      }
    })();

    try {
      const output = await execution.result;
      await logging;
      return { status: 'SUCCEEDED', output, statesEntered, durationMs: Date.now() - started };
    } catch (error) {
      await logging.catch(() => undefined);
      const failure = error as Error & { cause?: unknown };
      const { name, cause } = failureOf(failure);
      return { status: 'FAILED', error: name, cause, statesEntered, durationMs: Date.now() - started };
    } finally {
      this.taskTokens.forget(token);
    }
  }

  private waitTimeOverrides(): Record<string, number> | undefined {
    if (this.options.waitTimeOverrideMs === undefined) {
      return undefined;
    }
    const names = collectStates(this.definition).filter(([, state]) => state.Type === 'Wait').map(([name]) => name);
    return Object.fromEntries(names.map((name) => [name, this.options.waitTimeOverrideMs!]));
  }

  private async runTask(state: Record<string, any>, input: any, token: string): Promise<unknown> {
    const resource = String(state.Resource);
    if (!resource.startsWith(INTEGRATION_PREFIX)) {
      return this.options.invokeLambda(functionLogicalIdOf(resource), input);
    }

    const integration = resource.slice(INTEGRATION_PREFIX.length);
    if (integration === 'lambda:invoke' || integration === 'lambda:invoke.waitForTaskToken') {
      const logicalId = functionLogicalIdOf(String(input.FunctionName));
      const waiting = integration.endsWith('.waitForTaskToken') ? this.taskTokens.wait(token) : undefined;
      // A failing invocation ends the wait, so an unhandled rejection cannot follow.
      waiting?.catch(() => undefined);
      const payload = await this.options.invokeLambda(logicalId, input.Payload);
      if (waiting) {
        return waiting;
      }
      return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 };
    }

    const service = this.options.services?.[integration];
    if (!service) {
      throw new Error(`No local integration for '${resource}'. Provide services['${integration}'].`);
    }
    return service(input);
  }
}

function collectStates(definition: Record<string, any>): [string, Record<string, any>][] {
  const found: [string, Record<string, any>][] = [];
  for (const [name, state] of Object.entries(definition.States ?? {}) as [string, Record<string, any>][]) {
    found.push([name, state]);
    for (const branch of state.Branches ?? []) found.push(...collectStates(branch));
    if (state.ItemProcessor ?? state.Iterator) found.push(...collectStates(state.ItemProcessor ?? state.Iterator));
  }
  return found;
}

function collectTaskStates(definition: Record<string, any>, found = new Map<string, Record<string, any>>()): Map<string, Record<string, any>> {
  for (const [name, state] of Object.entries(definition.States ?? {}) as [string, Record<string, any>][]) {
    if (state.Type === 'Task') {
      found.set(name, state);
    }
    for (const branch of state.Branches ?? []) {
      collectTaskStates(branch, found);
    }
    if (state.ItemProcessor ?? state.Iterator) {
      collectTaskStates(state.ItemProcessor ?? state.Iterator, found);
    }
  }
  return found;
}

function failureOf(error: Error & { cause?: unknown }): { name: string; cause: string } {
  // aws-local-stepfunctions ends a failed execution with an error whose cause carries the
  // Fail state's or the last task's error name and message.
  const inner = error.cause as (Error & { name?: string }) | undefined;
  if (inner && typeof inner === 'object' && 'name' in inner) {
    return { name: String(inner.name), cause: String(inner.message ?? '') };
  }
  return { name: error.name, cause: error.message };
}
