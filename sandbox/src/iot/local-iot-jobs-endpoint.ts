import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/** Status of a job execution, as AWS IoT Jobs names them. */
export type JobExecutionStatus = 'QUEUED' | 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'REJECTED' | 'TIMED_OUT' | 'CANCELED' | 'REMOVED';

/** One thing's execution of a job. */
export interface LocalJobExecution {
  readonly thingName: string;
  readonly thingArn: string;
  status: JobExecutionStatus;
  executionNumber: number;
  retryAttempt: number;
  /** Epoch milliseconds. */
  queuedAt: number;
  startedAt?: number;
  lastUpdatedAt: number;
  /** Starts at 1 and grows by one with every status change, as IoT Jobs counts it. */
  versionNumber: number;
  /** Name-value pairs of the last update that sent them. */
  statusDetails?: Record<string, string>;
}

/** A job that CreateJob created, with the request's fields as sent. */
export interface LocalJob {
  readonly jobId: string;
  readonly jobArn: string;
  /** The CreateJob request body. */
  readonly request: Record<string, any>;
  /** The job document, parsed. */
  readonly document: any;
  status: 'IN_PROGRESS' | 'CANCELED' | 'COMPLETED';
  reasonCode?: string;
  comment?: string;
  forceCanceled?: boolean;
  readonly createdAt: number;
  lastUpdatedAt: number;
  completedAt?: number;
  readonly executions: Map<string, LocalJobExecution>;
}

/**
 * Executions of a job whose status changed: `created` for the executions that CreateJob queued,
 * `updated` for a status set by a device or a test, `canceled` for those that CancelJob ended.
 */
export interface LocalExecutionChange {
  readonly cause: 'created' | 'updated' | 'canceled';
  readonly job: LocalJob;
  readonly thingNames: readonly string[];
}

/** A request that the endpoint received. */
export interface LocalIotRequest {
  readonly operation: 'CreateJob' | 'DescribeJob' | 'CancelJob' | 'ListJobExecutionsForJob' | 'ListThingsInThingGroup' | 'DescribeThing';
  readonly path: string;
  readonly query: Record<string, string>;
  readonly body: any;
}

const TERMINAL_STATUSES: ReadonlySet<JobExecutionStatus> = new Set(['SUCCEEDED', 'FAILED', 'REJECTED', 'TIMED_OUT', 'CANCELED', 'REMOVED']);
const LOCAL_ARN_PREFIX = 'arn:aws:iot:us-east-1:000000000000';

/**
 * The AWS IoT control plane calls of OTA rollouts on 127.0.0.1 (REST, JSON), so handlers use
 * their real `@aws-sdk/client-iot` client through `AWS_ENDPOINT_URL_IOT`: CreateJob
 * (`PUT /jobs/{jobId}`), DescribeJob (`GET /jobs/{jobId}`), CancelJob
 * (`PUT /jobs/{jobId}/cancel`), ListJobExecutionsForJob (`GET /jobs/{jobId}/things`) and
 * ListThingsInThingGroup (`GET /thing-groups/{name}/things`). Jobs live in memory.
 *
 * CreateJob queues one execution per target thing; thing groups must be defined with
 * `setThingGroup`. Devices move executions through the Jobs MQTT API that `LocalIotJobsMqtt`
 * serves from this store, and tests with `setExecutionStatus`. Both apply the job's
 * `jobExecutionsRetryConfig` as IoT Jobs does: a FAILED or TIMED_OUT execution whose failure
 * type is listed goes back to QUEUED with the next retryAttempt. The job completes when every
 * execution has a terminal status. The abort and rollout configurations are stored but not
 * applied: `cancelJob` simulates an abort by IoT or an operator.
 *
 * NOTE: cancelling a job that is already cancelled succeeds here. Cancelling a completed job
 * fails with InvalidStateTransitionException, which is what AWS IoT documents for that case.
 */
export class LocalIotJobsEndpoint {
  public static async start(port = 0): Promise<LocalIotJobsEndpoint> {
    const endpoint = new LocalIotJobsEndpoint();
    await new Promise<void>((resolve, reject) => {
      endpoint.server.once('error', reject);
      endpoint.server.listen(port, '127.0.0.1', () => resolve());
    });
    return endpoint;
  }


