import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { EventSourceMappingPoller } from './event-source-mapping';
import { SqsLambdaEvent, toBuffer } from './sqs-lambda-event';
import { LOCAL_REGION, resolveIntrinsic } from '../stepfunctions/definition';
export { lambdaRecord, md5OfMessageAttributes } from './sqs-lambda-event';
export type { SqsLambdaEvent, SqsLambdaRecord } from './sqs-lambda-event';
export { eventSourceMappingsFromTemplate } from './template-mappings';
export type { TemplateEventSourceMapping } from './template-mappings';

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };

/** A message attribute, in the shape that SQS Lambda events carry it. */
export interface LocalMessageAttribute {
  /** `String`, `Number` or `Binary`, optionally with a custom suffix such as `String.json`. */
  readonly dataType: string;
  readonly stringValue?: string;
  /** Binary value, as bytes or base64. */
  readonly binaryValue?: Buffer | string;
}

export interface LocalQueueOptions {
  readonly arn: string;
  readonly url: string;
  /** Seconds a received message stays invisible before SQS delivers it again. SQS defaults to 30. */
  readonly visibilityTimeoutSeconds?: number;
  /** Seconds a message stays in the queue before SQS deletes it. SQS defaults to 345600 (4 days). */
  readonly messageRetentionSeconds?: number;
  /** Moves a message to the queue with ARN `deadLetterTargetArn` after `maxReceiveCount` receives. */
  readonly redrivePolicy?: { readonly deadLetterTargetArn: string; readonly maxReceiveCount: number };
}

/** A message in a queue, as `messages()` reports it. */
export interface LocalSqsMessage {
  readonly messageId: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly messageAttributes: Record<string, LocalMessageAttribute>;
  /** Epoch milliseconds at which the message was sent. */
  readonly sentTimestamp: number;
  /** Epoch milliseconds of the first receive, or undefined before it. */
  readonly firstReceiveTimestamp?: number;
  readonly receiveCount: number;
  /** True while the message is received and its visibility timeout has not passed. */
  readonly inFlight: boolean;
}

/** One receive of a message: its receipt handle and the message as it was when received. */
export interface ReceivedMessage {
  readonly receiptHandle: string;
  readonly message: LocalSqsMessage;
}

/** Options of an event source mapping, as AWS::Lambda::EventSourceMapping sets them. */
export interface LocalEventSourceMappingOptions {
  /** ARN, URL or logical id of the queue. */
  readonly queue: string;
  /** Records per invocation, 1 to 10000. SQS mappings default to 10. */
  readonly batchSize?: number;
  /** Seconds to gather records before invoking with fewer than batchSize, 0 to 300. */
  readonly maximumBatchingWindowSeconds?: number;
  /** Whether the function returns `batchItemFailures` (FunctionResponseTypes ReportBatchItemFailures). */
  readonly reportBatchItemFailures?: boolean;
  /** Batches that run at the same time. Defaults to 5, the number Lambda starts with for a queue. */
  readonly maximumConcurrency?: number;
  /** False creates the mapping without polling, as a disabled mapping does. Defaults to true. */
  readonly enabled?: boolean;
  /** Runs the function with an SQS event and returns its result. A rejection fails the whole batch. */
  readonly invoke: (event: SqsLambdaEvent) => Promise<unknown>;
}

export interface LocalSqsOptions {
  /**
   * Factor applied to every queue's visibility timeout, so a failed message is received again
   * sooner: 0.01 turns a 180-second timeout into 1.8 seconds. Defaults to 1. Tests and the demo
   * use it to see redelivery and redrive without waiting minutes.
   */
  readonly visibilityTimeoutScale?: number;
  /** Receives a line for each invocation that failed and each message moved to a dead-letter queue. */
  readonly log?: (line: string) => void;
}

interface StoredMessage {
  readonly messageId: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly messageAttributes: Record<string, LocalMessageAttribute>;
  readonly sentTimestamp: number;
  firstReceiveTimestamp?: number;
  receiveCount: number;
  /** Epoch milliseconds from which the message can be received. */
  visibleAt: number;
  receiptHandle?: string;
}

const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30;
const DEFAULT_RETENTION_SECONDS = 345600;
/** SQS's limit on a message: body and attributes together, 256 KB. */
const MAX_MESSAGE_BYTES = 256 * 1024;

