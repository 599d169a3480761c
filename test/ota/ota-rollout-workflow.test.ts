import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { LocalEventsEndpoint } from '../../sandbox/src/events/local-events-endpoint';
import { JobExecutionStatus, LocalIotJobsEndpoint, LocalJob } from '../../sandbox/src/iot/local-iot-jobs-endpoint';
import { LocalKmsEndpoint } from '../../sandbox/src/kms/local-kms-endpoint';
import { LocalS3Endpoint } from '../../sandbox/src/s3/local-s3-endpoint';
import { LOCAL_ACCOUNT, LOCAL_REGION, renderDefinition, resolveIntrinsic } from '../../sandbox/src/stepfunctions/definition';
import { LocalWorkflow } from '../../sandbox/src/stepfunctions/local-workflow';
import { PlatformEventBus, PlatformEventSource, PlatformEventType, PlatformStorage } from '../../src';
import { validateContract } from '../../src/domain/contract-validation';
import { OtaRolloutWorkflow, OtaRolloutWorkflowProps } from '../../src/ota/ota-rollout-workflow';
import { evaluateProgress, rolloutRate } from '../../src/ota/private/ota-job';
import { templateOf, WorkflowHarness } from '../workflows/harness';
import { localBucketName, startLocalS3 } from '../workflows/local-s3';

const HANDLER_PATH = path.join(__dirname, '../../src/ota/ota-rollout.lambda.ts');
const ARN_PREFIX = `arn:aws:iot:${LOCAL_REGION}:${LOCAL_ACCOUNT}`;
const ROLLOUT_SUMMARY_KEY = '#rollout';

let harness: WorkflowHarness;
let s3: LocalS3Endpoint;
let eventBus: LocalEventsEndpoint;
let iot: LocalIotJobsEndpoint;
let localKms: LocalKmsEndpoint;
let s3Client: S3Client;
let db: DynamoDBDocumentClient;
let stack: Stack;
let template: any;
let storage: PlatformStorage;
let bus: PlatformEventBus;
let workflow: OtaRolloutWorkflow;
let runWorkflow: LocalWorkflow;
let signingKeyArn: string;

beforeAll(async () => {
  harness = await WorkflowHarness.start();
  stack = new Stack(new App(), 'Test');
  storage = new PlatformStorage(stack, 'Storage');
  bus = new PlatformEventBus(stack, 'Events');
  workflow = new OtaRolloutWorkflow(stack, 'Ota', {
    firmwareBucket: storage.firmwareBucket,
    eventBus: bus.eventBus,
    abortMinNumberOfExecutedThings: 5,
    pollInterval: Duration.seconds(10),
  });
  template = templateOf(stack);
  await harness.dynamodb.createTablesFromTemplate(template);
  db = DynamoDBDocumentClient.from(harness.dynamodb.client, { marshallOptions: { removeUndefinedValues: true } });

  s3 = await startLocalS3(template);
  eventBus = await LocalEventsEndpoint.start();
  iot = await LocalIotJobsEndpoint.start();
  localKms = await LocalKmsEndpoint.start();
  process.env.AWS_ENDPOINT_URL_S3 = s3.url;
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = eventBus.url;
  process.env.AWS_ENDPOINT_URL_IOT = iot.url;
  process.env.AWS_ENDPOINT_URL_KMS = localKms.url;
  s3Client = new S3Client({ endpoint: s3.url, forcePathStyle: true, region: LOCAL_REGION, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });

  signingKeyArn = stepsEnvironment(stack, template, workflow).SIGNING_KEY_ARN;
  localKms.createKey(signingKeyArn);
  const steps = harness.loadHandler(template, stack, workflow.stepsFunction, HANDLER_PATH);
  runWorkflow = harness.workflow(withoutWaits(template), stack, workflow.stateMachine, new Map([[workflow.stepsFunction, steps]]));
});

afterAll(async () => {
  for (const name of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_EVENTBRIDGE', 'AWS_ENDPOINT_URL_IOT', 'AWS_ENDPOINT_URL_KMS']) {
    delete process.env[name];
  }
  s3Client?.destroy();
  await s3?.stop();
  await eventBus?.stop();
  await iot?.stop();
  await localKms?.stop();
  await harness?.stop();
});

beforeEach(() => {
  iot.onDescribeJob = () => undefined;
});

/** Returns the environment of the workflow's steps function with local values for references. */
function stepsEnvironment(ownStack: Stack, ownTemplate: any, ownWorkflow: OtaRolloutWorkflow): Record<string, string> {
  const variables = ownTemplate.Resources[logicalId(ownStack, ownWorkflow.stepsFunction)].Properties.Environment.Variables;
  return Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, resolveIntrinsic(ownTemplate, value)]));
}

/**
 * Returns a copy of a template whose Wait states wait 0 seconds, so local executions poll the
 * job without the configured interval.
 */
function withoutWaits(original: any): any {
  const copy = JSON.parse(JSON.stringify(original));
  for (const resource of Object.values(copy.Resources) as any[]) {
    if (resource.Type !== 'AWS::StepFunctions::StateMachine') {
      continue;
    }
    const parts = resource.Properties.DefinitionString['Fn::Join'][1] as unknown[];
    resource.Properties.DefinitionString['Fn::Join'][1] = parts.map((part) =>
      (typeof part === 'string' ? part.replace(/"Type":"Wait","Seconds":\d+/g, '"Type":"Wait","Seconds":0') : part));
  }
  return copy;
}

function logicalId(ownStack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return ownStack.getLogicalId(construct.node.defaultChild as any);
}

let sequence = 0;

/** Returns a rollout id that no other test uses. */
function newRolloutId(): string {
  sequence += 1;
  return `rollout-${Date.now()}-${sequence}`;
}

/** Defines a thing group with `count` things and returns its ARN and thing names. */
function fleet(count: number): { groupArn: string; things: string[] } {
  sequence += 1;
  const name = `Fleet${sequence}`;
  const things = Array.from({ length: count }, (_, index) => `sh-SH-${sequence}-${String(index + 1).padStart(4, '0')}`);
  iot.setThingGroup(name, things);
  return { groupArn: `${ARN_PREFIX}:thinggroup/${name}`, things };
}

