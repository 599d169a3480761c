import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { DeviceUpdatePublisher } from './private/device-updates';
import { idempotentHandler } from './private/idempotency';
import { emitOnboardingEvents, notifyOwner } from './private/onboarding-announcements';
import { claimDevice } from './private/onboarding-claim';
import { recordFailure, recordRejection, registerDevice } from './private/onboarding-registration';
import { OnboardingStep, parseOnboardingStep } from './private/onboarding-steps';
import { storeUiConfig } from './private/onboarding-ui-config';
import { documentClient, registryTablesFromEnv } from './private/registry-tables';

const logger = new Logger();
const tables = registryTablesFromEnv();
const db = documentClient();
// A local S3 stand-in serves buckets by path, not by virtual host.
const s3 = new S3Client(process.env.AWS_ENDPOINT_URL_S3 ? { forcePathStyle: true } : {});
const eventBridge = new EventBridgeClient({});
const updates = new DeviceUpdatePublisher(process.env.GRAPHQL_URL);
const uiConfigBucket = requiredEnv('UI_CONFIG_BUCKET', "the UI config bucket's name");
const eventBusName = requiredEnv('EVENT_BUS_NAME', "the platform event bus's name");
const claimTokenSecretId = requiredEnv('CLAIM_TOKEN_KEY_SECRET_ARN', "the claim token key secret's ARN");

const devices = { db, devicesTable: tables.devices, logger };

/**
 * Runs one step. Express workflows run at least once, and EventBridge may deliver a device
 * message twice, so each step is idempotent per action and message. Repeats within an hour
 * return the first result. Every write is conditional, so a later repeat finds its work done.
 */
const runStep = idempotentHandler(tables.idempotency, '[action, dedupKey]', async (step: OnboardingStep, _context: Context): Promise<unknown> => {
  switch (step.action) {
    case 'reject':
      return { recorded: await recordRejection(devices, step.thingName, step.receivedAt, step.errors) };
    case 'register':
      return registerDevice(devices, step.thingName, step.receivedAt, step.message);
    case 'storeUiConfig':
      return storeUiConfig(devices, { s3, bucketName: uiConfigBucket }, step.thingName, step.receivedAt, step.message, step.capabilitiesHash);
    case 'claim':
      return claimDevice({ db, tables, logger, claimTokenSecretId }, step.thingName, step.dedupKey, step.claimToken);
    case 'emitEvents':
      return emitOnboardingEvents({ eventBridge, eventBusName, logger }, step, { model: step.model, firmwareVersion: step.firmwareVersion });
    case 'notifyOwner':
      return notifyOwner(updates, logger, step);
    case 'recordFailure':
      return recordFailure(devices, step.thingName, step.failure);
  }
});

/**
 * Steps of the device onboarding workflow: record a rejected capability document, register the
 * device, store its UI config, link it with a claim token, send the onboarding events, notify its
 * owner, and record a failed execution.
 */
export const handler = async (event: unknown, context: Context): Promise<unknown> => {
  const step = parseOnboardingStep(event);
  logger.appendKeys({ action: step.action, thingName: step.thingName, dedupKey: step.dedupKey });
  try {
    return await runStep(step, context);
  } finally {
    logger.resetKeys();
  }
};

function requiredEnv(name: string, description: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`Environment variable ${name} is missing; the construct sets it to ${description}.`);
  }
  return value;
}
