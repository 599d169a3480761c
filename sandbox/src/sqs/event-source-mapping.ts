import type { LocalEventSourceMappingOptions, LocalQueue, ReceivedMessage } from './local-sqs';
import { lambdaRecord, SqsLambdaRecord } from './sqs-lambda-event';

/** Lambda's limits and defaults for SQS event source mappings. */
const DEFAULT_BATCH_SIZE = 10;
const MAX_BATCH_SIZE = 10000;
const MAX_BATCHING_WINDOW_SECONDS = 300;
const DEFAULT_CONCURRENCY = 5;

/**
 * Polls one queue for one function, as a Lambda event source mapping does. A batch is invoked
 * when batchSize messages are visible, or when the batching window has passed since the poller
 * first saw fewer. Up to maximumConcurrency batches run at the same time.
 */
export class EventSourceMappingPoller {
  private readonly batchSize: number;
  private readonly windowMs: number;
  private readonly maximumConcurrency: number;
  private readonly running = new Set<Promise<void>>();
  private windowTimer?: NodeJS.Timeout;
  private windowExpired = false;
  private stopped = false;

  public constructor(
    private readonly queue: LocalQueue,
    private readonly options: LocalEventSourceMappingOptions,
    private readonly log: (line: string) => void,
  ) {
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    const windowSeconds = options.maximumBatchingWindowSeconds ?? 0;
    this.windowMs = windowSeconds * 1000;
    this.maximumConcurrency = options.maximumConcurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > MAX_BATCH_SIZE) {
      throw new Error(`Event source mapping for ${queue.logicalId} has batch size ${this.batchSize}, but SQS mappings take 1 to ${MAX_BATCH_SIZE}.`);
    }
    if (!(windowSeconds >= 0 && windowSeconds <= MAX_BATCHING_WINDOW_SECONDS)) {
      throw new Error(`Event source mapping for ${queue.logicalId} has batching window ${windowSeconds} s, but it must be 0 to ${MAX_BATCHING_WINDOW_SECONDS}.`);
    }
    if (this.batchSize > 10 && windowSeconds < 1) {
      throw new Error(`Event source mapping for ${queue.logicalId} has batch size ${this.batchSize} without a batching window, but Lambda requires MaximumBatchingWindowInSeconds of at least 1 for batches larger than 10.`);
    }
    if (!Number.isInteger(this.maximumConcurrency) || this.maximumConcurrency < 1) {
      throw new Error(`Event source mapping for ${queue.logicalId} has maximumConcurrency ${this.maximumConcurrency}, but it must be a positive integer.`);
    }
  }

  /** Starts batches for the visible messages, up to the concurrency limit. */
  public poll(): void {
    while (!this.stopped && this.running.size < this.maximumConcurrency) {
      const visible = this.queue.visibleCount();
      if (visible === 0) {
        return;
      }
      if (this.windowMs > 0 && visible < this.batchSize && !this.windowExpired) {
        this.windowTimer ??= setTimeout(() => {
          this.windowTimer = undefined;
          this.windowExpired = true;
          this.poll();
        }, this.windowMs);
        return;
      }
      this.windowExpired = false;
      clearTimeout(this.windowTimer);
      this.windowTimer = undefined;

      // receive() can return fewer messages than were visible, or none, when it moves messages
      // to the dead-letter queue, so the loop looks again.
      const batch = this.queue.receive(this.batchSize);
      if (batch.length > 0) {
        this.start(batch);
      }
    }
  }

  public async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    while (this.running.size > 0) {
      await Promise.all([...this.running]);
    }
  }

  private start(batch: ReceivedMessage[]): void {
    const records = batch.map((received) => lambdaRecord(this.queue, received));
    // The invocation starts after this batch counts as running, so a poll that the function
    // triggers by sending to the queue stays within the concurrency limit.
    const run = Promise.resolve().then(() => this.process(records));
    this.running.add(run);
    void run.finally(() => {
      this.running.delete(run);
      this.poll();
    });
  }

  /** Invokes the function and deletes the messages that succeeded. The others become visible again after the visibility timeout. */
  private async process(records: SqsLambdaRecord[]): Promise<void> {
    let failed: Set<string>;
    try {
      const result = await this.options.invoke({ Records: records });
      failed = this.options.reportBatchItemFailures ? this.failedMessageIds(result, records) : new Set();
    } catch (error) {
      this.log(`Invocation for ${records.length} messages of ${this.queue.logicalId} failed, so all of them will be received again: ${(error as Error).message}`);
      failed = new Set(records.map((record) => record.messageId));
    }
    for (const record of records) {
      if (!failed.has(record.messageId)) {
        this.queue.delete(record.receiptHandle);
      }
    }
  }

  /**
   * Reads a ReportBatchItemFailures response as Lambda does: no response, or no or an empty
   * batchItemFailures list, means every message succeeded. A list entry whose itemIdentifier is
   * missing, empty or not a message id of the batch, or a response of another shape, fails the
   * whole batch.
   */
  private failedMessageIds(result: unknown, records: SqsLambdaRecord[]): Set<string> {
    const all = new Set(records.map((record) => record.messageId));
    if (result === null || result === undefined) {
      return new Set();
    }
    if (typeof result !== 'object' || Array.isArray(result)) {
      this.log(`The function returned ${JSON.stringify(result)} for ${this.queue.logicalId}, which is not a batch item failure response, so the whole batch failed.`);
      return all;
    }
    const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
    if (failures === undefined || failures === null) {
      return new Set();
    }
    if (!Array.isArray(failures)) {
      this.log(`batchItemFailures for ${this.queue.logicalId} is not a list, so the whole batch failed.`);
      return all;
    }
    const failed = new Set<string>();
    for (const failure of failures) {
      const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      if (typeof id !== 'string' || !all.has(id)) {
        this.log(`batchItemFailures for ${this.queue.logicalId} names ${JSON.stringify(id)}, which is not a message of the batch, so the whole batch failed.`);
        return all;
      }
      failed.add(id);
    }
    return failed;
  }
}
