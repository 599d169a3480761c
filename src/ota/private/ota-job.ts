import type { CreateJobCommandInput, JobExecutionsRolloutConfig, JobProcessDetails } from '@aws-sdk/client-iot';
import { jobIdOf } from './rollout-request';

/** Settings of every job that the workflow creates, from the construct's props. */
export interface RolloutPolicy {
  /** Cumulative percentages of the targets, such as [5, 50, 100]. */
  readonly waves: number[];
  readonly abortThresholdPercentage: number;
  readonly abortMinNumberOfExecutedThings: number;
  readonly inProgressTimeoutMinutes: number;
  /** Retries of TIMED_OUT executions; FAILED and REJECTED executions are never retried. */
  readonly timedOutRetries: number;
}

/** A firmware image whose digest and signature the workflow checked. */
export interface VerifiedImage {
  readonly bucket: string;
  readonly key: string;
  readonly signatureKey: string;
  readonly version: string;
  readonly size: number;
  /** SHA-256 of the image, lowercase hex. */
  readonly sha256: string;
  /** Base64 DER ECDSA P-256 signature over the image's SHA-256 digest. */
  readonly signature: string;
}

/** The job document that devices receive, as `contract/schemas/ota-job.schema.json` defines it. */
export interface OtaJobDocument {
  readonly operation: 'ota';
  readonly rolloutId: string;
  readonly version: string;
  readonly size: number;
  readonly sha256: string;
  readonly signature: string;
  readonly url: string;
}

/** Executions of a job by status, from DescribeJob's jobProcessDetails. */
export interface RolloutCounts {
  readonly targets: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly rejected: number;
  readonly timedOut: number;
  readonly canceled: number;
  readonly removed: number;
  readonly queued: number;
  readonly inProgress: number;
}

/** Outcome of a progress check: the next step, the rollout's status and the counts. */
export interface ProgressDecision {
  /** CONTINUE waits and checks again, CANCEL cancels the job first, FINISH records the outcome. */
  readonly decision: 'CONTINUE' | 'CANCEL' | 'FINISH';
  /** Outcome of the rollout once it ends; null while it continues. */
  readonly status: 'COMPLETED' | 'ABORTED' | null;
  readonly reason: string | null;
  readonly counts: RolloutCounts;
  /** Failed, rejected and timed-out executions as a percentage of finished ones, one decimal. */
  readonly failureRatePercentage: number;
}

/**
 * How long the pre-signed image URL stays valid after AWS IoT resolves it for a device, in
 * seconds. AWS IoT Jobs accepts 60 to 3,600; a device downloads the image right after it
 * receives the document.
 */
export const PRESIGNED_URL_EXPIRY_SECONDS = 3600;

/** Largest rate of AWS IoT Jobs rollouts, in things per minute. */
const MAX_RATE_PER_MINUTE = 1000;
/** Limits of `exponentialRate.incrementFactor`, which allows one decimal. */
const INCREMENT_FACTOR_LIMITS = { min: 1.1, max: 5 };

/** Builds the job document of a rollout; AWS IoT replaces the url placeholder with a pre-signed URL. */
export function buildJobDocument(rolloutId: string, image: VerifiedImage): OtaJobDocument {
  const encodedKey = image.key.split('/').map(encodeURIComponent).join('/');
  return {
    operation: 'ota',
    rolloutId,
    version: image.version,
    size: image.size,
    sha256: image.sha256,
    signature: image.signature,
    url: `\${aws:iot:s3-presigned-url:https://s3.amazonaws.com/${image.bucket}/${encodedKey}}`,
  };
}

/**
 * Turns waves into an AWS IoT Jobs rollout rate. IoT Jobs rolls out at a rate in things per
 * minute, not in percentages. So the first wave's size becomes the base rate, and each time that
 * many things have succeeded, the rate grows by the mean growth factor between the waves.
 * NOTE: IoT Jobs does not hold a wave until the one before it has finished; only the abort
 * criteria stop later devices after failures in earlier ones.
 */
export function rolloutRate(targetCount: number, waves: number[]): JobExecutionsRolloutConfig {
  const cumulative = waves.map((wave) => Math.max(1, Math.ceil((targetCount * wave) / 100)));
  const maximumPerMinute = Math.max(1, Math.min(MAX_RATE_PER_MINUTE, targetCount));
  const firstWave = cumulative[0];
  if (waves.length === 1 || firstWave >= targetCount) {
    return { maximumPerMinute };
  }
  const growth = (cumulative[cumulative.length - 1] / firstWave) ** (1 / (waves.length - 1));
  const incrementFactor = Math.min(INCREMENT_FACTOR_LIMITS.max, Math.max(INCREMENT_FACTOR_LIMITS.min, Math.round(growth * 10) / 10));
  return {
    maximumPerMinute,
    exponentialRate: {
      baseRatePerMinute: Math.min(MAX_RATE_PER_MINUTE, firstWave),
      incrementFactor,
      rateIncreaseCriteria: { numberOfSucceededThings: firstWave },
    },
  };
}

