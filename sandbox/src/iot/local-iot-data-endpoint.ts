import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/** MQTT 5 properties and flags of a Publish request, as `@aws-sdk/client-iot-data-plane` sends them. */
export interface LocalPublishProperties {
  readonly retain: boolean;
  readonly contentType?: string;
  readonly responseTopic?: string;
  /** Seconds until the message expires. */
  readonly messageExpiry?: number;
  /** The x-amz-mqtt5-user-properties header, as sent (base64-encoded JSON). */
  readonly userProperties?: string;
  readonly payloadFormatIndicator?: string;
  /** The x-amz-mqtt5-correlation-data header, as sent (base64). */
  readonly correlationData?: string;
}

export type PublishListener = (topic: string, payload: Buffer, qos: number, properties: LocalPublishProperties) => void | Promise<void>;

/** Limits of AWS IoT Core's message broker: topic size in UTF-8 bytes, slashes per topic, payload size. */
const MAX_TOPIC_BYTES = 256;
const MAX_TOPIC_SLASHES = 7;
const MAX_PAYLOAD_BYTES = 128 * 1024;

/**
 * The Publish call of the AWS IoT data plane API (`POST /topics/{topic}?qos=N`, body = payload
 * bytes) on 127.0.0.1. Each accepted publish goes to `onPublish`. Handlers reach it because the
 * sandbox sets their `IOT_DATA_ENDPOINT` to this endpoint's URL.
 *
 * Requests are checked as the broker checks them. QoS is 0 or 1, and the payload is at most
 * 128 KB. The topic has no wildcard characters, at most 256 bytes and at most 7 slashes. A topic
 * that starts with `$` is rejected unless it is one of the `$aws/things/...` topics.
 */
export class LocalIotDataEndpoint {
  public static async start(onPublish: PublishListener, port = 0): Promise<LocalIotDataEndpoint> {
    const endpoint = new LocalIotDataEndpoint(onPublish);
    await new Promise<void>((resolve, reject) => {
      endpoint.server.once('error', reject);
      endpoint.server.listen(port, '127.0.0.1', () => resolve());
    });
    return endpoint;
  }

  private readonly server: Server;

  private constructor(private readonly onPublish: PublishListener) {
    this.server = createServer((request, response) => {
      // A malformed request, such as an invalid percent-encoding, gets a 400 and never stops the server.
      this.handle(request, response).catch((error: Error) => {
        if (!response.headersSent) {
          replyError(response, 400, 'InvalidRequestException', `The request is invalid: ${error.message}`);
        }
      });
    });
  }

  /** Endpoint URL for handlers' `IOT_DATA_ENDPOINT` and for AWS SDK clients. */
  public get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) {
      chunks.push(chunk as Buffer);
    }
    const payload = Buffer.concat(chunks);
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (!url.pathname.startsWith('/topics/')) {
      return replyError(response, 404, 'ResourceNotFoundException', `The local IoT data endpoint supports only Publish (POST /topics/{topic}), not ${url.pathname}.`);
    }
    if (request.method !== 'POST') {
      return replyError(response, 405, 'MethodNotAllowedException', `Publish takes POST, got ${request.method}.`);
    }

    const topic = decodeURIComponent(url.pathname.slice('/topics/'.length));
    const problem = topicProblem(topic);
    if (problem) {
      return replyError(response, problem.status, problem.type, problem.message);
    }
    const qos = Number(url.searchParams.get('qos') ?? '0');
    if (qos !== 0 && qos !== 1) {
      return replyError(response, 400, 'InvalidRequestException', `qos must be 0 or 1, got ${url.searchParams.get('qos')}.`);
    }
    if (payload.length > MAX_PAYLOAD_BYTES) {
      return replyError(response, 413, 'RequestEntityTooLargeException', `Payload of ${payload.length} bytes is larger than the ${MAX_PAYLOAD_BYTES}-byte limit.`);
    }

    const properties: LocalPublishProperties = {
      retain: url.searchParams.get('retain') === 'true',
      contentType: url.searchParams.get('contentType') ?? undefined,
      responseTopic: url.searchParams.get('responseTopic') ?? undefined,
      messageExpiry: url.searchParams.has('messageExpiry') ? Number(url.searchParams.get('messageExpiry')) : undefined,
      userProperties: headerValue(request, 'x-amz-mqtt5-user-properties'),
      payloadFormatIndicator: headerValue(request, 'x-amz-mqtt5-payload-format-indicator'),
      correlationData: headerValue(request, 'x-amz-mqtt5-correlation-data'),
    };
    try {
      await this.onPublish(topic, payload, qos, properties);
    } catch (error) {
      return replyError(response, 500, 'InternalFailureException', `Delivering the message to ${topic} failed: ${(error as Error).message}`);
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }
}

function topicProblem(topic: string): { status: number; type: string; message: string } | undefined {
  if (topic.length === 0) {
    return { status: 400, type: 'InvalidRequestException', message: 'The topic is empty.' };
  }
  if (topic.includes('+') || topic.includes('#')) {
    return { status: 400, type: 'InvalidRequestException', message: `Topic ${topic} contains a wildcard (+ or #). Publish to a topic name, not a filter.` };
  }
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) {
    return { status: 400, type: 'InvalidRequestException', message: `Topic ${topic.slice(0, 64)}... is longer than ${MAX_TOPIC_BYTES} bytes.` };
  }
  const reserved = topic.startsWith('$');
  if (reserved && !topic.startsWith('$aws/things/')) {
    // NOTE: 403 ForbiddenException is an assumption, because IoT Core's response for a publish
    // to a reserved topic was not checked against the service.
    return { status: 403, type: 'ForbiddenException', message: `Topic ${topic} is reserved for AWS IoT. Of the topics that start with $, clients may publish only to $aws/things/....` };
  }
  // The 7-slash limit leaves out the first three slashes of a reserved topic such as $aws/things/<name>/.
  const slashes = (topic.match(/\//g) ?? []).length - (reserved ? 3 : 0);
  if (slashes > MAX_TOPIC_SLASHES) {
    return { status: 400, type: 'InvalidRequestException', message: `Topic ${topic} has ${slashes} forward slashes, but AWS IoT allows at most ${MAX_TOPIC_SLASHES}.` };
  }
  return undefined;
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** Sends an error the way AWS IoT does: the type in X-Amzn-ErrorType and a JSON body. */
function replyError(response: ServerResponse, status: number, type: string, message: string): void {
  response.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
  response.end(JSON.stringify({ message }));
}
