import { InvalidRequestError } from './errors';
import { DeviceItem } from './registry-items';
import { MAX_THING_NAME_LENGTH } from '../../domain/identity';

/** Actions of the device onboarding workflow's steps function. */
export const ONBOARDING_ACTIONS = ['reject', 'register', 'storeUiConfig', 'claim', 'emitEvents', 'notifyOwner', 'recordFailure'] as const;

export type OnboardingAction = (typeof ONBOARDING_ACTIONS)[number];

/** Fields that every step receives: the device, the event's deduplication key and the execution id. */
interface StepEnvelope {
  readonly thingName: string;
  /** Key of the device message that started the workflow; repeated deliveries of the message share it. */
  readonly dedupKey: string;
  readonly execution?: string;
}

/** Outcome of the register step, kept in the execution's state as `$.registration`. */
export interface RegistrationResult {
  /** True when the document failed validation and was recorded as a rejection instead. */
  readonly rejected: boolean;
  /** True when the capabilities differ from the registry's, or their UI config is not stored yet. */
  readonly changed: boolean;
  /** True when the device had no capabilities in the registry before. */
  readonly firstRegistration: boolean;
  readonly ownerId: string | null;
  /** S3 key of the UI config of these capabilities, `ui/<thingName>/<capabilitiesHash>.json`. */
  readonly uiConfigKey: string | null;
  readonly capabilitiesHash: string | null;
}

/** Reasons for which a claim token does not link the device. */
export type ClaimRejectionReason =
  | 'TOKEN_MALFORMED'
  | 'TOKEN_SIGNATURE_INVALID'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_REUSED'
  | 'OWNED_BY_ANOTHER_USER';

/** Outcome of the claim step, kept in the execution's state as `$.claim`. */
export interface ClaimResult {
  /** True when this claim linked the device to the token's user. */
  readonly linked: boolean;
  /** `NO_TOKEN` comes from the workflow's Pass state when the document carries no claim token. */
  readonly outcome: 'NO_TOKEN' | 'LINKED' | 'ALREADY_LINKED' | ClaimRejectionReason;
  /** Owner of the device after the step, or null when unknown or unowned. */
  readonly ownerId: string | null;
}

/** Error output of a Catch, as Step Functions writes it. */
export interface CaughtError {
  readonly Error?: string;
  readonly Cause?: string;
}

/** Input of one step, as the state machine's task states build it. */
export type OnboardingStep = StepEnvelope & (
  | { readonly action: 'reject'; readonly receivedAt: number; readonly errors: unknown }
  | { readonly action: 'register'; readonly receivedAt: number; readonly message: unknown }
  | { readonly action: 'storeUiConfig'; readonly receivedAt: number; readonly message: unknown; readonly capabilitiesHash: string }
  | { readonly action: 'claim'; readonly claimToken: unknown }
  | {
    readonly action: 'emitEvents';
    readonly receivedAt: number;
    readonly model: string;
    readonly firmwareVersion: string;
    readonly registration: RegistrationResult;
    readonly claim: ClaimResult;
  }
  | { readonly action: 'notifyOwner'; readonly receivedAt: number; readonly registration: RegistrationResult; readonly claim: ClaimResult }
  | { readonly action: 'recordFailure'; readonly failure: CaughtError });

/** Problem recorded on a device for the last capability document that failed validation. */
export interface CapabilitiesRejection {
  /** Receive time of the rejected document, epoch ms. */
  readonly at: number;
  readonly errors: string[];
}

/** Problem recorded on a device for the last claim token that did not link it. */
export interface ClaimRejection {
  /** Time of the decision, epoch ms. */
  readonly at: number;
  readonly reason: ClaimRejectionReason;
  readonly message: string;
}

/** Failure recorded on a device when an onboarding execution fails. */
export interface OnboardingFailure {
  readonly at: number;
  /** Error name, such as `TransientDependencyError` or `States.Timeout`. */
  readonly error: string;
  readonly message: string;
}

/** A device item with the attributes that the onboarding workflow writes besides the shared ones. */
export interface OnboardingDeviceItem extends DeviceItem {
  /** Receive time of the document that produced the stored capabilities; older documents never replace them. */
  readonly capabilitiesReceivedAt?: number;
  readonly lastRejection?: CapabilitiesRejection;
  readonly lastClaimRejection?: ClaimRejection;
  readonly lastOnboardingFailure?: OnboardingFailure;
}

const THING_NAME_PATTERN = new RegExp(`^[A-Za-z0-9:_-]{1,${MAX_THING_NAME_LENGTH}}$`);
const DEDUP_KEY_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;
const STEPS_WITH_RECEIVE_TIME = new Set<OnboardingAction>(['reject', 'register', 'storeUiConfig', 'emitEvents', 'notifyOwner']);

/**
 * Checks the fields that every step needs and returns the step typed. The idempotency key is
 * built from `action` and `dedupKey`, so both must be present before the step runs.
 *
 * @throws InvalidRequestError naming the first invalid field
 */
export function parseOnboardingStep(input: unknown): OnboardingStep {
  if (typeof input !== 'object' || input === null) {
    throw new InvalidRequestError('Invalid onboarding step input: expected an object.');
  }
  const step = input as Record<string, unknown>;
  const fail = (field: string, expected: string): never => {
    throw new InvalidRequestError(`Invalid onboarding step input: ${field} ${JSON.stringify(step[field])} must be ${expected}.`);
  };
  if (typeof step.action !== 'string' || !(ONBOARDING_ACTIONS as readonly string[]).includes(step.action)) {
    fail('action', `one of ${ONBOARDING_ACTIONS.join(', ')}`);
  }
  if (typeof step.thingName !== 'string' || !THING_NAME_PATTERN.test(step.thingName)) {
    fail('thingName', `a thing name matching ${THING_NAME_PATTERN.source}`);
  }
  if (typeof step.dedupKey !== 'string' || !DEDUP_KEY_PATTERN.test(step.dedupKey)) {
    fail('dedupKey', `a deduplication key matching ${DEDUP_KEY_PATTERN.source}`);
  }
  if (STEPS_WITH_RECEIVE_TIME.has(step.action as OnboardingAction) && (!Number.isSafeInteger(step.receivedAt) || (step.receivedAt as number) < 0)) {
    fail('receivedAt', 'an integer epoch time in milliseconds');
  }
  return step as unknown as OnboardingStep;
}

/** Returns the S3 key of the UI config of a device's capabilities. The key is content-addressed. */
export function uiConfigKeyFor(thingName: string, capabilitiesHash: string): string {
  return `ui/${thingName}/${capabilitiesHash}.json`;
}
