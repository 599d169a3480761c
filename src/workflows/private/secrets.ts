import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { translateSdkError } from './errors';

const client = new SecretsManagerClient({});
const cache = new Map<string, { value: string; fetchedAt: number }>();
const CACHE_MS = 5 * 60 * 1000;

/**
 * Returns a secret's string value, cached for five minutes so a rotated key reaches warm
 * functions without a call per request.
 */
export async function secretValue(secretId: string | undefined, now = Date.now()): Promise<string> {
  if (!secretId) {
    throw new Error('The secret id is missing from the environment; the construct sets it.');
  }
  const cached = cache.get(secretId);
  if (cached && now - cached.fetchedAt < CACHE_MS) {
    return cached.value;
  }
  const result = await client.send(new GetSecretValueCommand({ SecretId: secretId }))
    .catch((error) => { throw translateSdkError(error, 'GetSecretValue'); });
  if (!result.SecretString) {
    throw new Error(`Secret '${secretId}' has no string value.`);
  }
  cache.set(secretId, { value: result.SecretString, fetchedAt: now });
  return result.SecretString;
}
