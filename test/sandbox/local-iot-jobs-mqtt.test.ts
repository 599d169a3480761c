import { CancelJobCommand, CreateJobCommand, DescribeJobCommand, IoTClient, ListJobExecutionsForJobCommand } from '@aws-sdk/client-iot';
import { LocalIotJobsEndpoint } from '../../sandbox/src/iot/local-iot-jobs-endpoint';
import { JobsMqttMessage, JobsMqttPublisher, LocalIotJobsMqtt } from '../../sandbox/src/iot/local-iot-jobs-mqtt';
import { buildJobDocument, VerifiedImage } from '../../src/ota/private/ota-job';

const ARN_PREFIX = 'arn:aws:iot:us-east-1:000000000000';
const LOCAL_S3_URL = 'http://127.0.0.1:4566';

interface SentMessage {
  /** Undefined for messages published to every subscriber. */
  readonly clientId?: string;
  readonly topic: string;
  readonly body: any;
}

/** An in-memory stand-in for the MQTT broker that records what the Jobs API publishes. */
class MemoryPublisher implements JobsMqttPublisher {
  public readonly sent: SentMessage[] = [];
  private readonly listeners = new Set<(message: JobsMqttMessage) => void>();
  private readonly waiters: { topics: string[]; resolve: (message: SentMessage) => void }[] = [];