/**
 * Builds the CreateJob request of a rollout: a SNAPSHOT job with the pre-signed image URL, the
 * rollout rate of the waves, abort criteria on all failure types and an in-progress timeout.
 * Only TIMED_OUT executions are retried, so a device that reported FAILED never gets the same
 * image again within this rollout.
 */
export function createJobInput(options: {
  rolloutId: string;
  image: VerifiedImage;
  targets: string[];
  targetCount: number;
  waves: number[];
  policy: RolloutPolicy;
  presignRoleArn: string;
  description: string;
}): CreateJobCommandInput {
  const { policy } = options;
  return {
    jobId: jobIdOf(options.rolloutId),
    targets: options.targets,
    document: JSON.stringify(buildJobDocument(options.rolloutId, options.image)),
    description: options.description,
    targetSelection: 'SNAPSHOT',
    presignedUrlConfig: { roleArn: options.presignRoleArn, expiresInSec: PRESIGNED_URL_EXPIRY_SECONDS },
    jobExecutionsRolloutConfig: rolloutRate(options.targetCount, options.waves),
    abortConfig: {
      criteriaList: [{
        failureType: 'ALL',
        action: 'CANCEL',
        thresholdPercentage: policy.abortThresholdPercentage,
        minNumberOfExecutedThings: policy.abortMinNumberOfExecutedThings,
      }],
    },
    timeoutConfig: { inProgressTimeoutInMinutes: policy.inProgressTimeoutMinutes },
    jobExecutionsRetryConfig: policy.timedOutRetries > 0
      ? { criteriaList: [{ failureType: 'TIMED_OUT', numberOfRetries: policy.timedOutRetries }] }
      : undefined,
  };
}

/** Returns the execution counts of a job. */
export function countsOf(details: JobProcessDetails | undefined): RolloutCounts {
  const counts = {
    succeeded: details?.numberOfSucceededThings ?? 0,
    failed: details?.numberOfFailedThings ?? 0,
    rejected: details?.numberOfRejectedThings ?? 0,
    timedOut: details?.numberOfTimedOutThings ?? 0,
    canceled: details?.numberOfCanceledThings ?? 0,
    removed: details?.numberOfRemovedThings ?? 0,
    queued: details?.numberOfQueuedThings ?? 0,
    inProgress: details?.numberOfInProgressThings ?? 0,
  };
  const targets = Object.values(counts).reduce((sum, count) => sum + count, 0);
  return { targets, ...counts };
}

/**
 * Decides what follows a progress check. A job that AWS IoT ended (COMPLETED, or CANCELED by
 * its abort criteria or an operator) finishes the rollout. Otherwise the rollout is cancelled
 * when failures reach `abortThresholdPercentage` of at least `abortMinNumberOfExecutedThings`
 * finished executions, or when `deadline` (epoch ms) has passed.
 */
export function evaluateProgress(
  job: { status?: string; reasonCode?: string; jobProcessDetails?: JobProcessDetails },
  policy: Pick<RolloutPolicy, 'abortThresholdPercentage' | 'abortMinNumberOfExecutedThings'>,
  now: number,
  deadline: number,
): ProgressDecision {
  const counts = countsOf(job.jobProcessDetails);
  const finished = counts.succeeded + counts.failed + counts.rejected + counts.timedOut;
  const failures = counts.failed + counts.rejected + counts.timedOut;
  const failureRatePercentage = finished === 0 ? 0 : Math.round((failures * 1000) / finished) / 10;
  const decide = (decision: ProgressDecision['decision'], status: ProgressDecision['status'], reason: string | null): ProgressDecision =>
    ({ decision, status, reason, counts, failureRatePercentage });

  if (job.status === 'COMPLETED') {
    return decide('FINISH', 'COMPLETED', 'ALL_EXECUTIONS_FINISHED');
  }
  if (job.status === 'CANCELED' || job.status === 'DELETION_IN_PROGRESS') {
    return decide('FINISH', 'ABORTED', `JOB_${job.status}${job.reasonCode ? `: ${job.reasonCode}` : ''}`);
  }
  if (finished >= policy.abortMinNumberOfExecutedThings && failures * 100 >= policy.abortThresholdPercentage * finished) {
    return decide('CANCEL', 'ABORTED', 'FAILURE_THRESHOLD_EXCEEDED');
  }
  if (counts.targets > 0 && counts.queued + counts.inProgress === 0) {
    return decide('FINISH', 'COMPLETED', 'ALL_EXECUTIONS_FINISHED');
  }
  if (now >= deadline) {
    return decide('CANCEL', 'ABORTED', 'ROLLOUT_TIMED_OUT');
  }
  return decide('CONTINUE', null, null);
}
