import {
  evaluatePairingAttempt,
  formatPairingCode,
  generatePairingCode,
  hashPairingCode,
  MAX_PAIRING_ATTEMPTS,
  MIN_PAIRING_PEPPER_BYTES,
  normalizePairingCode,
  PAIRING_ATTEMPT_WINDOW_MS,
  PAIRING_CODE_ALPHABET,
  PAIRING_CODE_LENGTH,
  PAIRING_CODE_TTL_MS,
  PairingAttempt,
  PairingCodeExpiredError,
  PairingCodeInvalidError,
  PairingCodeNotFoundError,
  PairingCodeRecord,
  PairingCodeUsedError,
  PairingDeviceOwnedByAnotherUserError,
  PairingPepperInvalidError,
  pairingRejectionError,
  PairingRejectionReason,
  PairingTooManyAttemptsError,
} from '../../src/domain/pairing-codes';

const PEPPER = 'pepper-0123456789abcdef';
const ISSUED_AT = 1764892800000;
const USER = 'user-a';

function unusedRecord(overrides: Partial<PairingCodeRecord> = {}): PairingCodeRecord {
  return { deviceId: 'sh-SH-ESP32-000123', expiresAt: ISSUED_AT + PAIRING_CODE_TTL_MS, ...overrides };
}

function attempt(overrides: Partial<PairingAttempt> = {}): PairingAttempt {
  return { record: unusedRecord(), userId: USER, now: ISSUED_AT + 60_000, attemptsInWindow: 0, ...overrides };
}

describe('pairing constants', () => {
  test('code lifetime is 10 minutes', () => {
    expect(PAIRING_CODE_TTL_MS).toBe(10 * 60 * 1000);
  });

  test('five attempts per 15 minutes', () => {
    expect(MAX_PAIRING_ATTEMPTS).toBe(5);
    expect(PAIRING_ATTEMPT_WINDOW_MS).toBe(15 * 60 * 1000);
  });

  test('alphabet is Crockford base32', () => {
    expect(PAIRING_CODE_ALPHABET).toHaveLength(32);
    expect(new Set(PAIRING_CODE_ALPHABET).size).toBe(32);
    for (const letter of ['I', 'L', 'O', 'U']) {
      expect(PAIRING_CODE_ALPHABET).not.toContain(letter);
    }
  });
});

describe('generatePairingCode', () => {
  test('has display form and alphabet', () => {
    for (let i = 0; i < 200; i++) {
      const code = generatePairingCode();

      expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}$/);
      expect(normalizePairingCode(code)).toHaveLength(PAIRING_CODE_LENGTH);
    }
  });

  test('codes differ', () => {
    const codes = new Set(Array.from({ length: 1000 }, () => generatePairingCode()));

    expect(codes.size).toBe(1000);
  });

  test('uses every symbol', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      for (const symbol of normalizePairingCode(generatePairingCode())) {
        seen.add(symbol);
      }
    }

    // 2,000 draws miss one of 32 symbols with probability about 32 * (31/32)^2000, below 1e-25.
    expect(seen.size).toBe(32);
  });
});

describe('normalizePairingCode', () => {
  test.each([
    ['ABCD-EFGH-JK', 'ABCDEFGHJK'],
    ['abcd-efgh-jk', 'ABCDEFGHJK'],
    ['abcd efgh jk', 'ABCDEFGHJK'],
    [' ABCDEFGHJK ', 'ABCDEFGHJK'],
    ['a-b-c-d-e-f-g-h-j-k', 'ABCDEFGHJK'],
    ['0123 4567 89', '0123456789'],
    ['\tXYZV-WTSR-QP\n', 'XYZVWTSRQP'],
  ])('normalizes %j', (input, expected) => {
    expect(normalizePairingCode(input)).toBe(expected);
  });

  test.each([
    ['letter O', 'ABCD-EFGH-JO'],
    ['letter I', 'ABCD-EFGH-JI'],
    ['letter L', 'ABCD-EFGH-JL'],
    ['letter U', 'ABCD-EFGH-JU'],
    ['underscore', 'ABCD_EFGH_JK'],
    ['dot', 'ABCD.EFGH.JK'],
    ['non-ASCII letter', 'ÄBCD-EFGH-JK'],
  ])('rejects %s', (_case, input) => {
    expect(() => normalizePairingCode(input)).toThrow(PairingCodeInvalidError);
    expect(() => normalizePairingCode(input)).toThrow('is not allowed');
  });

  test.each([
    ['empty', ''],
    ['only dashes', '----'],
    ['too short', 'ABCD-EFGH-J'],
    ['too long', 'ABCD-EFGH-JKM'],
  ])('rejects %s input by length', (_case, input) => {
    expect(() => normalizePairingCode(input)).toThrow(PairingCodeInvalidError);
    expect(() => normalizePairingCode(input)).toThrow(`expected ${PAIRING_CODE_LENGTH} characters`);
  });

  test('rejects non-string input', () => {
    expect(() => normalizePairingCode(42 as unknown as string)).toThrow(PairingCodeInvalidError);
  });

  test('error message does not echo code', () => {
    expect(() => normalizePairingCode('SECR-ETCO-DEO')).toThrow(/^(?!.*SECR).*$/s);
  });

  test('error name is stable', () => {
    let caught: unknown;
    try {
      normalizePairingCode('nope');
    } catch (error) {
      caught = error;
    }

    expect((caught as Error).name).toBe('PairingCodeInvalidError');
  });
});

