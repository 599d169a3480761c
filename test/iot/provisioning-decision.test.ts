import { decideProvisioning, PreProvisioningHookRequest, ProvisioningPolicy, SerialLookups } from '../../src/iot/private/provisioning-decision';

const POLICY: ProvisioningPolicy = {
  serialPattern: /^SH-ESP32-[0-9]{6}$/,
  thingNamePrefix: 'sh-',
};

const SERIAL = 'SH-ESP32-000123';
const THING_NAME = 'sh-SH-ESP32-000123';

interface Registry {
  readonly allowed?: string[];
  readonly released?: string[];
  readonly things?: string[];
}

/** Lookups backed by in-memory lists, with mocks that record every call. */
function lookupsOf(registry: Registry) {
  return {
    allowlistEntry: jest.fn(async (serial: string) => ({
      allowed: (registry.allowed ?? []).includes(serial),
      releasedForReprovisioning: (registry.released ?? []).includes(serial),
    })),
    thingExists: jest.fn(async (thingName: string) => (registry.things ?? []).includes(thingName)),
  } satisfies SerialLookups;
}

function requestFor(serial: string, clientId: string = THING_NAME): PreProvisioningHookRequest {
  return {
    claimCertificateId: 'a'.repeat(64),
    certificateId: 'b'.repeat(64),
    templateArn: 'arn:aws:iot:eu-west-1:123456789012:provisioningtemplate/sh-template',
    clientId,
    parameters: { SerialNumber: serial, Model: 'esp32-relay-2', FirmwareVersion: '1.0.0' },
  };
}

