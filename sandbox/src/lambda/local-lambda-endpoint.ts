import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { FunctionNotFoundError, LambdaInvocationError, LocalLambdaRuntime } from './local-lambda-runtime';

/** Largest request payload of a synchronous invocation, as Lambda limits it (6 MB). */
const MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** Largest request payload of an asynchronous (Event) invocation, as Lambda limits it (1 MB). */
const MAX_ASYNC_PAYLOAD_BYTES = 1024 * 1024;
export interface LocalLambdaEndpointOptions {
  readonly port?: number;
  readonly log?: (line: string) => void;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/**
 * The Invoke call of the Lambda API (`POST /2015-03-31/functions/{FunctionName}/invocations`)
 * on 127.0.0.1, backed by a LocalLambdaRuntime, so handlers invoke other functions through their
 * real `@aws-sdk/client-lambda` client (`AWS_ENDPOINT_URL_LAMBDA`). Supports the
 * RequestResponse, Event and DryRun invocation types. A failed invocation returns status 200
 * with `X-Amz-Function-Error: Unhandled` and the `{errorType, errorMessage, trace}` document, as
 * Lambda does.
 */
export class LocalLambdaEndpoint {
  /** Starts the endpoint on `options.port`, or on a free port when unset. `options.log` receives failures of Event invocations. */
  public static async start(runtime: LocalLambdaRuntime, options: LocalLambdaEndpointOptions = {}): Promise<LocalLambdaEndpoint> {
    const endpoint = new LocalLambdaEndpoint(runtime, options.log ?? (() => undefined));
    await new Promise<void>((resolve, reject) => {
      endpoint.server.once('error', reject);
      endpoint.server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    return endpoint;
  }

  private readonly server: Server;
  private readonly asyncInvocations = new Set<Promise<void>>();

  private constructor(private readonly runtime: LocalLambdaRuntime, private readonly log: (line: string) => void) {
    this.server = createServer((request, response) => {
      // A malformed request, such as an invalid percent-encoding, gets a 400 and never stops the server.
      this.handle(request, response).catch((error: Error) => {
        if (!response.headersSent) {
          replyError(response, 400, 'InvalidRequestException', `The request is invalid: ${error.message}`);
        }
      });
    });
  }

  /** Endpoint URL for AWS SDK clients (`AWS_ENDPOINT_URL_LAMBDA`). */
  public get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Waits until every Event invocation accepted so far has ended. */
  public async settle(): Promise<void> {
    while (this.asyncInvocations.size > 0) {
      await Promise.all([...this.asyncInvocations]);
    }
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) {
      chunks.push(chunk as Buffer);
    }
    const body = Buffer.concat(chunks);
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const match = INVOKE_PATH.exec(url.pathname);
    if (request.method !== 'POST' || !match) {
      return replyError(response, 404, 'UnknownOperationException', `The local Lambda endpoint supports only Invoke, not ${request.method} ${url.pathname}.`);
    }

    let functionName = decodeURIComponent(match[1]);
    const qualifier = url.searchParams.get('Qualifier');
    if (qualifier) {
      functionName = `${functionName}:${qualifier}`;
    }
    const invocationType = String(request.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    if (!['RequestResponse', 'Event', 'DryRun'].includes(invocationType)) {
      return replyError(response, 400, 'InvalidParameterValueException', `X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, got ${invocationType}.`);
    }
    const limit = invocationType === 'Event' ? MAX_ASYNC_PAYLOAD_BYTES : MAX_SYNC_PAYLOAD_BYTES;
    if (body.length > limit) {
      return replyError(response, 413, 'RequestTooLargeException', `Request must be smaller than ${limit} bytes for the ${invocationType} invocation type, got ${body.length}.`);
    }

    let event: unknown;
    try {
      // NOTE: an empty payload becomes an empty object here. The event that Lambda passes for
      // an empty payload was not checked against the service.
      event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch (error) {
      return replyError(response, 400, 'InvalidRequestContentException', `Could not parse request body into json: ${(error as Error).message}`);
    }

    let clientContext: unknown;
    const clientContextHeader = request.headers['x-amz-client-context'];
    if (typeof clientContextHeader === 'string' && clientContextHeader.length > 0) {
      try {
        clientContext = JSON.parse(Buffer.from(clientContextHeader, 'base64').toString('utf8'));
      } catch {
        return replyError(response, 400, 'InvalidRequestContentException', 'X-Amz-Client-Context must be base64-encoded JSON.');
      }
    }

    try {
      if (invocationType === 'DryRun') {
        // A dry run only checks that the function exists.
        this.runtime.functionDefinition(functionName);
        return reply(response, 204, {}, '');
      }
      if (invocationType === 'Event') {
        this.runtime.functionDefinition(functionName);
        this.invokeInBackground(functionName, event, clientContext);
        return reply(response, 202, {}, '');
      }
      const result = await this.runtime.invoke(functionName, event, { clientContext });
      return reply(response, 200, { 'x-amz-executed-version': '$LATEST' }, JSON.stringify(result));
    } catch (error) {
      if (error instanceof FunctionNotFoundError) {
        return replyError(response, 404, 'ResourceNotFoundException', error.message);
      }
      if (error instanceof LambdaInvocationError) {
        return reply(response, 200, { 'x-amz-function-error': 'Unhandled', 'x-amz-executed-version': '$LATEST' }, JSON.stringify(error.toDocument()));
      }
      this.log(`Invoke of ${functionName} failed: ${(error as Error).stack ?? String(error)}`);
      return replyError(response, 500, 'ServiceException', (error as Error).message);
    }
  }

  // NOTE: Lambda retries a failed asynchronous invocation twice and then sends it to the
  // function's on-failure destination, but here a failure is only logged.
  private invokeInBackground(functionName: string, event: unknown, clientContext: unknown): void {
    const invocation = this.runtime.invoke(functionName, event, { clientContext }).then(
      () => undefined,
      (error: Error) => this.log(`Event invocation of ${functionName} failed: ${error.message}`),
    ).finally(() => this.asyncInvocations.delete(invocation));
    this.asyncInvocations.add(invocation);
  }
}

function reply(response: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(body);
}

/** Sends an error the way the Lambda API does: the type in X-Amzn-ErrorType and a JSON body. */
function replyError(response: ServerResponse, status: number, type: string, message: string): void {
  reply(response, status, { 'x-amzn-errortype': type }, JSON.stringify({ Type: status >= 500 ? 'Service' : 'User', message }));
}
