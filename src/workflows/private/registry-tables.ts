import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Names of the registry tables, read from the handler's environment. */
export interface RegistryTableNames {
  readonly devices: string;
  readonly links: string;
  readonly pairingCodes: string;
  readonly commands: string;
  readonly idempotency: string;
}

/** Environment variables that carry the registry's table names. */
export const REGISTRY_TABLE_ENV = {
  devices: 'DEVICES_TABLE',
  links: 'LINKS_TABLE',
  pairingCodes: 'PAIRING_CODES_TABLE',
  commands: 'COMMANDS_TABLE',
  idempotency: 'IDEMPOTENCY_TABLE',
} as const;

/** Reads the table names from the environment; a missing name is a deployment error. */
export function registryTablesFromEnv(env: NodeJS.ProcessEnv = process.env): RegistryTableNames {
  const read = (key: keyof RegistryTableNames) => {
    const value = env[REGISTRY_TABLE_ENV[key]];
    if (!value) {
      throw new Error(`Environment variable ${REGISTRY_TABLE_ENV[key]} is missing; the construct sets it to the ${key} table's name.`);
    }
    return value;
  };
  return {
    devices: read('devices'),
    links: read('links'),
    pairingCodes: read('pairingCodes'),
    commands: read('commands'),
    idempotency: read('idempotency'),
  };
}

/** A DynamoDB document client that drops undefined attributes. */
export function documentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
}
