import { WorkflowError } from '../../workflows/private/errors';

/** The firmware image is not in the firmware bucket under the requested key. */
export class FirmwareImageNotFoundError extends WorkflowError {}

/** The firmware image is empty or larger than the job document allows. */
export class FirmwareImageInvalidError extends WorkflowError {}

/** The image's signature is missing, a placeholder, malformed, or does not verify with the signing key. */
export class FirmwareSignatureInvalidError extends WorkflowError {}

/** An AWS IoT job for the rolloutId exists already, created by another execution. */
export class FirmwareRolloutExistsError extends WorkflowError {}

/**
 * Errors that reject a rollout before any job exists. The workflow records them with status
 * REJECTED instead of FAILED, because the request or the image must change before a retry.
 */
export const ROLLOUT_REJECTION_ERRORS = [
  'InvalidRequestError',
  'FirmwareImageNotFoundError',
  'FirmwareImageInvalidError',
  'FirmwareSignatureInvalidError',
];
