/**
 * MQTT topics of the device contract. `<thing>` is always the thing name, which is also the
 * MQTT client id.
 */
export const Topics = {
  capabilities: (thing: string) => `iot/capabilities/${thing}`,
  telemetry: (thing: string) => `iot/telemetry/${thing}`,
  energyStatus: (thing: string) => `iot/status/${thing}/energy`,
  relayStatus: (thing: string) => `iot/status/${thing}/relay`,
  relayControl: (thing: string) => `iot/control/${thing}/relay`,
  resetControl: (thing: string) => `iot/control/${thing}/reset`,
} as const;

/** Kinds of device-to-cloud message, named after their contract schema. */
export type DeviceMessageKind = 'capabilities' | 'telemetry' | 'energy-status' | 'relay-status';

/** Message kind and sender of a device topic. */
export interface ParsedDeviceTopic {
  readonly kind: DeviceMessageKind;
  readonly thingName: string;
}

const DEVICE_TOPIC_PATTERNS: [RegExp, DeviceMessageKind][] = [
  [/^iot\/capabilities\/([^/+#]+)$/, 'capabilities'],
  [/^iot\/telemetry\/([^/+#]+)$/, 'telemetry'],
  [/^iot\/status\/([^/+#]+)\/energy$/, 'energy-status'],
  [/^iot\/status\/([^/+#]+)\/relay$/, 'relay-status'],
];

/**
 * Parses a device-to-cloud topic. Returns undefined for any topic outside the contract.
 */
export function parseDeviceTopic(topic: string): ParsedDeviceTopic | undefined {
  for (const [pattern, kind] of DEVICE_TOPIC_PATTERNS) {
    const match = pattern.exec(topic);
    if (match) {
      return { kind, thingName: match[1] };
    }
  }
  return undefined;
}
