import { validateContract } from '../../src/domain/contract-validation';
import {
  AcknowledgementResult,
  buildRelayCommand,
  COMMAND_ID_PATTERN,
  COMMAND_STATUSES,
  CommandStatus,
  newCommandId,
  RelayCommandInvalidError,
  RelayCommandOptions,
  statusFromAcknowledgement,
} from '../../src/domain/relay-commands';

const NOW = 1764892800000;

function options(overrides: Partial<RelayCommandOptions> = {}): RelayCommandOptions {
  return { commandId: 'cmd-0123456789abcdefghijklmn', relay: 'relay1', state: 'ON', now: NOW, ttlMs: 10_000, ...overrides };
}

describe('newCommandId', () => {
  test('matches contract pattern', () => {
    for (let i = 0; i < 200; i++) {
      const commandId = newCommandId();

      expect(commandId).toMatch(COMMAND_ID_PATTERN);
      expect(commandId).toMatch(/^cmd-[A-Za-z0-9_-]{24}$/);
    }
  });

  test('ids differ', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newCommandId()));

    expect(ids.size).toBe(1000);
  });
});

describe('buildRelayCommand', () => {
  test('sets expiry from lifetime', () => {
    expect(buildRelayCommand(options())).toEqual({
      commandId: 'cmd-0123456789abcdefghijklmn',
      relay: 'relay1',
      state: 'ON',
      expiresAt: NOW + 10_000,
      issuedAt: NOW,
    });
  });

  test.each(['ON', 'OFF'] as const)('%s command is valid against schema', (state) => {
    const payload = buildRelayCommand(options({ commandId: newCommandId(), state }));

    expect(validateContract('relay-command', payload)).toEqual({ valid: true, errors: [] });
  });

  test('minimum command id length is valid', () => {
    const payload = buildRelayCommand(options({ commandId: 'abcd_-12' }));

    expect(validateContract('relay-command', payload)).toEqual({ valid: true, errors: [] });
  });

  test.each([
    ['short command id', { commandId: 'cmd-123' }],
    ['long command id', { commandId: 'c'.repeat(65) }],
    ['command id with dot', { commandId: 'cmd.0123456789' }],
    ['relay id with slash', { relay: 'relay/1' }],
    ['empty relay id', { relay: '' }],
    ['long relay id', { relay: 'r'.repeat(33) }],
    ['unknown state', { state: 'TOGGLE' as 'ON' }],
    ['fractional time', { now: NOW + 0.5 }],
    ['negative time', { now: -1 }],
    ['zero lifetime', { ttlMs: 0 }],
    ['negative lifetime', { ttlMs: -1000 }],
    ['fractional lifetime', { ttlMs: 1.5 }],
    ['expiry beyond year 9999', { now: 253402300799999, ttlMs: 1 }],
  ])('rejects %s', (_case, overrides) => {
    expect(() => buildRelayCommand(options(overrides))).toThrow(RelayCommandInvalidError);
  });

  test('error name is stable', () => {
    let caught: unknown;
    try {
      buildRelayCommand(options({ ttlMs: 0 }));
    } catch (error) {
      caught = error;
    }

    expect((caught as Error).name).toBe('RelayCommandInvalidError');
  });
});

describe('command status', () => {
  test('lists six statuses', () => {
    expect(COMMAND_STATUSES).toEqual(['PENDING', 'SUCCEEDED', 'REJECTED', 'EXPIRED', 'TIMED_OUT', 'FAILED']);
  });

  test('constants equal their names', () => {
    for (const [key, value] of Object.entries(CommandStatus)) {
      expect(value).toBe(key);
    }
  });
});

describe('statusFromAcknowledgement', () => {
  test.each([
    ['APPLIED', 'SUCCEEDED'],
    ['DUPLICATE', 'SUCCEEDED'],
    ['EXPIRED', 'EXPIRED'],
    ['REJECTED', 'REJECTED'],
  ] as const)('%s maps to %s', (result, status) => {
    expect(statusFromAcknowledgement(result)).toBe(status);
  });

  test('rejects unknown result', () => {
    expect(() => statusFromAcknowledgement('LOST' as AcknowledgementResult)).toThrow(RelayCommandInvalidError);
  });
});