/** One standard queue: stored messages, their visibility, and the pollers that consume them. */
export class LocalQueue {
  public readonly messagesById = new Map<string, StoredMessage>();
  public readonly pollers = new Set<EventSourceMappingPoller>();
  private visibilityTimer?: NodeJS.Timeout;
  private visibilityTimerAt = Infinity;

  public constructor(
    public readonly logicalId: string,
    public readonly options: Required<Omit<LocalQueueOptions, 'redrivePolicy'>> & Pick<LocalQueueOptions, 'redrivePolicy'>,
    private readonly owner: LocalSqs,
  ) {}

  public get arn(): string {
    return this.options.arn;
  }

  /** Region from the queue's ARN, as Lambda reports it in awsRegion. */
  public get region(): string {
    return this.options.arn.split(':')[3] || LOCAL_REGION;
  }

  public add(message: StoredMessage): void {
    this.messagesById.set(message.messageId, message);
    this.wake();
  }

  /** Number of messages that a receive would return now. */
  public visibleCount(now = Date.now()): number {
    let count = 0;
    for (const message of this.messagesById.values()) {
      if (message.visibleAt <= now && !this.expired(message, now)) {
        count += 1;
      }
    }
    return count;
  }

  /**
   * Receives up to `max` visible messages, as ReceiveMessage does: each gets a new receipt
   * handle, its receive count grows, and it stays invisible for the visibility timeout. A
   * message that already reached the redrive policy's maxReceiveCount moves to the dead-letter
   * queue instead, and a message past the retention period is deleted.
   */
  public receive(max: number): ReceivedMessage[] {
    const now = Date.now();
    const received: ReceivedMessage[] = [];
    for (const message of [...this.messagesById.values()]) {
      if (received.length >= max) {
        break;
      }
      if (message.visibleAt > now) {
        continue;
      }
      if (this.expired(message, now)) {
        this.messagesById.delete(message.messageId);
        continue;
      }
      const redrive = this.options.redrivePolicy;
      if (redrive && message.receiveCount >= redrive.maxReceiveCount) {
        this.moveToDeadLetterQueue(message, redrive.deadLetterTargetArn);
        continue;
      }
      message.receiveCount += 1;
      message.firstReceiveTimestamp ??= now;
      message.receiptHandle = randomBytes(48).toString('base64');
      message.visibleAt = now + this.owner.scaledVisibilityTimeoutMs(this.options.visibilityTimeoutSeconds);
      this.scheduleVisibilityCheck(message.visibleAt);
      received.push({ receiptHandle: message.receiptHandle, message: snapshot(message, now) });
    }
    return received;
  }

  /** Deletes a message if `receiptHandle` is from its latest receive, as DeleteMessage does. */
  public delete(receiptHandle: string): boolean {
    for (const message of this.messagesById.values()) {
      if (message.receiptHandle === receiptHandle) {
        this.messagesById.delete(message.messageId);
        return true;
      }
    }
    return false;
  }

  public snapshots(): LocalSqsMessage[] {
    const now = Date.now();
    return [...this.messagesById.values()].map((message) => snapshot(message, now));
  }

  /** Lets every poller of the queue look for visible messages. */
  public wake(): void {
    for (const poller of this.pollers) {
      poller.poll();
    }
  }

  public clearTimers(): void {
    clearTimeout(this.visibilityTimer);
    this.visibilityTimer = undefined;
    this.visibilityTimerAt = Infinity;
  }

  private expired(message: StoredMessage, now: number): boolean {
    return now - message.sentTimestamp > this.options.messageRetentionSeconds * 1000;
  }

  private moveToDeadLetterQueue(message: StoredMessage, deadLetterTargetArn: string): void {
    const deadLetterQueue = this.owner.queue(deadLetterTargetArn);
    this.messagesById.delete(message.messageId);
    // SQS keeps the message id, body, attributes and sent time when it moves a message.
    deadLetterQueue.add({ ...message, receiveCount: 0, firstReceiveTimestamp: undefined, receiptHandle: undefined, visibleAt: 0 });
    this.owner.log(`Moved message ${message.messageId} from ${this.logicalId} to ${deadLetterQueue.logicalId} after ${message.receiveCount} receives.`);
  }

