import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The parts of an HTTP request that a SigV4 signature covers. */
export interface SignedRequest {
  readonly method: string;
  /** Path and query string as the request line has them, such as `/graphql`. */
  readonly url: string;
  /** Headers with lower-case names. */
  readonly headers: Record<string, string | undefined>;
  readonly body: string;
}

/** Fields of a SigV4 Authorization header. */
export interface SigV4Authorization {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: string[];
  readonly signature: string;
}

const AUTHORIZATION_PATTERN = /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

/** Maximum difference between X-Amz-Date and the server's clock that AWS accepts: 15 minutes. */
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

/** Parses a SigV4 Authorization header, or returns undefined when it is malformed. */
export function parseSigV4Authorization(value: string): SigV4Authorization | undefined {
  const match = AUTHORIZATION_PATTERN.exec(value);
  if (!match) {
    return undefined;
  }
  const [, accessKeyId, date, region, service, signedHeaders, signature] = match;
  return { accessKeyId, date, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

/**
 * Checks a SigV4 signature (header form, unsigned query string) against a secret access key.
 * Returns the reason it fails, or undefined when it is valid.
 */
export function checkSigV4Signature(
  request: SignedRequest,
  authorization: SigV4Authorization,
  secretAccessKey: string,
  now = Date.now(),
): string | undefined {
  const amzDate = request.headers['x-amz-date'] ?? '';
  const signedAt = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  if (Number.isNaN(signedAt) || !amzDate.startsWith(authorization.date)) {
    return `X-Amz-Date '${amzDate}' is not a date of the form YYYYMMDDTHHMMSSZ on the credential date ${authorization.date}.`;
  }
  if (Math.abs(now - signedAt) > MAX_CLOCK_SKEW_MS) {
    return `Signature expired: X-Amz-Date ${amzDate} is more than 15 minutes from the server time ${new Date(now).toISOString()}.`;
  }

  const declaredHash = request.headers['x-amz-content-sha256'];
  if (declaredHash !== undefined && declaredHash !== sha256Hex(request.body)) {
    return `X-Amz-Content-SHA256 '${declaredHash}' is not the SHA-256 of the request body.`;
  }
  const expected = computeSignature(request, authorization, secretAccessKey);
  if (!timingSafeEqual(expected, Buffer.from(authorization.signature, 'hex'))) {
    return 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.';
  }
  return undefined;
}

/** AWS credentials that signSigV4 signs with. */
export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/**
 * Signs a request for a service with SigV4 in header form. Returns the headers to send:
 * the request's headers plus X-Amz-Date, X-Amz-Security-Token (with a session token) and
 * Authorization. The request's headers must include `host`.
 */
export function signSigV4(
  request: SignedRequest,
  credentials: SigningCredentials,
  region: string,
  service: string,
  now = new Date(),
): Record<string, string> {
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) {
      headers[name.toLowerCase()] = value;
    }
  }
  headers['x-amz-date'] = amzDate;
  if (credentials.sessionToken) {
    headers['x-amz-security-token'] = credentials.sessionToken;
  }
  const authorization: SigV4Authorization = {
    accessKeyId: credentials.accessKeyId,
    date: amzDate.slice(0, 8),
    region,
    service,
    signedHeaders: Object.keys(headers).sort(),
    signature: '',
  };
  const signature = computeSignature({ ...request, headers }, authorization, credentials.secretAccessKey).toString('hex');
  const scope = `${authorization.date}/${region}/${service}/aws4_request`;
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${authorization.signedHeaders.join(';')}, Signature=${signature}`;
  return headers;
}

function computeSignature(request: SignedRequest, authorization: SigV4Authorization, secretAccessKey: string): Buffer {
  const [path, query = ''] = request.url.split('?');
  const canonicalHeaders = authorization.signedHeaders
    .map((name) => `${name}:${(request.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    request.method,
    canonicalPath(path),
    canonicalQuery(query),
    canonicalHeaders,
    authorization.signedHeaders.join(';'),
    sha256Hex(request.body),
  ].join('\n');
  const scope = `${authorization.date}/${authorization.region}/${authorization.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', request.headers['x-amz-date'] ?? '', scope, sha256Hex(canonicalRequest)].join('\n');

  let key: Buffer = hmac(`AWS4${secretAccessKey}`, authorization.date);
  for (const part of [authorization.region, authorization.service, 'aws4_request']) {
    key = hmac(key, part);
  }
  return hmac(key, stringToSign);
}

function canonicalPath(path: string): string {
  return path.split('/').map((segment) => encodeRfc3986(encodeRfc3986(decodeURIComponent(segment)))).join('/') || '/';
}

function canonicalQuery(query: string): string {
  if (!query) {
    return '';
  }
  return query.split('&')
    .map((pair) => pair.split('=').map((part) => encodeRfc3986(decodeURIComponent(part.replace(/\+/g, ' ')))))
    .sort(compareByteOrder)
    .map(([name, value = '']) => `${name}=${value}`)
    .join('&');
}

/** Orders encoded query parameters by name, then value, in code-point order as SigV4 requires. */
function compareByteOrder([name, value = '']: string[], [otherName, otherValue = '']: string[]): number {
  const left = `${name}\u0000${value}`;
  const right = `${otherName}\u0000${otherValue}`;
  if (left === right) {
    return 0;
  }
  return left < right ? -1 : 1;
}

function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

function hmac(key: string | Buffer, value: string): Buffer {
  return createHmac('sha256', key).update(value, 'utf8').digest();
}
