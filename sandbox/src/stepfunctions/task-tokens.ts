import { randomUUID } from 'node:crypto';

/** Error that a SendTaskFailure call reports to the waiting state. */
export class TaskFailedError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

interface Waiter {
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * Task tokens of `.waitForTaskToken` states that are waiting for SendTaskSuccess or
 * SendTaskFailure. A token resolves once; later calls with it fail with TaskTimedOut, as the
 * Step Functions API returns for a token that is no longer waiting.
 */
export class TaskTokens {
  private readonly waiters = new Map<string, Waiter>();
  private readonly early = new Map<string, { output?: unknown; error?: Error }>();

  /** Returns a new token. */
  public create(): string {
    return `local-token-${randomUUID()}`;
  }

  /** Waits until the token receives SendTaskSuccess (resolves) or SendTaskFailure (rejects). */
  public wait(token: string): Promise<unknown> {
    const settled = this.early.get(token);
    if (settled) {
      this.early.delete(token);
      return settled.error ? Promise.reject(settled.error) : Promise.resolve(settled.output);
    }
    return new Promise((resolve, reject) => this.waiters.set(token, { resolve, reject }));
  }

  /** Ends a wait with the given output, like SendTaskSuccess. */
  public sendSuccess(token: string, output: unknown): void {
    this.settle(token, { output });
  }

  /** Ends a wait with an error, like SendTaskFailure. */
  public sendFailure(token: string, error: string, cause: string): void {
    this.settle(token, { error: new TaskFailedError(error, cause) });
  }

  /** Stops waiting for a token, for example when its state timed out. */
  public forget(token: string): void {
    this.waiters.delete(token);
    this.early.delete(token);
  }

  private settle(token: string, outcome: { output?: unknown; error?: Error }): void {
    const waiter = this.waiters.get(token);
    if (!waiter) {
      // The task's handler may report before the state starts waiting, as with a device that
      // acknowledges before the handler returns. Keep the outcome for the coming wait.
      if (!token.startsWith('local-token-')) {
        throw new TaskFailedError('TaskTimedOut', `Task token '${token}' is not known.`);
      }
      this.early.set(token, outcome);
      return;
    }
    this.waiters.delete(token);
    if (outcome.error) {
      waiter.reject(outcome.error);
    } else {
      waiter.resolve(outcome.output);
    }
  }
}