  /** Wakes the pollers when the earliest in-flight message becomes visible again. */
  private scheduleVisibilityCheck(visibleAt: number): void {
    if (this.pollers.size === 0 || visibleAt >= this.visibilityTimerAt) {
      return;
    }
    clearTimeout(this.visibilityTimer);
    this.visibilityTimerAt = visibleAt;
    this.visibilityTimer = setTimeout(() => {
      this.visibilityTimer = undefined;
      this.visibilityTimerAt = Infinity;
      const now = Date.now();
      const next = Math.min(...[...this.messagesById.values()].map((message) => message.visibleAt).filter((at) => at > now));
      if (Number.isFinite(next)) {
        this.scheduleVisibilityCheck(next);
      }
      this.wake();
    }, Math.max(0, visibleAt - Date.now()));
    // Pending redelivery alone does not keep the process running, as the servers of the sandbox do.
    this.visibilityTimer.unref();
  }
}

/**
 * In-process standard SQS queues for the sandbox, with Lambda event source mappings that poll
 * them. Messages are received, made invisible for the visibility timeout, deleted after a
 * successful invocation, delivered again after a failed one, and moved to the dead-letter queue
 * after the redrive policy's maxReceiveCount receives, as SQS and Lambda do. FIFO queues are not
 * supported.
 */
export class LocalSqs {
  /** Creates every AWS::SQS::Queue of a template, with the ARN and URL that the sandbox resolves references to. */
  public static fromTemplate(template: Template, options: LocalSqsOptions = {}): LocalSqs {
    const sqs = new LocalSqs(options);
    for (const [logicalId, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::SQS::Queue') {
        continue;
      }
      const properties = resource.Properties ?? {};
      if (properties.FifoQueue === true || properties.FifoQueue === 'true') {
        throw new Error(`Queue ${logicalId} is a FIFO queue, but LocalSqs supports only standard queues.`);
      }
      const redrive = properties.RedrivePolicy;
      sqs.createQueue(logicalId, {
        arn: resolveIntrinsic(template, { 'Fn::GetAtt': [logicalId, 'Arn'] }),
        url: resolveIntrinsic(template, { Ref: logicalId }),
        visibilityTimeoutSeconds: properties.VisibilityTimeout === undefined ? undefined : Number(properties.VisibilityTimeout),
        messageRetentionSeconds: properties.MessageRetentionPeriod === undefined ? undefined : Number(properties.MessageRetentionPeriod),
        redrivePolicy: redrive === undefined ? undefined : {
          deadLetterTargetArn: resolveIntrinsic(template, redrive.deadLetterTargetArn),
          maxReceiveCount: Number(redrive.maxReceiveCount),
        },
      });
    }
    sqs.checkRedrivePolicies();
    return sqs;
  }

  private readonly queues = new Map<string, LocalQueue>();
  private readonly pollers = new Set<EventSourceMappingPoller>();
  private readonly visibilityTimeoutScale: number;
  private readonly logLine: (line: string) => void;

  public constructor(options: LocalSqsOptions = {}) {
    this.visibilityTimeoutScale = options.visibilityTimeoutScale ?? 1;
    if (!(this.visibilityTimeoutScale > 0)) {
      throw new Error(`visibilityTimeoutScale must be greater than 0, got ${this.visibilityTimeoutScale}.`);
    }
    this.logLine = options.log ?? (() => undefined);
  }

  /** Creates a standard queue that `send`, `depth` and mappings find by logical id, ARN, URL or name. */
  public createQueue(logicalId: string, options: LocalQueueOptions): LocalQueue {
    if (this.queues.has(logicalId)) {
      throw new Error(`Queue ${logicalId} already exists.`);
    }
    const redrive = options.redrivePolicy;
    if (redrive && !(Number.isInteger(redrive.maxReceiveCount) && redrive.maxReceiveCount >= 1 && redrive.maxReceiveCount <= 1000)) {
      throw new Error(`Queue ${logicalId} has maxReceiveCount ${redrive.maxReceiveCount}, but SQS allows 1 to 1000.`);
    }
    const queue = new LocalQueue(logicalId, {
      arn: options.arn,
      url: options.url,
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
      messageRetentionSeconds: options.messageRetentionSeconds ?? DEFAULT_RETENTION_SECONDS,
      redrivePolicy: redrive,
    }, this);
    this.queues.set(logicalId, queue);
    return queue;
  }

