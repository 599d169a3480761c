import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient, PutEventsCommand, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { DeviceUpdatePublisher } from './device-updates';
import { TransientDependencyError, translateSdkError } from './errors';
import { ClaimResult, RegistrationResult } from './onboarding-steps';
import { PlatformEventSource, PlatformEventType } from '../../events/event-contracts';

/** The bus that receives the workflow's events, and its client. */
export interface EventBusAccess {
  readonly eventBridge: EventBridgeClient;
  readonly eventBusName: string;
  readonly logger: Logger;
}

/** Outcome of the register and claim steps, as the announcement steps receive it. */
export interface OnboardingOutcome {
  readonly thingName: string;
  readonly dedupKey: string;
  readonly receivedAt: number;
  readonly registration: RegistrationResult;
  readonly claim: ClaimResult;
}

/** Detail of a Device Onboarded event. */
export interface DeviceOnboardedDetail {
  readonly thingName: string;
  readonly model: string;
  readonly firmwareVersion: string;
  readonly capabilitiesHash: string | null;
  readonly uiConfigKey: string | null;
  readonly ownerId: string | null;
  /** True when the device had no capabilities in the registry before. */
  readonly firstRegistration: boolean;
  /** Receive time of the capability document, epoch ms. */
  readonly receivedAt: number;
  /** Deduplication key of the device message; repeated events for one message share it. */
  readonly dedupKey: string;
}

/** Detail of a Device Linked event. */
export interface DeviceLinkedDetail {
  readonly thingName: string;
  readonly userId: string;
  readonly role: 'OWNER';
  readonly method: 'CLAIM_TOKEN';
  readonly dedupKey: string;
}

/** Returns the device's owner after the workflow's steps, or null. */
function ownerOf(outcome: OnboardingOutcome): string | null {
  return outcome.claim.ownerId ?? outcome.registration.ownerId;
}

/**
 * Puts Device Onboarded on the bus when the capabilities changed, and Device Linked when a claim
 * token linked the device. A retried step may send an event again, so consumers drop repeats by
 * `dedupKey`. Throws TransientDependencyError when EventBridge rejects an entry.
 */
export async function emitOnboardingEvents(
  access: EventBusAccess,
  outcome: OnboardingOutcome,
  device: { model: string; firmwareVersion: string },
): Promise<{ detailTypes: string[] }> {
  const entries: PutEventsRequestEntry[] = [];
  if (outcome.registration.changed) {
    const detail: DeviceOnboardedDetail = {
      thingName: outcome.thingName,
      model: device.model,
      firmwareVersion: device.firmwareVersion,
      capabilitiesHash: outcome.registration.capabilitiesHash,
      uiConfigKey: outcome.registration.uiConfigKey,
      ownerId: ownerOf(outcome),
      firstRegistration: outcome.registration.firstRegistration,
      receivedAt: outcome.receivedAt,
      dedupKey: outcome.dedupKey,
    };
    entries.push(entry(access, PlatformEventType.DEVICE_ONBOARDED, detail));
  }
  if (outcome.claim.linked && outcome.claim.ownerId) {
    const detail: DeviceLinkedDetail = {
      thingName: outcome.thingName,
      userId: outcome.claim.ownerId,
      role: 'OWNER',
      method: 'CLAIM_TOKEN',
      dedupKey: outcome.dedupKey,
    };
    entries.push(entry(access, PlatformEventType.DEVICE_LINKED, detail));
  }
  if (entries.length === 0) {
    return { detailTypes: [] };
  }

  const result = await access.eventBridge.send(new PutEventsCommand({ Entries: entries }))
    .catch((error) => { throw translateSdkError(error, 'PutEvents'); });
  if ((result.FailedEntryCount ?? 0) > 0) {
    const codes = (result.Entries ?? []).filter((item) => item.ErrorCode).map((item) => `${item.ErrorCode}: ${item.ErrorMessage}`);
    throw new TransientDependencyError(`PutEvents rejected ${result.FailedEntryCount} of ${entries.length} entries: ${codes.join('; ')}`);
  }
  const detailTypes = entries.map((item) => item.DetailType!);
  access.logger.info('Onboarding events sent', { detailTypes });
  return { detailTypes };
}

function entry(access: EventBusAccess, detailType: string, detail: DeviceOnboardedDetail | DeviceLinkedDetail): PutEventsRequestEntry {
  return { EventBusName: access.eventBusName, Source: PlatformEventSource.WORKFLOW, DetailType: detailType, Detail: JSON.stringify(detail) };
}

/**
 * Tells the device's owner, if it has one, that the device was onboarded or linked, through
 * publishDeviceUpdate. Unchanged capabilities without a new link send nothing.
 */
export async function notifyOwner(
  updates: DeviceUpdatePublisher,
  logger: Logger,
  outcome: OnboardingOutcome,
): Promise<{ notified: boolean; kind: string | null }> {
  const ownerId = ownerOf(outcome);
  if (!ownerId || (!outcome.registration.changed && !outcome.claim.linked)) {
    return { notified: false, kind: null };
  }
  const kind = outcome.claim.linked ? 'linked' : 'onboarded';
  const notified = await updates.publish({
    deviceId: outcome.thingName,
    ownerId,
    kind,
    state: { uiConfigKey: outcome.registration.uiConfigKey, capabilitiesHash: outcome.registration.capabilitiesHash },
    at: Date.now(),
  });
  logger.info('Owner notified', { kind, notified });
  return { notified, kind };
}