/** Signs an image as `aws kms sign --message-type DIGEST` does: over its SHA-256 digest. */
function kmsSignature(image: Buffer): string {
  const digest = createHash('sha256').update(image).digest();
  return localKms.sign(signingKeyArn, digest, 'DIGEST').toString('base64');
}

async function upload(key: string, body: Buffer | string): Promise<void> {
  await s3Client.send(new PutObjectCommand({ Bucket: localBucketName(stack, storage.firmwareBucket), Key: key, Body: body }));
}

/** Uploads a random image and, unless `signature` is null, its signature; returns the request. */
async function prepareRollout(options: { count?: number; signature?: (image: Buffer) => string | Buffer | null; imageSize?: number } = {}) {
  const rolloutId = newRolloutId();
  const image = randomBytes(options.imageSize ?? 200 * 1024);
  const imageKey = `firmware/${rolloutId}/smarthome-firmware.bin`;
  await upload(imageKey, image);
  const signature = (options.signature ?? kmsSignature)(image);
  if (signature !== null) {
    await upload(`${imageKey}.sig`, signature);
  }
  const { groupArn, things } = fleet(options.count ?? 4);
  const request = { rolloutId, version: '1.2.0', imageKey, targets: { thingGroupArn: groupArn } };
  return { request, image, things, jobId: `ota-${rolloutId}` };
}

/** Sets the status of the given things' executions. */
function setStatuses(job: LocalJob, things: string[], status: JobExecutionStatus): void {
  for (const thing of things) {
    iot.setExecutionStatus(job.jobId, thing, status);
  }
}

async function deviceRecords(rolloutId: string): Promise<any[]> {
  const result = await db.send(new QueryCommand({
    TableName: logicalId(stack, workflow.rolloutsTable),
    KeyConditionExpression: 'rolloutId = :id',
    ExpressionAttributeValues: { ':id': rolloutId },
  }));
  return (result.Items ?? []).filter((item) => item.thingName !== ROLLOUT_SUMMARY_KEY);
}

async function summaryRecord(rolloutId: string): Promise<any> {
  const key = { rolloutId, thingName: ROLLOUT_SUMMARY_KEY };
  return (await db.send(new GetCommand({ TableName: logicalId(stack, workflow.rolloutsTable), Key: key }))).Item;
}

function completionEvents(rolloutId: string) {
  return eventBus.events.filter((event) => event.detailType === PlatformEventType.FIRMWARE_ROLLOUT_COMPLETED && event.detail.rolloutId === rolloutId);
}

function requestsFor(jobId: string, operation: string) {
  return iot.requests.filter((request) => request.operation === operation && request.path.startsWith(`/jobs/${jobId}`));
}

function statusCounts(records: any[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const record of records) {
    counts[record.status] = (counts[record.status] ?? 0) + 1;
  }
  return counts;
}

