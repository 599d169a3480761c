import { InvalidRequestError } from './errors';
import { COMPONENT_ID_PATTERN } from '../../domain/identity';

/** Input of a RelayCommandFlow execution, also the detail of a Relay Command Requested event. */
export interface RelayCommandRequest {
  readonly commandId: string;
  readonly thingName: string;
  /** User on whose behalf the command runs; the workflow checks that this user owns the device. */
  readonly requestedBy: string;
  readonly relay: string;
  readonly state: 'ON' | 'OFF';
  readonly requestedAt: number;
  /** Origin of the command, such as `api` or `automation`. */
  readonly source?: string;
}

const COMMAND_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

/** Checks a request's fields and returns it typed; throws InvalidRequestError naming the field. */
export function parseRelayCommandRequest(input: any): RelayCommandRequest {
  const fail = (field: string, expected: string): never => {
    throw new InvalidRequestError(`Invalid relay command request: ${field} ${JSON.stringify(input?.[field])} must be ${expected}.`);
  };
  if (typeof input !== 'object' || input === null) {
    throw new InvalidRequestError('Invalid relay command request: expected an object.');
  }
  if (typeof input.commandId !== 'string' || !COMMAND_ID_PATTERN.test(input.commandId)) fail('commandId', `a string matching ${COMMAND_ID_PATTERN.source}`);
  if (typeof input.thingName !== 'string' || input.thingName.length === 0) fail('thingName', 'a thing name');
  if (typeof input.requestedBy !== 'string' || input.requestedBy.length === 0) fail('requestedBy', 'a user id');
  if (typeof input.relay !== 'string' || !COMPONENT_ID_PATTERN.test(input.relay)) fail('relay', `a relay id matching ${COMPONENT_ID_PATTERN.source}`);
  if (input.state !== 'ON' && input.state !== 'OFF') fail('state', "'ON' or 'OFF'");
  if (!Number.isInteger(input.requestedAt) || input.requestedAt < 0) fail('requestedAt', 'epoch milliseconds');
  return input as RelayCommandRequest;
}
