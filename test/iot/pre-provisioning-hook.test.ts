import type * as DynamoDbModule from '@aws-sdk/client-dynamodb';
import type * as IotModule from '@aws-sdk/client-iot';
import { captureLogs, loadIsolated, LogLine } from './isolated-module';
import type * as HookModule from '../../src/iot/pre-provisioning-hook.lambda';
import type { PreProvisioningHookRequest } from '../../src/iot/private/provisioning-decision';

const SERIAL = 'SH-ESP32-000123';
const THING_NAME = 'sh-SH-ESP32-000123';
const DECISION_TIMEOUT_MS = 3500;

interface SentCommand {
  readonly input: Record<string, unknown>;
}

type SendMock = jest.Mock<Promise<unknown>, [SentCommand, { abortSignal?: AbortSignal }?]>;

interface LoadedHook {
  readonly handler: typeof HookModule.handler;
  readonly iot: typeof IotModule;
  readonly dynamodb: typeof DynamoDbModule;
  readonly iotSend: SendMock;
  readonly dynamoDbSend: SendMock;
}

/** Loads the hook module with its configuration and mocks `send` of both of its SDK clients. */
function loadHook(env: Record<string, string | undefined>): LoadedHook {
  return loadIsolated({
    SERIAL_PATTERN: '^SH-ESP32-[0-9]{6}$',
    THING_NAME_PREFIX: 'sh-',
    ALLOWED_SERIALS: undefined,
    ALLOWLIST_TABLE_NAME: undefined,
    ...env,
  }, () => {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const iot = require('@aws-sdk/client-iot') as typeof IotModule;
    const dynamodb = require('@aws-sdk/client-dynamodb') as typeof DynamoDbModule;
    const iotSend = jest.spyOn(iot.IoTClient.prototype, 'send') as unknown as SendMock;
    const dynamoDbSend = jest.spyOn(dynamodb.DynamoDBClient.prototype, 'send') as unknown as SendMock;
    const { handler } = require('../../src/iot/pre-provisioning-hook.lambda') as typeof HookModule;
    /* eslint-enable @typescript-eslint/no-require-imports */
    return { handler, iot, dynamodb, iotSend, dynamoDbSend };
  });
}

function requestFor(serial: string | undefined, clientId = THING_NAME): PreProvisioningHookRequest {
  return {
    claimCertificateId: 'a'.repeat(64),
    certificateId: 'b'.repeat(64),
    certificatePem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    templateArn: 'arn:aws:iot:eu-west-1:123456789012:provisioningtemplate/sh-template',
    clientId,
    parameters: { SerialNumber: serial, Model: 'esp32-relay-2', FirmwareVersion: '1.0.0' },
  };
}

function thingNotFound(hook: LoadedHook): Error {
  return new hook.iot.ResourceNotFoundException({ message: `Thing ${THING_NAME} cannot be found.`, $metadata: {} });
}

/**
 * Returns a promise that settles only when the request's abort signal fires, and then rejects
 * with the AbortError that the SDK's HTTP handler raises.
 */
function hang(_command: SentCommand, options?: { abortSignal?: AbortSignal }): Promise<never> {
  return new Promise((_resolve, reject) => {
    options?.abortSignal?.addEventListener('abort', () => reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })));
  });
}

function denial(logs: LogLine[]): LogLine | undefined {
  return logs.find((line) => line.message.startsWith('Provisioning denied'));
}

const readLogs = captureLogs();

afterEach(() => {
  jest.useRealTimers();
});

