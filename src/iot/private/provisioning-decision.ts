import { DEFAULT_SERIAL_PATTERN } from '../../domain/identity';

const SAFE_SERIAL = new RegExp(DEFAULT_SERIAL_PATTERN);

/** Request that AWS IoT sends to a pre-provisioning hook (payload version 2020-04-01). */
export interface PreProvisioningHookRequest {
  readonly claimCertificateId?: string;
  readonly certificateId?: string;
  readonly certificatePem?: string;
  readonly templateArn?: string;
  readonly clientId?: string;
  readonly parameters?: Record<string, string | undefined>;
}

/** Reply that AWS IoT expects from a pre-provisioning hook. */
export interface PreProvisioningHookResponse {
  readonly allowProvisioning: boolean;
  readonly parameterOverrides?: Record<string, string>;
}

/** Reason for a denial. It is logged and counted, and never sent to the device. */
export type DenyReason =
  | 'MISSING_PARAMETERS'
  | 'INVALID_SERIAL'
  | 'CLIENT_ID_MISMATCH'
  | 'SERIAL_NOT_ALLOWED'
  | 'THING_EXISTS'
  | 'INTERNAL_ERROR';

export interface ProvisioningDecision {
  readonly allow: boolean;
  readonly reason?: DenyReason;
  readonly detail: string;
  readonly thingName?: string;
}

/** Lookups that the hook makes for a serial. */
export interface SerialLookups {
  /** Whether the serial is on the allowlist, and whether an operator released it for re-provisioning. */
  allowlistEntry(serial: string): Promise<{ allowed: boolean; releasedForReprovisioning: boolean }>;
  /** Whether a thing with this name exists in the registry. */
  thingExists(thingName: string): Promise<boolean>;
}

export interface ProvisioningPolicy {
  readonly serialPattern: RegExp;
  readonly thingNamePrefix: string;
}

/**
 * Decides a fleet provisioning request, and denies unless every check passes. The serial must be
 * present and well formed, and the MQTT client id must be the future thing name. The serial must
 * be on the allowlist, and no thing of that name may exist unless an operator released the serial.
 */
export async function decideProvisioning(
  request: PreProvisioningHookRequest,
  policy: ProvisioningPolicy,
  lookups: SerialLookups,
): Promise<ProvisioningDecision> {
  const serial = request.parameters?.SerialNumber;
  if (typeof serial !== 'string' || serial.length === 0) {
    return { allow: false, reason: 'MISSING_PARAMETERS', detail: 'parameter SerialNumber is missing' };
  }
  // The configured pattern can only narrow the safe character set: a serial becomes part of a
  // thing name and of MQTT topics, where '/', '+' and '#' would change their meaning.
  if (!SAFE_SERIAL.test(serial) || !policy.serialPattern.test(serial)) {
    return { allow: false, reason: 'INVALID_SERIAL', detail: `serial does not match ${policy.serialPattern.source} or is not 1 to 64 letters, digits, _ or -` };
  }

  // The hook input always carries clientId (AWS IoT Developer Guide, "Pre-provisioning hooks"),
  // so a request without one is denied like a mismatch instead of skipping the check.
  const thingName = `${policy.thingNamePrefix}${serial}`;
  if (request.clientId !== thingName) {
    return { allow: false, reason: 'CLIENT_ID_MISMATCH', detail: `client id '${request.clientId ?? '(missing)'}' is not the thing name '${thingName}'`, thingName };
  }

  const entry = await lookups.allowlistEntry(serial);
  if (!entry.allowed) {
    return { allow: false, reason: 'SERIAL_NOT_ALLOWED', detail: 'serial is not on the allowlist', thingName };
  }
  if (await lookups.thingExists(thingName) && !entry.releasedForReprovisioning) {
    return { allow: false, reason: 'THING_EXISTS', detail: `thing '${thingName}' already exists and its serial was not released for re-provisioning`, thingName };
  }
  return { allow: true, detail: 'all checks passed', thingName };
}