describe('OtaRolloutWorkflow rollouts', () => {
  test('completes when every device succeeds', async () => {
    const { request, things, jobId } = await prepareRollout({ count: 4 });
    iot.onDescribeJob = (job, count) => setStatuses(job, things, count === 1 ? 'IN_PROGRESS' : 'SUCCEEDED');

    const execution = await runWorkflow.run(request, request.rolloutId);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output.outcome).toEqual({ status: 'COMPLETED', recorded: true });
    expect(execution.statesEntered.filter((state) => state === 'Wait for devices')).toHaveLength(2);
    expect(execution.statesEntered.slice(-6)).toEqual(['Start device records', 'Record device outcomes', 'More devices?', 'Record rollout outcome', 'Rollout aborted?', 'Rollout completed']);
    expect(requestsFor(jobId, 'CancelJob')).toEqual([]);

    const records = await deviceRecords(request.rolloutId);
    expect(records.map((record) => record.thingName).sort()).toEqual([...things].sort());
    for (const record of records) {
      expect(record).toMatchObject({ status: 'SUCCEEDED', version: '1.2.0', jobId, thingArn: `${ARN_PREFIX}:thing/${record.thingName}`, retryAttempt: 0 });
      expect(record.startedAt).toBeGreaterThan(0);
    }
  });

  test('records the summary and sends the completion event', async () => {
    const { request, things, jobId } = await prepareRollout({ count: 3 });
    iot.onDescribeJob = (job) => setStatuses(job, things, 'SUCCEEDED');

    const execution = await runWorkflow.run(request, request.rolloutId);

    expect(execution.status).toBe('SUCCEEDED');
    const counts = { targets: 3, succeeded: 3, failed: 0, rejected: 0, timedOut: 0, canceled: 0, removed: 0, queued: 0, inProgress: 0 };
    const summary = await summaryRecord(request.rolloutId);
    expect(summary).toMatchObject({ status: 'COMPLETED', reason: 'ALL_EXECUTIONS_FINISHED', version: '1.2.0', imageKey: request.imageKey, jobId, counts, error: null });
    expect(summary.jobArn).toBe(`${ARN_PREFIX}:job/${jobId}`);
    const events = completionEvents(request.rolloutId);
    expect(events).toHaveLength(1);
    expect(events[0].source).toBe(PlatformEventSource.WORKFLOW);
    expect(events[0].eventBusName).toBe(logicalId(stack, bus.eventBus));
    expect(events[0].detail).toEqual({
      rolloutId: request.rolloutId,
      version: '1.2.0',
      status: 'COMPLETED',
      reason: 'ALL_EXECUTIONS_FINISHED',
      jobId,
      counts,
      execution: expect.stringContaining(':execution:'),
      finishedAt: expect.any(Number),
    });
  });

  test('creates a job document valid against the schema', async () => {
    const { request, image, things, jobId } = await prepareRollout({ count: 20 });
    iot.onDescribeJob = (job) => setStatuses(job, things, 'SUCCEEDED');

    await runWorkflow.run(request, request.rolloutId);

    const job = iot.job(jobId)!;
    expect(validateContract('ota-job', job.document)).toEqual({ valid: true, errors: [] });
    expect(job.document).toEqual({
      operation: 'ota',
      rolloutId: request.rolloutId,
      version: '1.2.0',
      size: image.length,
      sha256: createHash('sha256').update(image).digest('hex'),
      signature: kmsSignatureOf(request.imageKey),
      url: `\${aws:iot:s3-presigned-url:https://s3.amazonaws.com/${localBucketName(stack, storage.firmwareBucket)}/${request.imageKey}}`,
    });
  });

  test('creates a snapshot job with rollout, abort and timeout settings', async () => {
    const { request, things, jobId } = await prepareRollout({ count: 20 });
    iot.onDescribeJob = (job) => setStatuses(job, things, 'SUCCEEDED');

    await runWorkflow.run(request, request.rolloutId);

    const job = iot.job(jobId)!.request;
    expect(job.targetSelection).toBe('SNAPSHOT');
    expect(job.targets).toEqual([request.targets.thingGroupArn]);
    expect(job.presignedUrlConfig).toEqual({ roleArn: stepsEnvironment(stack, template, workflow).PRESIGN_ROLE_ARN, expiresInSec: 3600 });
    // Waves 5%, 50% and 100% of 20 things: 1, 10 and 20 things, a growth of sqrt(20) per wave.
    expect(job.jobExecutionsRolloutConfig).toEqual({
      maximumPerMinute: 20,
      exponentialRate: { baseRatePerMinute: 1, incrementFactor: 4.5, rateIncreaseCriteria: { numberOfSucceededThings: 1 } },
    });
    expect(job.abortConfig).toEqual({ criteriaList: [{ failureType: 'ALL', action: 'CANCEL', thresholdPercentage: 20, minNumberOfExecutedThings: 5 }] });
    expect(job.timeoutConfig).toEqual({ inProgressTimeoutInMinutes: 60 });
    expect(job.description).toContain(`rollout ${request.rolloutId}`);
  });

  test('uses the waves of the request', async () => {
    const { request, things, jobId } = await prepareRollout({ count: 10 });
    iot.onDescribeJob = (job) => setStatuses(job, things, 'SUCCEEDED');

    await runWorkflow.run({ ...request, waves: [20, 100] }, request.rolloutId);

    expect(iot.job(jobId)!.request.jobExecutionsRolloutConfig).toEqual({
      maximumPerMinute: 10,
      exponentialRate: { baseRatePerMinute: 2, incrementFactor: 5, rateIncreaseCriteria: { numberOfSucceededThings: 2 } },
    });
  });

  test('never retries FAILED executions', async () => {
    const { request, things, jobId } = await prepareRollout({ count: 4 });
    const [failing, timingOut, ...others] = things;
    const observed: Record<string, any> = {};
    iot.onDescribeJob = (job, count) => {
      if (count === 1) {
        setStatuses(job, [failing], 'FAILED');
        setStatuses(job, [timingOut], 'TIMED_OUT');
        observed.failing = { ...job.executions.get(failing) };
        observed.timingOut = { ...job.executions.get(timingOut) };
      } else {
        setStatuses(job, [timingOut, ...others], 'SUCCEEDED');
      }
    };

    const execution = await runWorkflow.run(request, request.rolloutId);

    expect(iot.job(jobId)!.request.jobExecutionsRetryConfig).toEqual({ criteriaList: [{ failureType: 'TIMED_OUT', numberOfRetries: 1 }] });
    expect(observed.failing).toMatchObject({ status: 'FAILED', retryAttempt: 0 });
    expect(observed.timingOut).toMatchObject({ status: 'QUEUED', retryAttempt: 1 });
    expect(execution.status).toBe('SUCCEEDED');
    const records = await deviceRecords(request.rolloutId);
    expect(records.find((record) => record.thingName === failing)).toMatchObject({ status: 'FAILED', retryAttempt: 0 });
    expect(records.find((record) => record.thingName === timingOut)).toMatchObject({ status: 'SUCCEEDED', retryAttempt: 1 });
    expect(completionEvents(request.rolloutId)[0].detail.counts).toMatchObject({ succeeded: 3, failed: 1 });
  });

  test('continues below the failure threshold', async () => {
    const { request, things } = await prepareRollout({ count: 10 });
    iot.onDescribeJob = (job, count) => {
      if (count === 1) {
        // 1 of 9 finished executions failed: 11%, below the 20% threshold.
        setStatuses(job, things.slice(0, 1), 'FAILED');
        setStatuses(job, things.slice(1, 9), 'SUCCEEDED');
      } else {
        setStatuses(job, things.slice(9), 'SUCCEEDED');
      }
    };

    const execution = await runWorkflow.run(request, request.rolloutId);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.statesEntered).not.toContain('Cancel job');
    expect(completionEvents(request.rolloutId)[0].detail).toMatchObject({ status: 'COMPLETED', counts: { succeeded: 9, failed: 1 } });
  });

  test('aborts when a wave crosses the failure threshold', async () => {
    const { request, things, jobId } = await prepareRollout({ count: 20 });
    const secondWave = things.slice(1, 10);
    iot.onDescribeJob = (job, count) => {
      if (count === 1) {
        setStatuses(job, things.slice(0, 1), 'SUCCEEDED');
        setStatuses(job, secondWave, 'IN_PROGRESS');
      } else if (count === 2) {
        // 6 of 10 finished executions failed: 60%, above the 20% threshold.
        setStatuses(job, secondWave.slice(0, 6), 'FAILED');
        setStatuses(job, secondWave.slice(6), 'SUCCEEDED');
      }
    };

    const execution = await runWorkflow.run(request, request.rolloutId);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('FirmwareRolloutAborted');
    expect(execution.cause).toBe('FAILURE_THRESHOLD_EXCEEDED');
    expect(execution.statesEntered).toContain('Cancel job');
    expect(execution.statesEntered[execution.statesEntered.length - 1]).toBe('Rollout aborted');
    const cancels = requestsFor(jobId, 'CancelJob');
    expect(cancels).toHaveLength(1);
    expect(cancels[0].query.force).toBe('false');
    expect(cancels[0].body.reasonCode).toBe('FAILURE_THRESHOLD_EXCEEDED');
    expect(iot.job(jobId)!.status).toBe('CANCELED');

    const records = await deviceRecords(request.rolloutId);
    expect(statusCounts(records)).toEqual({ SUCCEEDED: 4, FAILED: 6, CANCELED: 10 });
    expect(records.filter((record) => record.status === 'FAILED').map((record) => record.thingName).sort()).toEqual(secondWave.slice(0, 6).sort());
    expect(await summaryRecord(request.rolloutId)).toMatchObject({ status: 'ABORTED', reason: 'FAILURE_THRESHOLD_EXCEEDED' });
    expect(completionEvents(request.rolloutId).map((event) => event.detail)).toEqual([expect.objectContaining({
      status: 'ABORTED',
      reason: 'FAILURE_THRESHOLD_EXCEEDED',
      counts: { targets: 20, succeeded: 4, failed: 6, rejected: 0, timedOut: 0, canceled: 10, removed: 0, queued: 0, inProgress: 0 },
    })]);
  });

  test('ends ABORTED when AWS IoT cancels the job', async () => {
    const { request, things, jobId } = await prepareRollout({ count: 4 });
    iot.onDescribeJob = (job) => {
      setStatuses(job, things.slice(0, 1), 'FAILED');
      iot.cancelJob(job.jobId, 'AUTO_ABORT');
    };

    const execution = await runWorkflow.run(request, request.rolloutId);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('FirmwareRolloutAborted');
    expect(execution.cause).toBe('JOB_CANCELED: AUTO_ABORT');
    expect(requestsFor(jobId, 'CancelJob')).toEqual([]);
    expect(statusCounts(await deviceRecords(request.rolloutId))).toEqual({ FAILED: 1, CANCELED: 3 });
  });

  test('records FAILED and cancels the job when a step fails', async () => {
    const { request, jobId } = await prepareRollout({ count: 4 });
    iot.failNext('DescribeJob', 403, 'AccessDeniedException', 1);

    const execution = await runWorkflow.run(request, request.rolloutId);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('AccessDeniedException');
    expect(execution.statesEntered.slice(-3)).toEqual(['Check job progress', 'Record failure', 'Rollout failed']);
    const cancels = requestsFor(jobId, 'CancelJob');
    expect(cancels).toHaveLength(1);
    expect(cancels[0].body.reasonCode).toBe('ROLLOUT_FAILED');
    expect(await summaryRecord(request.rolloutId)).toMatchObject({ status: 'FAILED', reason: 'AccessDeniedException', jobId, error: { name: 'AccessDeniedException' } });
    const events = completionEvents(request.rolloutId);
    expect(events).toHaveLength(1);
    expect(events[0].detail).toMatchObject({ status: 'FAILED', reason: 'AccessDeniedException', jobId, counts: { targets: 4, canceled: 4 } });
  });

  test('targets things by ARN', async () => {
    const { request, jobId } = await prepareRollout({ count: 0 });
    const things = ['sh-SH-ARN-0001', 'sh-SH-ARN-0002'];
    const thingArns = things.map((thing) => `${ARN_PREFIX}:thing/${thing}`);
    iot.onDescribeJob = (job) => setStatuses(job, things, 'SUCCEEDED');

    const execution = await runWorkflow.run({ ...request, targets: { thingArns } }, request.rolloutId);

    expect(execution.status).toBe('SUCCEEDED');
    expect(iot.job(jobId)!.request.targets).toEqual(thingArns);
    expect((await deviceRecords(request.rolloutId)).map((record) => record.thingName).sort()).toEqual(things);
    const groupName = request.targets.thingGroupArn.split('/')[1];
    const groupRequests = iot.requests.filter((item) => item.operation === 'ListThingsInThingGroup' && item.path.includes(groupName));
    expect(groupRequests).toEqual([]);
  });

  test('keeps the summary of an earlier rollout', async () => {
    const { request, things } = await prepareRollout({ count: 2 });
    iot.onDescribeJob = (job) => setStatuses(job, things, 'SUCCEEDED');
    await runWorkflow.run(request, request.rolloutId);

    const repeat = await runWorkflow.run({ ...request, imageKey: 'firmware/missing.bin' }, `${request.rolloutId}-again`);

    expect(repeat.status).toBe('FAILED');
    expect(repeat.error).toBe('FirmwareImageNotFoundError');
    expect(repeat.output).toBeUndefined();
    const summary = await summaryRecord(request.rolloutId);
    expect(summary.status).toBe('COMPLETED');
    expect(summary.execution).toMatch(new RegExp(`:${request.rolloutId}$`));
    expect(completionEvents(request.rolloutId).map((event) => event.detail.status)).toEqual(['COMPLETED', 'REJECTED']);
  });

  test('replaces the summary of a rejected start', async () => {
    const { request, things } = await prepareRollout({ count: 2 });
    await runWorkflow.run({ ...request, imageKey: 'firmware/missing.bin' }, `${request.rolloutId}-first`);
    expect((await summaryRecord(request.rolloutId)).status).toBe('REJECTED');
    iot.onDescribeJob = (job) => setStatuses(job, things, 'SUCCEEDED');

    const execution = await runWorkflow.run(request, request.rolloutId);

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output.outcome).toEqual({ status: 'COMPLETED', recorded: true });
    expect((await summaryRecord(request.rolloutId)).status).toBe('COMPLETED');
  });

  test('rejects a repeated rollout id', async () => {
    const { request, things, jobId } = await prepareRollout({ count: 2 });
    iot.onDescribeJob = (job) => setStatuses(job, things, 'SUCCEEDED');
    await runWorkflow.run(request, request.rolloutId);

    const repeat = await runWorkflow.run(request, `${request.rolloutId}-again`);

    expect(repeat.status).toBe('FAILED');
    expect(repeat.error).toBe('FirmwareRolloutExistsError');
    expect(repeat.statesEntered[repeat.statesEntered.length - 1]).toBe('Rollout already exists');
    expect(requestsFor(jobId, 'CreateJob')).toHaveLength(2);
    expect(iot.jobs().filter((job) => job.jobId === jobId)).toHaveLength(1);
    expect((await summaryRecord(request.rolloutId)).status).toBe('COMPLETED');
    expect(completionEvents(request.rolloutId).map((event) => event.detail.status)).toEqual(['COMPLETED']);
  });
});

