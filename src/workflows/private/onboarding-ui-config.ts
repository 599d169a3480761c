import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { InvalidRequestError, TransientDependencyError, translateSdkError } from './errors';
import { DevicesAccess } from './onboarding-registration';
import { uiConfigKeyFor } from './onboarding-steps';
import { CapabilityDocument, generateUiConfig } from '../../domain/ui-config';

/** The bucket of UI config documents and its client. */
export interface UiConfigStore {
  readonly s3: S3Client;
  readonly bucketName: string;
}

/**
 * Generates a device's UI config, stores it at `ui/<thingName>/<capabilitiesHash>.json` and points
 * the device's `uiConfigKey` at it. The key is content-addressed and `generatedAt` is the
 * document's receive time, so a retried step produces the same object. The write is conditional
 * on the key being absent (`If-None-Match: *`), so a repeat keeps the first object instead of
 * adding a version. The device keeps its current `uiConfigKey` when newer capabilities were
 * registered in the meantime.
 */
export async function storeUiConfig(
  access: DevicesAccess,
  store: UiConfigStore,
  thingName: string,
  receivedAt: number,
  message: unknown,
  expectedHash: string,
): Promise<{ uiConfigKey: string; current: boolean }> {
  const document = generateUiConfig(thingName, message as CapabilityDocument, receivedAt);
  if (document.capabilitiesHash !== expectedHash) {
    throw new InvalidRequestError(`The capability document hashes to ${document.capabilitiesHash}, not to the registered ${expectedHash}; start a new execution with the device's message.`);
  }
  const uiConfigKey = uiConfigKeyFor(thingName, document.capabilitiesHash);

  try {
    await store.s3.send(new PutObjectCommand({
      Bucket: store.bucketName,
      Key: uiConfigKey,
      Body: JSON.stringify(document),
      ContentType: 'application/json',
      IfNoneMatch: '*',
    }));
    access.logger.info('UI config stored', { uiConfigKey, components: document.components.length });
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if ((error as Error).name === 'ConditionalRequestConflict' || status === 409) {
      // Another request wrote the same key at the same time. S3 returns 409 for this, and a retry resolves it.
      throw new TransientDependencyError(`S3 PutObject of ${uiConfigKey} conflicted with a concurrent write: ${(error as Error).message}`);
    }
    if ((error as Error).name !== 'PreconditionFailed' && status !== 412) {
      throw translateSdkError(error, 'S3 PutObject');
    }
    access.logger.info('UI config already stored', { uiConfigKey });
  }

  try {
    await access.db.send(new UpdateCommand({
      TableName: access.devicesTable,
      Key: { thingName },
      UpdateExpression: 'SET uiConfigKey = :key, updatedAt = :now',
      ConditionExpression: 'capabilitiesHash = :hash',
      ExpressionAttributeValues: { ':key': uiConfigKey, ':now': Date.now(), ':hash': document.capabilitiesHash },
    }));
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') {
      throw translateSdkError(error, 'UpdateItem devices');
    }
    access.logger.info('Newer capabilities were registered; the device keeps its UI config key', { uiConfigKey });
    return { uiConfigKey, current: false };
  }
  return { uiConfigKey, current: true };
}
