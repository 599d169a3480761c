/** SQL version of every rule; 2016-03-23 is the current version. */
export const TOPIC_RULE_SQL_VERSION = '2016-03-23';

/** A topic rule and the queue it writes to. */
export interface RuleDefinition {
  readonly id: string;
  readonly description: string;
  readonly sql: string;
  readonly queue: 'device' | 'telemetry';
}

/**
 * Returns the platform's topic rules. `topic(n)` counts from 1, so in `iot/status/<thing>/energy`
 * the thing name is `topic(3)`.
 */
export function ruleDefinitions(thingNamePrefix: string, claimCertificateId?: string): RuleDefinition[] {
  const device = (kind: string, topicFilter: string): string =>
    `SELECT encode(*, 'base64') AS payload, topic(3) AS thingName, timestamp() AS receivedAt, '${kind}' AS kind FROM '${topicFilter}'`;
  const presence = (eventType: string): string =>
    'SELECT clientId AS thingName, eventType, timestamp, versionNumber, sessionIdentifier, disconnectReason, timestamp() AS receivedAt, \'presence\' AS kind ' +
    `FROM '$aws/events/presence/${eventType}/+' WHERE startswith(clientId, '${thingNamePrefix}')` +
    (claimCertificateId ? ` AND principalIdentifier <> '${claimCertificateId}'` : '');
  return [
    { id: 'Capabilities', description: 'Capability documents to Device Capabilities Reported', sql: device('capabilities', 'iot/capabilities/+'), queue: 'device' },
    { id: 'RelayStatus', description: 'Relay states and acknowledgements to Relay State Reported', sql: device('relay-status', 'iot/status/+/relay'), queue: 'device' },
    { id: 'EnergyStatus', description: 'Energy status to Energy Status Reported', sql: device('energy-status', 'iot/status/+/energy'), queue: 'telemetry' },
    { id: 'Telemetry', description: 'Telemetry to Telemetry Reported', sql: device('telemetry', 'iot/telemetry/+'), queue: 'telemetry' },
    { id: 'Connected', description: 'Lifecycle connect events to Device Connected', sql: presence('connected'), queue: 'device' },
    { id: 'Disconnected', description: 'Lifecycle disconnect events to Device Disconnected', sql: presence('disconnected'), queue: 'device' },
  ];
}
