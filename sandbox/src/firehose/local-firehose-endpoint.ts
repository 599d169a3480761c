import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/** A record that a handler put on a delivery stream. */
export interface LocalFirehoseRecord {
  readonly deliveryStreamName: string;
  /** The record's data as text. */
  readonly data: string;
}

/**
 * The PutRecord and PutRecordBatch calls of the Firehose API on 127.0.0.1, so handlers use their
 * real AWS SDK client through `AWS_ENDPOINT_URL_FIREHOSE`. Records are kept in memory in arrival
 * order.
 */
export class LocalFirehoseEndpoint {
  public static async start(port = 0): Promise<LocalFirehoseEndpoint> {
    const endpoint = new LocalFirehoseEndpoint();
    await new Promise<void>((resolve, reject) => {
      endpoint.server.once('error', reject);
      endpoint.server.listen(port, '127.0.0.1', () => resolve());
    });
    return endpoint;
  }

  public readonly records: LocalFirehoseRecord[] = [];
  private readonly server: Server;

  private constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        const target = String(request.headers['x-amz-target'] ?? '');
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        response.setHeader('content-type', 'application/x-amz-json-1.1');
        const store = (record: { Data: string }) => {
          this.records.push({ deliveryStreamName: body.DeliveryStreamName, data: Buffer.from(record.Data, 'base64').toString('utf8') });
          return { RecordId: `local-${this.records.length}` };
        };
        if (target.endsWith('.PutRecordBatch')) {
          const results = (body.Records as { Data: string }[]).map(store);
          response.writeHead(200).end(JSON.stringify({ FailedPutCount: 0, Encrypted: true, RequestResponses: results }));
        } else if (target.endsWith('.PutRecord')) {
          response.writeHead(200).end(JSON.stringify({ ...store(body.Record), Encrypted: true }));
        } else {
          response.writeHead(400).end(JSON.stringify({ __type: 'UnknownOperationException', message: `The local endpoint does not support ${target}.` }));
        }
      });
    });
  }

  /** Endpoint URL for AWS SDK clients. */
  public get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
