/**
 * Errors that workflow handlers throw. Their names are stable because Step Functions Retry and
 * Catch fields, and the API's error mapping, match on them.
 */
export class WorkflowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The caller does not own the device, or the device is not linked to anyone. */
export class NotAuthorizedError extends WorkflowError {}

/** The device is not in the registry. */
export class DeviceNotFoundError extends WorkflowError {}

/** The input names something the device does not have, or is malformed. */
export class InvalidRequestError extends WorkflowError {}

/** A dependency failed in a way that a retry may fix (throttling, timeouts, 5xx). */
export class TransientDependencyError extends WorkflowError {}

/** Names of errors that Step Functions retries. */
export const RETRYABLE_ERRORS = [
  'TransientDependencyError',
  // Another invocation of the same step is still running; its result arrives on a retry.
  'IdempotencyAlreadyInProgressError',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

const TRANSIENT_SDK_ERRORS = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'InternalServerError',
  'InternalFailureException',
  'ServiceUnavailableException',
  'ServiceUnavailable',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
]);

/**
 * Translates an AWS SDK error at the service boundary: throttling and server faults become a
 * TransientDependencyError that Step Functions retries; anything else is returned unchanged.
 */
export function translateSdkError(error: unknown, operation: string): Error {
  const sdkError = error as Error & { $metadata?: { httpStatusCode?: number }; code?: string };
  const status = sdkError.$metadata?.httpStatusCode ?? 0;
  if (TRANSIENT_SDK_ERRORS.has(sdkError.name) || TRANSIENT_SDK_ERRORS.has(sdkError.code ?? '') || status >= 500) {
    const transient = new TransientDependencyError(`${operation} failed: ${sdkError.name}: ${sdkError.message}`);
    transient.cause = error;
    return transient;
  }
  return sdkError instanceof Error ? sdkError : new Error(String(error));
}
