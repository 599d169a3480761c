import { AuthMode, Caller } from './appsync-schema';
import { checkSigV4Signature, parseSigV4Authorization, SignedRequest } from './sigv4';
import { CognitoError, LocalUserPool } from '../cognito/local-user-pool';

/** The authenticated caller of a request, with the `ctx.identity` that resolvers receive. */
export interface RequestIdentity extends Caller {
  readonly identity: Record<string, unknown>;
}

/** Error of a request whose Authorization header is missing or invalid, which AppSync rejects with HTTP 401. */
export class AuthenticationError extends Error {
  public readonly errorType = 'UnauthorizedException';
}

/** Settings of the API that authenticate applies. */
export interface AuthenticationOptions {
  readonly modes: AuthMode[];
  readonly userPool: LocalUserPool;
  readonly userPoolDefaultAction: 'ALLOW' | 'DENY';
  /** Account id reported in `ctx.identity.accountId` of IAM callers. */
  readonly accountId: string;
  /** Secret access keys by access key id; with them, SigV4 signatures of HTTP requests are verified. */
  readonly iamCredentials?: Record<string, string>;
}

/**
 * Authenticates a request by its headers (names in lower case), as AppSync does: a SigV4
 * `AWS4-HMAC-SHA256` Authorization header is an IAM caller, any other value is a Cognito
 * token, verified with the user pool. `signedRequest` is the HTTP request that a SigV4
 * signature covers, so it can be verified.
 */
export function authenticate(
  headers: Record<string, string | undefined>,
  sourceIp: string,
  options: AuthenticationOptions,
  signedRequest?: SignedRequest,
): RequestIdentity {
  const authorization = headers.authorization;
  if (!authorization) {
    throw new AuthenticationError('Valid authorization header not provided.');
  }
  if (authorization.startsWith('AWS4-HMAC-SHA256')) {
    if (!options.modes.includes('AWS_IAM')) {
      throw new AuthenticationError('The API does not accept IAM (SigV4) authorization.');
    }
    return iamIdentity(authorization, headers, sourceIp, options, signedRequest);
  }
  if (!options.modes.includes('AMAZON_COGNITO_USER_POOLS')) {
    throw new AuthenticationError('The API does not accept Cognito user pool tokens.');
  }
  let claims: Record<string, unknown>;
  try {
    claims = options.userPool.verify(authorization);
  } catch (error) {
    if (error instanceof CognitoError) {
      throw new AuthenticationError(error.message);
    }
    throw error;
  }
  const groups = Array.isArray(claims['cognito:groups']) ? claims['cognito:groups'] as string[] : [];
  return {
    mode: 'AMAZON_COGNITO_USER_POOLS',
    groups,
    identity: {
      sub: claims.sub,
      issuer: claims.iss,
      username: claims['cognito:username'] ?? claims.username,
      claims,
      sourceIp: [sourceIp],
      defaultAuthStrategy: options.userPoolDefaultAction,
      groups: groups.length > 0 ? groups : null,
    },
  };
}

/**
 * Reads the caller of a SigV4-signed request from its Authorization header, and verifies the
 * signature when `iamCredentials` is set.
 * NOTE: without `iamCredentials`, the signature is checked for form only, so any well-formed
 * signature for service `appsync` is accepted. IAM policies are never evaluated, and `userArn`
 * is a placeholder built from the access key id.
 */
function iamIdentity(
  authorization: string,
  headers: Record<string, string | undefined>,
  sourceIp: string,
  options: AuthenticationOptions,
  signedRequest: SignedRequest | undefined,
): RequestIdentity {
  const parsed = parseSigV4Authorization(authorization);
  if (!parsed) {
    throw new AuthenticationError('The SigV4 Authorization header is malformed; expected AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/appsync/aws4_request, SignedHeaders=..., Signature=<64 hex digits>.');
  }
  const { accessKeyId, service, signedHeaders } = parsed;
  if (service !== 'appsync') {
    throw new AuthenticationError(`The request is signed for service '${service}'; sign it for 'appsync'.`);
  }
  if (!headers['x-amz-date']) {
    throw new AuthenticationError('The SigV4-signed request has no X-Amz-Date header.');
  }
  if (!signedHeaders.includes('host')) {
    throw new AuthenticationError('The SigV4 signature does not cover the host header.');
  }
  if (options.iamCredentials && signedRequest) {
    const secretAccessKey = options.iamCredentials[accessKeyId];
    if (secretAccessKey === undefined) {
      throw new AuthenticationError(`The security token included in the request is invalid: access key '${accessKeyId}' is not in the server's iamCredentials.`);
    }
    const failure = checkSigV4Signature(signedRequest, parsed, secretAccessKey);
    if (failure) {
      throw new AuthenticationError(failure);
    }
  }
  const accountId = options.accountId;
  return {
    mode: 'AWS_IAM',
    groups: [],
    identity: {
      accountId,
      cognitoIdentityPoolId: null,
      cognitoIdentityId: null,
      sourceIp: [sourceIp],
      username: accessKeyId,
      userArn: `arn:aws:sts::${accountId}:assumed-role/local/${accessKeyId}`,
      cognitoIdentityAuthType: null,
      cognitoIdentityAuthProvider: null,
    },
  };
}

/** Lower-cases header names and keeps the first value of repeated headers. */
export function normalizeHeaders(headers: Record<string, unknown>): Record<string, string | undefined> {
  const normalized: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) {
      normalized[name.toLowerCase()] = String(value[0]);
    } else if (value !== undefined) {
      normalized[name.toLowerCase()] = String(value);
    }
  }
  return normalized;
}