describe('OtaRolloutWorkflow signature checks', () => {
  async function expectRejected(request: { rolloutId: string }, jobId: string, error: string, message: RegExp) {
    const execution = await runWorkflow.run(request, request.rolloutId);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe(error);
    expect(execution.cause).toMatch(message);
    expect(execution.statesEntered).toEqual(['Start rollout', 'Verify firmware image', 'Record rejection', 'Firmware rejected']);
    expect(requestsFor(jobId, 'CreateJob')).toEqual([]);
    expect(iot.job(jobId)).toBeUndefined();
    expect(await summaryRecord(request.rolloutId)).toMatchObject({ status: 'REJECTED', reason: error, jobId: null, counts: null });
    expect(await deviceRecords(request.rolloutId)).toEqual([]);
    const events = completionEvents(request.rolloutId);
    expect(events).toHaveLength(1);
    expect(events[0].detail).toMatchObject({ status: 'REJECTED', reason: error, errorMessage: expect.stringMatching(message) });
    expect(events[0].detail.jobId).toBeUndefined();
  }

  test('rejects an unsigned image', async () => {
    const { request, jobId } = await prepareRollout({ signature: () => null });

    await expectRejected(request, jobId, 'FirmwareSignatureInvalidError', /Signature object '.*\.sig' is missing/);
  });

  test('rejects a tampered image', async () => {
    const other = randomBytes(4096);
    const { request, jobId } = await prepareRollout({ signature: () => kmsSignature(other) });

    await expectRejected(request, jobId, 'FirmwareSignatureInvalidError', /does not verify for image/);
  });

  test('rejects a missing image', async () => {
    const { request, jobId } = await prepareRollout();

    await expectRejected({ ...request, imageKey: 'firmware/missing.bin' } as typeof request, jobId, 'FirmwareImageNotFoundError', /'firmware\/missing\.bin' is not in bucket/);
  });

  const invalidSignatures: [string, (image: Buffer) => string | Buffer, RegExp][] = [
    ['the placeholder TODO', () => 'TODO', /placeholder "TODO"/],
    ['the placeholder PLACEHOLDER', () => 'PLACEHOLDER\n', /placeholder "PLACEHOLDER"/],
    ['an empty signature', () => ' \n', /is empty/],
    ['zero bytes', () => 'AAAAAAAAAAAAAAAAAAAAAAAA', /not a DER ECDSA P-256 signature/],
    ['raw DER bytes', (image) => Buffer.from(kmsSignature(image), 'base64'), /not base64 text/],
    ['truncated DER', (image) => Buffer.from(kmsSignature(image), 'base64').subarray(0, 40).toString('base64'), /not a DER ECDSA P-256 signature/],
    ['a signature of another key', (image) => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      return sign('sha256', image, { key: privateKey, dsaEncoding: 'der' }).toString('base64');
    }, /does not verify/],
  ];

  test.each(invalidSignatures)('rejects %s', async (_case, signature, message) => {
    const { request, jobId } = await prepareRollout({ signature });

    await expectRejected(request, jobId, 'FirmwareSignatureInvalidError', message);
  });

  test('rejects an invalid request', async () => {
    const { request, jobId } = await prepareRollout();

    await expectRejected({ ...request, waves: [50, 10, 100] } as typeof request, jobId, 'InvalidRequestError', /wave 2 \(10%\) is not larger than wave 1/);
  });

  test('rejects an empty thing group after verifying', async () => {
    const { request, jobId } = await prepareRollout({ count: 0 });

    const execution = await runWorkflow.run(request, request.rolloutId);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('InvalidRequestError');
    expect(execution.statesEntered).toEqual(['Start rollout', 'Verify firmware image', 'Create job', 'Record rejection', 'Firmware rejected']);
    expect(iot.job(jobId)).toBeUndefined();
    expect(completionEvents(request.rolloutId)[0].detail.status).toBe('REJECTED');
  });
});