describe('decideProvisioning', () => {
  test('allows an allowlisted new serial', async () => {
    const lookups = lookupsOf({ allowed: [SERIAL] });

    const decision = await decideProvisioning(requestFor(SERIAL), POLICY, lookups);

    expect(decision).toEqual({ allow: true, detail: 'all checks passed', thingName: THING_NAME });
  });

  test('looks up the serial and the thing name', async () => {
    const lookups = lookupsOf({ allowed: [SERIAL] });

    await decideProvisioning(requestFor(SERIAL), POLICY, lookups);

    expect(lookups.allowlistEntry).toHaveBeenCalledWith(SERIAL);
    expect(lookups.thingExists).toHaveBeenCalledWith(THING_NAME);
  });

  test.each([
    ['no parameters', { clientId: THING_NAME }],
    ['no SerialNumber', { clientId: THING_NAME, parameters: { Model: 'esp32-relay-2' } }],
    ['an empty SerialNumber', { clientId: THING_NAME, parameters: { SerialNumber: '' } }],
  ] as [string, PreProvisioningHookRequest][])('denies a request with %s', async (_case, request) => {
    const lookups = lookupsOf({ allowed: [SERIAL] });

    const decision = await decideProvisioning(request, POLICY, lookups);

    expect(decision.allow).toBe(false);
    expect(decision.reason).toBe('MISSING_PARAMETERS');
    expect(lookups.allowlistEntry).not.toHaveBeenCalled();
  });

  test.each([
    'FOO',
    'SH-ESP32-12345',
    'SH-ESP32-0001234',
    'sh-esp32-000123',
    'SH-ESP32-000123/x',
    'x SH-ESP32-000123',
  ])('denies serial %j outside the pattern', async (serial) => {
    const lookups = lookupsOf({ allowed: [serial] });

    const decision = await decideProvisioning(requestFor(serial, `sh-${serial}`), POLICY, lookups);

    expect(decision.allow).toBe(false);
    expect(decision.reason).toBe('INVALID_SERIAL');
    expect(decision.detail).toBe('serial does not match ^SH-ESP32-[0-9]{6}$ or is not 1 to 64 letters, digits, _ or -');
    expect(lookups.allowlistEntry).not.toHaveBeenCalled();
  });

  test.each(['SH/1', 'SH+1', 'SH#1', 'SH 1', 'S'.repeat(65)])('denies %j even when the pattern allows it', async (serial) => {
    const lookups = lookupsOf({ allowed: [serial] });

    const decision = await decideProvisioning(requestFor(serial, `sh-${serial}`), { ...POLICY, serialPattern: /^.+$/ }, lookups);

    expect(decision.allow).toBe(false);
    expect(decision.reason).toBe('INVALID_SERIAL');
    expect(lookups.allowlistEntry).not.toHaveBeenCalled();
  });

  test.each([
    ['another serial', 'sh-SH-ESP32-000999'],
    ['the bare serial', SERIAL],
    ['a random id', '221a6d10-9c7f-42f1-9153-e52e6fc869c1'],
    ['an empty id', ''],
  ])('denies a client id of %s', async (_case, clientId) => {
    const lookups = lookupsOf({ allowed: [SERIAL] });

    const decision = await decideProvisioning(requestFor(SERIAL, clientId), POLICY, lookups);

    expect(decision.allow).toBe(false);
    expect(decision.reason).toBe('CLIENT_ID_MISMATCH');
    expect(decision.thingName).toBe(THING_NAME);
    expect(lookups.allowlistEntry).not.toHaveBeenCalled();
  });

  test('denies a request without client id', async () => {
    const lookups = lookupsOf({ allowed: [SERIAL] });

    const request = { ...requestFor(SERIAL), clientId: undefined };

    const decision = await decideProvisioning(request, POLICY, lookups);

    expect(decision.allow).toBe(false);
    expect(decision.reason).toBe('CLIENT_ID_MISMATCH');
    expect(lookups.allowlistEntry).not.toHaveBeenCalled();
  });

  test('denies a serial not on the allowlist', async () => {
    const lookups = lookupsOf({ allowed: ['SH-ESP32-000124'] });

    const decision = await decideProvisioning(requestFor(SERIAL), POLICY, lookups);

    expect(decision.allow).toBe(false);
    expect(decision.reason).toBe('SERIAL_NOT_ALLOWED');
    expect(lookups.thingExists).not.toHaveBeenCalled();
  });

  test('denies when the thing exists', async () => {
    const lookups = lookupsOf({ allowed: [SERIAL], things: [THING_NAME] });

    const decision = await decideProvisioning(requestFor(SERIAL), POLICY, lookups);

    expect(decision.allow).toBe(false);
    expect(decision.reason).toBe('THING_EXISTS');
    expect(decision.thingName).toBe(THING_NAME);
  });

  test('allows an existing thing released for re-provisioning', async () => {
    const lookups = lookupsOf({ allowed: [SERIAL], released: [SERIAL], things: [THING_NAME] });

    const decision = await decideProvisioning(requestFor(SERIAL), POLICY, lookups);

    expect(decision).toEqual({ allow: true, detail: 'all checks passed', thingName: THING_NAME });
  });

  test('ignores a release of a serial not on the allowlist', async () => {
    const lookups = lookupsOf({ released: [SERIAL], things: [THING_NAME] });

    const decision = await decideProvisioning(requestFor(SERIAL), POLICY, lookups);

    expect(decision.allow).toBe(false);
    expect(decision.reason).toBe('SERIAL_NOT_ALLOWED');
  });

  test('names the thing with the policy prefix', async () => {
    const lookups = lookupsOf({ allowed: [SERIAL] });

    const decision = await decideProvisioning(requestFor(SERIAL, `home-${SERIAL}`), { ...POLICY, thingNamePrefix: 'home-' }, lookups);

    expect(decision.thingName).toBe(`home-${SERIAL}`);
    expect(decision.allow).toBe(true);
  });

  test('propagates a lookup error', async () => {
    const lookups = lookupsOf({ allowed: [SERIAL] });
    lookups.thingExists.mockRejectedValueOnce(new Error('ThrottlingException'));

    const decision = decideProvisioning(requestFor(SERIAL), POLICY, lookups);

    await expect(decision).rejects.toThrow(/ThrottlingException/);
  });
});
