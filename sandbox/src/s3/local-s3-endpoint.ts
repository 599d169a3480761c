import { createHash } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/** An object that the endpoint stores. */
export interface LocalS3Object {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
  readonly lastModified: Date;
}

/** A PutObject request that stored an object. */
export interface LocalS3Write {
  readonly bucket: string;
  readonly key: string;
  readonly body: Buffer;
  readonly contentType: string;
}

/**
 * PutObject and GetObject of the S3 REST API on 127.0.0.1, so handlers store objects through
 * their real AWS SDK client (`AWS_ENDPOINT_URL_S3` with `forcePathStyle: true`, which puts the
 * bucket in the path: `/<bucket>/<key>`). Objects are kept in memory, one version per key.
 * PutObject honours `If-None-Match: *` as S3 conditional writes do. Buckets must be created
 * first; requests for other buckets fail with NoSuchBucket.
 */
export class LocalS3Endpoint {
  public static async start(port = 0): Promise<LocalS3Endpoint> {
    const endpoint = new LocalS3Endpoint();
    await new Promise<void>((resolve, reject) => {
      endpoint.server.once('error', reject);
      endpoint.server.listen(port, '127.0.0.1', () => resolve());
    });
    return endpoint;
  }

  /** Successful writes in order, including overwrites. */
  public readonly writes: LocalS3Write[] = [];
  private readonly buckets = new Map<string, Map<string, LocalS3Object>>();
  private readonly server: Server;

  private constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => this.handle(request, Buffer.concat(chunks), response));
    });
  }

  /** Endpoint URL for AWS SDK clients. */
  public get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Creates an empty bucket; creating an existing bucket keeps its objects. */
  public createBucket(name: string): void {
    if (!this.buckets.has(name)) {
      this.buckets.set(name, new Map());
    }
  }

  /** Returns a stored object, or undefined. */
  public object(bucket: string, key: string): LocalS3Object | undefined {
    return this.buckets.get(bucket)?.get(key);
  }

  /** Returns the keys in a bucket that start with a prefix, sorted. */
  public keys(bucket: string, prefix = ''): string[] {
    return [...(this.buckets.get(bucket)?.keys() ?? [])].filter((key) => key.startsWith(prefix)).sort();
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, body: Buffer, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const [, bucketName = '', ...keyParts] = url.pathname.split('/');
    const key = keyParts.map(decodeURIComponent).join('/');
    const bucket = this.buckets.get(decodeURIComponent(bucketName));
    if (!bucket) {
      sendError(response, 404, 'NoSuchBucket', `The bucket '${bucketName}' does not exist on the local endpoint; create it with createBucket.`);
      return;
    }
    if (key === '') {
      sendError(response, 501, 'NotImplemented', 'The local endpoint supports only PutObject and GetObject.');
      return;
    }

    if (request.method === 'PUT') {
      this.putObject(request, decodeURIComponent(bucketName), bucket, key, body, response);
      return;
    }
    if (request.method === 'GET' || request.method === 'HEAD') {
      const stored = bucket.get(key);
      if (!stored) {
        sendError(response, 404, 'NoSuchKey', `The key '${key}' does not exist.`);
        return;
      }
      response.writeHead(200, {
        'content-type': stored.contentType,
        'content-length': String(stored.body.length),
        'etag': stored.etag,
        'last-modified': stored.lastModified.toUTCString(),
      });
      response.end(request.method === 'GET' ? stored.body : undefined);
      return;
    }
    sendError(response, 501, 'NotImplemented', `The local endpoint does not support ${request.method} on objects.`);
  }

  private putObject(
    request: IncomingMessage,
    bucketName: string,
    bucket: Map<string, LocalS3Object>,
    key: string,
    raw: Buffer,
    response: ServerResponse,
  ): void {
    if (request.headers['x-amz-copy-source'] !== undefined) {
      sendError(response, 501, 'NotImplemented', 'The local endpoint does not support CopyObject.');
      return;
    }
    if (request.headers['if-none-match'] === '*' && bucket.has(key)) {
      sendError(response, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
      return;
    }
    const body = isAwsChunked(request) ? decodeAwsChunked(raw) : raw;
    const stored: LocalS3Object = {
      body,
      contentType: String(request.headers['content-type'] ?? 'binary/octet-stream'),
      etag: `"${createHash('md5').update(body).digest('hex')}"`,
      lastModified: new Date(),
    };
    bucket.set(key, stored);
    this.writes.push({ bucket: bucketName, key, body, contentType: stored.contentType });
    response.writeHead(200, { etag: stored.etag }).end();
  }
}

/**
 * Returns whether the body is `aws-chunked`, the encoding in which the AWS SDK may stream a body:
 * hexadecimal chunk sizes, each followed by the chunk, and trailing checksum headers after a
 * chunk of size 0.
 */
function isAwsChunked(request: IncomingMessage): boolean {
  return String(request.headers['content-encoding'] ?? '').split(',').map((part) => part.trim()).includes('aws-chunked');
}

function decodeAwsChunked(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < raw.length) {
    const lineEnd = raw.indexOf('\r\n', offset);
    if (lineEnd < 0) {
      break;
    }
    const size = parseInt(raw.subarray(offset, lineEnd).toString('ascii').split(';')[0], 16);
    if (!Number.isFinite(size) || size === 0) {
      break;
    }
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function sendError(response: ServerResponse, status: number, code: string, message: string): void {
  const escaped = message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  response.writeHead(status, { 'content-type': 'application/xml' });
  response.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escaped}</Message></Error>`);
}