  /** Sends a message, as SendMessage does, and returns its message id. */
  public send(queue: string, body: string, attributes: Record<string, LocalMessageAttribute> = {}): string {
    const target = this.queue(queue);
    const size = Buffer.byteLength(body, 'utf8') + attributesSize(attributes);
    if (size > MAX_MESSAGE_BYTES) {
      throw new Error(`Message of ${size} bytes for ${target.logicalId} is larger than the ${MAX_MESSAGE_BYTES}-byte SQS limit.`);
    }
    if (body.length === 0) {
      throw new Error(`Message for ${target.logicalId} has an empty body, but SQS requires at least one character.`);
    }
    const messageId = randomUUID();
    target.add({
      messageId,
      body,
      md5OfBody: md5(body),
      messageAttributes: { ...attributes },
      sentTimestamp: Date.now(),
      receiveCount: 0,
      visibleAt: 0,
    });
    return messageId;
  }

  /** Number of messages in a queue, visible or in flight. */
  public depth(queue: string): number {
    return this.queue(queue).messagesById.size;
  }

  /** Returns the messages of a queue, in the order they were sent. */
  public messages(queue: string): LocalSqsMessage[] {
    return this.queue(queue).snapshots();
  }

  /**
   * Starts polling a queue for a function, as an AWS::Lambda::EventSourceMapping does, and
   * returns a handle whose `stop()` ends the polling.
   */
  public addEventSourceMapping(options: LocalEventSourceMappingOptions): { stop: () => Promise<void> } {
    const queue = this.queue(options.queue);
    if (options.enabled === false) {
      return { stop: async () => undefined };
    }
    const poller = new EventSourceMappingPoller(queue, options, (line) => this.logLine(line));
    this.pollers.add(poller);
    queue.pollers.add(poller);
    poller.poll();
    return {
      stop: async () => {
        queue.pollers.delete(poller);
        this.pollers.delete(poller);
        await poller.stop();
      },
    };
  }

  /** Finds a queue by logical id, ARN, URL or queue name. */
  public queue(reference: string): LocalQueue {
    const byId = this.queues.get(reference);
    if (byId) {
      return byId;
    }
    for (const queue of this.queues.values()) {
      if (queue.options.arn === reference || queue.options.url === reference || queue.options.arn.split(':').pop() === reference) {
        return queue;
      }
    }
    throw new Error(`Queue ${reference} does not exist. Create it with createQueue or fromTemplate. Known queues: ${[...this.queues.keys()].join(', ') || 'none'}.`);
  }

  /** Stops every event source mapping and waits for the batches that are running. */
  public async stop(): Promise<void> {
    await Promise.all([...this.pollers].map((poller) => poller.stop()));
    this.pollers.clear();
    for (const queue of this.queues.values()) {
      queue.pollers.clear();
      queue.clearTimers();
    }
  }

  /** @internal */
  public scaledVisibilityTimeoutMs(seconds: number): number {
    return seconds * 1000 * this.visibilityTimeoutScale;
  }

  /** @internal */
  public log(line: string): void {
    this.logLine(line);
  }

  private checkRedrivePolicies(): void {
    for (const queue of this.queues.values()) {
      const target = queue.options.redrivePolicy?.deadLetterTargetArn;
      if (target !== undefined) {
        try {
          this.queue(target);
        } catch {
          throw new Error(`Queue ${queue.logicalId} has dead-letter queue ${target}, which is not a queue of the template.`);
        }
      }
    }
  }
}

function snapshot(message: StoredMessage, now: number): LocalSqsMessage {
  return {
    messageId: message.messageId,
    body: message.body,
    md5OfBody: message.md5OfBody,
    messageAttributes: message.messageAttributes,
    sentTimestamp: message.sentTimestamp,
    firstReceiveTimestamp: message.firstReceiveTimestamp,
    receiveCount: message.receiveCount,
    inFlight: message.visibleAt > now,
  };
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

function attributesSize(attributes: Record<string, LocalMessageAttribute>): number {
  let size = 0;
  for (const [name, attribute] of Object.entries(attributes)) {
    size += Buffer.byteLength(name) + Buffer.byteLength(attribute.dataType);
    size += attribute.binaryValue === undefined ? Buffer.byteLength(attribute.stringValue ?? '') : toBuffer(attribute.binaryValue).length;
  }
  return size;
}