describe('formatPairingCode', () => {
  test('groups four, four and two', () => {
    expect(formatPairingCode('abcdefghjk')).toBe('ABCD-EFGH-JK');
  });

  test('reverses normalization', () => {
    const code = generatePairingCode();

    expect(formatPairingCode(normalizePairingCode(code))).toBe(code);
  });
});

describe('hashPairingCode', () => {
  test('is HMAC-SHA256 hex', () => {
    expect(hashPairingCode('ABCD-EFGH-JK', PEPPER)).toMatch(/^[0-9a-f]{64}$/);
  });

  test('matches for every input form', () => {
    const expected = hashPairingCode('ABCDEFGHJK', PEPPER);

    expect(hashPairingCode('ABCD-EFGH-JK', PEPPER)).toBe(expected);
    expect(hashPairingCode('abcd efgh jk', PEPPER)).toBe(expected);
  });

  test('differs by pepper', () => {
    expect(hashPairingCode('ABCD-EFGH-JK', PEPPER)).not.toBe(hashPairingCode('ABCD-EFGH-JK', `${PEPPER}-rotated`));
  });

  test('differs by code', () => {
    expect(hashPairingCode('ABCD-EFGH-JK', PEPPER)).not.toBe(hashPairingCode('ABCD-EFGH-JM', PEPPER));
  });

  test('does not contain code', () => {
    expect(hashPairingCode('ABCD-EFGH-JK', PEPPER)).not.toContain('abcdefghjk');
  });

  test('accepts Buffer pepper', () => {
    expect(hashPairingCode('ABCD-EFGH-JK', Buffer.from(PEPPER, 'utf8'))).toBe(hashPairingCode('ABCD-EFGH-JK', PEPPER));
  });

  test.each([
    ['empty', ''],
    ['short', 'x'.repeat(MIN_PAIRING_PEPPER_BYTES - 1)],
    ['undefined', undefined as unknown as string],
  ])('rejects %s pepper', (_case, pepper) => {
    expect(() => hashPairingCode('ABCD-EFGH-JK', pepper)).toThrow(PairingPepperInvalidError);
  });

  test('rejects invalid code', () => {
    expect(() => hashPairingCode('ABCD-EFGH-JO', PEPPER)).toThrow(PairingCodeInvalidError);
  });
});

