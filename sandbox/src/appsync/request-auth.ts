import { AuthMode, Caller } from './appsync-schema';
import { CognitoError, LocalUserPool } from '../cognito/local-user-pool';

/** The authenticated caller of a request, with the `ctx.identity` that resolvers receive. */
export interface RequestIdentity extends Caller {
  readonly identity: Record<string, unknown>;
}

/** A request whose Authorization header is missing or invalid; AppSync answers HTTP 401. */
export class AuthenticationError extends Error {
  public readonly errorType = 'UnauthorizedException';
}

/** What authenticate needs to know about the API. */
export interface AuthenticationOptions {
  readonly modes: AuthMode[];
  readonly userPool: LocalUserPool;
  readonly userPoolDefaultAction: 'ALLOW' | 'DENY';
  /** Account id reported in `ctx.identity.accountId` of IAM callers. */
  readonly accountId: string;
}

const SIGV4_PATTERN = /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

/**
 * Authenticates a request by its headers (names in lower case), as AppSync does: a SigV4
 * `AWS4-HMAC-SHA256` Authorization header is an IAM caller, any other value is a Cognito
 * token, verified with the user pool.
 */
export function authenticate(headers: Record<string, string | undefined>, sourceIp: string, options: AuthenticationOptions): RequestIdentity {
  const authorization = headers.authorization;
  if (!authorization) {
    throw new AuthenticationError('Valid authorization header not provided.');
  }
  if (authorization.startsWith('AWS4-HMAC-SHA256')) {
    if (!options.modes.includes('AWS_IAM')) {
      throw new AuthenticationError('The API does not accept IAM (SigV4) authorization.');
    }
    return iamIdentity(authorization, headers, sourceIp, options.accountId);
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
 * Reads the caller of a SigV4-signed request from its Authorization header.
 * NOTE: the signature is checked for form only, not verified, because the local server does not
 * know the caller's secret key; any well-formed signature for service `appsync` is accepted, and
 * `userArn` is a placeholder built from the access key id.
 */
function iamIdentity(authorization: string, headers: Record<string, string | undefined>, sourceIp: string, accountId: string): RequestIdentity {
  const match = SIGV4_PATTERN.exec(authorization);
  if (!match) {
    throw new AuthenticationError('The SigV4 Authorization header is malformed; expected AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/appsync/aws4_request, SignedHeaders=..., Signature=<64 hex digits>.');
  }
  const [, accessKeyId, , , service, signedHeaders] = match;
  if (service !== 'appsync') {
    throw new AuthenticationError(`The request is signed for service '${service}'; sign it for 'appsync'.`);
  }
  if (!headers['x-amz-date']) {
    throw new AuthenticationError('The SigV4-signed request has no X-Amz-Date header.');
  }
  if (!signedHeaders.split(';').includes('host')) {
    throw new AuthenticationError('The SigV4 signature does not cover the host header.');
  }
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
    normalized[name.toLowerCase()] = Array.isArray(value) ? String(value[0]) : value === undefined ? undefined : String(value);
  }
  return normalized;
}
