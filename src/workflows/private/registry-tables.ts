import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { REGISTRY_TABLE_ENV } from './registry-env';

export { REGISTRY_TABLE_ENV } from './registry-env';

/** Names of the registry tables, read from the handler's environment. */
export interface RegistryTableNames {
  readonly devices: string;
  readonly links: string;
  readonly pairingCodes: string;
  readonly commands: string;
  readonly idempotency: string;
}

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

/** Creates a DynamoDB document client that drops undefined attributes. */
export function documentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
}