/** Returns the base64 signature stored next to an image. */
function kmsSignatureOf(imageKey: string): string {
  return s3.object(localBucketName(stack, storage.firmwareBucket), `${imageKey}.sig`)!.body.toString('utf8');
}

describe('OtaRolloutWorkflow with an offline signing key', () => {
  let directory: string;
  let offlineStack: Stack;
  let offline: OtaRolloutWorkflow;
  let runOffline: LocalWorkflow;

  beforeAll(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ota-signing-'));
    // The commands that firmware/README.md gives for signing a build.
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', path.join(directory, 'ota-signing-key.pem')]);
    execFileSync('openssl', ['ec', '-in', path.join(directory, 'ota-signing-key.pem'), '-pubout', '-out', path.join(directory, 'ota-public-key.pem')], { stdio: 'ignore' });
    offlineStack = new Stack(new App(), 'Offline');
    const offlineStorage = new PlatformStorage(offlineStack, 'Storage');
    offline = new OtaRolloutWorkflow(offlineStack, 'OfflineOta', {
      firmwareBucket: offlineStorage.firmwareBucket,
      eventBus: new PlatformEventBus(offlineStack, 'Events').eventBus,
      imageSigningPublicKeyPem: fs.readFileSync(path.join(directory, 'ota-public-key.pem'), 'utf8'),
    });
    const offlineTemplate = templateOf(offlineStack);
    await harness.dynamodb.createTablesFromTemplate(offlineTemplate);
    const steps = harness.loadHandler(offlineTemplate, offlineStack, offline.stepsFunction, HANDLER_PATH);
    runOffline = harness.workflow(withoutWaits(offlineTemplate), offlineStack, offline.stateMachine, new Map([[offline.stepsFunction, steps]]));
  });

  afterAll(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  test('creates no signing key', () => {
    expect(offline.signingKey).toBeUndefined();
    Template.fromStack(offlineStack).resourceCountIs('AWS::KMS::Key', 1);
  });

  test('accepts an image signed with openssl', async () => {
    const { request, image, things, jobId } = await prepareRollout();
    const imageFile = path.join(directory, 'smarthome-firmware.bin');
    fs.writeFileSync(imageFile, image);
    execFileSync('openssl', ['dgst', '-sha256', '-sign', path.join(directory, 'ota-signing-key.pem'), '-out', path.join(directory, 'firmware.sig'), imageFile]);
    await upload(`${request.imageKey}.sig`, fs.readFileSync(path.join(directory, 'firmware.sig')).toString('base64'));
    iot.onDescribeJob = (job) => setStatuses(job, things, 'SUCCEEDED');

    const execution = await runOffline.run(request, request.rolloutId);

    expect(execution.status).toBe('SUCCEEDED');
    expect(iot.job(jobId)!.document.sha256).toBe(createHash('sha256').update(image).digest('hex'));
  });

  test('rejects an image signed with the KMS key', async () => {
    const { request, jobId } = await prepareRollout();

    const execution = await runOffline.run(request, request.rolloutId);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('FirmwareSignatureInvalidError');
    expect(execution.cause).toMatch(/with the public key in imageSigningPublicKeyPem/);
    expect(iot.job(jobId)).toBeUndefined();
  });
});