  /** Requests in order of arrival. */
  public readonly requests: LocalIotRequest[] = [];
  private readonly jobsById = new Map<string, LocalJob>();
  private readonly describeCounts = new Map<string, number>();
  private readonly thingGroups = new Map<string, string[]>();
  private readonly changeListeners = new Set<(change: LocalExecutionChange) => void>();
  private readonly failures: { operation: LocalIotRequest['operation']; status: number; errorType: string; remaining: number }[] = [];
  private readonly server: Server;


  private constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => this.handle(request, Buffer.concat(chunks).toString('utf8'), response));
    });
  }

  /**
   * Called before each DescribeJob response, with the job and how many DescribeJob calls it
   * has received, this one included. Tests move executions here to play a rollout forward.
   */
  public onDescribeJob: (job: LocalJob, describeCount: number) => void = () => undefined;

  /**
   * Returns the DescribeThing (`GET /things/{name}`) response body, or undefined when the
   * thing does not exist; the sandbox connects its thing registry here. By default no thing exists.
   */
  public describeThing: (thingName: string) => Record<string, unknown> | undefined = () => undefined;

  /** Endpoint URL for AWS SDK clients. */
  public get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Defines a thing group by name with its things, replacing an earlier definition. */
  public setThingGroup(name: string, thingNames: string[]): void {
    this.thingGroups.set(name, [...thingNames]);
  }

  /** Returns a job by id, or undefined. */
  public job(jobId: string): LocalJob | undefined {
    return this.jobsById.get(jobId);
  }

  /** Returns every job, in order of creation. */
  public jobs(): LocalJob[] {
    return [...this.jobsById.values()];
  }

  /**
   * Registers a listener for execution status changes and returns a function that removes it.
   * Listeners run synchronously, before the change's HTTP response is sent.
   */
  public onExecutionsChanged(listener: (change: LocalExecutionChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * Sets the status of a thing's execution, as the device's update would, and replaces its
   * statusDetails when given.
   */
  public setExecutionStatus(jobId: string, thingName: string, status: JobExecutionStatus, statusDetails?: Record<string, string>): void {
    const job = this.requireJob(jobId);
    const execution = job.executions.get(thingName);
    if (!execution) {
      throw new Error(`Job '${jobId}' has no execution for thing '${thingName}'.`);
    }
    const now = Date.now();
    execution.status = status;
    execution.lastUpdatedAt = now;
    execution.versionNumber += 1;
    if (statusDetails) {
      execution.statusDetails = { ...statusDetails };
    }
    if (status === 'IN_PROGRESS') {
      execution.startedAt ??= now;
    }
    if (this.retries(job, status) > execution.retryAttempt) {
      execution.retryAttempt += 1;
      execution.status = 'QUEUED';
      execution.startedAt = undefined;
    }
    job.lastUpdatedAt = now;
    this.completeIfFinished(job);
    this.emitChange({ cause: 'updated', job, thingNames: [thingName] });
  }

  /** Makes the next `count` requests of an operation fail with an HTTP status and error type. */
  public failNext(operation: LocalIotRequest['operation'], status: number, errorType: string, count = 1): void {
    this.failures.push({ operation, status, errorType, remaining: count });
  }

  /** Cancels a job without force, as AWS IoT does when its abort criteria are met. */
  public cancelJob(jobId: string, reasonCode = 'AUTO_ABORT'): void {
    this.cancel(this.requireJob(jobId), false, reasonCode, 'Cancelled by the local endpoint');
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, text: string, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const query = Object.fromEntries(url.searchParams.entries());
    const body = text ? JSON.parse(text) : {};
    const method = request.method ?? 'GET';
    const send = (status: number, payload: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    const fail = (status: number, type: string, message: string) =>
      response.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type }).end(JSON.stringify({ message }));
    // Records the request, and responds with an injected failure if one is due.
    const record = (operation: LocalIotRequest['operation']): boolean => {
      this.requests.push({ operation, path: url.pathname, query, body });
      const failure = this.failures.find((item) => item.operation === operation && item.remaining > 0);
      if (failure) {
        failure.remaining -= 1;
        fail(failure.status, failure.errorType, `Injected ${failure.errorType} for ${operation}.`);
        return true;
      }
      return false;
    };

    if (segments[0] === 'thing-groups' && segments[2] === 'things' && method === 'GET') {
      if (record('ListThingsInThingGroup')) {
        return;
      }
      const things = this.thingGroups.get(segments[1]);
      if (!things) {
        fail(404, 'ResourceNotFoundException', `Thing group ${segments[1]} does not exist on the local endpoint; define it with setThingGroup.`);
        return;
      }
      send(200, page(things, query));
      return;
    }
    if (segments[0] === 'things' && segments.length === 2 && method === 'GET') {
      if (record('DescribeThing')) {
        return;
      }
      const thing = this.describeThing(segments[1]);
      if (!thing) {
        fail(404, 'ResourceNotFoundException', `Thing ${segments[1]} cannot be found.`);
        return;
      }
      send(200, thing);
      return;
    }
    if (segments[0] !== 'jobs' || segments.length < 2) {
      fail(404, 'UnknownOperationException', `The local endpoint does not support ${method} ${url.pathname}.`);
      return;
    }

    const jobId = segments[1];
    if (segments.length === 2 && method === 'PUT') {
      if (record('CreateJob')) {
        return;
      }
      this.createJob(jobId, body, send, fail);
      return;
    }
    const job = this.jobsById.get(jobId);
    if (!job) {
      fail(404, 'ResourceNotFoundException', `Job ${jobId} does not exist.`);
      return;
    }
    if (segments.length === 2 && method === 'GET') {
      if (record('DescribeJob')) {
        return;
      }
      const count = (this.describeCounts.get(jobId) ?? 0) + 1;
      this.describeCounts.set(jobId, count);
      this.onDescribeJob(job, count);
      send(200, { job: describe(job) });
      return;
    }
    if (segments[2] === 'cancel' && method === 'PUT') {
      if (record('CancelJob')) {
        return;
      }
      if (job.status === 'COMPLETED') {
        fail(409, 'InvalidStateTransitionException', `Job ${jobId} is COMPLETED and cannot be cancelled.`);
        return;
      }
      this.cancel(job, query.force === 'true', body.reasonCode, body.comment);
      send(200, { jobArn: job.jobArn, jobId, description: job.request.description });
      return;
    }
    if (segments[2] === 'things' && method === 'GET') {
      if (record('ListJobExecutionsForJob')) {
        return;
      }
      const executions = [...job.executions.values()].filter((execution) => !query.status || execution.status === query.status);
      const result = page(executions, query);
      send(200, { executionSummaries: result.things.map((execution) => executionSummary(execution)), nextToken: result.nextToken });
      return;
    }
    fail(404, 'UnknownOperationException', `The local endpoint does not support ${method} ${url.pathname}.`);
  }

  private createJob(
    jobId: string,
    body: Record<string, any>,
    send: (status: number, payload: unknown) => void,
    fail: (status: number, type: string, message: string) => void,
  ): void {
    if (this.jobsById.has(jobId)) {
      fail(409, 'ResourceAlreadyExistsException', `Job ${jobId} already exists.`);
      return;
    }
    if (!Array.isArray(body.targets) || body.targets.length === 0 || typeof body.document !== 'string') {
      fail(400, 'InvalidRequestException', 'CreateJob needs targets and a document.');
      return;
    }
    const thingNames = new Set<string>();
    for (const target of body.targets as string[]) {
      const name = target.slice(target.lastIndexOf('/') + 1);
      if (/:thinggroup\//.test(target)) {
        const members = this.thingGroups.get(name);
        if (!members) {
          fail(404, 'ResourceNotFoundException', `Thing group ${name} does not exist.`);
          return;
        }
        members.forEach((member) => thingNames.add(member));
      } else {
        thingNames.add(name);
      }
    }
    const now = Date.now();
    const job: LocalJob = {
      jobId,
      jobArn: `${LOCAL_ARN_PREFIX}:job/${jobId}`,
      request: body,
      document: JSON.parse(body.document),
      status: 'IN_PROGRESS',
      createdAt: now,
      lastUpdatedAt: now,
      executions: new Map([...thingNames].map((thingName) => [thingName, {
        thingName,
        thingArn: `${LOCAL_ARN_PREFIX}:thing/${thingName}`,
        status: 'QUEUED' as JobExecutionStatus,
        executionNumber: 1,
        retryAttempt: 0,
        queuedAt: now,
        lastUpdatedAt: now,
        versionNumber: 1,
      }])),
    };
    this.jobsById.set(jobId, job);
    this.emitChange({ cause: 'created', job, thingNames: [...thingNames] });
    send(200, { jobArn: job.jobArn, jobId, description: body.description });
  }

  private cancel(job: LocalJob, force: boolean, reasonCode: string | undefined, comment: string | undefined): void {
    if (job.status === 'CANCELED') {
      return;
    }
    const now = Date.now();
    const canceled: string[] = [];
    for (const execution of job.executions.values()) {
      if (execution.status === 'QUEUED' || (force && execution.status === 'IN_PROGRESS')) {
        execution.status = 'CANCELED';
        execution.lastUpdatedAt = now;
        execution.versionNumber += 1;
        canceled.push(execution.thingName);
      }
    }
    Object.assign(job, { status: 'CANCELED', reasonCode, comment, forceCanceled: force, lastUpdatedAt: now, completedAt: now });
    this.emitChange({ cause: 'canceled', job, thingNames: canceled });
  }

  private emitChange(change: LocalExecutionChange): void {
    for (const listener of this.changeListeners) {
      listener(change);
    }
  }

  /** Returns how often the job's retry configuration retries an execution that ended with this status. */
  private retries(job: LocalJob, status: JobExecutionStatus): number {
    const criteria = (job.request.jobExecutionsRetryConfig?.criteriaList ?? []) as { failureType: string; numberOfRetries: number }[];
    const matching = criteria.filter((criterion) => criterion.failureType === status || (criterion.failureType === 'ALL' && (status === 'FAILED' || status === 'TIMED_OUT')));
    return Math.max(0, ...matching.map((criterion) => criterion.numberOfRetries));
  }

  private completeIfFinished(job: LocalJob): void {
    if (job.status === 'IN_PROGRESS' && [...job.executions.values()].every((execution) => TERMINAL_STATUSES.has(execution.status))) {
      job.status = 'COMPLETED';
      job.completedAt = Date.now();
    }
  }

  private requireJob(jobId: string): LocalJob {
    const job = this.jobsById.get(jobId);
    if (!job) {
      throw new Error(`Job '${jobId}' does not exist on the local endpoint.`);
    }
    return job;
  }
}

