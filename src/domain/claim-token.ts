import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Claim tokens for auto-discovery. The cloud never trusts a bare user id from a device. The app
 * requests a token for the signed-in user, hands it to the device during Wi-Fi provisioning, and
 * the device sends it back in its capability document (`claimToken`).
 *
 * Format: `base64url(JSON payload) "." base64url(HMAC-SHA256 of the first part)`, without padding.
 * Single use is the caller's job: it records the token's `jti` with a conditional write and
 * rejects a `jti` that it has seen before.
 */

/** Version of the payload format. */
export const CLAIM_TOKEN_VERSION = 1;

/** Default lifetime of a claim token, in milliseconds. */
export const DEFAULT_CLAIM_TOKEN_TTL_MS = 15 * 60 * 1000;

/** Maximum lifetime of a claim token, in milliseconds. Verification rejects tokens issued for longer. */
export const MAX_CLAIM_TOKEN_TTL_MS = 60 * 60 * 1000;

/** How far `iat` may lie ahead of the verifier's clock, in milliseconds. */
export const CLAIM_TOKEN_CLOCK_SKEW_MS = 60 * 1000;

/** Minimum length of `claimToken` in contract/schemas/capabilities.schema.json. */
export const MIN_CLAIM_TOKEN_LENGTH = 16;

/** Maximum length of `claimToken` in contract/schemas/capabilities.schema.json. */
export const MAX_CLAIM_TOKEN_LENGTH = 1024;

/** Pattern of `claimToken` in contract/schemas/capabilities.schema.json. */
export const CLAIM_TOKEN_PATTERN = /^[A-Za-z0-9._-]+$/;

/** Minimum length of a signing key, in bytes: the length of an HMAC-SHA256 output. */
export const MIN_CLAIM_TOKEN_KEY_BYTES = 32;

/** Maximum length of the user id in a token, in characters. */
export const MAX_CLAIM_TOKEN_SUBJECT_LENGTH = 128;

/** Random bytes in a token id. 16 bytes are 128 bits and 22 base64url characters. */
const JTI_RANDOM_BYTES = 16;

const SIGNATURE_BYTES = 32;
const TOKEN_SHAPE = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;
const JTI_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/** A key for signing or verifying claim tokens. */
export type ClaimTokenKey = string | Buffer;

/** Payload of a claim token. Times are epoch milliseconds. */
export interface ClaimTokenPayload {
  readonly v: typeof CLAIM_TOKEN_VERSION;
  /** User id of the owner that the token was issued to. */
  readonly sub: string;
  /** Random token id, recorded by the caller to enforce single use. */
  readonly jti: string;
  /** Issue time. */
  readonly iat: number;
  /** Expiry time. The token is invalid from this time on. */
  readonly exp: number;
}

/** A newly issued token with the payload that it carries. */
export interface IssuedClaimToken {
  readonly token: string;
  readonly payload: ClaimTokenPayload;
}

// ---------------------------------------------------------------------------------------------
// Errors. Each has a stable `name`, which Step Functions Catch matches on.
// ---------------------------------------------------------------------------------------------

/** Thrown for a token that is not in the claim token format or has an unknown version. */
export class ClaimTokenMalformedError extends Error {
  public override readonly name = 'ClaimTokenMalformedError';
}

/** Thrown when no verification key produces the token's signature. */
export class ClaimTokenSignatureError extends Error {
  public override readonly name = 'ClaimTokenSignatureError';
}

/**
 * Thrown for a token outside its validity period: at or past `exp`, or with an `iat` more than
 * {@link CLAIM_TOKEN_CLOCK_SKEW_MS} ahead of the verifier's clock.
 */
export class ClaimTokenExpiredError extends Error {
  public override readonly name = 'ClaimTokenExpiredError';
}

/** Thrown for a missing or short key, an invalid time, or an invalid user id or lifetime when issuing. */
export class ClaimTokenInvalidArgumentError extends Error {
  public override readonly name = 'ClaimTokenInvalidArgumentError';
}

// ---------------------------------------------------------------------------------------------
// Issuing
// ---------------------------------------------------------------------------------------------

