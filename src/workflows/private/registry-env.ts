// Constructs import this module at synth time, so it must not load the AWS SDK.

/** Environment variables that carry the registry's table names. */
export const REGISTRY_TABLE_ENV = {
  devices: 'DEVICES_TABLE',
  links: 'LINKS_TABLE',
  pairingCodes: 'PAIRING_CODES_TABLE',
  commands: 'COMMANDS_TABLE',
  idempotency: 'IDEMPOTENCY_TABLE',
} as const;