describe('pre-provisioning hook with ALLOWED_SERIALS', () => {
  const hook = loadHook({ ALLOWED_SERIALS: `${SERIAL},SH-ESP32-000124` });

  beforeEach(() => {
    hook.iotSend.mockReset();
    hook.dynamoDbSend.mockReset();
  });

  test('allows an allowlisted new device', async () => {
    hook.iotSend.mockRejectedValue(thingNotFound(hook));

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: true });
  });

  test('looks up the thing with a time limit', async () => {
    hook.iotSend.mockRejectedValue(thingNotFound(hook));

    await hook.handler(requestFor(SERIAL));

    expect(hook.iotSend).toHaveBeenCalledTimes(1);
    const [command, options] = hook.iotSend.mock.calls[0];
    expect(command).toBeInstanceOf(hook.iot.DescribeThingCommand);
    expect(command.input).toEqual({ thingName: THING_NAME });
    expect(options?.abortSignal).toBeInstanceOf(AbortSignal);
  });

  test('reads no table', async () => {
    hook.iotSend.mockRejectedValue(thingNotFound(hook));

    await hook.handler(requestFor(SERIAL));

    expect(hook.dynamoDbSend).not.toHaveBeenCalled();
  });

  test('logs the allowed thing name', async () => {
    hook.iotSend.mockRejectedValue(thingNotFound(hook));

    await hook.handler(requestFor(SERIAL));

    const allowed = readLogs().find((line) => line.message === 'Provisioning allowed');
    expect(allowed).toMatchObject({ level: 'INFO', thingName: THING_NAME, serial: SERIAL, clientId: THING_NAME });
  });

  test('treats a not-found error by name as absent', async () => {
    hook.iotSend.mockRejectedValue(Object.assign(new Error('not found'), { name: 'ResourceNotFoundException' }));

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: true });
  });

  test.each([
    ['a serial not on the list', requestFor('SH-ESP32-000999', 'sh-SH-ESP32-000999'), 'SERIAL_NOT_ALLOWED'],
    ['a serial outside the pattern', requestFor('FOO', 'sh-FOO'), 'INVALID_SERIAL'],
    ['a missing SerialNumber', requestFor(undefined), 'MISSING_PARAMETERS'],
    ['a client id mismatch', requestFor(SERIAL, 'sh-SH-ESP32-000124'), 'CLIENT_ID_MISMATCH'],
  ])('denies %s', async (_case, request, reason) => {
    hook.iotSend.mockRejectedValue(thingNotFound(hook));

    const response = await hook.handler(request);

    expect(response).toEqual({ allowProvisioning: false });
    expect(denial(readLogs())).toMatchObject({ level: 'WARN', reason });
  });

  test('denies an existing thing', async () => {
    hook.iotSend.mockResolvedValue({ thingName: THING_NAME });

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: false });
    expect(denial(readLogs())).toMatchObject({ reason: 'THING_EXISTS', thingName: THING_NAME });
  });

  test('denies after an internal error', async () => {
    hook.iotSend.mockRejectedValue(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: false });
    expect(denial(readLogs())).toMatchObject({ level: 'ERROR', reason: 'INTERNAL_ERROR' });
  });

  test('denies when the thing lookup hangs', async () => {
    jest.useFakeTimers();
    hook.iotSend.mockImplementation(() => new Promise(() => undefined));
    let settled = false;

    const response = hook.handler(requestFor(SERIAL)).finally(() => {
      settled = true;
    });
    await jest.advanceTimersByTimeAsync(DECISION_TIMEOUT_MS - 1);
    const settledBeforeTimeout = settled;
    await jest.advanceTimersByTimeAsync(1);

    expect(settledBeforeTimeout).toBe(false);
    await expect(response).resolves.toEqual({ allowProvisioning: false });
    expect(denial(readLogs())).toMatchObject({ reason: 'INTERNAL_ERROR', error: expect.objectContaining({ message: `decision timed out after ${DECISION_TIMEOUT_MS} ms` }) });
  });

  test('denies when a lookup is aborted', async () => {
    hook.iotSend.mockImplementation(hang);

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: false });
    expect(denial(readLogs())).toMatchObject({ reason: 'INTERNAL_ERROR', error: expect.objectContaining({ name: 'AbortError' }) });
  });

  test('logs no certificate', async () => {
    hook.iotSend.mockRejectedValue(thingNotFound(hook));

    await hook.handler(requestFor(SERIAL));
    await hook.handler(requestFor('FOO', 'sh-FOO'));

    expect(JSON.stringify(readLogs())).not.toMatch(/BEGIN CERTIFICATE/);
  });
});

