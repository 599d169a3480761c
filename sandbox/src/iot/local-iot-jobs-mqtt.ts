/**
 * The device side of AWS IoT Jobs over MQTT for the sandbox, served from the jobs that
 * `LocalIotJobsEndpoint` stores, so status updates from devices show up in DescribeJob and
 * ListJobExecutionsForJob. Request and reply shapes follow the AWS IoT Jobs device MQTT API:
 * https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html
 */
import type { JobExecutionStatus, LocalExecutionChange, LocalIotJobsEndpoint, LocalJob, LocalJobExecution } from './local-iot-jobs-endpoint';

/** A message that a client published, as the MQTT broker reports it. */
export interface JobsMqttMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly clientId: string;
}

/** The part of `LocalMqttBroker` that the Jobs API uses. */
export interface JobsMqttPublisher {
  /** Registers a listener for every publish a client sends and returns a function that removes it. */
  onPublish(listener: (message: JobsMqttMessage) => void): () => void;
  /** Publishes a message that only clientId receives. */
  publishTo(clientId: string, topic: string, payload: string): Promise<void>;
  /** Publishes a message to every subscriber of the topic. */
  publish(topic: string, payload: string): Promise<void>;
}

export interface LocalIotJobsMqttOptions {
  readonly endpoint: LocalIotJobsEndpoint;
  readonly publisher: JobsMqttPublisher;
  /**
   * Returns the URL that devices download an S3 object from, in place of the pre-signed URL
   * that AWS IoT puts where a job document has `${aws:iot:s3-presigned-url:<S3 URL>}`. The key
   * is the object key, with the percent-encoding of the S3 URL decoded.
   */
  readonly resolvePresignedUrl: (bucket: string, key: string) => string;
  /** Receives errors that no reply can carry, such as a failed publish. Default: console.error. */
  readonly onError?: (error: Error) => void;
}

/** Error codes of rejected replies, as the Jobs device MQTT API names them. */
export type JobsErrorCode = 'InvalidTopic' | 'InvalidJson' | 'InvalidRequest' | 'InvalidStateTransition' | 'ResourceNotFound' | 'VersionMismatch';

class JobsRequestError extends Error {
  public constructor(
    public readonly code: JobsErrorCode,
    message: string,
    public readonly execution?: LocalJobExecution,
  ) {
    super(message);
  }
}

interface PendingExecution {
  readonly job: LocalJob;
  readonly execution: LocalJobExecution;
}

const TOPIC_PATTERN = /^\$aws\/things\/([^/]+)\/jobs\/(.+)$/;
const THING_NAME_PATTERN = /^[a-zA-Z0-9:_-]{1,128}$/;
const JOB_ID_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
const STATUS_DETAILS_KEY_PATTERN = /^[a-zA-Z0-9:_-]{1,128}$/;
const STATUS_DETAILS_VALUE_MAX_LENGTH = 1024;
const CLIENT_TOKEN_MAX_LENGTH = 64;
const DEVICE_STATUSES: ReadonlySet<string> = new Set(['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED']);
const PRESIGNED_URL_PLACEHOLDER = /\$\{aws:iot:s3-presigned-url:([^}]+)\}/g;

/**
 * Serves GetPendingJobExecutions (`jobs/get`), StartNextPendingJobExecution
 * (`jobs/start-next`), DescribeJobExecution (`jobs/{jobId}/get`, `$next` included) and
 * UpdateJobExecution (`jobs/{jobId}/update`). Replies go to `<request topic>/accepted` or
 * `/rejected`, only to the client that sent the request, as AWS IoT delivers them.
 *
 * notify-next (`jobs/notify-next`) goes to every subscriber whenever a thing's next pending
 * execution changes: CreateJob queued the first one, the current one finished or was canceled,
 * or a retry queued it again. The next pending execution is the oldest IN_PROGRESS one, or else
 * the oldest QUEUED one. When none is left, the message has no `execution`.
 *
 * Timestamps are epoch seconds. A device may move an execution from QUEUED or IN_PROGRESS to
 * IN_PROGRESS, SUCCEEDED, FAILED or REJECTED; a terminal execution rejects every update.
 * NOTE: `stepTimeoutInMinutes` is accepted and ignored, so executions never become TIMED_OUT
 * here; tests set TIMED_OUT with `LocalIotJobsEndpoint.setExecutionStatus`.
 */
