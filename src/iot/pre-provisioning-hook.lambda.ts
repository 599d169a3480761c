import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeThingCommand, IoTClient, ResourceNotFoundException } from '@aws-sdk/client-iot';
import { decideProvisioning, PreProvisioningHookRequest, PreProvisioningHookResponse, ProvisioningPolicy, SerialLookups } from './private/provisioning-decision';

const logger = new Logger();
const iot = new IoTClient({ maxAttempts: 2 });
const dynamodb = new DynamoDBClient({ maxAttempts: 2 });

// AWS IoT waits at most 5 seconds for the hook. Every lookup gets its own budget and the
// whole decision a smaller one, so a slow dependency ends in a denial, not a provisioning error.
const LOOKUP_TIMEOUT_MS = 1500;
const DECISION_TIMEOUT_MS = 3500;

const policy: ProvisioningPolicy = {
  serialPattern: new RegExp(process.env.SERIAL_PATTERN ?? '^$'),
  thingNamePrefix: process.env.THING_NAME_PREFIX ?? '',
};
const allowedSerials = process.env.ALLOWED_SERIALS ? new Set(process.env.ALLOWED_SERIALS.split(',')) : undefined;
const allowlistTable = process.env.ALLOWLIST_TABLE_NAME;

const lookups: SerialLookups = {
  async allowlistEntry(serial) {
    if (allowedSerials) {
      return { allowed: allowedSerials.has(serial), releasedForReprovisioning: false };
    }
    if (!allowlistTable) {
      return { allowed: false, releasedForReprovisioning: false };
    }
    const result = await dynamodb.send(new GetItemCommand({
      TableName: allowlistTable,
      Key: { serial: { S: serial } },
      ConsistentRead: true,
    }), { abortSignal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) });
    return {
      allowed: result.Item !== undefined,
      releasedForReprovisioning: result.Item?.releasedForReprovisioning?.BOOL === true,
    };
  },
  async thingExists(thingName) {
    try {
      await iot.send(new DescribeThingCommand({ thingName }), { abortSignal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) });
      return true;
    } catch (error) {
      if (error instanceof ResourceNotFoundException || (error as Error).name === 'ResourceNotFoundException') {
        return false;
      }
      throw error;
    }
  },
};

/**
 * Pre-provisioning hook of the fleet provisioning template. It denies by default: any failed
 * check, error or timeout returns `allowProvisioning: false`, and AWS IoT then sends the
 * rejection to the device on the template's `provision/json/rejected` topic.
 */
export async function handler(request: PreProvisioningHookRequest): Promise<PreProvisioningHookResponse> {
  const serial = request.parameters?.SerialNumber;
  logger.appendKeys({ serial, clientId: request.clientId, certificateId: request.certificateId });
  try {
    const decision = await withTimeout(decideProvisioning(request, policy, lookups), DECISION_TIMEOUT_MS);
    if (decision.allow) {
      logger.info('Provisioning allowed', { thingName: decision.thingName });
      return { allowProvisioning: true };
    }
    logger.warn('Provisioning denied', { reason: decision.reason, detail: decision.detail, thingName: decision.thingName });
    return { allowProvisioning: false };
  } catch (error) {
    logger.error('Provisioning denied after an internal error', { reason: 'INTERNAL_ERROR', error });
    return { allowProvisioning: false };
  } finally {
    logger.resetKeys();
  }
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`decision timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