describe('pre-provisioning hook with an allowlist table', () => {
  const hook = loadHook({ ALLOWLIST_TABLE_NAME: 'serial-allowlist' });

  beforeEach(() => {
    hook.iotSend.mockReset();
    hook.dynamoDbSend.mockReset();
  });

  test('reads the serial consistently with a time limit', async () => {
    hook.dynamoDbSend.mockResolvedValue({ Item: { serial: { S: SERIAL } } });
    hook.iotSend.mockRejectedValue(thingNotFound(hook));

    await hook.handler(requestFor(SERIAL));

    expect(hook.dynamoDbSend).toHaveBeenCalledTimes(1);
    const [command, options] = hook.dynamoDbSend.mock.calls[0];
    expect(command).toBeInstanceOf(hook.dynamodb.GetItemCommand);
    expect(command.input).toEqual({ TableName: 'serial-allowlist', Key: { serial: { S: SERIAL } }, ConsistentRead: true });
    expect(options?.abortSignal).toBeInstanceOf(AbortSignal);
  });

  test('allows a serial in the table', async () => {
    hook.dynamoDbSend.mockResolvedValue({ Item: { serial: { S: SERIAL } } });
    hook.iotSend.mockRejectedValue(thingNotFound(hook));

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: true });
  });

  test('denies a serial missing from the table', async () => {
    hook.dynamoDbSend.mockResolvedValue({});

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: false });
    expect(denial(readLogs())).toMatchObject({ reason: 'SERIAL_NOT_ALLOWED' });
    expect(hook.iotSend).not.toHaveBeenCalled();
  });

  test('allows an existing thing released for re-provisioning', async () => {
    hook.dynamoDbSend.mockResolvedValue({ Item: { serial: { S: SERIAL }, releasedForReprovisioning: { BOOL: true } } });
    hook.iotSend.mockResolvedValue({ thingName: THING_NAME });

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: true });
  });

  test.each([
    ['a false flag', { BOOL: false }],
    ['a string flag', { S: 'true' }],
  ])('denies an existing thing with %s', async (_case, flag) => {
    hook.dynamoDbSend.mockResolvedValue({ Item: { serial: { S: SERIAL }, releasedForReprovisioning: flag } });
    hook.iotSend.mockResolvedValue({ thingName: THING_NAME });

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: false });
    expect(denial(readLogs())).toMatchObject({ reason: 'THING_EXISTS' });
  });

  test('denies when the table read fails', async () => {
    hook.dynamoDbSend.mockRejectedValue(Object.assign(new Error('Requested resource not found'), { name: 'ResourceNotFoundException' }));

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: false });
    expect(denial(readLogs())).toMatchObject({ level: 'ERROR', reason: 'INTERNAL_ERROR' });
  });

  test('denies when the table read hangs', async () => {
    jest.useFakeTimers();
    hook.dynamoDbSend.mockImplementation(() => new Promise(() => undefined));

    const response = hook.handler(requestFor(SERIAL));
    await jest.advanceTimersByTimeAsync(DECISION_TIMEOUT_MS);

    await expect(response).resolves.toEqual({ allowProvisioning: false });
    expect(hook.iotSend).not.toHaveBeenCalled();
  });
});

describe('pre-provisioning hook without an allowlist', () => {
  const hook = loadHook({});

  test('denies every serial', async () => {
    hook.iotSend.mockRejectedValue(thingNotFound(hook));

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: false });
    expect(denial(readLogs())).toMatchObject({ reason: 'SERIAL_NOT_ALLOWED' });
    expect(hook.dynamoDbSend).not.toHaveBeenCalled();
  });
});

describe('pre-provisioning hook without SERIAL_PATTERN', () => {
  const hook = loadHook({ SERIAL_PATTERN: undefined, ALLOWED_SERIALS: SERIAL });

  test('denies every serial', async () => {
    hook.iotSend.mockRejectedValue(thingNotFound(hook));

    const response = await hook.handler(requestFor(SERIAL));

    expect(response).toEqual({ allowProvisioning: false });
    expect(denial(readLogs())).toMatchObject({ reason: 'INVALID_SERIAL' });
  });
});
