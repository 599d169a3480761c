import { createPublicKey, KeyObject } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  CancelJobCommand, CreateJobCommand, DescribeJobCommand, IoTClient, JobExecutionSummaryForJob, ListJobExecutionsForJobCommand,
  ListThingsInThingGroupCommand,
} from '@aws-sdk/client-iot';
import { GetObjectCommand, GetObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import type { FirmwareRolloutCompletedDetail, FirmwareRolloutRequest } from './ota-rollout-workflow';
import { FirmwareImageInvalidError, FirmwareImageNotFoundError, FirmwareRolloutExistsError, FirmwareSignatureInvalidError } from './private/errors';
import { checkImage, decodeSignature, MAX_SIGNATURE_OBJECT_BYTES, readLimited } from './private/firmware-signature';
import { kmsPublicKey } from './private/kms-public-key';
import { createJobInput, evaluateProgress, ProgressDecision, RolloutCounts, RolloutPolicy, VerifiedImage } from './private/ota-job';
import { DeviceRolloutRecord, ROLLOUT_SUMMARY_KEY, RolloutStatus, RolloutSummaryRecord, writeDeviceRecords, writeRolloutSummary } from './private/rollout-records';
import { jobIdOf, parseRolloutRequest, resourceNameOf } from './private/rollout-request';
import { MAX_IMAGE_SIZE_BYTES, ROLLOUT_ID_PATTERN } from './private/rollout-settings';
import { PlatformEventSource, PlatformEventType } from '../events/event-contracts';
import { InvalidRequestError, TransientDependencyError, translateSdkError } from '../workflows/private/errors';
import { documentClient } from '../workflows/private/registry-tables';

const logger = new Logger();
const settings = settingsFromEnv(process.env);
const s3 = new S3Client(process.env.AWS_ENDPOINT_URL_S3 ? { forcePathStyle: true } : {});
const iot = new IoTClient({});
const eventBridge = new EventBridgeClient({});
const db = documentClient();

/** Largest page of ListJobExecutionsForJob that one step records. */
const DEVICE_PAGE_SIZE = 100;

/** The job that the createJob step created. */
interface RolloutJob {
  readonly jobId: string;
  readonly jobArn: string;
  readonly targetCount: number;
}

/** Error that a Step Functions Catch stored: the error name and its cause. */
interface CaughtError {
  readonly Error?: string;
  readonly Cause?: string;
}

/** The state of the execution as the finish step receives it: the request and what the steps added. */
interface ExecutionState {
  request?: Partial<FirmwareRolloutRequest>;
  image?: VerifiedImage;
  job?: RolloutJob;
  progress?: ProgressDecision;
  error?: CaughtError;
}

type StepEvent = { execution: string } & (
  | { action: 'verify'; request: unknown }
  | { action: 'createJob'; request: FirmwareRolloutRequest; image: VerifiedImage }
  | { action: 'checkProgress'; request: FirmwareRolloutRequest; job: RolloutJob; startedAt: string }
  | { action: 'cancelJob'; request: FirmwareRolloutRequest; job: RolloutJob; progress: ProgressDecision }
  | { action: 'recordDevices'; request: FirmwareRolloutRequest; job: RolloutJob; nextToken: string | null }
  | { action: 'finish'; status: RolloutStatus; state: ExecutionState });

/**
 * Steps of the OTA rollout workflow: verify the signed image, create the AWS IoT job, check its
 * progress, cancel it, record each device's outcome and finish the rollout. Step Functions may
 * retry a step, so each is idempotent: verification only reads, a repeated CreateJob finds the
 * job that the same execution created, cancelling a cancelled job changes nothing, and records
 * are overwritten with the same values. A retried finish step may send its event twice, so
 * consumers drop repeats by rolloutId and status.
 */
export const handler = async (event: StepEvent, _context: Context): Promise<unknown> => {
  const rolloutId = event.action === 'verify' ? (event.request as { rolloutId?: unknown })?.rolloutId : event.action === 'finish' ? event.state?.request?.rolloutId : event.request?.rolloutId;
  logger.appendKeys({ action: event.action, rolloutId: typeof rolloutId === 'string' ? rolloutId : undefined, execution: event.execution });
  try {
    switch (event.action) {
      case 'verify':
        return await verify(event.request);
      case 'createJob':
        return await createJob(event.request, event.image, event.execution);
      case 'checkProgress':
        return await checkProgress(event.job, event.startedAt);
      case 'cancelJob':
        return await cancelJob(event.job, event.progress);
      case 'recordDevices':
        return await recordDevices(event.request, event.job, event.nextToken);
      case 'finish':
        return await finish(event.status, event.state, event.execution);
      default:
        throw new InvalidRequestError(`Unknown action ${JSON.stringify((event as { action?: unknown }).action)}; expected verify, createJob, checkProgress, cancelJob, recordDevices or finish.`);
    }
  } finally {
    logger.resetKeys();
  }
};

/**
 * Checks the request, then streams the image once to compute its SHA-256 digest and size and to
 * verify its signature with the signing key. Nothing is created before this step succeeds.
 */
async function verify(input: unknown): Promise<VerifiedImage> {
  const request = parseRolloutRequest(input, settings.allowedThingGroupArns);
  const image = await getObject(request.imageKey, () => new FirmwareImageNotFoundError(
    `Firmware image '${request.imageKey}' is not in bucket '${settings.firmwareBucket}'; upload the image before starting the rollout.`));
  const body = image.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
  try {
    if ((image.ContentLength ?? 0) > MAX_IMAGE_SIZE_BYTES) {
      throw new FirmwareImageInvalidError(`Firmware image '${request.imageKey}' has ${image.ContentLength} bytes, more than the ${MAX_IMAGE_SIZE_BYTES} that the OTA job document allows.`);
    }
    const signatureObject = await getObject(request.signatureKey, () => new FirmwareSignatureInvalidError(
      `Signature object '${request.signatureKey}' is missing from bucket '${settings.firmwareBucket}'; sign the image and upload the base64 DER signature there.`));
    const signatureBody = signatureObject.Body as AsyncIterable<Uint8Array>;
    const signatureText = await readLimited(signatureBody, MAX_SIGNATURE_OBJECT_BYTES, () => new FirmwareSignatureInvalidError(
      `Signature object '${request.signatureKey}' is larger than ${MAX_SIGNATURE_OBJECT_BYTES} bytes; it must contain only the base64 DER signature.`));
    const signature = decodeSignature(signatureText.toString('utf8'), request.signatureKey);
    const publicKey = await signingPublicKey();

    const check = await checkImage(body ?? emptyBody(), publicKey, signature, MAX_IMAGE_SIZE_BYTES, request.imageKey);
    if (!check.signatureVerified) {
      throw new FirmwareSignatureInvalidError(
        `The signature in '${request.signatureKey}' does not verify for image '${request.imageKey}' (SHA-256 ${check.sha256}) with ${settings.signingKeyDescription}; ` +
        'sign the SHA-256 digest of this exact image with that key.');
    }
    logger.info('Firmware image verified', { imageKey: request.imageKey, size: check.size, sha256: check.sha256 });
    return {
      bucket: settings.firmwareBucket,
      key: request.imageKey,
      signatureKey: request.signatureKey,
      version: request.version,
      size: check.size,
      sha256: check.sha256,
      signature: signature.toString('base64'),
    };
  } finally {
    body?.destroy?.();
  }
}

/**
 * Creates the rollout's AWS IoT job. When a retried step finds the job that this execution
 * created, it returns that job. A job of another execution raises FirmwareRolloutExistsError,
 * so one rolloutId never updates devices twice.
 */
async function createJob(input: FirmwareRolloutRequest, image: VerifiedImage, execution: string): Promise<RolloutJob> {
  const request = parseRolloutRequest(input, settings.allowedThingGroupArns);
  const jobId = jobIdOf(request.rolloutId);
  const targets = [...new Set([...(request.targets.thingArns ?? []), ...(request.targets.thingGroupArn ? [request.targets.thingGroupArn] : [])])];
  const targetCount = await countTargets(request);
  if (targetCount === 0) {
    throw new InvalidRequestError(`Invalid rollout request: the targets of rollout '${request.rolloutId}' contain no things; add devices to the thing group or list thing ARNs.`);
  }
  // The description names the execution, so a retried step can tell its own job from another's.
  const description = `Firmware ${request.version} rollout ${request.rolloutId} by execution ${execution}`;
  const jobInput = createJobInput({
    rolloutId: request.rolloutId,
    image,
    targets,
    targetCount,
    waves: request.waves ?? settings.policy.waves,
    policy: settings.policy,
    presignRoleArn: settings.presignRoleArn,
    description,
  });

  try {
    const created = await iot.send(new CreateJobCommand(jobInput));
    logger.info('Job created', { jobId, targetCount, rolloutConfig: jobInput.jobExecutionsRolloutConfig });
    return { jobId, jobArn: created.jobArn!, targetCount };
  } catch (error) {
    if ((error as Error).name !== 'ResourceAlreadyExistsException') {
      throw translateSdkError(error, 'IoT CreateJob');
    }
  }
  const existing = (await iot.send(new DescribeJobCommand({ jobId })).catch((error) => { throw translateSdkError(error, 'IoT DescribeJob'); })).job;
  if (existing?.description !== description) {
    throw new FirmwareRolloutExistsError(`AWS IoT job '${jobId}' exists already (status ${existing?.status}), so rollout '${request.rolloutId}' was started before; start a new rollout with a new rolloutId.`);
  }
  logger.info('Job created by an earlier attempt of this step', { jobId });
  return { jobId, jobArn: existing.jobArn!, targetCount };
}

/** Counts the distinct things of the targets, including things in nested groups. */
async function countTargets(request: FirmwareRolloutRequest): Promise<number> {
  const things = new Set((request.targets.thingArns ?? []).map(resourceNameOf));
  if (request.targets.thingGroupArn) {
    const thingGroupName = resourceNameOf(request.targets.thingGroupArn);
    let nextToken: string | undefined;
    do {
      const page = await iot.send(new ListThingsInThingGroupCommand({ thingGroupName, recursive: true, maxResults: 250, nextToken }))
        .catch((error) => { throw translateSdkError(error, 'IoT ListThingsInThingGroup'); });
      for (const thing of page.things ?? []) {
        things.add(thing);
      }
      nextToken = page.nextToken;
    } while (nextToken);
  }
  return things.size;
}

/** Reads the job's execution counts and decides whether to wait, cancel or finish. */
async function checkProgress(job: RolloutJob, startedAt: string): Promise<ProgressDecision> {
  const described = (await iot.send(new DescribeJobCommand({ jobId: job.jobId })).catch((error) => { throw translateSdkError(error, 'IoT DescribeJob'); })).job;
  if (!described) {
    throw new Error(`DescribeJob returned no job for '${job.jobId}'.`);
  }
  const deadline = Date.parse(startedAt) + settings.rolloutTimeoutSeconds * 1000;
  const progress = evaluateProgress(described, settings.policy, Date.now(), deadline);
  logger.info('Job progress checked', { jobId: job.jobId, jobStatus: described.status, decision: progress.decision, counts: progress.counts, failureRatePercentage: progress.failureRatePercentage });
  return progress;
}

/**
 * Cancels the job without force: queued executions are cancelled, and devices that are
 * installing finish and report. A job that is already cancelled or completed stays as it is.
 */
async function cancelJob(job: RolloutJob, progress: ProgressDecision): Promise<{ canceled: boolean }> {
  const comment = `Cancelled by the OTA rollout workflow: ${progress.reason}, ${progress.failureRatePercentage}% of finished executions failed.`;
  try {
    await iot.send(new CancelJobCommand({ jobId: job.jobId, force: false, reasonCode: progress.reason ?? 'ROLLOUT_ABORTED', comment }));
  } catch (error) {
    if ((error as Error).name !== 'InvalidStateTransitionException') {
      throw translateSdkError(error, 'IoT CancelJob');
    }
    logger.info('Job already ended; nothing to cancel', { jobId: job.jobId });
    return { canceled: false };
  }
  logger.warn('Job cancelled', { jobId: job.jobId, reason: progress.reason, counts: progress.counts, failureRatePercentage: progress.failureRatePercentage });
  return { canceled: true };
}

/** Records the outcome of one page of the job's executions and returns the next page's token. */
async function recordDevices(
  request: FirmwareRolloutRequest,
  job: RolloutJob,
  nextToken: string | null,
): Promise<{ nextToken: string | null; recorded: number }> {
  const listRequest = { jobId: job.jobId, maxResults: DEVICE_PAGE_SIZE, nextToken: nextToken ?? undefined };
  const page = await iot.send(new ListJobExecutionsForJobCommand(listRequest))
    .catch((error) => { throw translateSdkError(error, 'IoT ListJobExecutionsForJob'); });
  const recordedAt = Date.now();
  const records = (page.executionSummaries ?? [])
    .filter((summary) => summary.thingArn)
    .map((summary) => deviceRecord(request, job, summary, recordedAt));
  await writeDeviceRecords(db, settings.rolloutsTable, records);
  logger.info('Device outcomes recorded', { jobId: job.jobId, recorded: records.length, more: Boolean(page.nextToken) });
  return { nextToken: page.nextToken ?? null, recorded: records.length };
}

function deviceRecord(request: FirmwareRolloutRequest, job: RolloutJob, summary: JobExecutionSummaryForJob, recordedAt: number): DeviceRolloutRecord {
  const execution = summary.jobExecutionSummary;
  return {
    rolloutId: request.rolloutId,
    thingName: resourceNameOf(summary.thingArn!),
    thingArn: summary.thingArn!,
    jobId: job.jobId,
    version: request.version,
    status: execution?.status ?? 'UNKNOWN',
    executionNumber: execution?.executionNumber,
    retryAttempt: execution?.retryAttempt,
    queuedAt: execution?.queuedAt?.getTime(),
    startedAt: execution?.startedAt?.getTime(),
    lastUpdatedAt: execution?.lastUpdatedAt?.getTime(),
    recordedAt,
  };
}

/**
 * Ends a rollout with its status: records the summary and sends Firmware Rollout Completed. A
 * FAILED rollout whose job exists has its job cancelled first, because no execution watches it
 * any more; IoT's own abort criteria would otherwise be its only safeguard.
 */
async function finish(status: RolloutStatus, state: ExecutionState, execution: string): Promise<{ status: string; recorded: boolean }> {
  // A request without a valid rolloutId is recorded under the execution's name.
  const request = typeof state.request === 'object' && state.request !== null ? state.request : {};
  const rolloutId = typeof request.rolloutId === 'string' && ROLLOUT_ID_PATTERN.test(request.rolloutId) ? request.rolloutId : execution.slice(execution.lastIndexOf(':') + 1);
  logger.appendKeys({ rolloutId });
  const job = state.job;
  const error = caughtError(state.error);
  if (status === 'FAILED' && job) {
    await cancelAfterFailure(job);
  }
  const counts = job ? await finalCounts(job, status) : null;
  const reason = status === 'COMPLETED' || status === 'ABORTED' ? state.progress?.reason ?? null : error?.name ?? null;

  const summary: RolloutSummaryRecord = {
    rolloutId,
    thingName: ROLLOUT_SUMMARY_KEY,
    status,
    reason,
    version: typeof request.version === 'string' ? request.version : null,
    imageKey: typeof request.imageKey === 'string' ? request.imageKey : null,
    sha256: state.image?.sha256 ?? null,
    jobId: job?.jobId ?? null,
    jobArn: job?.jobArn ?? null,
    counts,
    error,
    execution,
    finishedAt: Date.now(),
  };
  const recorded = await recordSummary(summary);

  const detail: FirmwareRolloutCompletedDetail = {
    rolloutId,
    version: summary.version ?? undefined,
    status,
    reason: reason ?? undefined,
    jobId: summary.jobId ?? undefined,
    counts: counts ?? undefined,
    errorMessage: error?.message,
    execution,
    finishedAt: summary.finishedAt,
  };
  const result = await eventBridge.send(new PutEventsCommand({
    Entries: [{
      EventBusName: settings.eventBusName,
      Source: PlatformEventSource.WORKFLOW,
      DetailType: PlatformEventType.FIRMWARE_ROLLOUT_COMPLETED,
      Detail: JSON.stringify(detail),
    }],
  })).catch((failure) => { throw translateSdkError(failure, 'PutEvents'); });
  if ((result.FailedEntryCount ?? 0) > 0) {
    const entry = result.Entries?.[0];
    throw new TransientDependencyError(`PutEvents rejected Firmware Rollout Completed: ${entry?.ErrorCode}: ${entry?.ErrorMessage}`);
  }

  const log = status === 'COMPLETED' ? logger.info.bind(logger) : logger.warn.bind(logger);
  log('Rollout finished', { status, reason, counts, error });
  return { status, recorded };
}

/**
 * Writes the summary unless another execution's rollout with a job owns it, so a repeated
 * request with a used rolloutId cannot overwrite the outcome of the rollout that ran.
 */
async function recordSummary(summary: RolloutSummaryRecord): Promise<boolean> {
  try {
    await writeRolloutSummary(db, settings.rolloutsTable, summary);
    return true;
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw error;
    }
    logger.warn('Rollout summary of another execution kept', { status: summary.status });
    return false;
  }
}

