import { createHash } from 'node:crypto';
import { validateContract } from '../../domain/contract-validation';
import { PlatformEventSource, PlatformEventType } from '../../events/event-contracts';

/** Kinds of message that the topic rules put on the ingress queues. */
export const DEVICE_MESSAGE_KINDS = {
  'capabilities': PlatformEventType.DEVICE_CAPABILITIES_REPORTED,
  'relay-status': PlatformEventType.RELAY_STATE_REPORTED,
  'energy-status': PlatformEventType.ENERGY_STATUS_REPORTED,
  'telemetry': PlatformEventType.TELEMETRY_REPORTED,
} as const;

export type DeviceMessageKind = keyof typeof DEVICE_MESSAGE_KINDS;

/** Body that a device-message rule writes: the raw payload stays base64 so nothing in it can overwrite the topic-derived fields. */
export interface DeviceRuleOutput {
  readonly kind: DeviceMessageKind;
  readonly thingName: string;
  readonly receivedAt: number;
  readonly payload: string;
}

/** Body that the presence rules write from AWS IoT lifecycle events. */
export interface PresenceRuleOutput {
  readonly kind: 'presence';
  readonly thingName: string;
  readonly receivedAt: number;
  readonly eventType: 'connected' | 'disconnected';
  readonly timestamp: number;
  readonly versionNumber: number;
  readonly sessionIdentifier: string;
  readonly disconnectReason?: string;
}

/** An EventBridge entry ready for PutEvents. */
export interface PlatformEventEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly EventBusName: string;
}

/** Thrown for a queue message that no rule of this platform could have written. */
export class MalformedRuleOutputError extends Error {
  public override readonly name = 'MalformedRuleOutputError';
}

const MAX_PAYLOAD_BYTES = 128 * 1024;

/**
 * Turns one queue message body into a platform event. Device payloads are decoded and
 * validated against the contract here, once; invalid payloads still become events (with
 * `valid: false` and the reasons) so that workflows can record why a device was rejected.
 */
export function toPlatformEvent(body: string, eventBusName: string): PlatformEventEntry {
  let output: DeviceRuleOutput | PresenceRuleOutput;
  try {
    output = JSON.parse(body);
  } catch (error) {
    throw new MalformedRuleOutputError(`Queue message is not JSON: ${(error as Error).message}`);
  }
  if (typeof output !== 'object' || output === null || typeof output.thingName !== 'string' || output.thingName.length === 0) {
    throw new MalformedRuleOutputError('Queue message has no thingName; only the platform\'s topic rules may write to this queue.');
  }

  if (output.kind === 'presence') {
    return {
      Source: PlatformEventSource.DEVICE,
      DetailType: output.eventType === 'connected' ? PlatformEventType.DEVICE_CONNECTED : PlatformEventType.DEVICE_DISCONNECTED,
      EventBusName: eventBusName,
      Detail: JSON.stringify({
        thingName: output.thingName,
        eventType: output.eventType,
        timestamp: output.timestamp,
        versionNumber: output.versionNumber,
        sessionIdentifier: output.sessionIdentifier,
        disconnectReason: output.disconnectReason,
        receivedAt: output.receivedAt,
        dedupKey: digest(`${output.thingName}|presence|${output.eventType}|${output.sessionIdentifier}|${output.timestamp}`),
      }),
    };
  }

  // Only own properties name a kind, because a kind such as 'toString' or '__proto__' would
  // otherwise find a value on Object.prototype.
  if (typeof output.kind !== 'string' || !Object.hasOwn(DEVICE_MESSAGE_KINDS, output.kind)) {
    throw new MalformedRuleOutputError(`Unknown message kind '${String((output as { kind: unknown }).kind)}'.`);
  }
  const detailType = DEVICE_MESSAGE_KINDS[output.kind];
  const decoded = decodePayload(output.payload);
  const validation = decoded.message === undefined
    ? { valid: false, errors: [decoded.error!] }
    : validateContract(output.kind, decoded.message);

  return {
    Source: PlatformEventSource.DEVICE,
    DetailType: detailType,
    EventBusName: eventBusName,
    Detail: JSON.stringify({
      thingName: output.thingName,
      receivedAt: output.receivedAt,
      valid: validation.valid,
      errors: validation.errors,
      message: validation.valid ? decoded.message : null,
      dedupKey: digest(`${output.thingName}|${output.kind}|${output.payload}`),
    }),
  };
}

function decodePayload(payload: unknown): { message?: unknown; error?: string } {
  if (typeof payload !== 'string') {
    return { error: 'payload is missing' };
  }
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.length > MAX_PAYLOAD_BYTES) {
    return { error: `payload of ${bytes.length} bytes is larger than ${MAX_PAYLOAD_BYTES}` };
  }
  try {
    return { message: JSON.parse(bytes.toString('utf8')) };
  } catch {
    return { error: 'payload is not valid JSON' };
  }
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
