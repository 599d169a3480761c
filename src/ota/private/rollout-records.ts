import { setTimeout as sleep } from 'node:timers/promises';
import { BatchWriteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { RolloutCounts } from './ota-job';
import { TransientDependencyError, translateSdkError } from '../../workflows/private/errors';

/**
 * Sort key of a rollout's summary item in the rollouts table. AWS IoT thing names contain only
 * letters, digits, `:`, `_` and `-`, so no device record can use it.
 */
export const ROLLOUT_SUMMARY_KEY = '#rollout';

/** Outcome of one device's job execution, keyed by `rolloutId` and `thingName`. */
export interface DeviceRolloutRecord {
  readonly rolloutId: string;
  readonly thingName: string;
  readonly thingArn: string;
  readonly jobId: string;
  readonly version: string;
  /** Job execution status: QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, REJECTED, TIMED_OUT, CANCELED or REMOVED. */
  readonly status: string;
  readonly executionNumber?: number;
  readonly retryAttempt?: number;
  /** Epoch milliseconds. */
  readonly queuedAt?: number;
  readonly startedAt?: number;
  readonly lastUpdatedAt?: number;
  readonly recordedAt: number;
}

/** Outcome of a rollout; FirmwareRolloutCompletedDetail describes each status. */
export type RolloutStatus = 'COMPLETED' | 'ABORTED' | 'REJECTED' | 'FAILED';

/** Outcome of a rollout, stored under the sort key `#rollout`. */
export interface RolloutSummaryRecord {
  readonly rolloutId: string;
  readonly thingName: typeof ROLLOUT_SUMMARY_KEY;
  readonly status: RolloutStatus;
  readonly reason: string | null;
  readonly version: string | null;
  readonly imageKey: string | null;
  readonly sha256: string | null;
  readonly jobId: string | null;
  readonly jobArn: string | null;
  readonly counts: RolloutCounts | null;
  readonly error: { name: string; message: string } | null;
  readonly execution: string;
  /** Epoch milliseconds. */
  readonly finishedAt: number;
}

/** Largest number of items in one BatchWriteItem request. */
const BATCH_SIZE = 25;
/** Attempts to write the items that DynamoDB returns as unprocessed, with backoff between them. */
const MAX_BATCH_ATTEMPTS = 5;

/**
 * Writes device records, overwriting earlier records of the same rollout and device, so a
 * repeated step writes the same outcome again. Throws TransientDependencyError when DynamoDB
 * leaves items unprocessed after every attempt.
 */
export async function writeDeviceRecords(db: DynamoDBDocumentClient, tableName: string, records: DeviceRolloutRecord[]): Promise<void> {
  for (let start = 0; start < records.length; start += BATCH_SIZE) {
    let requests = records.slice(start, start + BATCH_SIZE).map((record) => ({ PutRequest: { Item: record } }));
    for (let attempt = 1; requests.length > 0; attempt += 1) {
      if (attempt > MAX_BATCH_ATTEMPTS) {
        throw new TransientDependencyError(`BatchWriteItem left ${requests.length} device records unprocessed after ${MAX_BATCH_ATTEMPTS} attempts.`);
      }
      if (attempt > 1) {
        await sleep(50 * 2 ** attempt);
      }
      const result = await db.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }))
        .catch((error) => { throw translateSdkError(error, 'BatchWriteItem rollouts'); });
      requests = (result.UnprocessedItems?.[tableName] ?? []) as typeof requests;
    }
  }
}

/**
 * Writes a rollout's summary item. It replaces an earlier summary of the same execution, or one
 * without a job (a rejected or failed start), but never the summary of another execution's job:
 * then the write fails with ConditionalCheckFailedException.
 */
export async function writeRolloutSummary(db: DynamoDBDocumentClient, tableName: string, summary: RolloutSummaryRecord): Promise<void> {
  await db.send(new PutCommand({
    TableName: tableName,
    Item: summary,
    ConditionExpression: 'attribute_not_exists(rolloutId) OR execution = :execution OR attribute_type(jobId, :null)',
    ExpressionAttributeValues: { ':execution': summary.execution, ':null': 'NULL' },
  })).catch((error) => { throw translateSdkError(error, 'PutItem rollouts'); });
}