async function cancelAfterFailure(job: RolloutJob): Promise<void> {
  try {
    await iot.send(new CancelJobCommand({ jobId: job.jobId, force: false, reasonCode: 'ROLLOUT_FAILED', comment: 'Cancelled because the OTA rollout workflow failed and can no longer watch the job.' }));
    logger.warn('Job cancelled after a workflow failure', { jobId: job.jobId });
  } catch (error) {
    if ((error as Error).name === 'InvalidStateTransitionException') {
      logger.info('Job already ended; nothing to cancel after the workflow failure', { jobId: job.jobId });
      return;
    }
    // The rollout is recorded as FAILED either way. The error log names the job to cancel by hand.
    logger.error('Job not cancelled after a workflow failure; cancel it by hand if it is still running', { jobId: job.jobId, error: error as Error });
  }
}

/** Reads the job's final counts; a FAILED rollout records none when the job cannot be read. */
async function finalCounts(job: RolloutJob, status: string): Promise<RolloutCounts | null> {
  try {
    const described = (await iot.send(new DescribeJobCommand({ jobId: job.jobId }))).job;
    return evaluateProgress(described ?? {}, settings.policy, 0, Number.MAX_SAFE_INTEGER).counts;
  } catch (error) {
    if (status !== 'FAILED') {
      throw translateSdkError(error, 'IoT DescribeJob');
    }
    logger.error('Final counts of the failed rollout not read', { jobId: job.jobId, error: error as Error });
    return null;
  }
}