  public onPublish(listener: (message: JobsMqttMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  public publishTo(clientId: string, topic: string, payload: string): Promise<void> {
    this.record({ clientId, topic, body: JSON.parse(payload) });
    return Promise.resolve();
  }

  public publish(topic: string, payload: string): Promise<void> {
    this.record({ topic, body: JSON.parse(payload) });
    return Promise.resolve();
  }

  /** Publishes a request as a device and resolves with its accepted or rejected reply. */
  public request(clientId: string, topic: string, payload: unknown): Promise<SentMessage> {
    const reply = new Promise<SentMessage>((resolve) => this.waiters.push({ topics: [`${topic}/accepted`, `${topic}/rejected`], resolve }));
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
    for (const listener of this.listeners) {
      listener({ topic, payload: Buffer.from(text), clientId });
    }
    return reply;
  }

  /** Returns the notify-next messages of a thing, oldest first. */
  public notifications(thingName: string): SentMessage[] {
    return this.sent.filter((message) => message.topic === `$aws/things/${thingName}/jobs/notify-next`);
  }

  private record(message: SentMessage): void {
    this.sent.push(message);
    const index = this.waiters.findIndex((waiter) => waiter.topics.includes(message.topic));
    if (index >= 0) {
      this.waiters.splice(index, 1)[0].resolve(message);
    }
  }
}

const image: VerifiedImage = {
  bucket: 'firmware-bucket',
  key: 'images/esp32 v2.0.0.bin',
  signatureKey: 'images/esp32 v2.0.0.bin.sig',
  version: '2.0.0',
  size: 1024,
  sha256: 'ab'.repeat(32),
  signature: 'MEUCIQDxexample',
};

let endpoint: LocalIotJobsEndpoint;
let publisher: MemoryPublisher;
let jobsMqtt: LocalIotJobsMqtt;
let client: IoTClient;
let errors: Error[];
let jobCounter = 0;

beforeAll(async () => {
  endpoint = await LocalIotJobsEndpoint.start();
  client = new IoTClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
});

afterAll(async () => {
  client?.destroy();
  await endpoint?.stop();
});

beforeEach(() => {
  publisher = new MemoryPublisher();
  errors = [];
  jobsMqtt = new LocalIotJobsMqtt({
    endpoint,
    publisher,
    resolvePresignedUrl: (bucket, key) => `${LOCAL_S3_URL}/${bucket}/${encodeURIComponent(key)}?local-presigned=1`,
    onError: (error) => errors.push(error),
  });
  jobsMqtt.start();
});

afterEach(async () => {
  await jobsMqtt.stop();
  expect(errors).toEqual([]);
});

/** Returns thing names that no other test uses. */
function things(count: number): string[] {
  jobCounter += 1;
  return Array.from({ length: count }, (_, index) => `sh-jobs-${jobCounter}-${index + 1}`);
}

async function createJob(thingNames: string[], rolloutId = `rollout-${++jobCounter}`): Promise<string> {
  const jobId = `ota-${rolloutId}`;
  await client.send(new CreateJobCommand({
    jobId,
    targets: thingNames.map((thingName) => `${ARN_PREFIX}:thing/${thingName}`),
    document: JSON.stringify(buildJobDocument(rolloutId, image)),
    presignedUrlConfig: { roleArn: 'arn:aws:iam::000000000000:role/presign', expiresInSec: 3600 },
  }));
  return jobId;
}

function jobsTopic(thingName: string, operation: string): string {
  return `$aws/things/${thingName}/jobs/${operation}`;
}

function update(thingName: string, jobId: string, body: Record<string, unknown>): Promise<SentMessage> {
  return publisher.request(thingName, jobsTopic(thingName, `${jobId}/update`), body);
}

async function processDetails(jobId: string) {
  const { job } = await client.send(new DescribeJobCommand({ jobId }));
  return { status: job?.status, details: job?.jobProcessDetails };
}

async function executionStatuses(jobId: string): Promise<Record<string, string | undefined>> {
  const { executionSummaries } = await client.send(new ListJobExecutionsForJobCommand({ jobId }));
  return Object.fromEntries((executionSummaries ?? []).map((summary) => [
    summary.thingArn!.slice(summary.thingArn!.lastIndexOf('/') + 1),
    summary.jobExecutionSummary?.status,
  ]));
}

describe('LocalIotJobsMqtt', () => {
  test('success path reaches DescribeJob', async () => {
    const [thing] = things(1);
    const jobId = await createJob([thing]);

    const started = await publisher.request(thing, jobsTopic(thing, 'start-next'), {});
    expect(started.topic).toBe(jobsTopic(thing, 'start-next/accepted'));
    expect(started.clientId).toBe(thing);
    expect(started.body.execution).toMatchObject({ jobId, thingName: thing, status: 'IN_PROGRESS', versionNumber: 2, executionNumber: 1 });
    expect(started.body.execution.jobDocument).toEqual({
      ...buildJobDocument(jobId.slice('ota-'.length), image),
      url: `${LOCAL_S3_URL}/firmware-bucket/images%2Fesp32%20v2.0.0.bin?local-presigned=1`,
    });
    expect(Number.isInteger(started.body.timestamp)).toBe(true);

    const downloading = await update(thing, jobId, { status: 'IN_PROGRESS', statusDetails: { step: 'downloading' }, expectedVersion: 2 });
    expect(downloading.topic).toBe(jobsTopic(thing, `${jobId}/update/accepted`));
    const succeeded = await update(thing, jobId, { status: 'SUCCEEDED', statusDetails: {}, includeJobExecutionState: true, clientToken: 'token-1' });
    expect(succeeded.topic).toBe(jobsTopic(thing, `${jobId}/update/accepted`));
    expect(succeeded.body.executionState).toEqual({ status: 'SUCCEEDED', statusDetails: {}, versionNumber: 4 });
    expect(succeeded.body.clientToken).toBe('token-1');

    expect(await processDetails(jobId)).toMatchObject({ status: 'COMPLETED', details: { numberOfSucceededThings: 1, numberOfInProgressThings: 0 } });
    expect(await executionStatuses(jobId)).toEqual({ [thing]: 'SUCCEEDED' });
    const next = await publisher.request(thing, jobsTopic(thing, 'start-next'), {});
    expect(next.body.execution).toBeUndefined();
  });

  test('failure path stores statusDetails', async () => {
    const [failing, passing] = things(2);
    const jobId = await createJob([failing, passing]);
    await publisher.request(failing, jobsTopic(failing, 'start-next'), {});

    const failed = await update(failing, jobId, { status: 'FAILED', statusDetails: { reason: 'signature verification failed' } });
    expect(failed.topic).toBe(jobsTopic(failing, `${jobId}/update/accepted`));
    expect(endpoint.job(jobId)!.executions.get(failing)!.statusDetails).toEqual({ reason: 'signature verification failed' });
    expect(await processDetails(jobId)).toMatchObject({ status: 'IN_PROGRESS', details: { numberOfFailedThings: 1, numberOfQueuedThings: 1 } });

    await update(passing, jobId, { status: 'SUCCEEDED' });
    expect(await executionStatuses(jobId)).toEqual({ [failing]: 'FAILED', [passing]: 'SUCCEEDED' });
    expect(await processDetails(jobId)).toMatchObject({ status: 'COMPLETED', details: { numberOfFailedThings: 1, numberOfSucceededThings: 1 } });

    const described = await publisher.request(failing, jobsTopic(failing, `${jobId}/get`), {});
    expect(described.body.execution).toMatchObject({ status: 'FAILED', statusDetails: { reason: 'signature verification failed' } });
  });

  test('rejects update of a terminal execution', async () => {
    const [thing] = things(1);
    const jobId = await createJob([thing]);
    await update(thing, jobId, { status: 'SUCCEEDED' });

    const rejected = await update(thing, jobId, { status: 'IN_PROGRESS' });
    expect(rejected.topic).toBe(jobsTopic(thing, `${jobId}/update/rejected`));
    expect(rejected.clientId).toBe(thing);
    expect(rejected.body.code).toBe('InvalidStateTransition');
    expect(rejected.body.message).toContain('SUCCEEDED');
    expect(rejected.body.executionState).toMatchObject({ status: 'SUCCEEDED', versionNumber: 2 });
    expect(await executionStatuses(jobId)).toEqual({ [thing]: 'SUCCEEDED' });
  });

  test('rejects invalid update requests', async () => {
    const [thing, stranger] = things(2);
    const jobId = await createJob([thing]);
    const cases: { thingName: string; jobId: string; payload: unknown; code: string }[] = [
      { thingName: thing, jobId: 'ota-missing', payload: { status: 'SUCCEEDED' }, code: 'ResourceNotFound' },
      { thingName: stranger, jobId, payload: { status: 'SUCCEEDED' }, code: 'ResourceNotFound' },
      { thingName: thing, jobId, payload: { status: 'SUCCEEDED', executionNumber: 7 }, code: 'ResourceNotFound' },
      { thingName: thing, jobId, payload: { status: 'SUCCEEDED', expectedVersion: 5 }, code: 'VersionMismatch' },
      { thingName: thing, jobId, payload: { status: 'CANCELED' }, code: 'InvalidRequest' },
      { thingName: thing, jobId, payload: {}, code: 'InvalidRequest' },
      { thingName: thing, jobId, payload: { status: 'FAILED', statusDetails: { reason: 42 } }, code: 'InvalidRequest' },
      { thingName: thing, jobId, payload: { status: 'FAILED', statusDetails: { 'bad key': 'x' } }, code: 'InvalidRequest' },
      { thingName: thing, jobId, payload: '{"status":', code: 'InvalidJson' },
    ];
    for (const item of cases) {
      const reply = await publisher.request(item.thingName, jobsTopic(item.thingName, `${item.jobId}/update`), item.payload);
      expect({ payload: item.payload, topic: reply.topic, code: reply.body.code }).toEqual({
        payload: item.payload,
        topic: jobsTopic(item.thingName, `${item.jobId}/update/rejected`),
        code: item.code,
      });
    }
    const mismatch = await update(thing, jobId, { status: 'SUCCEEDED', expectedVersion: 5 });
    expect(mismatch.body.executionState).toMatchObject({ status: 'QUEUED', versionNumber: 1 });
    expect(await executionStatuses(jobId)).toEqual({ [thing]: 'QUEUED' });
  });

  test('rejects unknown Jobs topics', async () => {
    const [thing] = things(1);
    const reply = await publisher.request(thing, jobsTopic(thing, 'start-everything'), {});
    expect(reply.topic).toBe(jobsTopic(thing, 'start-everything/rejected'));
    expect(reply.body.code).toBe('InvalidTopic');
  });

  test('cancel ends queued executions', async () => {
    const [started, queued] = things(2);
    const jobId = await createJob([started, queued]);
    await publisher.request(started, jobsTopic(started, 'start-next'), {});

    await client.send(new CancelJobCommand({ jobId, reasonCode: 'OPERATOR' }));
    expect(await executionStatuses(jobId)).toEqual({ [started]: 'IN_PROGRESS', [queued]: 'CANCELED' });
    expect(publisher.notifications(queued).at(-1)!.body.execution).toBeUndefined();
    const next = await publisher.request(queued, jobsTopic(queued, 'start-next'), {});
    expect(next.body.execution).toBeUndefined();
    const rejected = await update(queued, jobId, { status: 'SUCCEEDED' });
    expect(rejected.body.code).toBe('InvalidStateTransition');
    expect(rejected.body.executionState.status).toBe('CANCELED');

    // A cancel without force lets an execution that already started finish.
    const finished = await update(started, jobId, { status: 'SUCCEEDED' });
    expect(finished.topic).toBe(jobsTopic(started, `${jobId}/update/accepted`));
    expect(await processDetails(jobId)).toMatchObject({ status: 'CANCELED', details: { numberOfCanceledThings: 1, numberOfSucceededThings: 1 } });
  });

  test('force cancel ends started executions', async () => {
    const [thing] = things(1);
    const jobId = await createJob([thing]);
    await publisher.request(thing, jobsTopic(thing, 'start-next'), {});

    await client.send(new CancelJobCommand({ jobId, force: true }));
    expect(await executionStatuses(jobId)).toEqual({ [thing]: 'CANCELED' });
    const notifications = publisher.notifications(thing);
    expect(notifications.map((message) => message.body.execution?.jobId ?? null)).toEqual([jobId, null]);
  });

  test('notify-next follows the next pending job', async () => {
    const [thing] = things(1);
    const first = await createJob([thing]);
    expect(publisher.notifications(thing)).toHaveLength(1);
    const queued = publisher.notifications(thing)[0];
    expect(queued.clientId).toBeUndefined();
    expect(queued.body.execution).toMatchObject({ jobId: first, status: 'QUEUED', versionNumber: 1 });
    expect(queued.body.execution.jobDocument.url).toBe(`${LOCAL_S3_URL}/firmware-bucket/images%2Fesp32%20v2.0.0.bin?local-presigned=1`);

    await publisher.request(thing, jobsTopic(thing, 'start-next'), {});
    const second = await createJob([thing]);
    expect(publisher.notifications(thing)).toHaveLength(1);

    const pending = await publisher.request(thing, jobsTopic(thing, 'get'), {});
    expect(pending.body.inProgressJobs.map((summary: any) => summary.jobId)).toEqual([first]);
    expect(pending.body.queuedJobs.map((summary: any) => summary.jobId)).toEqual([second]);

    await update(thing, first, { status: 'SUCCEEDED' });
    expect(publisher.notifications(thing)).toHaveLength(2);
    expect(publisher.notifications(thing)[1].body.execution).toMatchObject({ jobId: second, status: 'QUEUED' });

    await update(thing, second, { status: 'REJECTED', statusDetails: { reason: 'version is not supported' } });
    expect(publisher.notifications(thing)).toHaveLength(3);
    expect(publisher.notifications(thing)[2].body.execution).toBeUndefined();
  });

  test('stop removes the listeners', async () => {
    const [thing] = things(1);
    await jobsMqtt.stop();
    await createJob([thing]);
    expect(publisher.notifications(thing)).toEqual([]);
  });
});
