import { randomUUID } from 'node:crypto';
import { RawData, WebSocket } from 'ws';
import { signSigV4, SigningCredentials } from './sigv4';

/** Options of an AppSyncClient. */
export interface AppSyncClientOptions {
  readonly graphqlUrl: string;
  readonly realtimeUrl: string;
  /** A Cognito ID or access token, sent as the Authorization header. */
  readonly token?: string;
  /** Authorization headers to send instead of a token. */
  readonly authorization?: Record<string, string>;
  /** IAM credentials that sign every request with SigV4, as an IAM caller of AppSync does. */
  readonly iam?: SigningCredentials & { readonly region?: string };
  /** Maximum wait for connection_ack and start_ack, in milliseconds. @default 10000 */
  readonly timeoutMs?: number;
}

/** One error of a GraphQL response, in AppSync's shape. */
export interface GraphQlErrorEntry {
  readonly message: string;
  readonly errorType?: string | null;
  readonly path?: readonly (string | number)[] | null;
  readonly data?: unknown;
  readonly errorInfo?: unknown;
}

/** Error of a request whose response has errors; `errors` lists them and `data` contains any partial result. */
export class GraphQlRequestError extends Error {
  constructor(public readonly errors: GraphQlErrorEntry[], public readonly data?: unknown, public readonly status?: number) {
    super(errors.map((error) => (error.errorType ? `${error.errorType}: ${error.message}` : error.message)).join('; ') || 'The GraphQL request failed without an error message.');
    this.name = 'GraphQlRequestError';
  }
}

/** A running subscription. */
export interface SubscriptionHandle {
  /** Sends `stop` and closes the subscription's connection. */
  close(): void;
}

/**
 * A small AppSync client: queries and mutations over HTTP, and subscriptions over the
 * real-time WebSocket protocol, one connection per subscription.
 */
export class AppSyncClient {
  constructor(private readonly options: AppSyncClientOptions) {}

  /** Sends a query or mutation and returns its data; throws GraphQlRequestError when the response has errors. */
  public async request<T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const body = JSON.stringify({ query, variables });
    const url = new URL(this.options.graphqlUrl);
    const response = await fetch(url, {
      method: 'POST',
      headers: this.authorizationHeaders(`${url.pathname}${url.search}`, body, { 'content-type': 'application/json' }),
      body,
    });
    const result = await response.json() as { data?: T; errors?: GraphQlErrorEntry[] };
    if (!response.ok || (result.errors && result.errors.length > 0)) {
      throw new GraphQlRequestError(result.errors ?? [{ message: `HTTP ${response.status}` }], result.data, response.status);
    }
    return result.data as T;
  }

  /**
   * Starts a subscription and resolves once the server acknowledges it with start_ack. `onData`
   * receives each message's `payload` (`{ data, errors? }`); `onEnd` runs when the server ends
   * the subscription (a `complete` message, for example after an invalidation), when the
   * connection closes or after `close()`, with the error if one ended it.
   */
  public async subscribe(
    query: string,
    variables: Record<string, unknown>,
    onData: (payload: { data: any; errors?: GraphQlErrorEntry[] }) => void,
    onEnd?: (error?: Error) => void,
  ): Promise<SubscriptionHandle> {
    // AppSync's IAM signing of real-time messages: the connection signs POST /graphql/connect
    // with body {}, and a start message signs POST /graphql with its payload.data as body.
    const realtimeHeaders = { 'accept': 'application/json, text/javascript', 'content-encoding': 'amz-1.0', 'content-type': 'application/json; charset=UTF-8' };
    const data = JSON.stringify({ query, variables });
    const connectionHeaders = this.authorizationHeaders('/graphql/connect', '{}', realtimeHeaders);
    const authorization = this.authorizationHeaders('/graphql', data, realtimeHeaders);
    const url = new URL(this.options.realtimeUrl);
    url.searchParams.set('header', Buffer.from(JSON.stringify(connectionHeaders)).toString('base64'));
    url.searchParams.set('payload', Buffer.from('{}').toString('base64'));
    const webSocket = new WebSocket(url, 'graphql-ws');
    const id = randomUUID();
    const timeoutMs = this.options.timeoutMs ?? 10_000;

    let settled = false;
    let ended = false;
    const end = (error?: Error) => {
      if (!ended) {
        ended = true;
        onEnd?.(error);
      }
    };

    return new Promise<SubscriptionHandle>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`The real-time endpoint ${this.options.realtimeUrl} did not acknowledge the subscription within ${timeoutMs} ms.`)), timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        webSocket.close();
        if (!settled) {
          settled = true;
          reject(error);
        } else {
          end(error);
        }
      };
      const handle: SubscriptionHandle = {
        close: () => {
          if (webSocket.readyState === WebSocket.OPEN) {
            webSocket.send(JSON.stringify({ type: 'stop', id }));
          }
          webSocket.close();
        },
      };

      webSocket.on('open', () => webSocket.send(JSON.stringify({ type: 'connection_init' })));
      webSocket.on('error', (error) => fail(error));
      webSocket.on('close', () => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          reject(new Error(`The real-time connection to ${this.options.realtimeUrl} closed before the subscription started.`));
        }
        end();
      });
      webSocket.on('message', (raw: RawData) => {
        const message = JSON.parse(raw.toString());
        switch (message.type) {
          case 'connection_ack':
            webSocket.send(JSON.stringify({
              id,
              type: 'start',
              payload: { data, extensions: { authorization } },
            }));
            return;
          case 'start_ack':
            if (message.id === id) {
              clearTimeout(timer);
              settled = true;
              resolve(handle);
            }
            return;
          case 'data':
            if (message.id === id) {
              onData(message.payload);
            }
            return;
          case 'complete':
            if (message.id === id) {
              end();
              webSocket.close();
            }
            return;
          case 'connection_error':
          case 'error':
            fail(new GraphQlRequestError(message.payload?.errors ?? [{ message: `${message.type} without errors` }]));
            return;
          default:
            // `ka` and messages of other subscriptions need no action.
        }
      });
    });
  }

  /** Returns the headers of a request to the API's host, with its authorization for `path` and `body`. */
  private authorizationHeaders(path: string, body: string, headers: Record<string, string>): Record<string, string> {
    const host = new URL(this.options.graphqlUrl).host;
    if (this.options.iam) {
      const { region, ...credentials } = this.options.iam;
      return signSigV4({ method: 'POST', url: path, headers: { ...headers, host }, body }, credentials, region ?? 'us-east-1', 'appsync');
    }
    if (this.options.authorization) {
      return { ...headers, host, ...this.options.authorization };
    }
    return this.options.token ? { ...headers, host, Authorization: this.options.token } : { ...headers, host };
  }
}
