/**
 * Limits of rollout settings, shared by the construct (checked at synthesis) and the steps
 * function (checked for the waves of each request). Module without AWS SDK imports, because
 * the construct library loads it.
 */

/** Cumulative percentages of the targets that each wave reaches, by default. */
export const DEFAULT_WAVES = [5, 50, 100];

/** Largest number of waves in a rollout. */
export const MAX_WAVES = 10;

/** Largest image that the job document schema (`size`) allows, in bytes: 16 MiB. */
export const MAX_IMAGE_SIZE_BYTES = 16 * 1024 * 1024;

/** AWS IoT Jobs limits of `timeoutConfig.inProgressTimeoutInMinutes`: 1 minute to 7 days. */
export const IN_PROGRESS_TIMEOUT_LIMITS_MINUTES = { min: 1, max: 7 * 24 * 60 };

/** AWS IoT Jobs limit of `jobExecutionsRetryConfig` `numberOfRetries`. */
export const MAX_TIMED_OUT_RETRIES = 10;

/** Limits of the interval between two checks of a job's progress, in seconds. */
export const POLL_INTERVAL_LIMITS_SECONDS = { min: 10, max: 3600 };

/**
 * Largest number of progress checks in one execution. A Standard execution fails after 25,000
 * history events, and one check (Wait, Task and Choice states) writes about 9 events, so 2,000
 * checks leave room for retries and for recording the devices. The count per check is an
 * estimate from the event types that Step Functions writes for these states.
 */
export const MAX_PROGRESS_CHECKS = 2000;

/** Prefix of the AWS IoT job ids of rollouts; the IAM policies allow jobs with this prefix only. */
export const JOB_ID_PREFIX = 'ota-';

/** Pattern of rollout ids: AWS IoT job ids are at most 64 characters, less the prefix. */
export const ROLLOUT_ID_PATTERN = /^[A-Za-z0-9_-]{1,60}$/;

/**
 * Returns why a list of waves is invalid, or undefined when it is valid. Waves are cumulative
 * percentages of the targets: whole numbers from 1 to 100, strictly increasing, ending at 100,
 * because AWS IoT Jobs eventually notifies every target of a job.
 */
export function wavesProblem(waves: unknown): string | undefined {
  if (!Array.isArray(waves) || waves.length === 0 || waves.length > MAX_WAVES) {
    return `waves must be a list of 1 to ${MAX_WAVES} percentages`;
  }
  for (const [index, wave] of waves.entries()) {
    if (typeof wave !== 'number' || !Number.isInteger(wave) || wave < 1 || wave > 100) {
      return `wave ${index + 1} is ${JSON.stringify(wave)}, but each wave must be a whole percentage from 1 to 100`;
    }
    if (index > 0 && wave <= waves[index - 1]) {
      return `wave ${index + 1} (${wave}%) is not larger than wave ${index} (${waves[index - 1]}%); waves are cumulative and must increase`;
    }
  }
  if (waves[waves.length - 1] !== 100) {
    return `the last wave is ${waves[waves.length - 1]}%, but it must be 100, because AWS IoT Jobs notifies every target of a job`;
  }
  return undefined;
}
