import { createHmac, randomBytes } from 'node:crypto';
import {
  CLAIM_TOKEN_CLOCK_SKEW_MS,
  CLAIM_TOKEN_PATTERN,
  ClaimTokenExpiredError,
  ClaimTokenInvalidArgumentError,
  ClaimTokenMalformedError,
  ClaimTokenSignatureError,
  DEFAULT_CLAIM_TOKEN_TTL_MS,
  issueClaimToken,
  MAX_CLAIM_TOKEN_LENGTH,
  MAX_CLAIM_TOKEN_SUBJECT_LENGTH,
  MAX_CLAIM_TOKEN_TTL_MS,
  MIN_CLAIM_TOKEN_LENGTH,
  verifyClaimToken,
} from '../../src/domain/claim-token';
import { validateContract } from '../../src/domain/contract-validation';

const KEY = randomBytes(32);
const PREVIOUS_KEY = randomBytes(32);
const NOW = 1764892800000;
const USER = '3f1c2a4e-8b7d-4c6a-9e21-5d4b3a2c1f00';

/** Signs an arbitrary payload the way issueClaimToken does, to build tokens it would never issue. */
function signRaw(payload: unknown, key: Buffer = KEY): string {
  const encoded = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8').toString('base64url');
  return `${encoded}.${createHmac('sha256', key).update(encoded).digest('base64url')}`;
}

function validPayload(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { v: 1, sub: USER, jti: 'AbCdEfGhIjKlMnOpQrStUv', iat: NOW, exp: NOW + DEFAULT_CLAIM_TOKEN_TTL_MS, ...overrides };
}

function thrownBy(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the action to throw');
}