function assertValidKey(key: ClaimTokenKey, label: string): void {
  let keyBytes: number | undefined;
  if (typeof key === 'string') {
    keyBytes = Buffer.byteLength(key, 'utf8');
  } else if (Buffer.isBuffer(key)) {
    keyBytes = key.length;
  }
  if (keyBytes === undefined || keyBytes < MIN_CLAIM_TOKEN_KEY_BYTES) {
    throw new ClaimTokenInvalidArgumentError(
      `Invalid ${label}: expected a string or Buffer of at least ${MIN_CLAIM_TOKEN_KEY_BYTES} bytes, got ${keyBytes ?? typeof key}.`,
    );
  }
}

function sign(encodedPayload: string, key: ClaimTokenKey): Buffer {
  return createHmac('sha256', key).update(encodedPayload, 'ascii').digest();
}

/**
 * Issues a claim token for a user.
 *
 * @param userId the signed-in user's id, 1 to {@link MAX_CLAIM_TOKEN_SUBJECT_LENGTH} characters
 * @param key the current signing key, at least {@link MIN_CLAIM_TOKEN_KEY_BYTES} bytes
 * @param now issue time in epoch milliseconds
 * @param ttlMs lifetime in milliseconds, at most {@link MAX_CLAIM_TOKEN_TTL_MS}
 * @throws ClaimTokenInvalidArgumentError for an invalid user id, key, time or lifetime
 */
export function issueClaimToken(userId: string, key: ClaimTokenKey, now: number, ttlMs: number = DEFAULT_CLAIM_TOKEN_TTL_MS): IssuedClaimToken {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > MAX_CLAIM_TOKEN_SUBJECT_LENGTH) {
    throw new ClaimTokenInvalidArgumentError(`Invalid user id: expected 1 to ${MAX_CLAIM_TOKEN_SUBJECT_LENGTH} characters.`);
  }
  assertValidKey(key, 'claim token signing key');
  if (!Number.isSafeInteger(now) || now < 0) {
    throw new ClaimTokenInvalidArgumentError(`Invalid issue time ${now}: expected a non-negative integer epoch time in milliseconds.`);
  }
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_CLAIM_TOKEN_TTL_MS) {
    throw new ClaimTokenInvalidArgumentError(`Invalid claim token lifetime ${ttlMs}: expected 1 to ${MAX_CLAIM_TOKEN_TTL_MS} milliseconds.`);
  }

  const payload: ClaimTokenPayload = {
    v: CLAIM_TOKEN_VERSION,
    sub: userId,
    jti: randomBytes(JTI_RANDOM_BYTES).toString('base64url'),
    iat: now,
    exp: now + ttlMs,
  };
  const encodedPayload = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  const token = `${encodedPayload}.${sign(encodedPayload, key).toString('base64url')}`;

  // A user id of many multi-byte characters could push the token past the schema's limit.
  if (token.length > MAX_CLAIM_TOKEN_LENGTH) {
    throw new ClaimTokenInvalidArgumentError(
      `Claim token is ${token.length} characters, above the contract's limit of ${MAX_CLAIM_TOKEN_LENGTH}. Use a shorter user id.`,
    );
  }
  return { token, payload };
}

// ---------------------------------------------------------------------------------------------
// Verifying
// ---------------------------------------------------------------------------------------------

/** Decodes unpadded base64url and rejects any text that is not the canonical encoding of its bytes. */
function decodeBase64url(text: string, part: string): Buffer {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) {
    throw new ClaimTokenMalformedError(`Malformed claim token: the ${part} is not valid base64url.`);
  }
  return bytes;
}