export class LocalIotJobsMqtt {
  private readonly endpoint: LocalIotJobsEndpoint;
  private readonly publisher: JobsMqttPublisher;
  private readonly resolvePresignedUrl: (bucket: string, key: string) => string;
  private readonly onError: (error: Error) => void;
  /** Key of the next pending execution that notify-next last announced per thing, or null for none. */
  private readonly notified = new Map<string, string | null>();
  private readonly inFlight = new Set<Promise<void>>();
  private unsubscribers: (() => void)[] = [];

  public constructor(options: LocalIotJobsMqttOptions) {
    this.endpoint = options.endpoint;
    this.publisher = options.publisher;
    this.resolvePresignedUrl = options.resolvePresignedUrl;
    this.onError = options.onError ?? ((error) => console.error(`local-iot-jobs-mqtt: ${error.message}`));
  }

  /** Starts replying to Jobs requests and publishing notify-next. */
  public start(): void {
    if (this.unsubscribers.length > 0) {
      return;
    }
    this.unsubscribers = [
      this.publisher.onPublish((message) => this.track(this.handle(message))),
      this.endpoint.onExecutionsChanged((change) => this.track(this.notifyChanged(change))),
    ];
  }

  /** Stops replying to requests and waits for the replies and notifications in progress. */
  public async stop(): Promise<void> {
    this.unsubscribers.forEach((unsubscribe) => unsubscribe());
    this.unsubscribers = [];
    await Promise.all([...this.inFlight]);
  }

  private track(work: Promise<void>): void {
    const guarded = work.catch((error: unknown) => this.onError(error instanceof Error ? error : new Error(String(error))));
    this.inFlight.add(guarded);
    void guarded.finally(() => this.inFlight.delete(guarded));
  }

  private async handle(message: JobsMqttMessage): Promise<void> {
    const match = TOPIC_PATTERN.exec(message.topic);
    if (!match || isReplyTopic(match[2])) {
      return;
    }
    const [, thingName, operation] = match;
    const request = parseRequest(message.payload);
    const requestToken = (request.body as { clientToken?: unknown } | undefined)?.clientToken;
    const clientToken = typeof requestToken === 'string' ? requestToken : undefined;
    try {
      if (!THING_NAME_PATTERN.test(thingName)) {
        throw new JobsRequestError('InvalidTopic', `Thing name '${thingName}' does not match [a-zA-Z0-9:_-]{1,128}.`);
      }
      const body = requireObject(request);
      const reply = this.dispatch(thingName, operation, body);
      await this.reply(message, 'accepted', { ...reply, timestamp: epochSeconds(Date.now()), clientToken });
    } catch (error) {
      if (!(error instanceof JobsRequestError)) {
        throw error;
      }
      await this.reply(message, 'rejected', {
        code: error.code,
        message: error.message,
        timestamp: epochSeconds(Date.now()),
        clientToken,
        executionState: error.execution ? executionState(error.execution) : undefined,
      });
    }
  }

  private dispatch(thingName: string, operation: string, body: Record<string, unknown>): Record<string, unknown> {
    if (operation === 'get') {
      return this.getPending(thingName);
    }
    if (operation === 'start-next') {
      return this.startNext(thingName, body);
    }
    const [jobId, action, ...rest] = operation.split('/');
    if (rest.length === 0 && (action === 'get' || action === 'update')) {
      if (jobId !== '$next' && !JOB_ID_PATTERN.test(jobId)) {
        throw new JobsRequestError('InvalidTopic', `Job id '${jobId}' does not match [a-zA-Z0-9_-]{1,64}.`);
      }
      return action === 'get' ? this.describe(thingName, jobId, body) : this.update(thingName, jobId, body);
    }
    throw new JobsRequestError('InvalidTopic', `Topic '$aws/things/${thingName}/jobs/${operation}' is not a Jobs API topic. Use jobs/get, jobs/start-next, jobs/{jobId}/get or jobs/{jobId}/update.`);
  }

