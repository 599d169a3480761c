import { JOB_ID_PREFIX, ROLLOUT_ID_PATTERN, wavesProblem } from './rollout-settings';
import { InvalidRequestError } from '../../workflows/private/errors';
import type { FirmwareRolloutRequest } from '../ota-rollout-workflow';

/** Version pattern of the job document schema (`contract/schemas/ota-job.schema.json`). */
const VERSION_PATTERN = /^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]{1,32})?$/;
const THING_ARN_PATTERN = /^arn:aws[a-z-]*:iot:[a-z0-9-]+:[0-9]{12}:thing\/([A-Za-z0-9:_-]{1,128})$/;
const THING_GROUP_ARN_PATTERN = /^arn:aws[a-z-]*:iot:[a-z0-9-]+:[0-9]{12}:thinggroup\/([A-Za-z0-9:_-]{1,128})$/;
/** S3 keys are at most 1,024 bytes; the signature key adds `.sig`. */
const MAX_KEY_LENGTH = 1020;
/** Largest number of thing ARNs in one request; larger fleets are targeted by thing group. */
export const MAX_THING_ARNS = 100;

/**
 * Checks a rollout request and returns it typed, with the default signature key filled in.
 * Throws InvalidRequestError naming the field. `allowedThingGroupArns` undefined allows any
 * thing group that the function's IAM policy allows.
 */
export function parseRolloutRequest(input: any, allowedThingGroupArns?: string[]): FirmwareRolloutRequest & { signatureKey: string } {
  const fail = (field: string, expected: string): never => {
    throw new InvalidRequestError(`Invalid rollout request: ${field} ${JSON.stringify(input?.[field])} must be ${expected}.`);
  };
  if (typeof input !== 'object' || input === null) {
    throw new InvalidRequestError('Invalid rollout request: expected an object with rolloutId, version, imageKey and targets.');
  }
  if (typeof input.rolloutId !== 'string' || !ROLLOUT_ID_PATTERN.test(input.rolloutId)) fail('rolloutId', `a string matching ${ROLLOUT_ID_PATTERN.source}`);
  if (typeof input.version !== 'string' || !VERSION_PATTERN.test(input.version)) fail('version', `a version matching ${VERSION_PATTERN.source}`);
  if (!isObjectKey(input.imageKey)) fail('imageKey', `an S3 key of 1 to ${MAX_KEY_LENGTH} characters`);
  if (input.signatureKey !== undefined && !isObjectKey(input.signatureKey)) fail('signatureKey', `an S3 key of 1 to ${MAX_KEY_LENGTH} characters`);
  if (input.waves !== undefined) {
    const problem = wavesProblem(input.waves);
    if (problem) {
      throw new InvalidRequestError(`Invalid rollout request: ${problem}.`);
    }
  }
  parseTargets(input.targets, allowedThingGroupArns);
  return { ...input, signatureKey: input.signatureKey ?? `${input.imageKey}.sig` };
}

/** Returns the AWS IoT job id of a rollout. */
export function jobIdOf(rolloutId: string): string {
  return `${JOB_ID_PREFIX}${rolloutId}`;
}

/** Returns the thing name of a thing ARN, or the thing group name of a thing group ARN. */
export function resourceNameOf(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

function parseTargets(targets: any, allowedThingGroupArns: string[] | undefined): void {
  const fail = (expected: string): never => {
    throw new InvalidRequestError(`Invalid rollout request: targets ${JSON.stringify(targets)} must be ${expected}.`);
  };
  if (typeof targets !== 'object' || targets === null) {
    fail('an object with thingGroupArn, thingArns or both');
  }
  const { thingGroupArn, thingArns } = targets;
  if (thingGroupArn === undefined && thingArns === undefined) {
    fail('an object with thingGroupArn, thingArns or both');
  }
  if (thingGroupArn !== undefined) {
    if (typeof thingGroupArn !== 'string' || !THING_GROUP_ARN_PATTERN.test(thingGroupArn)) {
      fail('an object whose thingGroupArn is a thing group ARN');
    }
    if (allowedThingGroupArns && !allowedThingGroupArns.includes(thingGroupArn)) {
      throw new InvalidRequestError(`Invalid rollout request: thing group ${thingGroupArn} is not one of the groups that this workflow may target (${allowedThingGroupArns.join(', ')}).`);
    }
  }
  if (thingArns !== undefined) {
    if (!Array.isArray(thingArns) || thingArns.length === 0 || thingArns.length > MAX_THING_ARNS) {
      fail(`an object whose thingArns lists 1 to ${MAX_THING_ARNS} thing ARNs`);
    }
    const invalid = thingArns.find((arn: unknown) => typeof arn !== 'string' || !THING_ARN_PATTERN.test(arn));
    if (invalid !== undefined) {
      throw new InvalidRequestError(`Invalid rollout request: ${JSON.stringify(invalid)} in targets.thingArns is not a thing ARN.`);
    }
  }
}

function isObjectKey(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_KEY_LENGTH;
}