/** Returns the error name and message of a caught Lambda error, whose Cause is the error as JSON. */
function caughtError(error: CaughtError | undefined): { name: string; message: string } | null {
  if (!error?.Error) {
    return null;
  }
  let message = error.Cause ?? '';
  try {
    const cause = JSON.parse(message) as { errorMessage?: string };
    message = cause.errorMessage ?? message;
  } catch {
    // A Cause that is not JSON, such as a States.Timeout cause, is kept as text.
  }
  return { name: error.Error, message: message.slice(0, 1000) };
}

async function getObject(key: string, notFound: () => Error): Promise<GetObjectCommandOutput> {
  try {
    return await s3.send(new GetObjectCommand({ Bucket: settings.firmwareBucket, Key: key }));
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') {
      throw notFound();
    }
    throw translateSdkError(error, `S3 GetObject ${key}`);
  }
}

async function signingPublicKey(): Promise<KeyObject> {
  if (settings.signingPublicKey) {
    return settings.signingPublicKey;
  }
  return kmsPublicKey(settings.signingKeyArn!);
}

async function* emptyBody(): AsyncIterable<Uint8Array> {
  // An object without a body streams no bytes, which checkImage rejects as an empty image.
}

/** Settings from the environment that the construct sets; a missing value is a deployment error. */
function settingsFromEnv(env: NodeJS.ProcessEnv) {
  const read = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') {
      throw new Error(`Environment variable ${name} is missing; the OtaRolloutWorkflow construct sets it.`);
    }
    return value;
  };
  const readNumber = (name: string): number => {
    const value = Number(read(name));
    if (!Number.isFinite(value)) {
      throw new Error(`Environment variable ${name} is ${JSON.stringify(env[name])}, not a number.`);
    }
    return value;
  };
  const publicKeyPem = env.SIGNING_PUBLIC_KEY_PEM;
  const signingKeyArn = env.SIGNING_KEY_ARN;
  if (!publicKeyPem && !signingKeyArn) {
    throw new Error('Environment variables SIGNING_KEY_ARN and SIGNING_PUBLIC_KEY_PEM are both missing; the OtaRolloutWorkflow construct sets one.');
  }
  const policy: RolloutPolicy = {
    waves: read('ROLLOUT_WAVES').split(',').map(Number),
    abortThresholdPercentage: readNumber('ABORT_THRESHOLD_PERCENTAGE'),
    abortMinNumberOfExecutedThings: readNumber('ABORT_MIN_EXECUTED_THINGS'),
    inProgressTimeoutMinutes: readNumber('IN_PROGRESS_TIMEOUT_MINUTES'),
    timedOutRetries: readNumber('TIMED_OUT_RETRIES'),
  };
  return {
    firmwareBucket: read('FIRMWARE_BUCKET'),
    rolloutsTable: read('ROLLOUTS_TABLE'),
    eventBusName: read('EVENT_BUS_NAME'),
    presignRoleArn: read('PRESIGN_ROLE_ARN'),
    rolloutTimeoutSeconds: readNumber('ROLLOUT_TIMEOUT_SECONDS'),
    allowedThingGroupArns: env.ALLOWED_THING_GROUP_ARNS ? env.ALLOWED_THING_GROUP_ARNS.split(',') : undefined,
    signingPublicKey: publicKeyPem ? createPublicKey(publicKeyPem) : undefined,
    signingKeyArn,
    signingKeyDescription: publicKeyPem ? 'the public key in imageSigningPublicKeyPem' : `KMS key ${signingKeyArn}`,
    policy,
  };
}