  private getPending(thingName: string): Record<string, unknown> {
    const pending = this.pendingExecutions(thingName);
    const summaries = (status: JobExecutionStatus) => pending
      .filter((item) => item.execution.status === status)
      .map((item) => executionSummary(item));
    return { inProgressJobs: summaries('IN_PROGRESS'), queuedJobs: summaries('QUEUED') };
  }

  private startNext(thingName: string, body: Record<string, unknown>): Record<string, unknown> {
    const statusDetails = optionalStatusDetails(body.statusDetails);
    optionalNumber(body, 'stepTimeoutInMinutes');
    const next = this.pendingExecutions(thingName)[0];
    if (!next) {
      return {};
    }
    if (next.execution.status === 'QUEUED') {
      this.endpoint.setExecutionStatus(next.job.jobId, thingName, 'IN_PROGRESS', statusDetails);
    }
    return { execution: this.executionData(next.job, next.execution, true) };
  }

  private describe(thingName: string, jobId: string, body: Record<string, unknown>): Record<string, unknown> {
    const executionNumber = optionalNumber(body, 'executionNumber');
    const includeJobDocument = optionalBoolean(body, 'includeJobDocument') ?? true;
    // NOTE: with no pending execution, `$next/get` is rejected with ResourceNotFound here. The
    // AWS documentation does not say what IoT Jobs replies in that case.
    const found = jobId === '$next' ? this.pendingExecutions(thingName)[0] : this.findExecution(thingName, jobId, executionNumber);
    if (!found) {
      throw new JobsRequestError('ResourceNotFound', `Thing '${thingName}' has no pending job execution.`);
    }
    return { execution: this.executionData(found.job, found.execution, includeJobDocument) };
  }

  private update(thingName: string, jobId: string, body: Record<string, unknown>): Record<string, unknown> {
    if (jobId === '$next') {
      throw new JobsRequestError('InvalidTopic', 'UpdateJobExecution needs a job id in the topic, not $next.');
    }
    const status = body.status;
    if (typeof status !== 'string' || !DEVICE_STATUSES.has(status)) {
      throw new JobsRequestError('InvalidRequest', `status ${JSON.stringify(status)} is invalid. Expected IN_PROGRESS, SUCCEEDED, FAILED or REJECTED.`);
    }
    const statusDetails = optionalStatusDetails(body.statusDetails);
    const expectedVersion = optionalNumber(body, 'expectedVersion');
    const executionNumber = optionalNumber(body, 'executionNumber');
    const includeJobExecutionState = optionalBoolean(body, 'includeJobExecutionState') ?? false;
    const includeJobDocument = optionalBoolean(body, 'includeJobDocument') ?? false;
    optionalNumber(body, 'stepTimeoutInMinutes');

    const found = this.findExecution(thingName, jobId, executionNumber);
    if (!found) {
      throw new JobsRequestError('ResourceNotFound', `Job '${jobId}' has no execution for thing '${thingName}'${executionNumber === undefined ? '' : ` with executionNumber ${executionNumber}`}.`);
    }
    const { job, execution } = found;
    if (expectedVersion !== undefined && expectedVersion !== execution.versionNumber) {
      throw new JobsRequestError('VersionMismatch', `expectedVersion ${expectedVersion} does not match versionNumber ${execution.versionNumber} of job '${jobId}' on thing '${thingName}'. Describe the execution and retry with its versionNumber.`, execution);
    }
    if (execution.status !== 'QUEUED' && execution.status !== 'IN_PROGRESS') {
      throw new JobsRequestError('InvalidStateTransition', `Job '${jobId}' on thing '${thingName}' is ${execution.status}, a terminal status, and cannot become ${status}.`, execution);
    }

    this.endpoint.setExecutionStatus(jobId, thingName, status as JobExecutionStatus, statusDetails);
    return {
      executionState: includeJobExecutionState ? executionState(execution) : undefined,
      jobDocument: includeJobDocument ? this.deliveredDocument(job) : undefined,
    };
  }

