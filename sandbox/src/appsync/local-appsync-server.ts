import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { AppSyncError, AppSyncExecutor, InvokeLambda, plainError, rootFieldsOf } from './appsync-executor';
import { subscribedMutations } from './appsync-schema';
import { RealtimeHub } from './realtime-hub';
import { authenticate, AuthenticationError, AuthenticationOptions, normalizeHeaders, RequestIdentity } from './request-auth';
import { SignedRequest } from './sigv4';
import { readTemplateApi } from './template-api';
import { LocalUserPool } from '../cognito/local-user-pool';

/** Options of a LocalAppSyncServer. */
export interface LocalAppSyncOptions {
  /** A synthesized CloudFormation template, as JSON. */
  readonly template: any;
  /** Logical id of the AWS::AppSync::GraphQLApi to serve. @default - the template's only GraphQL API */
  readonly apiLogicalId?: string;
  /** User pool that verifies Cognito tokens. */
  readonly userPool: LocalUserPool;
  /**
   * Invokes a function of the template by its logical id with the payload of an `Invoke`
   * request. It resolves with the function's result, or rejects with the function's error,
   * which resolvers receive as `ctx.error` with the error's message and type 'Lambda:Unhandled'.
   */
  readonly invokeLambda: InvokeLambda;
  /** @default 0, any free port */
  readonly port?: number;
  /** Receives one line per start, stop, rejected request, subscription change and resolver failure. */
  readonly log?: (line: string) => void;
  /** Account id of IAM callers in `ctx.identity`. @default '000000000000' */
  readonly accountId?: string;
  /** Interval of `ka` messages on real-time connections, in milliseconds. @default 60000 */
  readonly keepAliveIntervalMs?: number;
  /**
   * Secret access keys by access key id of the IAM callers, such as the credentials given to
   * the local Lambda handlers. With them, SigV4 signatures of POST /graphql are verified.
   * @default - signatures are checked for form only
   */
  readonly iamCredentials?: Record<string, string>;
}

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * A local AppSync GraphQL API on 127.0.0.1, built from a synthesized template: queries and
 * mutations at POST /graphql and subscriptions over AppSync's real-time WebSocket protocol at
 * /graphql/realtime. Resolvers are the template's APPSYNC_JS code; AWS_LAMBDA data sources call
 * `invokeLambda` with the function's logical id.
 */