describe('issueClaimToken', () => {
  test('payload has default lifetime', () => {
    const { payload } = issueClaimToken(USER, KEY, NOW);

    expect(payload.v).toBe(1);
    expect(payload.sub).toBe(USER);
    expect(payload.iat).toBe(NOW);
    expect(payload.exp).toBe(NOW + 15 * 60 * 1000);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  test('custom lifetime sets exp', () => {
    const { payload } = issueClaimToken(USER, KEY, NOW, 5 * 60 * 1000);

    expect(payload.exp).toBe(NOW + 5 * 60 * 1000);
  });

  test('accepts one-hour lifetime', () => {
    const { payload } = issueClaimToken(USER, KEY, NOW, MAX_CLAIM_TOKEN_TTL_MS);

    expect(payload.exp - payload.iat).toBe(60 * 60 * 1000);
  });

  test('jti differs per token', () => {
    const ids = new Set(Array.from({ length: 500 }, () => issueClaimToken(USER, KEY, NOW).payload.jti));

    expect(ids.size).toBe(500);
  });

  test('token has two base64url parts', () => {
    const { token } = issueClaimToken(USER, KEY, NOW);

    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  });

  test.each([
    ['lifetime above one hour', () => issueClaimToken(USER, KEY, NOW, MAX_CLAIM_TOKEN_TTL_MS + 1)],
    ['zero lifetime', () => issueClaimToken(USER, KEY, NOW, 0)],
    ['fractional lifetime', () => issueClaimToken(USER, KEY, NOW, 1.5)],
    ['empty user id', () => issueClaimToken('', KEY, NOW)],
    ['long user id', () => issueClaimToken('u'.repeat(MAX_CLAIM_TOKEN_SUBJECT_LENGTH + 1), KEY, NOW)],
    ['short key', () => issueClaimToken(USER, 'too-short-key', NOW)],
    ['negative time', () => issueClaimToken(USER, KEY, -1)],
    ['user id escaping past schema limit', () => issueClaimToken('\u0001'.repeat(MAX_CLAIM_TOKEN_SUBJECT_LENGTH), KEY, NOW)],
  ])('rejects %s', (_case, action) => {
    const error = thrownBy(action);

    expect(error).toBeInstanceOf(ClaimTokenInvalidArgumentError);
    expect(error.name).toBe('ClaimTokenInvalidArgumentError');
  });
});

describe('verifyClaimToken', () => {
  test('round trip returns payload', () => {
    const issued = issueClaimToken(USER, KEY, NOW);

    expect(verifyClaimToken(issued.token, KEY, NOW + 1000)).toEqual(issued.payload);
  });

  test('accepts string key', () => {
    const key = 'a-string-key-of-at-least-32-bytes!!';
    const issued = issueClaimToken(USER, key, NOW);

    expect(verifyClaimToken(issued.token, key, NOW).sub).toBe(USER);
  });

  test('accepts non-ASCII user id', () => {
    const issued = issueClaimToken('usuário-ü-€', KEY, NOW);

    expect(verifyClaimToken(issued.token, KEY, NOW).sub).toBe('usuário-ü-€');
  });

  test('tampered payload fails signature', () => {
    const { token } = issueClaimToken(USER, KEY, NOW);
    const [, signature] = token.split('.');
    const forgedPayload = Buffer.from(JSON.stringify(validPayload({ sub: 'attacker' }))).toString('base64url');

    expect(() => verifyClaimToken(`${forgedPayload}.${signature}`, KEY, NOW)).toThrow(ClaimTokenSignatureError);
  });

  test('tampered signature fails', () => {
    const { token } = issueClaimToken(USER, KEY, NOW);
    const [payload, signature] = token.split('.');
    const replacement = signature[10] === 'A' ? 'B' : 'A';
    const tampered = `${payload}.${signature.slice(0, 10)}${replacement}${signature.slice(11)}`;

    expect(() => verifyClaimToken(tampered, KEY, NOW)).toThrow(ClaimTokenSignatureError);
  });

  test('wrong key fails signature', () => {
    const { token } = issueClaimToken(USER, KEY, NOW);

    expect(() => verifyClaimToken(token, randomBytes(32), NOW)).toThrow(ClaimTokenSignatureError);
  });

  test('expires at exp', () => {
    const { token, payload } = issueClaimToken(USER, KEY, NOW);

    expect(verifyClaimToken(token, KEY, payload.exp - 1).jti).toBe(payload.jti);
    expect(() => verifyClaimToken(token, KEY, payload.exp)).toThrow(ClaimTokenExpiredError);
    expect(() => verifyClaimToken(token, KEY, payload.exp + 60 * 60 * 1000)).toThrow(ClaimTokenExpiredError);
  });

  test('future iat within skew accepted', () => {
    const { token } = issueClaimToken(USER, KEY, NOW + CLAIM_TOKEN_CLOCK_SKEW_MS);

    expect(verifyClaimToken(token, KEY, NOW).sub).toBe(USER);
  });

  test('future iat beyond skew rejected', () => {
    const { token } = issueClaimToken(USER, KEY, NOW + CLAIM_TOKEN_CLOCK_SKEW_MS + 1);

    expect(() => verifyClaimToken(token, KEY, NOW)).toThrow(ClaimTokenExpiredError);
    expect(() => verifyClaimToken(token, KEY, NOW)).toThrow('issued in the future');
  });

  test('rotation accepts previous key', () => {
    const { token } = issueClaimToken(USER, PREVIOUS_KEY, NOW);

    expect(verifyClaimToken(token, [KEY, PREVIOUS_KEY], NOW).sub).toBe(USER);
  });

  test('rotation accepts current key', () => {
    const { token } = issueClaimToken(USER, KEY, NOW);

    expect(verifyClaimToken(token, [KEY, PREVIOUS_KEY], NOW).sub).toBe(USER);
  });

  test('retired key rejected', () => {
    const { token } = issueClaimToken(USER, PREVIOUS_KEY, NOW);

    expect(() => verifyClaimToken(token, [KEY], NOW)).toThrow(ClaimTokenSignatureError);
  });

  test.each([
    ['no dot', () => issueClaimToken(USER, KEY, NOW).token.replace('.', '')],
    ['two dots', () => `${issueClaimToken(USER, KEY, NOW).token}.AAAA`],
    ['empty payload part', () => `.${issueClaimToken(USER, KEY, NOW).token.split('.')[1]}`],
    ['padding', () => `${issueClaimToken(USER, KEY, NOW).token}=`],
    ['standard base64 characters', () => issueClaimToken(USER, KEY, NOW).token.replace(/^./, '+')],
    ['non-canonical base64url', () => `AB.${issueClaimToken(USER, KEY, NOW).token.split('.')[1]}`],
    ['base64url of impossible length', () => `A.${issueClaimToken(USER, KEY, NOW).token.split('.')[1]}`],
    ['short signature', () => `${issueClaimToken(USER, KEY, NOW).token.slice(0, -4)}`],
    ['too short', () => 'abc.def'],
    ['too long', () => `${'A'.repeat(MAX_CLAIM_TOKEN_LENGTH)}.${'B'.repeat(43)}`],
  ])('rejects %s as malformed', (_case, build) => {
    const error = thrownBy(() => verifyClaimToken(build(), KEY, NOW));

    expect(error).toBeInstanceOf(ClaimTokenMalformedError);
    expect(error.name).toBe('ClaimTokenMalformedError');
  });

  test.each([
    ['non-JSON payload', 'not json at all'],
    ['JSON array', [1, 2, 3]],
    ['JSON null', null],
    ['missing sub', validPayload({ sub: undefined })],
    ['empty sub', validPayload({ sub: '' })],
    ['missing jti', validPayload({ jti: undefined })],
    ['short jti', validPayload({ jti: 'abc' })],
    ['missing iat', validPayload({ iat: undefined })],
    ['iat as string', validPayload({ iat: String(NOW) })],
    ['missing exp', validPayload({ exp: undefined })],
    ['exp before iat', validPayload({ exp: NOW - 1 })],
    ['lifetime above one hour', validPayload({ exp: NOW + MAX_CLAIM_TOKEN_TTL_MS + 1 })],
    ['unknown version', validPayload({ v: 2 })],
    ['missing version', validPayload({ v: undefined })],
  ])('rejects signed %s as malformed', (_case, payload) => {
    const error = thrownBy(() => verifyClaimToken(signRaw(payload), KEY, NOW));

    expect(error).toBeInstanceOf(ClaimTokenMalformedError);
  });

  test('rejects invalid UTF-8 payload', () => {
    const encoded = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64url');
    const token = `${encoded}.${createHmac('sha256', KEY).update(encoded).digest('base64url')}`;

    expect(() => verifyClaimToken(token, KEY, NOW)).toThrow(ClaimTokenMalformedError);
  });

  test('checks signature before payload', () => {
    const unsigned = signRaw('not json at all', randomBytes(32));

    expect(() => verifyClaimToken(unsigned, KEY, NOW)).toThrow(ClaimTokenSignatureError);
  });

  test('rejects non-string token', () => {
    expect(() => verifyClaimToken(undefined as unknown as string, KEY, NOW)).toThrow(ClaimTokenMalformedError);
  });

  test.each([
    ['empty key list', () => verifyClaimToken(issueClaimToken(USER, KEY, NOW).token, [], NOW)],
    ['short key', () => verifyClaimToken(issueClaimToken(USER, KEY, NOW).token, [KEY, Buffer.alloc(8)], NOW)],
    ['NaN time', () => verifyClaimToken(issueClaimToken(USER, KEY, NOW).token, KEY, Number.NaN)],
  ])('rejects %s', (_case, action) => {
    expect(action).toThrow(ClaimTokenInvalidArgumentError);
  });

  test('error names are stable', () => {
    expect(new ClaimTokenMalformedError('x').name).toBe('ClaimTokenMalformedError');
    expect(new ClaimTokenSignatureError('x').name).toBe('ClaimTokenSignatureError');
    expect(new ClaimTokenExpiredError('x').name).toBe('ClaimTokenExpiredError');
  });
});

describe('claim token in capability document', () => {
  test('matches schema pattern and length', () => {
    const { token } = issueClaimToken(USER, KEY, NOW);

    expect(token).toMatch(CLAIM_TOKEN_PATTERN);
    expect(token.length).toBeGreaterThanOrEqual(MIN_CLAIM_TOKEN_LENGTH);
    expect(token.length).toBeLessThanOrEqual(MAX_CLAIM_TOKEN_LENGTH);
  });

  test('longest multi-byte user id fits', () => {
    const { token } = issueClaimToken('€'.repeat(MAX_CLAIM_TOKEN_SUBJECT_LENGTH), KEY, NOW);

    expect(token.length).toBeLessThanOrEqual(MAX_CLAIM_TOKEN_LENGTH);
  });

  test('capability document with token is valid', () => {
    const { token } = issueClaimToken(USER, KEY, NOW);
    const capabilities = {
      schemaVersion: 1,
      model: 'esp32-relay-2',
      firmwareVersion: '1.0.0',
      timestamp: NOW,
      relays: [{ id: 'relay1' }],
      sensors: [],
      claimToken: token,
    };

    expect(validateContract('capabilities', capabilities)).toEqual({ valid: true, errors: [] });
  });
});