  /** Publishes notify-next to each changed thing whose next pending execution is no longer the one last announced. */
  private async notifyChanged(change: LocalExecutionChange): Promise<void> {
    const publications: Promise<void>[] = [];
    for (const thingName of change.thingNames) {
      const next = this.pendingExecutions(thingName)[0];
      const key = next ? `${next.job.jobId}#${next.execution.executionNumber}#${next.execution.retryAttempt}` : null;
      if ((this.notified.get(thingName) ?? null) === key) {
        continue;
      }
      this.notified.set(thingName, key);
      const payload = {
        timestamp: epochSeconds(Date.now()),
        execution: next ? this.executionData(next.job, next.execution, true) : undefined,
      };
      publications.push(this.publisher.publish(`$aws/things/${thingName}/jobs/notify-next`, JSON.stringify(payload)));
    }
    await Promise.all(publications);
  }

  /** Returns the thing's QUEUED and IN_PROGRESS executions, next pending first. */
  private pendingExecutions(thingName: string): PendingExecution[] {
    const rank = (status: JobExecutionStatus) => (status === 'IN_PROGRESS' ? 0 : 1);
    const pending: PendingExecution[] = [];
    for (const job of this.endpoint.jobs()) {
      const execution = job.executions.get(thingName);
      if (execution && (execution.status === 'QUEUED' || execution.status === 'IN_PROGRESS')) {
        pending.push({ job, execution });
      }
    }
    // Array.prototype.sort is stable, so jobs queued in the same millisecond keep creation order.
    return pending.sort((a, b) => rank(a.execution.status) - rank(b.execution.status) || a.execution.queuedAt - b.execution.queuedAt);
  }

  private findExecution(thingName: string, jobId: string, executionNumber: number | undefined): PendingExecution | undefined {
    const job = this.endpoint.job(jobId);
    const execution = job?.executions.get(thingName);
    if (!job || !execution || (executionNumber !== undefined && executionNumber !== execution.executionNumber)) {
      return undefined;
    }
    return { job, execution };
  }

  private executionData(job: LocalJob, execution: LocalJobExecution, includeJobDocument: boolean): Record<string, unknown> {
    return {
      jobId: job.jobId,
      thingName: execution.thingName,
      jobDocument: includeJobDocument ? this.deliveredDocument(job) : undefined,
      status: execution.status,
      statusDetails: execution.statusDetails,
      queuedAt: epochSeconds(execution.queuedAt),
      startedAt: epochSeconds(execution.startedAt),
      lastUpdatedAt: epochSeconds(execution.lastUpdatedAt),
      versionNumber: execution.versionNumber,
      executionNumber: execution.executionNumber,
    };
  }

  /** Returns the job document with each pre-signed URL placeholder replaced by a local URL. */
  private deliveredDocument(job: LocalJob): unknown {
    return mapStrings(job.document, (text) => text.replace(PRESIGNED_URL_PLACEHOLDER, (placeholder: string, s3Url: string) => {
      const location = s3Location(s3Url);
      if (!location) {
        this.onError(new Error(`Job '${job.jobId}' has a pre-signed URL placeholder with an unsupported S3 URL '${s3Url}'. Use https://s3.amazonaws.com/<bucket>/<key>. The placeholder is delivered unchanged.`));
        return placeholder;
      }
      return this.resolvePresignedUrl(location.bucket, location.key);
    }));
  }

  private reply(message: JobsMqttMessage, outcome: 'accepted' | 'rejected', body: Record<string, unknown>): Promise<void> {
    return this.publisher.publishTo(message.clientId, `${message.topic}/${outcome}`, JSON.stringify(body));
  }
}

/** True for topics that AWS IoT publishes rather than serves: replies and notifications. */
function isReplyTopic(operation: string): boolean {
  return operation === 'notify' || operation === 'notify-next' || operation.endsWith('/accepted') || operation.endsWith('/rejected');
}