export class LocalAppSyncServer {
  /**
   * Starts the server. Throws, naming the resource, when the template's API uses something the
   * server cannot run, such as a VTL resolver or a resolver on a DynamoDB data source.
   */
  public static async start(options: LocalAppSyncOptions): Promise<LocalAppSyncServer> {
    const log = options.log ?? (() => undefined);
    const api = readTemplateApi(options.template, options.apiLogicalId);
    const executor = new AppSyncExecutor(api, options.invokeLambda, log);
    const authentication: AuthenticationOptions = {
      modes: api.modes,
      userPool: options.userPool,
      userPoolDefaultAction: api.userPoolDefaultAction,
      accountId: options.accountId ?? '000000000000',
      iamCredentials: options.iamCredentials,
    };
    const server = new LocalAppSyncServer(executor, authentication, log, options.keepAliveIntervalMs ?? 60_000);
    await new Promise<void>((resolve, reject) => {
      server.httpServer.once('error', reject);
      server.httpServer.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    log(`appsync: serving API ${api.logicalId} (${api.resolvers.size} resolvers) at ${server.graphqlUrl}`);
    return server;
  }

  private readonly httpServer: Server;
  private readonly webSockets: WebSocketServer;
  private readonly hub: RealtimeHub;

  private constructor(
    private readonly executor: AppSyncExecutor,
    private readonly authentication: AuthenticationOptions,
    private readonly log: (line: string) => void,
    keepAliveIntervalMs: number,
  ) {
    const authenticateRealtime = (headers: Record<string, string | undefined>, sourceIp: string, signedRequest: SignedRequest) =>
      authenticate(headers, sourceIp, authentication, signedRequest);
    this.hub = new RealtimeHub(executor, authenticateRealtime, log, keepAliveIntervalMs);
    this.webSockets = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => (protocols.has('graphql-ws') ? 'graphql-ws' : false),
    });
    this.httpServer = createServer((request, response) => {
      this.handle(request, response).catch((error) => {
        this.log(`appsync: request failed: ${(error as Error).stack ?? String(error)}`);
        sendJson(response, 500, { errors: [plainError('InternalFailure', 'The local AppSync server failed to process the request.')] });
      });
    });
    this.httpServer.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== '/graphql/realtime') {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      this.webSockets.handleUpgrade(request, socket, head, (webSocket) => {
        this.hub.accept(webSocket, url, request.socket.remoteAddress ?? '127.0.0.1');
      });
    });
  }

  /** URL of the GraphQL endpoint, such as `http://127.0.0.1:4002/graphql`. */
  public get graphqlUrl(): string {
    return `http://127.0.0.1:${this.port}/graphql`;
  }

  /** URL of the real-time endpoint, such as `ws://127.0.0.1:4002/graphql/realtime`. */
  public get realtimeUrl(): string {
    return `ws://127.0.0.1:${this.port}/graphql/realtime`;
  }

  /** Closes every real-time connection and the HTTP server. */
  public async stop(): Promise<void> {
    this.hub.closeAll();
    await new Promise<void>((resolve) => this.webSockets.close(() => resolve()));
    this.httpServer.closeAllConnections();
    await new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
    this.log('appsync: stopped');
  }

  private get port(): number {
    return (this.httpServer.address() as AddressInfo).port;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    response.setHeader('access-control-allow-origin', '*');
    response.setHeader('access-control-allow-methods', 'POST, OPTIONS');
    response.setHeader('access-control-allow-headers', 'authorization, content-type, x-amz-date, x-amz-security-token, x-amz-user-agent, x-amz-content-sha256');
    if (request.method === 'OPTIONS') {
      response.writeHead(204).end();
      return;
    }
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    if (path !== '/graphql' || request.method !== 'POST') {
      sendJson(response, 404, { errors: [plainError('NotFoundException', `${request.method} ${path} is not served; send POST /graphql, or open a WebSocket at /graphql/realtime.`)] });
      return;
    }

    const headers = normalizeHeaders(request.headers);
    const rawBody = await readBody(request);
    let caller: RequestIdentity;
    try {
      const signedRequest = { method: 'POST', url: request.url ?? '/graphql', headers, body: rawBody ?? '' };
      caller = authenticate(headers, request.socket.remoteAddress ?? '127.0.0.1', this.authentication, signedRequest);
    } catch (error) {
      if (error instanceof AuthenticationError) {
        this.log(`appsync: rejected request: ${error.message}`);
        sendJson(response, 401, { errors: [{ errorType: error.errorType, message: error.message }] });
        return;
      }
      throw error;
    }

    const body = parseJsonBody(rawBody);
    if ('error' in body) {
      this.log(`appsync: rejected request: ${body.error}`);
      sendJson(response, 400, { errors: [plainError('MalformedHttpRequestException', body.error)] });
      return;
    }
    const { query, variables, operationName } = body.value;
    const prepared = this.executor.prepare(query, operationName);
    if (prepared.errors) {
      this.log(`appsync: rejected operation: ${prepared.errors.map((error) => error.message).join('; ')}`);
      sendJson(response, 400, { data: null, errors: prepared.errors });
      return;
    }
    if (prepared.operation.operation === 'subscription') {
      sendJson(response, 400, { data: null, errors: [plainError('ValidationError', 'Subscriptions run over the real-time WebSocket endpoint, not POST /graphql.')] });
      return;
    }

    const result = await this.executor.run(prepared, caller, { phase: 'request', headers, variables: isObject(variables) ? variables : {} });
    sendJson(response, 200, result.response);

    if (prepared.operation.operation !== 'mutation') {
      return;
    }
    if (result.response.data) {
      this.publishMutationResults(prepared, result.response.data);
    }
    for (const invalidation of result.invalidations) {
      this.hub.invalidate(invalidation);
    }
  }

  /** Sends each mutation field's result to the subscriptions whose `@aws_subscribe` names it. */
  private publishMutationResults(prepared: { document: any; operation: any }, data: Record<string, unknown>): void {
    const subscriptionType = this.executor.schema.getSubscriptionType();
    if (!subscriptionType) {
      return;
    }
    for (const fieldNode of rootFieldsOf(prepared.operation, prepared.document)) {
      const mutationField = fieldNode.name.value;
      const value = data[fieldNode.alias?.value ?? mutationField];
      if (value === null || value === undefined) {
        continue;
      }
      for (const subscriptionField of Object.values(subscriptionType.getFields())) {
        if (subscribedMutations(subscriptionField).includes(mutationField)) {
          this.hub.publish(subscriptionField.name, value as Record<string, unknown>);
        }
      }
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function sendJson(response: ServerResponse, status: number, body: { errors?: (AppSyncError | Record<string, unknown>)[]; data?: unknown }): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(text);
}

/** Reads the request body, or returns undefined when it exceeds MAX_BODY_BYTES. */
async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  // The rest of a body that is too large is read and dropped, because leaving the loop early
  // would destroy the socket before the error response is sent.
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) {
      chunks.push(chunk as Buffer);
    }
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}

function parseJsonBody(body: string | undefined): { value: Record<string, any> } | { error: string } {
  if (body === undefined) {
    return { error: `The request body exceeds ${MAX_BODY_BYTES} bytes.` };
  }
  try {
    const value = JSON.parse(body);
    if (isObject(value)) {
      return { value };
    }
  } catch {
    // Reported below with the same message as a body that is JSON but not an object.
  }
  return { error: 'The request body must be a JSON object with query, variables and operationName.' };
}
