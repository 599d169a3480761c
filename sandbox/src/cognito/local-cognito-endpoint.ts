import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { CognitoError, LocalUserPool, LocalUserPoolOptions } from './local-user-pool';

/** Options of a LocalCognitoEndpoint. */
export interface LocalCognitoEndpointOptions extends Omit<LocalUserPoolOptions, 'baseUrl'> {
  /** @default 0, any free port */
  readonly port?: number;
  /** Receives one line per sign-in and per rejected request. */
  readonly log?: (line: string) => void;
}

const TARGET_PREFIX = 'AWSCognitoIdentityProviderService.';
const MAX_BODY_BYTES = 64 * 1024;

/**
 * The HTTP front of a LocalUserPool on 127.0.0.1: the Cognito Identity Provider JSON API's
 * `InitiateAuth` (flows USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH), so a web client signs in
 * with the same request as against Cognito, and `GET /<userPoolId>/.well-known/jwks.json`.
 * The pool's issuer is this endpoint's URL, so the pool is created once the port is known.
 */
export class LocalCognitoEndpoint {
  public static async start(options: LocalCognitoEndpointOptions = {}): Promise<LocalCognitoEndpoint> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const userPool = new LocalUserPool({ ...options, baseUrl: url });
    return new LocalCognitoEndpoint(server, url, userPool, options.log ?? (() => undefined));
  }

  private constructor(
    private readonly server: Server,
    /** Endpoint URL for Cognito clients, such as `http://127.0.0.1:4001`. */
    public readonly url: string,
    public readonly userPool: LocalUserPool,
    private readonly log: (line: string) => void,
  ) {
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      this.handle(request, response).catch((error) => {
        this.log(`cognito: request failed: ${(error as Error).stack ?? String(error)}`);
        sendError(response, new CognitoError('InternalErrorException', 'The local user pool failed to process the request.', 500));
      });
    });
  }

  public async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    setCorsHeaders(response);
    if (request.method === 'OPTIONS') {
      response.writeHead(204).end();
      return;
    }
    const path = new URL(request.url ?? '/', this.url).pathname;
    if (request.method === 'GET' && path === `/${this.userPool.userPoolId}/.well-known/jwks.json`) {
      const jwks = JSON.stringify(this.userPool.jwks());
      response.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
      return;
    }
    if (request.method !== 'POST' || path !== '/') {
      response.writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ message: `${request.method} ${path} is not served; use POST / with X-Amz-Target, or GET /${this.userPool.userPoolId}/.well-known/jwks.json.` }));
      return;
    }

    const target = String(request.headers['x-amz-target'] ?? '');
    try {
      const body = await readBody(request);
      if (target !== `${TARGET_PREFIX}InitiateAuth`) {
        throw new CognitoError('UnknownOperationException', `Operation '${target}' is not supported by the local user pool; it supports ${TARGET_PREFIX}InitiateAuth.`);
      }
      const result = JSON.stringify(this.initiateAuth(parseJson(body)));
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(result);
    } catch (error) {
      if (!(error instanceof CognitoError)) {
        throw error;
      }
      this.log(`cognito: ${target} rejected: ${error.code}: ${error.message}`);
      sendError(response, error);
    }
  }

  private initiateAuth(input: Record<string, any>): Record<string, unknown> {
    if (input.ClientId !== this.userPool.clientId) {
      throw new CognitoError('ResourceNotFoundException', `User pool client ${String(input.ClientId)} does not exist.`);
    }
    const parameters: Record<string, unknown> = input.AuthParameters ?? {};
    switch (input.AuthFlow) {
      case 'USER_PASSWORD_AUTH': {
        if (typeof parameters.USERNAME !== 'string' || typeof parameters.PASSWORD !== 'string') {
          throw new CognitoError('InvalidParameterException', 'Missing required parameter USERNAME or PASSWORD in AuthParameters.');
        }
        const result = this.userPool.initiateAuth(parameters.USERNAME, parameters.PASSWORD);
        this.log(`cognito: ${parameters.USERNAME} signed in`);
        return { AuthenticationResult: result, ChallengeParameters: {} };
      }
      case 'REFRESH_TOKEN_AUTH':
      case 'REFRESH_TOKEN': {
        if (typeof parameters.REFRESH_TOKEN !== 'string') {
          throw new CognitoError('InvalidParameterException', 'Missing required parameter REFRESH_TOKEN in AuthParameters.');
        }
        return { AuthenticationResult: this.userPool.refresh(parameters.REFRESH_TOKEN), ChallengeParameters: {} };
      }
      default:
        throw new CognitoError('InvalidParameterException', `AuthFlow '${String(input.AuthFlow)}' is not supported by the local user pool; use USER_PASSWORD_AUTH or REFRESH_TOKEN_AUTH.`);
    }
  }
}

function setCorsHeaders(response: ServerResponse): void {
  response.setHeader('access-control-allow-origin', '*');
  response.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
  response.setHeader('access-control-allow-headers', 'content-type, x-amz-target, x-amz-user-agent, authorization, cache-control, amz-sdk-invocation-id, amz-sdk-request');
  response.setHeader('access-control-expose-headers', 'x-amzn-errortype, x-amzn-requestid');
}

function sendError(response: ServerResponse, error: CognitoError): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(error.statusCode, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': error.code })
    .end(JSON.stringify({ __type: error.code, message: error.message }));
}

function parseJson(body: string): Record<string, any> {
  try {
    const value = JSON.parse(body);
    if (value !== null && typeof value === 'object') {
      return value;
    }
  } catch {
    // Reported below with the same message as a body that is JSON but not an object.
  }
  throw new CognitoError('SerializationException', 'The request body is not a JSON object.');
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new CognitoError('InvalidParameterException', `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