function parseRequest(payload: Buffer): { body?: unknown; error?: string } {
  const text = payload.toString('utf8');
  if (text.trim() === '') {
    return { body: {} };
  }
  try {
    return { body: JSON.parse(text) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function requireObject(request: { body?: unknown; error?: string }): Record<string, unknown> {
  if (request.error !== undefined) {
    throw new JobsRequestError('InvalidJson', `The request payload is not valid JSON: ${request.error}`);
  }
  const body = request.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new JobsRequestError('InvalidRequest', 'The request payload must be a JSON object, such as {}.');
  }
  const clientToken = (body as Record<string, unknown>).clientToken;
  if (clientToken !== undefined && (typeof clientToken !== 'string' || clientToken.length < 1 || clientToken.length > CLIENT_TOKEN_MAX_LENGTH)) {
    throw new JobsRequestError('InvalidRequest', `clientToken must be a string of 1 to ${CLIENT_TOKEN_MAX_LENGTH} characters.`);
  }
  return body as Record<string, unknown>;
}

function optionalNumber(body: Record<string, unknown>, name: string): number | undefined {
  const value = body[name];
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new JobsRequestError('InvalidRequest', `${name} ${JSON.stringify(value)} is invalid. Expected a non-negative integer.`);
  }
  return value;
}

function optionalBoolean(body: Record<string, unknown>, name: string): boolean | undefined {
  const value = body[name];
  if (value !== undefined && typeof value !== 'boolean') {
    throw new JobsRequestError('InvalidRequest', `${name} ${JSON.stringify(value)} is invalid. Expected true or false.`);
  }
  return value;
}

function optionalStatusDetails(value: unknown): Record<string, string> | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JobsRequestError('InvalidRequest', 'statusDetails must be an object of string values.');
  }
  for (const [key, text] of Object.entries(value)) {
    if (!STATUS_DETAILS_KEY_PATTERN.test(key)) {
      throw new JobsRequestError('InvalidRequest', `statusDetails key '${key}' does not match [a-zA-Z0-9:_-]{1,128}.`);
    }
    if (typeof text !== 'string' || text.length < 1 || text.length > STATUS_DETAILS_VALUE_MAX_LENGTH || /\p{C}/u.test(text)) {
      throw new JobsRequestError('InvalidRequest', `statusDetails.${key} must be a string of 1 to ${STATUS_DETAILS_VALUE_MAX_LENGTH} characters without control characters.`);
    }
  }
  return value as Record<string, string>;
}

/** Returns the bucket and object key of a path-style or virtual-hosted-style S3 URL. */
function s3Location(url: string): { bucket: string; key: string } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const segments = parsed.pathname.split('/').slice(1);
  const decode = (parts: string[]) => {
    try {
      return parts.map(decodeURIComponent).join('/');
    } catch {
      return undefined;
    }
  };
  if (/^s3([.-][a-z0-9-]+)?\.amazonaws\.com$/.test(parsed.hostname)) {
    const key = decode(segments.slice(1));
    return segments[0] && key ? { bucket: segments[0], key } : undefined;
  }
  const virtualHosted = /^(.+)\.s3([.-][a-z0-9-]+)?\.amazonaws\.com$/.exec(parsed.hostname);
  const key = decode(segments);
  return virtualHosted && key ? { bucket: virtualHosted[1], key } : undefined;
}

function mapStrings(value: unknown, map: (text: string) => string): unknown {
  if (typeof value === 'string') {
    return map(value);
  }
  if (Array.isArray(value)) {
    return value.map((item) => mapStrings(item, map));
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapStrings(item, map)]));
  }
  return value;
}

function epochSeconds(epochMs: number | undefined): number | undefined {
  return epochMs === undefined ? undefined : Math.floor(epochMs / 1000);
}

function executionState(execution: LocalJobExecution): Record<string, unknown> {
  return { status: execution.status, statusDetails: execution.statusDetails, versionNumber: execution.versionNumber };
}

function executionSummary({ job, execution }: PendingExecution): Record<string, unknown> {
  return {
    jobId: job.jobId,
    queuedAt: epochSeconds(execution.queuedAt),
    startedAt: epochSeconds(execution.startedAt),
    lastUpdatedAt: epochSeconds(execution.lastUpdatedAt),
    versionNumber: execution.versionNumber,
    executionNumber: execution.executionNumber,
  };
}
