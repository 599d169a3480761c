import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Context } from 'aws-lambda';

/**
 * Wraps a handler so that repeated invocations with the same key (Step Functions retries,
 * redelivered events) return the first result instead of acting again. Records live in the
 * registry's idempotency table and expire after an hour.
 */
export function idempotentHandler<TEvent, TResult>(
  tableName: string,
  eventKeyJmesPath: string,
  handler: (event: TEvent, context: Context) => Promise<TResult>,
): (event: TEvent, context: Context) => Promise<TResult> {
  const persistenceStore = new DynamoDBPersistenceLayer({ tableName });
  const config = new IdempotencyConfig({ eventKeyJmesPath, expiresAfterSeconds: 3600, throwOnNoIdempotencyKey: true });
  return makeIdempotent(handler, { persistenceStore, config }) as (event: TEvent, context: Context) => Promise<TResult>;
}