function parsePayload(bytes: Buffer): ClaimTokenPayload {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ClaimTokenMalformedError('Malformed claim token: the payload is not UTF-8 JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ClaimTokenMalformedError('Malformed claim token: the payload is not a JSON object.');
  }

  const { v, sub, jti, iat, exp } = parsed as Record<string, unknown>;
  if (v !== CLAIM_TOKEN_VERSION) {
    throw new ClaimTokenMalformedError(`Unsupported claim token version ${JSON.stringify(v)}: expected ${CLAIM_TOKEN_VERSION}.`);
  }
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_CLAIM_TOKEN_SUBJECT_LENGTH) {
    throw new ClaimTokenMalformedError('Malformed claim token: sub is missing or invalid.');
  }
  if (typeof jti !== 'string' || !JTI_PATTERN.test(jti)) {
    throw new ClaimTokenMalformedError('Malformed claim token: jti is missing or invalid.');
  }
  if (typeof iat !== 'number' || !Number.isSafeInteger(iat) || iat < 0) {
    throw new ClaimTokenMalformedError('Malformed claim token: iat is missing or not an integer epoch time.');
  }
  if (typeof exp !== 'number' || !Number.isSafeInteger(exp) || exp <= iat) {
    throw new ClaimTokenMalformedError('Malformed claim token: exp is missing, not an integer epoch time or not after iat.');
  }
  if (exp - iat > MAX_CLAIM_TOKEN_TTL_MS) {
    throw new ClaimTokenMalformedError(`Malformed claim token: lifetime ${exp - iat} ms exceeds the maximum of ${MAX_CLAIM_TOKEN_TTL_MS} ms.`);
  }
  return { v, sub, jti, iat, exp };
}

/**
 * Verifies a claim token and returns its payload. The signature is checked before the payload is
 * parsed, with a constant-time comparison against each key.
 *
 * @param token the token from a capability document
 * @param keys the verification keys, current key first, then keys still accepted after a rotation
 * @param now verification time in epoch milliseconds
 * @throws ClaimTokenMalformedError for a token that is not in the format or has an unknown version
 * @throws ClaimTokenSignatureError when no key produces the signature
 * @throws ClaimTokenExpiredError for a token at or past `exp`, or issued more than 60 s in the future
 * @throws ClaimTokenInvalidArgumentError for a missing or short key
 */
export function verifyClaimToken(token: string, keys: ClaimTokenKey | readonly ClaimTokenKey[], now: number): ClaimTokenPayload {
  const keyList: readonly ClaimTokenKey[] = Array.isArray(keys) ? keys : [keys as ClaimTokenKey];
  if (keyList.length === 0) {
    throw new ClaimTokenInvalidArgumentError('No claim token verification key: pass at least the current key.');
  }
  keyList.forEach((key, index) => assertValidKey(key, `claim token verification key at index ${index}`));
  if (!Number.isFinite(now)) {
    throw new ClaimTokenInvalidArgumentError(`Invalid verification time ${now}: expected an epoch time in milliseconds.`);
  }

  if (typeof token !== 'string') {
    throw new ClaimTokenMalformedError(`Malformed claim token: expected a string, got ${typeof token}.`);
  }
  if (token.length < MIN_CLAIM_TOKEN_LENGTH || token.length > MAX_CLAIM_TOKEN_LENGTH) {
    throw new ClaimTokenMalformedError(
      `Malformed claim token: length ${token.length} is outside ${MIN_CLAIM_TOKEN_LENGTH} to ${MAX_CLAIM_TOKEN_LENGTH} characters.`,
    );
  }
  const shape = TOKEN_SHAPE.exec(token);
  if (shape === null) {
    throw new ClaimTokenMalformedError('Malformed claim token: expected two base64url parts separated by one dot.');
  }
  const [, encodedPayload, encodedSignature] = shape;
  const payloadBytes = decodeBase64url(encodedPayload, 'payload');
  const signature = decodeBase64url(encodedSignature, 'signature');
  if (signature.length !== SIGNATURE_BYTES) {
    throw new ClaimTokenMalformedError(`Malformed claim token: the signature has ${signature.length} bytes, expected ${SIGNATURE_BYTES}.`);
  }

  const signedByKnownKey = keyList.some((key) => timingSafeEqual(sign(encodedPayload, key), signature));
  if (!signedByKnownKey) {
    throw new ClaimTokenSignatureError('Invalid claim token signature: no verification key matches. Request a new token in the app.');
  }

  const payload = parsePayload(payloadBytes);
  if (now >= payload.exp) {
    throw new ClaimTokenExpiredError(`Claim token expired at ${payload.exp}, now is ${now}. Request a new token in the app.`);
  }
  if (payload.iat > now + CLAIM_TOKEN_CLOCK_SKEW_MS) {
    throw new ClaimTokenExpiredError(
      `Claim token issued in the future (iat ${payload.iat}, now ${now}), beyond the allowed clock skew of ${CLAIM_TOKEN_CLOCK_SKEW_MS} ms.`,
    );
  }
  return payload;
}
