import { createHmac, randomInt } from 'node:crypto';

/**
 * Symbols of a pairing code: Crockford's base32 alphabet. It leaves out I and L, which read like
 * 1, O, which reads like 0, and U.
 */
export const PAIRING_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Number of symbols in a pairing code, which gives 50 random bits. */
export const PAIRING_CODE_LENGTH = 10;

/** Lifetime of a pairing code: its record's `expiresAt` is the issue time plus this, in milliseconds. */
export const PAIRING_CODE_TTL_MS = 10 * 60 * 1000;

/** Failed attempts that one user may make within {@link PAIRING_ATTEMPT_WINDOW_MS}. The next attempt is rejected. */
export const MAX_PAIRING_ATTEMPTS = 5;

/** Sliding window in which failed attempts are counted, in milliseconds. */
export const PAIRING_ATTEMPT_WINDOW_MS = 15 * 60 * 1000;

/** Minimum length of the server-side pepper, in bytes. */
export const MIN_PAIRING_PEPPER_BYTES = 16;

/** Sizes of the groups in the display form, such as `ABCD-EFGH-JK`. */
const DISPLAY_GROUPS = [4, 4, 2];

// ---------------------------------------------------------------------------------------------
// Errors. Each has a stable `name`, which Step Functions Catch matches on.
// ---------------------------------------------------------------------------------------------

/** Thrown for input that is not a pairing code. */
export class PairingCodeInvalidError extends Error {
  public override readonly name = 'PairingCodeInvalidError';
}

/** Thrown for a pepper that is missing or too short. */
export class PairingPepperInvalidError extends Error {
  public override readonly name = 'PairingPepperInvalidError';
}

/** Thrown when no device has the pairing code. */
export class PairingCodeNotFoundError extends Error {
  public override readonly name = 'PairingCodeNotFoundError';
}

/** Thrown when the pairing code's lifetime has passed. */
export class PairingCodeExpiredError extends Error {
  public override readonly name = 'PairingCodeExpiredError';
}

/** Thrown when the pairing code has already linked a device. */
export class PairingCodeUsedError extends Error {
  public override readonly name = 'PairingCodeUsedError';
}

/** Thrown when the user has made too many failed attempts within the attempt window. */
export class PairingTooManyAttemptsError extends Error {
  public override readonly name = 'PairingTooManyAttemptsError';
}

/** Thrown when the device is linked to another user. */
export class PairingDeviceOwnedByAnotherUserError extends Error {
  public override readonly name = 'PairingDeviceOwnedByAnotherUserError';
}

// ---------------------------------------------------------------------------------------------
// Codes
// ---------------------------------------------------------------------------------------------

/** Groups a normalized code for display, for example `ABCDEFGHJK` as `ABCD-EFGH-JK`. */
export function formatPairingCode(code: string): string {
  const normalized = normalizePairingCode(code);
  const groups: string[] = [];
  let start = 0;
  for (const size of DISPLAY_GROUPS) {
    groups.push(normalized.slice(start, start + size));
    start += size;
  }
  return groups.join('-');
}

/**
 * Generates a pairing code from a cryptographically secure random source, in the display form
 * (`ABCD-EFGH-JK`). Store only {@link hashPairingCode} of it.
 */
export function generatePairingCode(): string {
  let code = '';
  for (let i = 0; i < PAIRING_CODE_LENGTH; i++) {
    code += PAIRING_CODE_ALPHABET[randomInt(PAIRING_CODE_ALPHABET.length)];
  }
  return formatPairingCode(code);
}

/**
 * Normalizes user input to the canonical code: upper case, with spaces and dashes removed.
 *
 * @throws PairingCodeInvalidError when the input has another character or the wrong length
 */
export function normalizePairingCode(input: string): string {
  if (typeof input !== 'string') {
    throw new PairingCodeInvalidError(`Invalid pairing code: expected a string, got ${typeof input}.`);
  }

  const normalized = input.toUpperCase().replace(/[\s-]/g, '');

  // The message names the offending character but never echoes the code, which is a secret.
  for (let position = 0; position < normalized.length; position++) {
    const character = normalized[position];
    if (!PAIRING_CODE_ALPHABET.includes(character)) {
      throw new PairingCodeInvalidError(
        `Invalid pairing code: character ${JSON.stringify(character)} is not allowed. ` +
        'Codes use the digits 0-9 and the letters A-Z except I, L, O and U. Check the code on the device and try again.',
      );
    }
  }
  if (normalized.length !== PAIRING_CODE_LENGTH) {
    throw new PairingCodeInvalidError(
      `Invalid pairing code: expected ${PAIRING_CODE_LENGTH} characters without spaces and dashes, got ${normalized.length}. ` +
      'Check the code on the device and try again.',
    );
  }
  return normalized;
}

/**
 * Computes the HMAC-SHA256 (lowercase hex) of the normalized code, keyed with a server-side
 * pepper. The registry stores only this value, so a leaked table does not reveal the codes
 * without the pepper.
 *
 * @param code a code in display or normalized form
 * @param pepper secret of at least {@link MIN_PAIRING_PEPPER_BYTES} bytes
 * @throws PairingCodeInvalidError for input that is not a pairing code
 * @throws PairingPepperInvalidError for a pepper shorter than the minimum
 */