describe('evaluatePairingAttempt', () => {
  test('links unused code', () => {
    expect(evaluatePairingAttempt(attempt())).toEqual({ outcome: 'LINK' });
  });

  test('links up to fifth attempt', () => {
    expect(evaluatePairingAttempt(attempt({ attemptsInWindow: MAX_PAIRING_ATTEMPTS - 1 }))).toEqual({ outcome: 'LINK' });
  });

  test('sixth attempt in window rejected', () => {
    const decisions = [];
    for (let failed = 0; failed <= MAX_PAIRING_ATTEMPTS; failed++) {
      decisions.push(evaluatePairingAttempt(attempt({ record: undefined, attemptsInWindow: failed })).reason);
    }

    expect(decisions).toEqual([
      'CODE_NOT_FOUND',
      'CODE_NOT_FOUND',
      'CODE_NOT_FOUND',
      'CODE_NOT_FOUND',
      'CODE_NOT_FOUND',
      'TOO_MANY_ATTEMPTS',
    ]);
  });

  test('attempt limit applies to valid code', () => {
    expect(evaluatePairingAttempt(attempt({ attemptsInWindow: MAX_PAIRING_ATTEMPTS }))).toEqual({
      outcome: 'REJECTED',
      reason: 'TOO_MANY_ATTEMPTS',
    });
  });

  test('unknown code not found', () => {
    expect(evaluatePairingAttempt(attempt({ record: undefined }))).toEqual({ outcome: 'REJECTED', reason: 'CODE_NOT_FOUND' });
  });

  test('code valid until ten minutes', () => {
    const justBefore = evaluatePairingAttempt(attempt({ now: ISSUED_AT + PAIRING_CODE_TTL_MS - 1 }));
    const atExpiry = evaluatePairingAttempt(attempt({ now: ISSUED_AT + PAIRING_CODE_TTL_MS }));
    const elevenMinutes = evaluatePairingAttempt(attempt({ now: ISSUED_AT + 11 * 60 * 1000 }));

    expect(justBefore).toEqual({ outcome: 'LINK' });
    expect(atExpiry).toEqual({ outcome: 'REJECTED', reason: 'CODE_EXPIRED' });
    expect(elevenMinutes).toEqual({ outcome: 'REJECTED', reason: 'CODE_EXPIRED' });
  });

  test('used code rejected', () => {
    const used = unusedRecord({ usedAt: ISSUED_AT + 30_000 });

    expect(evaluatePairingAttempt(attempt({ record: used }))).toEqual({ outcome: 'REJECTED', reason: 'CODE_USED' });
  });

  test('another owner rejected', () => {
    const owned = unusedRecord({ usedAt: ISSUED_AT + 30_000, ownerId: 'user-b' });

    expect(evaluatePairingAttempt(attempt({ record: owned }))).toEqual({ outcome: 'REJECTED', reason: 'OWNED_BY_ANOTHER_USER' });
  });

  test('another owner rejected with fresh code', () => {
    const owned = unusedRecord({ ownerId: 'user-b' });

    expect(evaluatePairingAttempt(attempt({ record: owned }))).toEqual({ outcome: 'REJECTED', reason: 'OWNED_BY_ANOTHER_USER' });
  });

  test('same owner is no-op', () => {
    const owned = unusedRecord({ usedAt: ISSUED_AT + 30_000, ownerId: USER });

    expect(evaluatePairingAttempt(attempt({ record: owned }))).toEqual({ outcome: 'ALREADY_LINKED' });
  });

  test('same owner no-op after expiry', () => {
    const owned = unusedRecord({ usedAt: ISSUED_AT + 30_000, ownerId: USER });

    expect(evaluatePairingAttempt(attempt({ record: owned, now: ISSUED_AT + 60 * 60 * 1000 }))).toEqual({ outcome: 'ALREADY_LINKED' });
  });

  test.each([
    ['empty user id', { userId: '' }],
    ['negative attempts', { attemptsInWindow: -1 }],
    ['fractional attempts', { attemptsInWindow: 1.5 }],
    ['NaN time', { now: Number.NaN }],
  ])('rejects %s', (_case, overrides) => {
    expect(() => evaluatePairingAttempt(attempt(overrides))).toThrow(TypeError);
  });
});

describe('pairingRejectionError', () => {
  test.each([
    ['CODE_NOT_FOUND', PairingCodeNotFoundError, 'PairingCodeNotFoundError'],
    ['CODE_EXPIRED', PairingCodeExpiredError, 'PairingCodeExpiredError'],
    ['CODE_USED', PairingCodeUsedError, 'PairingCodeUsedError'],
    ['TOO_MANY_ATTEMPTS', PairingTooManyAttemptsError, 'PairingTooManyAttemptsError'],
    ['OWNED_BY_ANOTHER_USER', PairingDeviceOwnedByAnotherUserError, 'PairingDeviceOwnedByAnotherUserError'],
  ] as const)('%s maps to typed error', (reason: PairingRejectionReason, errorClass, name) => {
    const error = pairingRejectionError(reason);

    expect(error).toBeInstanceOf(errorClass);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(name);
    expect(error.message.length).toBeGreaterThan(0);
  });

  test('too many attempts names wait time', () => {
    expect(pairingRejectionError('TOO_MANY_ATTEMPTS').message).toContain('15 minutes');
  });
});
