import { DocumentNode, getArgumentValues, getVariableValues, OperationDefinitionNode } from 'graphql';
import { RawData, WebSocket } from 'ws';
import { AppSyncExecutor, Invalidation, plainError, rootFieldsOf } from './appsync-executor';
import { AuthenticationError, normalizeHeaders, RequestIdentity } from './request-auth';
import { matchesFilter, SubscriptionFilter } from './resolver-runtime';
import { SignedRequest } from './sigv4';

/** Maximum time, sent in connection_ack, that a client waits for a `ka` message before it closes the connection. */
const CONNECTION_TIMEOUT_MS = 300_000;

interface LiveSubscription {
  readonly id: string;
  readonly connection: Connection;
  readonly fieldName: string;
  readonly arguments: Record<string, unknown>;
  readonly document: DocumentNode;
  readonly operation: OperationDefinitionNode;
  readonly variables: Record<string, unknown>;
  readonly caller: RequestIdentity;
  readonly filter?: SubscriptionFilter;
  readonly invalidationFilter?: SubscriptionFilter;
}

interface Connection {
  readonly webSocket: WebSocket;
  readonly subscriptions: Map<string, LiveSubscription>;
  readonly pending: Set<string>;
  keepAlive?: NodeJS.Timeout;
}

type Authenticate = (headers: Record<string, string | undefined>, sourceIp: string, signedRequest: SignedRequest) => RequestIdentity;

/**
 * The server side of AppSync's real-time WebSocket protocol (subprotocol `graphql-ws`):
 * connection_init and connection_ack with connectionTimeoutMs, `ka` keep-alives, start with
 * the query in `payload.data` and headers in `payload.extensions.authorization`, start_ack,
 * data, error, stop and complete. The connection's `header` query parameter is authenticated
 * when the socket opens and each start message is authenticated again. SigV4 signatures cover
 * POST /graphql/connect with the `payload` parameter as body for the connection, and POST
 * /graphql with `payload.data` as body for a start message, as AppSync defines them.
 */
export class RealtimeHub {
  private readonly connections = new Set<Connection>();

  constructor(
    private readonly executor: AppSyncExecutor,
    private readonly authenticate: Authenticate,
    private readonly log: (line: string) => void,
    private readonly keepAliveIntervalMs: number,
  ) {}

  /** Takes over an upgraded socket; `url` carries the `header` and `payload` query parameters. */
  public accept(webSocket: WebSocket, url: URL, sourceIp: string): void {
    const connection: Connection = { webSocket, subscriptions: new Map(), pending: new Set() };
    try {
      const headers = decodeHeaderParameter(url.searchParams.get('header'));
      const body = Buffer.from(url.searchParams.get('payload') ?? '', 'base64').toString('utf8') || '{}';
      this.authenticate(headers, sourceIp, { method: 'POST', url: '/graphql/connect', headers, body });
    } catch (error) {
      if (!(error instanceof AuthenticationError)) {
        throw error;
      }
      this.log(`appsync: rejected real-time connection: ${error.message}`);
      send(connection, { type: 'connection_error', payload: { errors: [{ errorType: error.errorType, message: error.message, errorCode: 401 }] } });
      webSocket.close(1000);
      return;
    }
    this.connections.add(connection);
    webSocket.on('message', (data: RawData) => {
      this.onMessage(connection, data, sourceIp).catch((error) => {
        this.log(`appsync: real-time message failed: ${(error as Error).stack ?? String(error)}`);
      });
    });
    webSocket.on('close', () => this.drop(connection));
    webSocket.on('error', (error) => this.log(`appsync: real-time connection error: ${error.message}`));
  }

  /** Sends a mutation field's result to the matching subscriptions of a subscription field. */
  public publish(fieldName: string, payload: Record<string, unknown>): void {
    for (const connection of this.connections) {
      for (const subscription of connection.subscriptions.values()) {
        if (subscription.fieldName === fieldName && argumentsMatch(subscription.arguments, payload) && matchesFilter(subscription.filter, payload)) {
          this.deliver(subscription, payload).catch((error) => {
            this.log(`appsync: delivery to subscription ${subscription.id} failed: ${(error as Error).stack ?? String(error)}`);
          });
        }
      }
    }
  }