function page<T>(items: T[], query: Record<string, string>): { things: T[]; nextToken?: string } {
  const start = Number(query.nextToken ?? 0);
  const size = Number(query.maxResults ?? 50);
  const end = start + size;
  return { things: items.slice(start, end), nextToken: end < items.length ? String(end) : undefined };
}

/** Epoch milliseconds as the epoch seconds of AWS REST JSON timestamps. */
function seconds(epochMs: number | undefined): number | undefined {
  return epochMs === undefined ? undefined : epochMs / 1000;
}

function describe(job: LocalJob): Record<string, unknown> {
  const count = (status: JobExecutionStatus) => [...job.executions.values()].filter((execution) => execution.status === status).length;
  return {
    jobArn: job.jobArn,
    jobId: job.jobId,
    targetSelection: job.request.targetSelection ?? 'SNAPSHOT',
    status: job.status,
    forceCanceled: job.forceCanceled,
    reasonCode: job.reasonCode,
    comment: job.comment,
    targets: job.request.targets,
    description: job.request.description,
    presignedUrlConfig: job.request.presignedUrlConfig,
    jobExecutionsRolloutConfig: job.request.jobExecutionsRolloutConfig,
    abortConfig: job.request.abortConfig,
    timeoutConfig: job.request.timeoutConfig,
    jobExecutionsRetryConfig: job.request.jobExecutionsRetryConfig,
    createdAt: seconds(job.createdAt),
    lastUpdatedAt: seconds(job.lastUpdatedAt),
    completedAt: seconds(job.completedAt),
    jobProcessDetails: {
      numberOfCanceledThings: count('CANCELED'),
      numberOfSucceededThings: count('SUCCEEDED'),
      numberOfFailedThings: count('FAILED'),
      numberOfRejectedThings: count('REJECTED'),
      numberOfQueuedThings: count('QUEUED'),
      numberOfInProgressThings: count('IN_PROGRESS'),
      numberOfRemovedThings: count('REMOVED'),
      numberOfTimedOutThings: count('TIMED_OUT'),
    },
  };
}

function executionSummary(execution: LocalJobExecution): Record<string, unknown> {
  return {
    thingArn: execution.thingArn,
    jobExecutionSummary: {
      status: execution.status,
      queuedAt: seconds(execution.queuedAt),
      startedAt: seconds(execution.startedAt),
      lastUpdatedAt: seconds(execution.lastUpdatedAt),
      executionNumber: execution.executionNumber,
      retryAttempt: execution.retryAttempt,
    },
  };
}