export function hashPairingCode(code: string, pepper: string | Buffer): string {
  const pepperBytes = typeof pepper === 'string' ? Buffer.byteLength(pepper, 'utf8') : pepper?.length;
  if (pepperBytes === undefined || pepperBytes < MIN_PAIRING_PEPPER_BYTES) {
    throw new PairingPepperInvalidError(
      `Invalid pairing code pepper: expected at least ${MIN_PAIRING_PEPPER_BYTES} bytes, got ${pepperBytes ?? 'none'}.`,
    );
  }
  return createHmac('sha256', pepper).update(normalizePairingCode(code), 'utf8').digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Attempts
// ---------------------------------------------------------------------------------------------

/** Stored state of a pairing code, joined with the current owner of its device. */
export interface PairingCodeRecord {
  /** Device that the code links, which is its AWS IoT thing name. */
  readonly deviceId: string;
  /** End of the code's lifetime in epoch milliseconds, normally issue time plus {@link PAIRING_CODE_TTL_MS}. */
  readonly expiresAt: number;
  /** Time the code linked the device, in epoch milliseconds. Absent while the code is unused. */
  readonly usedAt?: number;
  /** User the device is linked to. Absent while the device has no owner. */
  readonly ownerId?: string;
}

/** Reasons for rejecting a pairing attempt. */
export type PairingRejectionReason =
  | 'CODE_NOT_FOUND'
  | 'CODE_EXPIRED'
  | 'CODE_USED'
  | 'TOO_MANY_ATTEMPTS'
  | 'OWNED_BY_ANOTHER_USER';

/** Decision on a pairing attempt. `ALREADY_LINKED` is a no-op because the user already owns the device. */
export type PairingDecision =
  | { readonly outcome: 'LINK'; readonly reason?: undefined }
  | { readonly outcome: 'ALREADY_LINKED'; readonly reason?: undefined }
  | { readonly outcome: 'REJECTED'; readonly reason: PairingRejectionReason };

/** Input of {@link evaluatePairingAttempt}. */
export interface PairingAttempt {
  /** Record found under the code's hash, or undefined when there is none. */
  readonly record: PairingCodeRecord | undefined;
  /** User who entered the code. */
  readonly userId: string;
  /** Time of the attempt in epoch milliseconds. */
  readonly now: number;
  /**
   * Failed attempts (outcome `REJECTED`) by this user within the {@link PAIRING_ATTEMPT_WINDOW_MS}
   * before this attempt, not counting this one.
   */
  readonly attemptsInWindow: number;
}

/**
 * Decides whether a pairing attempt links the device. The attempt limit is checked first, so a
 * user who reached it learns nothing about further codes. The owner checks come before the code's
 * state, so a retried `addDevice` by the owner is `ALREADY_LINKED` even after the code was used
 * or expired.
 */
export function evaluatePairingAttempt(attempt: PairingAttempt): PairingDecision {
  const { record, userId, now, attemptsInWindow } = attempt;
  if (typeof userId !== 'string' || userId.length === 0) {
    throw new TypeError('evaluatePairingAttempt: userId must be a non-empty string.');
  }
  if (!Number.isSafeInteger(attemptsInWindow) || attemptsInWindow < 0) {
    throw new TypeError(`evaluatePairingAttempt: attemptsInWindow must be a non-negative integer, got ${attemptsInWindow}.`);
  }
  if (!Number.isFinite(now)) {
    throw new TypeError(`evaluatePairingAttempt: now must be a finite epoch time in milliseconds, got ${now}.`);
  }

  if (attemptsInWindow >= MAX_PAIRING_ATTEMPTS) {
    return { outcome: 'REJECTED', reason: 'TOO_MANY_ATTEMPTS' };
  }
  if (record === undefined) {
    return { outcome: 'REJECTED', reason: 'CODE_NOT_FOUND' };
  }
  if (record.ownerId === userId) {
    return { outcome: 'ALREADY_LINKED' };
  }
  if (record.ownerId !== undefined) {
    return { outcome: 'REJECTED', reason: 'OWNED_BY_ANOTHER_USER' };
  }
  if (record.usedAt !== undefined) {
    return { outcome: 'REJECTED', reason: 'CODE_USED' };
  }
  if (now >= record.expiresAt) {
    return { outcome: 'REJECTED', reason: 'CODE_EXPIRED' };
  }
  return { outcome: 'LINK' };
}

/** Returns the typed error for a rejection, for a handler that reports it by throwing. */
export function pairingRejectionError(reason: PairingRejectionReason): Error {
  switch (reason) {
    case 'CODE_NOT_FOUND':
      return new PairingCodeNotFoundError('Pairing code not found. Check the code on the device and try again.');
    case 'CODE_EXPIRED':
      return new PairingCodeExpiredError('Pairing code expired. Get a new code from the device and try again.');
    case 'CODE_USED':
      return new PairingCodeUsedError('Pairing code already used. Each code links a device once, so get a new code from the device.');
    case 'TOO_MANY_ATTEMPTS':
      return new PairingTooManyAttemptsError(
        `Too many failed pairing attempts. Wait up to ${PAIRING_ATTEMPT_WINDOW_MS / 60_000} minutes and try again.`,
      );
    case 'OWNED_BY_ANOTHER_USER':
      return new PairingDeviceOwnedByAnotherUserError(
        'The device is linked to another user. That user must remove it before it can be added.',
      );
  }
}