  /**
   * Ends the subscriptions of a field whose invalidation filter matches the payload, with a
   * `complete` message as AppSync sends when it unsubscribes a client.
   */
  public invalidate(invalidation: Invalidation): void {
    for (const connection of this.connections) {
      for (const subscription of [...connection.subscriptions.values()]) {
        if (subscription.fieldName === invalidation.subscriptionField && subscription.invalidationFilter
          && matchesFilter(subscription.invalidationFilter, invalidation.payload)) {
          connection.subscriptions.delete(subscription.id);
          send(connection, { type: 'complete', id: subscription.id });
          this.log(`appsync: invalidated subscription ${subscription.id} to ${subscription.fieldName}`);
        }
      }
    }
  }

  /** Closes every connection. */
  public closeAll(): void {
    for (const connection of [...this.connections]) {
      this.drop(connection);
      connection.webSocket.terminate();
    }
  }

  private drop(connection: Connection): void {
    clearInterval(connection.keepAlive);
    connection.subscriptions.clear();
    this.connections.delete(connection);
  }

  private async onMessage(connection: Connection, data: RawData, sourceIp: string): Promise<void> {
    let message: any;
    try {
      message = JSON.parse(data.toString());
    } catch {
      this.log('appsync: rejected a real-time message that is not JSON');
      send(connection, { type: 'error', payload: { errors: [{ errorType: 'MalformedMessage', message: 'The message is not JSON.' }] } });
      return;
    }
    switch (message?.type) {
      case 'connection_init':
        send(connection, { type: 'connection_ack', payload: { connectionTimeoutMs: CONNECTION_TIMEOUT_MS } });
        send(connection, { type: 'ka' });
        clearInterval(connection.keepAlive);
        connection.keepAlive = setInterval(() => send(connection, { type: 'ka' }), this.keepAliveIntervalMs);
        connection.keepAlive.unref();
        return;
      case 'start':
        await this.start(connection, message, sourceIp);
        return;
      case 'stop':
        connection.subscriptions.delete(String(message.id));
        connection.pending.delete(String(message.id));
        send(connection, { type: 'complete', id: message.id });
        return;
      default:
        this.log(`appsync: rejected real-time message type '${String(message?.type)}'`);
        send(connection, { type: 'error', id: message?.id, payload: { errors: [{ errorType: 'UnsupportedOperation', message: `Message type '${String(message?.type)}' is not supported; send connection_init, start or stop.` }] } });
    }
  }

