import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { SQSBatchItemFailure, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { MalformedRuleOutputError, PlatformEventEntry, toPlatformEvent } from './private/device-message';

const logger = new Logger();
const eventBridge = new EventBridgeClient({});
const EVENT_BUS_NAME = process.env.EVENT_BUS_NAME!;
const PUT_EVENTS_MAX_ENTRIES = 10;

/**
 * Forwards messages that the IoT topic rules queued to the platform's event bus. Failed
 * entries are reported as batch item failures so SQS redelivers them, and after the queue's
 * maximum receive count they move to its dead-letter queue. Duplicates are possible (SQS
 * delivers at least once); every event carries a `dedupKey` that consumers deduplicate on.
 */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const failures: SQSBatchItemFailure[] = [];
  const pending: { messageId: string; entry: PlatformEventEntry }[] = [];

  for (const record of event.Records) {
    try {
      pending.push({ messageId: record.messageId, entry: toPlatformEvent(record.body, EVENT_BUS_NAME) });
    } catch (error) {
      if (!(error instanceof MalformedRuleOutputError)) {
        throw error;
      }
      // A malformed body will never forward; failing it sends it to the dead-letter queue.
      logger.error('Queue message rejected', { messageId: record.messageId, error });
      failures.push({ itemIdentifier: record.messageId });
    }
  }

  for (let start = 0; start < pending.length; start += PUT_EVENTS_MAX_ENTRIES) {
    const chunk = pending.slice(start, start + PUT_EVENTS_MAX_ENTRIES);
    try {
      const result = await eventBridge.send(new PutEventsCommand({ Entries: chunk.map((item) => item.entry) }));
      result.Entries?.forEach((entry, index) => {
        if (entry.ErrorCode) {
          logger.warn('Event not accepted by EventBridge', { messageId: chunk[index].messageId, errorCode: entry.ErrorCode, errorMessage: entry.ErrorMessage });
          failures.push({ itemIdentifier: chunk[index].messageId });
        }
      });
    } catch (error) {
      logger.error('PutEvents failed', { error, messages: chunk.length });
      failures.push(...chunk.map((item) => ({ itemIdentifier: item.messageId })));
    }
  }

  logger.info('Batch forwarded', { received: event.Records.length, failed: failures.length });
  return { batchItemFailures: failures };
}