describe('OtaRolloutWorkflow construct', () => {
  let assertions: Template;
  let definition: any;

  beforeAll(() => {
    assertions = Template.fromJSON(template);
    definition = renderDefinition(template, logicalId(stack, workflow.stateMachine));
  });

  function stepsStatements(): any[] {
    const policies = assertions.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^OtaStepsRole') }] } });
    return Object.values(policies).flatMap((policy: any) => policy.Properties.PolicyDocument.Statement as any[]);
  }

  function statementsWith(action: string): any[] {
    return stepsStatements().filter((statement) => [statement.Action].flat().includes(action));
  }

  test('is a Standard state machine with tracing and logs', () => {
    assertions.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: false }),
    });
    // The default rolloutTimeout is 2,000 poll intervals of 10 seconds (shorter than 24 hours),
    // plus an hour for cancelling and recording.
    expect(definition.TimeoutSeconds).toBe(2000 * 10 + 3600);
    expect(stepsEnvironment(stack, template, workflow).ROLLOUT_TIMEOUT_SECONDS).toBe('20000');
    expect(definition.StartAt).toBe('Start rollout');
    expect(definition.States['Wait for devices']).toMatchObject({ Type: 'Wait', Seconds: 10, Next: 'Check job progress' });
  });

  test('starts from Firmware Rollout Requested events', () => {
    assertions.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'detail-type': [PlatformEventType.FIRMWARE_ROLLOUT_REQUESTED] },
      Targets: [Match.objectLike({
        Arn: { Ref: logicalId(stack, workflow.stateMachine) },
        InputPath: '$.detail',
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack, workflow.deadLetterQueue as sqs.Queue), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 },
      })],
    });
  });

  test('retries and catches every task state', () => {
    const taskStates = Object.entries(definition.States as Record<string, any>).filter(([, state]) => state.Type === 'Task');
    expect(taskStates.map(([name]) => name).sort()).toEqual([
      'Cancel job', 'Check job progress', 'Create job', 'Record device outcomes', 'Record failure', 'Record rejection', 'Record rollout outcome', 'Verify firmware image',
    ]);
    for (const [name, state] of taskStates) {
      const retried = state.Retry.flatMap((retry: any) => retry.ErrorEquals);
      expect({ name, retried }).toEqual({ name, retried: expect.arrayContaining(['TransientDependencyError', 'Lambda.TooManyRequestsException', 'Lambda.ServiceException']) });
      const catchAll = state.Catch.find((item: any) => item.ErrorEquals.includes('States.ALL'));
      const finishing = name === 'Record failure' || name === 'Record rejection';
      expect({ name, next: catchAll?.Next }).toEqual({ name, next: finishing ? 'Outcome not recorded' : 'Record failure' });
    }
    expect(definition.States['Verify firmware image'].Catch[0]).toEqual({
      ErrorEquals: ['InvalidRequestError', 'FirmwareImageNotFoundError', 'FirmwareImageInvalidError', 'FirmwareSignatureInvalidError'],
      ResultPath: '$.error',
      Next: 'Record rejection',
    });
    expect(definition.States['Create job'].Catch[0]).toMatchObject({ ErrorEquals: ['FirmwareRolloutExistsError'], Next: 'Rollout already exists' });
  });

  test('creates the presign role for AWS IoT', () => {
    const roleId = logicalId(stack, workflow.presignRole);
    assertions.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({
          Principal: { Service: 'iot.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
        })],
      },
    });
    const bucketArn = { 'Fn::GetAtt': [localBucketName(stack, storage.firmwareBucket), 'Arn'] };
    assertions.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: roleId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [bucketArn, '/*']] } }),
          Match.objectLike({ Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [logicalId(stack, storage.encryptionKey as kms.Key), 'Arn'] } }),
        ]),
      },
    });
    expect(statementsWith('iam:PassRole')).toEqual([{
      Action: 'iam:PassRole',
      Effect: 'Allow',
      Resource: { 'Fn::GetAtt': [roleId, 'Arn'] },
      Condition: { StringEquals: { 'iam:PassedToService': 'iot.amazonaws.com' } },
    }]);
  });

  test('grants IoT job actions on rollout jobs only', () => {
    const iotArn = (resource: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iot:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`]] });
    expect(statementsWith('iot:CreateJob')).toEqual([expect.objectContaining({ Resource: [iotArn('job/ota-*'), iotArn('thing/*'), iotArn('thinggroup/*')] })]);
    expect(statementsWith('iot:DescribeJob')).toEqual([expect.objectContaining({ Action: ['iot:DescribeJob', 'iot:CancelJob', 'iot:ListJobExecutionsForJob'], Resource: iotArn('job/ota-*') })]);
    expect(statementsWith('iot:ListThingsInThingGroup')).toEqual([expect.objectContaining({ Resource: iotArn('thinggroup/*') })]);
    const iotActions = stepsStatements().flatMap((statement) => [statement.Action].flat()).filter((action: string) => action.startsWith('iot:'));
    expect(iotActions.sort()).toEqual(['iot:CancelJob', 'iot:CreateJob', 'iot:DescribeJob', 'iot:ListJobExecutionsForJob', 'iot:ListThingsInThingGroup']);
  });

  test('grants reads of the bucket and the public key', () => {
    const s3Actions = stepsStatements().flatMap((statement) => [statement.Action].flat()).filter((action: string) => action.startsWith('s3:'));
    expect(s3Actions.sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    expect(statementsWith('kms:GetPublicKey')).toEqual([expect.objectContaining({ Resource: { 'Fn::GetAtt': [logicalId(stack, workflow.signingKey as kms.Key), 'Arn'] } })]);
    const tableActions = stepsStatements()
      .filter((statement) => JSON.stringify(statement.Resource).includes(logicalId(stack, workflow.rolloutsTable)))
      .flatMap((statement) => [statement.Action].flat());
    expect(tableActions.sort()).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:PutItem']);
  });

  test('creates an asymmetric signing key', () => {
    assertions.hasResourceProperties('AWS::KMS::Key', { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    assertions.hasResource('AWS::KMS::Key', { Properties: Match.objectLike({ KeySpec: 'ECC_NIST_P256' }), DeletionPolicy: 'Retain' });
  });

  test('creates the rollouts table', () => {
    assertions.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'rolloutId', KeyType: 'HASH' }, { AttributeName: 'thingName', KeyType: 'RANGE' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  test('limits targets to the given thing groups', () => {
    const scoped = new Stack(new App(), 'Scoped');
    const groupArn = `${ARN_PREFIX}:thinggroup/Fleet`;
    const scopedWorkflow = new OtaRolloutWorkflow(scoped, 'Ota', {
      firmwareBucket: new PlatformStorage(scoped, 'Storage').firmwareBucket,
      eventBus: new PlatformEventBus(scoped, 'Events').eventBus,
      thingGroupArns: [groupArn],
    });
    const scopedTemplate = Template.fromStack(scoped);
    const statements = Object.values(scopedTemplate.findResources('AWS::IAM::Policy')).flatMap((policy: any) => policy.Properties.PolicyDocument.Statement as any[]);
    const createJob = statements.find((statement) => statement.Action === 'iot:CreateJob');
    expect(createJob.Resource).toHaveLength(3);
    expect(createJob.Resource[2]).toBe(groupArn);
    expect(statements.find((statement) => statement.Action === 'iot:ListThingsInThingGroup').Resource).toBe(groupArn);
    const environment = scopedTemplate.toJSON().Resources[logicalId(scoped, scopedWorkflow.stepsFunction)].Properties.Environment.Variables;
    expect(environment.ALLOWED_THING_GROUP_ARNS).toBe(groupArn);
  });

  test('grants starting rollouts', () => {
    const grantStack = new Stack(new App(), 'Grant');
    const granted = new OtaRolloutWorkflow(grantStack, 'Ota', {
      firmwareBucket: new PlatformStorage(grantStack, 'Storage').firmwareBucket,
      eventBus: new PlatformEventBus(grantStack, 'Events').eventBus,
    });
    const role = new iam.Role(grantStack, 'ReleasePipeline', { assumedBy: new iam.AccountRootPrincipal() });

    granted.grantStartRollout(role);

    Template.fromStack(grantStack).hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: grantStack.getLogicalId(role.node.defaultChild as iam.CfnRole) }],
      PolicyDocument: { Statement: [Match.objectLike({ Action: 'states:StartExecution', Resource: { Ref: logicalId(grantStack, granted.stateMachine) } })] },
    });
  });

  test('reports no cdk-nag findings', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ota-nag-'));
    const app = new App({ outdir, context: { '@aws-cdk/core:validationReportJson': true } });
    const nagStack = new Stack(app, 'Nag');
    const key = new kms.Key(nagStack, 'Key', { enableKeyRotation: true });
    new OtaRolloutWorkflow(nagStack, 'Ota', {
      firmwareBucket: new PlatformStorage(nagStack, 'Storage', { encryptionKey: key }).firmwareBucket,
      eventBus: new PlatformEventBus(nagStack, 'Events').eventBus,
      encryptionKey: key,
    });
    new sqs.Queue(nagStack, 'Unencrypted', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
    try {
      app.synth();
    } catch (error) {
      // A plugin with findings makes synth throw after it writes the report, which is read below.
      if (!fs.existsSync(path.join(outdir, 'validation-report.json'))) {
        throw error;
      }
    }

    const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
    const findings = (report.pluginReports as any[])
      .filter((plugin) => /AwsSolutions|Serverless/.test(plugin.pluginName))
      .flatMap((plugin) => plugin.violations.flatMap((violation: any) => violation.violatingConstructs
        .map((construct: any) => `${violation.ruleName} ${construct.constructPath}`)));
    // The queue that breaks the rules shows that the packs ran and reported into this report.
    expect(findings).toContain('AwsSolutions-SQS3 Nag/Unencrypted/Resource');
    expect(findings.filter((finding: string) => finding.includes(' Nag/Ota/'))).toEqual([]);
  });
});

describe('OtaRolloutWorkflow props', () => {
  const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const p256Pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const invalidProps: [string, (scope: Stack) => Partial<OtaRolloutWorkflowProps>, RegExp][] = [
    ['waves do not increase', () => ({ waves: [50, 10, 100] }), /wave 2 \(10%\) is not larger than wave 1/],
    ['waves repeat a percentage', () => ({ waves: [5, 5, 100] }), /wave 2 \(5%\) is not larger/],
    ['a wave is 0', () => ({ waves: [0, 100] }), /wave 1 is 0, but each wave must be a whole percentage from 1 to 100/],
    ['a wave exceeds 100', () => ({ waves: [5, 50, 101] }), /wave 3 is 101/],
    ['a wave is fractional', () => ({ waves: [2.5, 100] }), /wave 1 is 2.5/],
    ['waves end below 100', () => ({ waves: [5, 50] }), /the last wave is 50%, but it must be 100/],
    ['waves are empty', () => ({ waves: [] }), /waves must be a list of 1 to 10 percentages/],
    ['the threshold is 0', () => ({ abortThresholdPercentage: 0 }), /Invalid abortThresholdPercentage of 0/],
    ['the threshold exceeds 100', () => ({ abortThresholdPercentage: 101 }), /Invalid abortThresholdPercentage of 101/],
    ['the minimum executions is 0', () => ({ abortMinNumberOfExecutedThings: 0 }), /Invalid abortMinNumberOfExecutedThings of 0/],
    ['the poll interval is under 10 seconds', () => ({ pollInterval: Duration.seconds(9) }), /Invalid pollInterval of 9 seconds/],
    ['the poll interval exceeds an hour', () => ({ pollInterval: Duration.minutes(61) }), /Invalid pollInterval of 1 hour 1 minute/],
    ['the in-progress timeout is not whole minutes', () => ({ inProgressTimeout: Duration.seconds(90) }), /Invalid inProgressTimeout of 1 minute 30 seconds/],
    ['the in-progress timeout exceeds 7 days', () => ({ inProgressTimeout: Duration.days(8) }), /Invalid inProgressTimeout of 8 days/],
    ['the thing group list is empty', () => ({ thingGroupArns: [] }), /Invalid thingGroupArns: the list is empty/],
    ['timed-out retries exceed 10', () => ({ timedOutRetries: 11 }), /Invalid timedOutRetries of 11/],
    ['the rollout needs too many checks', () => ({ rolloutTimeout: Duration.days(3), pollInterval: Duration.seconds(60) }), /Invalid rolloutTimeout of 3 days: .* 2000 of them/],
    ['the rollout is shorter than one check', () => ({ rolloutTimeout: Duration.seconds(30) }), /Invalid rolloutTimeout of 30 seconds/],
    ['both a key and a PEM are set', (scope) => ({ signingKey: new kms.Key(scope, 'Other', { keySpec: kms.KeySpec.ECC_NIST_P256, keyUsage: kms.KeyUsage.SIGN_VERIFY }), imageSigningPublicKeyPem: p256Pem }), /Set either signingKey or imageSigningPublicKeyPem/],
    ['the PEM is not a key', () => ({ imageSigningPublicKeyPem: 'not a key' }), /Invalid imageSigningPublicKeyPem: it is not a PEM public key/],
    ['the PEM is an RSA key', () => ({ imageSigningPublicKeyPem: rsaPem }), /it is a rsa key, but firmware signatures need a P-256/],
  ];

  test.each(invalidProps)('fails when %s', (_case, props, message) => {
    const scope = new Stack(new App(), 'Invalid');
    const required = {
      firmwareBucket: new PlatformStorage(scope, 'Storage').firmwareBucket,
      eventBus: new PlatformEventBus(scope, 'Events').eventBus,
    };

    expect(() => new OtaRolloutWorkflow(scope, 'Ota', { ...required, ...props(scope) })).toThrow(message);
  });

  test('accepts a P-256 PEM and a given key', () => {
    const scope = new Stack(new App(), 'Valid');
    const required = {
      firmwareBucket: new PlatformStorage(scope, 'Storage').firmwareBucket,
      eventBus: new PlatformEventBus(scope, 'Events').eventBus,
    };
    const given = new kms.Key(scope, 'Given', { keySpec: kms.KeySpec.ECC_NIST_P256, keyUsage: kms.KeyUsage.SIGN_VERIFY });

    const withPem = new OtaRolloutWorkflow(scope, 'Pem', { ...required, imageSigningPublicKeyPem: p256Pem, waves: [100] });
    const withKey = new OtaRolloutWorkflow(scope, 'Key', { ...required, signingKey: given, rolloutTimeout: Duration.days(3), pollInterval: Duration.minutes(5) });

    expect(withPem.signingKey).toBeUndefined();
    expect(withKey.signingKey).toBe(given);
  });
});

describe('rollout rate and progress decisions', () => {
  const exponential = (maximumPerMinute: number, baseRatePerMinute: number, incrementFactor: number, numberOfSucceededThings: number) =>
    ({ maximumPerMinute, exponentialRate: { baseRatePerMinute, incrementFactor, rateIncreaseCriteria: { numberOfSucceededThings } } });
  const rates: [number, number[], object][] = [
    [1, [5, 50, 100], { maximumPerMinute: 1 }],
    [20, [100], { maximumPerMinute: 20 }],
    [100, [5, 50, 100], exponential(100, 5, 4.5, 5)],
    [100, [10, 20, 40, 80, 100], exponential(100, 10, 1.8, 10)],
    [50000, [50, 100], exponential(1000, 1000, 2, 25000)],
    [1000, [99, 100], exponential(1000, 990, 1.1, 990)],
  ];

  test.each(rates)('rate for %i things and waves %j', (targets, waves, expected) => {
    expect(rolloutRate(targets, waves)).toEqual(expected);
  });

  const policy = { abortThresholdPercentage: 20, abortMinNumberOfExecutedThings: 5 };
  const details = (counts: Record<string, number>) => ({
    status: 'IN_PROGRESS',
    jobProcessDetails: {
      numberOfSucceededThings: counts.succeeded ?? 0,
      numberOfFailedThings: counts.failed ?? 0,
      numberOfRejectedThings: counts.rejected ?? 0,
      numberOfTimedOutThings: counts.timedOut ?? 0,
      numberOfQueuedThings: counts.queued ?? 0,
      numberOfInProgressThings: counts.inProgress ?? 0,
    },
  });

  test('cancels at the threshold', () => {
    const decision = evaluateProgress(details({ succeeded: 4, failed: 1, queued: 5 }), policy, 0, 1);

    expect(decision).toMatchObject({ decision: 'CANCEL', status: 'ABORTED', reason: 'FAILURE_THRESHOLD_EXCEEDED', failureRatePercentage: 20 });
  });

  test('counts rejected and timed-out executions as failures', () => {
    const decision = evaluateProgress(details({ succeeded: 3, rejected: 1, timedOut: 1, queued: 5 }), policy, 0, 1);

    expect(decision).toMatchObject({ decision: 'CANCEL', failureRatePercentage: 40 });
  });

  test('waits for the minimum finished executions', () => {
    const decision = evaluateProgress(details({ failed: 4, queued: 6 }), policy, 0, 1);

    expect(decision).toMatchObject({ decision: 'CONTINUE', status: null, failureRatePercentage: 100 });
  });

  test('cancels after the rollout deadline', () => {
    const decision = evaluateProgress(details({ succeeded: 2, queued: 8 }), policy, 1000, 1000);

    expect(decision).toMatchObject({ decision: 'CANCEL', status: 'ABORTED', reason: 'ROLLOUT_TIMED_OUT' });
  });

  test('finishes when no execution is pending', () => {
    const decision = evaluateProgress(details({ succeeded: 9, failed: 1 }), policy, 0, 1);

    expect(decision).toMatchObject({ decision: 'FINISH', status: 'COMPLETED', counts: { targets: 10, succeeded: 9, failed: 1 } });
  });
});