  private async start(connection: Connection, message: any, sourceIp: string): Promise<void> {
    const id = typeof message.id === 'string' ? message.id : undefined;
    const fail = (errorType: string, text: string, extra: Record<string, unknown> = {}) => {
      this.log(`appsync: rejected subscription ${id ?? '(no id)'}: ${errorType}: ${text}`);
      send(connection, { type: 'error', id, payload: { errors: [{ errorType, message: text, ...extra }] } });
    };
    if (!id) {
      fail('MalformedMessage', 'The start message has no id.');
      return;
    }
    if (connection.subscriptions.has(id) || connection.pending.has(id)) {
      fail('DuplicatedOperationError', `Subscription id '${id}' is already in use on this connection.`);
      return;
    }

    let caller: RequestIdentity;
    try {
      const headers = normalizeHeaders(message.payload?.extensions?.authorization ?? {});
      caller = this.authenticate(headers, sourceIp, { method: 'POST', url: '/graphql', headers, body: String(message.payload?.data ?? '') });
    } catch (error) {
      if (error instanceof AuthenticationError) {
        fail(error.errorType, error.message, { errorCode: 401 });
        return;
      }
      throw error;
    }

    let request: any;
    try {
      request = JSON.parse(String(message.payload?.data));
    } catch {
      fail('MalformedMessage', 'payload.data must be a JSON string with query and variables.');
      return;
    }
    const prepared = this.executor.prepare(request?.query, request?.operationName);
    if (prepared.errors) {
      this.log(`appsync: rejected subscription ${id}: ${prepared.errors.map((error) => error.message).join('; ')}`);
      send(connection, { type: 'error', id, payload: { errors: prepared.errors } });
      return;
    }
    if (prepared.operation.operation !== 'subscription') {
      fail('UnsupportedOperation', `A start message must carry a subscription, not a ${prepared.operation.operation}.`);
      return;
    }
    const rootFields = rootFieldsOf(prepared.operation, prepared.document);
    if (rootFields.length !== 1) {
      fail('UnsupportedOperation', `A subscription must select exactly one field; this one selects ${rootFields.length}.`);
      return;
    }
    const variables = request.variables && typeof request.variables === 'object' ? request.variables : {};
    const coerced = getVariableValues(this.executor.schema, prepared.operation.variableDefinitions ?? [], variables);
    if (coerced.errors) {
      this.log(`appsync: rejected subscription ${id}: ${coerced.errors.map((error) => error.message).join('; ')}`);
      send(connection, { type: 'error', id, payload: { errors: coerced.errors.map((error) => plainError('ValidationError', error.message)) } });
      return;
    }

    connection.pending.add(id);
    const result = await this.executor.run(prepared, caller, { phase: 'subscribe', variables });
    if (!connection.pending.delete(id)) {
      return;
    }
    if (result.response.errors) {
      this.log(`appsync: rejected subscription ${id}: ${result.response.errors.map((error) => `${error.errorType}: ${error.message}`).join('; ')}`);
      send(connection, { type: 'error', id, payload: { errors: result.response.errors } });
      return;
    }
    const fieldName = rootFields[0].name.value;
    const fieldDefinition = this.executor.schema.getSubscriptionType()!.getFields()[fieldName];
    const args = JSON.parse(JSON.stringify(getArgumentValues(fieldDefinition, rootFields[0], coerced.coerced))) as Record<string, unknown>;
    connection.subscriptions.set(id, {
      id,
      connection,
      fieldName,
      arguments: args,
      document: prepared.document,
      operation: prepared.operation,
      variables,
      caller,
      filter: result.subscriptionSetup?.filter,
      invalidationFilter: result.subscriptionSetup?.invalidationFilter,
    });
    send(connection, { type: 'start_ack', id });
    this.log(`appsync: subscription ${id} to ${fieldName} started`);
  }

  private async deliver(subscription: LiveSubscription, payload: Record<string, unknown>): Promise<void> {
    const result = await this.executor.run(
      { document: subscription.document, operation: subscription.operation },
      subscription.caller,
      { phase: 'deliver', variables: subscription.variables, rootValue: { [subscription.fieldName]: payload } },
    );
    if (subscription.connection.subscriptions.get(subscription.id) === subscription) {
      send(subscription.connection, { type: 'data', id: subscription.id, payload: result.response });
    }
  }
}

/**
 * Applies AppSync's argument filtering: each argument that the subscriber set must equal the
 * field of the same name in the mutation's result.
 */
function argumentsMatch(args: Record<string, unknown>, payload: Record<string, unknown>): boolean {
  return Object.entries(args).every(([name, value]) =>
    value === null || value === undefined || JSON.stringify(payload[name]) === JSON.stringify(value));
}

function decodeHeaderParameter(value: string | null): Record<string, string | undefined> {
  if (!value) {
    throw new AuthenticationError('The connection URL has no header query parameter; set it to the base64-encoded JSON of the authorization headers.');
  }
  try {
    const headers = JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
    if (headers !== null && typeof headers === 'object') {
      return normalizeHeaders(headers);
    }
  } catch {
    // Reported below with the same message as a header that is JSON but not an object.
  }
  throw new AuthenticationError('The header query parameter is not base64-encoded JSON of the authorization headers.');
}

function send(connection: Connection, message: Record<string, unknown>): void {
  if (connection.webSocket.readyState === WebSocket.OPEN) {
    connection.webSocket.send(JSON.stringify(message));
  }
}
