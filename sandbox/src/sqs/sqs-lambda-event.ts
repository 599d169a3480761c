import { createHash } from 'node:crypto';
import type { LocalMessageAttribute, LocalQueue, ReceivedMessage } from './local-sqs';

/** Principal id that SQS reports as SenderId for messages that the sandbox sent. */
const LOCAL_SENDER_ID = 'AIDALOCALSANDBOXSENDER';

/** The event that Lambda passes to a function for a batch of SQS messages. */
export interface SqsLambdaEvent {
  readonly Records: SqsLambdaRecord[];
}

/** A message attribute in an SQS Lambda event, with binaryValue in base64. */
export interface SqsLambdaMessageAttribute {
  readonly stringValue?: string;
  readonly binaryValue?: string;
  readonly stringListValues: string[];
  readonly binaryListValues: string[];
  readonly dataType: string;
}

export interface SqsLambdaRecord {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: {
    readonly ApproximateReceiveCount: string;
    readonly SentTimestamp: string;
    readonly SenderId: string;
    readonly ApproximateFirstReceiveTimestamp: string;
  };
  readonly messageAttributes: Record<string, SqsLambdaMessageAttribute>;
  readonly md5OfBody: string;
  readonly md5OfMessageAttributes?: string;
  readonly eventSource: 'aws:sqs';
  readonly eventSourceARN: string;
  readonly awsRegion: string;
}

/** Builds the Lambda event record for one received message, as Lambda's SQS poller does. */
export function lambdaRecord(queue: LocalQueue, received: ReceivedMessage): SqsLambdaRecord {
  const message = received.message;
  const attributeNames = Object.keys(message.messageAttributes);
  return {
    messageId: message.messageId,
    receiptHandle: received.receiptHandle,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(message.sentTimestamp),
      SenderId: LOCAL_SENDER_ID,
      ApproximateFirstReceiveTimestamp: String(message.firstReceiveTimestamp ?? message.sentTimestamp),
    },
    messageAttributes: Object.fromEntries(attributeNames.map((name) => {
      const attribute = message.messageAttributes[name];
      const binary = attribute.binaryValue === undefined ? undefined : toBuffer(attribute.binaryValue).toString('base64');
      const value: SqsLambdaMessageAttribute = {
        stringValue: attribute.stringValue,
        binaryValue: binary,
        stringListValues: [],
        binaryListValues: [],
        dataType: attribute.dataType,
      };
      return [name, value];
    })),
    md5OfBody: message.md5OfBody,
    ...(attributeNames.length > 0 ? { md5OfMessageAttributes: md5OfMessageAttributes(message.messageAttributes) } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: queue.region,
  };
}

/**
 * Returns the MD5 digest of message attributes as SQS computes MD5OfMessageAttributes. The
 * digest covers each attribute in name order. Each contributes its name and its data type, each
 * as a 4-byte big-endian length and UTF-8 bytes. A transport byte follows (1 for strings and
 * numbers, 2 for binary), then the length and bytes of the value.
 */
export function md5OfMessageAttributes(attributes: Record<string, LocalMessageAttribute>): string {
  const hash = createHash('md5');
  const lengthPrefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length);
    hash.update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const attribute = attributes[name];
    lengthPrefixed(Buffer.from(name, 'utf8'));
    lengthPrefixed(Buffer.from(attribute.dataType, 'utf8'));
    if (attribute.binaryValue !== undefined) {
      hash.update(Buffer.from([2]));
      lengthPrefixed(toBuffer(attribute.binaryValue));
    } else {
      hash.update(Buffer.from([1]));
      lengthPrefixed(Buffer.from(attribute.stringValue ?? '', 'utf8'));
    }
  }
  return hash.digest('hex');
}

/** Returns the bytes of a binary attribute value given as bytes or base64. */
export function toBuffer(value: Buffer | string): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'base64') : value;
}
