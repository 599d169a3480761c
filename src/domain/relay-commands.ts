import { randomBytes } from 'node:crypto';
import { COMPONENT_ID_PATTERN } from './identity';

/** Pattern of a command id in relay commands and acknowledgements. */
export const COMMAND_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

/** Largest epoch millisecond value that the contract schemas accept (year 9999). */
const MAX_EPOCH_MS = 253402300799999;

/** Random bytes in a command id. 18 bytes are 144 bits and 24 base64url characters. */
const COMMAND_ID_RANDOM_BYTES = 18;

/** Desired state of a relay. */
export type RelayState = 'ON' | 'OFF';

/** Lifecycle states of a relay command, as the GraphQL enum `CommandStatus` names them. */
export const CommandStatus = {
  /** Recorded and sent, with no outcome yet. */
  PENDING: 'PENDING',
  /** The device applied the command, on this delivery or on an earlier one of the same command id. */
  SUCCEEDED: 'SUCCEEDED',
  /** The device rejected the command. */
  REJECTED: 'REJECTED',
  /** The command reached the device after its `expiresAt`, so the device did not execute it. */
  EXPIRED: 'EXPIRED',
  /** No acknowledgement arrived in time. */
  TIMED_OUT: 'TIMED_OUT',
  /** The cloud could not record or send the command. */
  FAILED: 'FAILED',
} as const;

/** One of the {@link CommandStatus} values. */
export type CommandStatus = (typeof CommandStatus)[keyof typeof CommandStatus];

/** Every command status, in the order of the GraphQL enum. */
export const COMMAND_STATUSES: readonly CommandStatus[] = Object.values(CommandStatus);

/** The `result` of a device's acknowledgement in a relay-status message. */
export type AcknowledgementResult = 'APPLIED' | 'DUPLICATE' | 'EXPIRED' | 'REJECTED';

/** Payload published on `iot/control/<thing>/relay` (contract/schemas/relay-command.schema.json). */
export interface RelayCommandPayload {
  readonly commandId: string;
  readonly relay: string;
  readonly state: RelayState;
  /** Time after which the device drops the command, in epoch milliseconds. */
  readonly expiresAt: number;
  /** Time the cloud issued the command, in epoch milliseconds. */
  readonly issuedAt: number;
}

/** Input of {@link buildRelayCommand}. */
export interface RelayCommandOptions {
  readonly commandId: string;
  readonly relay: string;
  readonly state: RelayState;
  /** Issue time in epoch milliseconds. */
  readonly now: number;
  /** Time from issue until the device must drop the command, in milliseconds. */
  readonly ttlMs: number;
}

/** Thrown for a relay command or acknowledgement that breaks the device contract. */
export class RelayCommandInvalidError extends Error {
  public override readonly name = 'RelayCommandInvalidError';
}

/** Generates a command id: `cmd-` followed by 24 random base64url characters. */
export function newCommandId(): string {
  return `cmd-${randomBytes(COMMAND_ID_RANDOM_BYTES).toString('base64url')}`;
}

/**
 * Builds the payload of a relay command, valid against the relay-command schema. `expiresAt` is
 * `now + ttlMs`.
 *
 * @throws RelayCommandInvalidError for an invalid command id, relay id, state, time or lifetime
 */
export function buildRelayCommand(options: RelayCommandOptions): RelayCommandPayload {
  const { commandId, relay, state, now, ttlMs } = options;

  if (typeof commandId !== 'string' || !COMMAND_ID_PATTERN.test(commandId)) {
    throw new RelayCommandInvalidError(
      `Invalid commandId ${JSON.stringify(commandId)}: expected 8 to 64 letters, digits, '_' or '-'. Use newCommandId().`,
    );
  }
  if (typeof relay !== 'string' || !COMPONENT_ID_PATTERN.test(relay)) {
    throw new RelayCommandInvalidError(`Invalid relay id ${JSON.stringify(relay)}: expected 1 to 32 letters, digits, '_' or '-'.`);
  }
  if (state !== 'ON' && state !== 'OFF') {
    throw new RelayCommandInvalidError(`Invalid relay state ${JSON.stringify(state)}: expected ON or OFF.`);
  }
  if (!Number.isSafeInteger(now) || now < 0) {
    throw new RelayCommandInvalidError(`Invalid issue time ${now}: expected a non-negative integer epoch time in milliseconds.`);
  }
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new RelayCommandInvalidError(`Invalid command lifetime ${ttlMs}: expected a positive integer number of milliseconds.`);
  }

  const expiresAt = now + ttlMs;
  if (expiresAt > MAX_EPOCH_MS) {
    throw new RelayCommandInvalidError(`Invalid command expiry ${expiresAt}: the contract allows epoch milliseconds up to ${MAX_EPOCH_MS}.`);
  }
  return { commandId, relay, state, expiresAt, issuedAt: now };
}

/**
 * Maps the `result` of a device's acknowledgement to the command's final status. `DUPLICATE`
 * means the device had already applied this command id, so the command succeeded. The
 * acknowledgement then carries the relay's current state, which differs from the requested one
 * when the relay was switched locally in the meantime.
 *
 * @throws RelayCommandInvalidError for a result outside the contract
 */
export function statusFromAcknowledgement(result: AcknowledgementResult): CommandStatus {
  switch (result) {
    case 'APPLIED':
    case 'DUPLICATE':
      return CommandStatus.SUCCEEDED;
    case 'EXPIRED':
      return CommandStatus.EXPIRED;
    case 'REJECTED':
      return CommandStatus.REJECTED;
    default:
      throw new RelayCommandInvalidError(
        `Invalid acknowledgement result ${JSON.stringify(result)}: expected APPLIED, DUPLICATE, EXPIRED or REJECTED.`,
      );
  }
}
