/**
 * End-to-end checks of isolation and delivery guarantees through the sandbox: the platform's
 * own IoT policies, resolvers and handlers, with simulated devices on a TLS MQTT connection.
 */
import { readFileSync } from 'node:fs';
import * as mqtt from 'mqtt';
import { poll, PlatformClient } from '../../sandbox/src/demo/platform-client';
import { SimulatedDevice } from '../../sandbox/src/devices/device-simulator';
import { RunningSandbox, startSandbox } from '../../sandbox/src/sandbox-process';

jest.setTimeout(120_000);

let sandbox: RunningSandbox;
let alice: PlatformClient;
let bob: PlatformClient;
let deviceA: SimulatedDevice;
let deviceB: SimulatedDevice;

beforeAll(async () => {
  sandbox = await startSandbox({ allowSerials: ['SEC-A', 'SEC-B'] });
  [alice, bob] = await Promise.all([sandbox.signIn('alice'), sandbox.signIn('bob')]);
  deviceA = sandbox.device('SEC-A', await alice.createClaimToken());
  deviceB = sandbox.device('SEC-B', await bob.createClaimToken());
  for (const device of [deviceA, deviceB]) {
    await device.provision();
    await device.goOnline();
  }
  await poll(async () => ((await alice.myDeviceIds()).includes(deviceA.thingName) ? true : undefined), 30_000, 'link of device A to alice');
  await poll(async () => ((await bob.myDeviceIds()).includes(deviceB.thingName) ? true : undefined), 30_000, 'link of device B to bob');
});

afterAll(async () => {
  await deviceA?.disconnect().catch(() => undefined);
  await deviceB?.disconnect().catch(() => undefined);
  await sandbox?.stop();
});

/** Connects with a certificate and client id; resolves with the client or rejects with the refusal. */
function connect(clientId: string, certificatePem: string, privateKeyPem: string): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync({
    protocol: 'mqtts',
    host: sandbox.endpoints.mqtt.host,
    port: sandbox.endpoints.mqtt.port,
    clientId,
    ca: readFileSync(sandbox.endpoints.caFile),
    cert: certificatePem,
    key: privateKeyPem,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
}

/** Subscribes to each filter on its own and returns the granted QoS per filter (128 = refused). */
async function grantedQos(client: mqtt.MqttClient, filters: string[]): Promise<number[]> {
  const granted: number[] = [];
  for (const filter of filters) {
    // mqtt.js rejects a refused subscription; the SUBACK it carries contains the return code.
    const outcome = await client.subscribeAsync(filter, { qos: 1 }).then(
      (grants) => grants[0].qos,
      (error: { packet?: { granted?: number[] } }) => error.packet?.granted?.[0] ?? -1,
    );
    granted.push(outcome);
  }
  return granted;
}

/** Resolves true when the client's connection closes within the time. */
function closesWithin(client: mqtt.MqttClient, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    client.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('user isolation', () => {
  test('each user lists only their own device', async () => {
    expect(await alice.myDeviceIds()).toEqual([deviceA.thingName]);
    expect(await bob.myDeviceIds()).toEqual([deviceB.thingName]);
  });

  test('rejects reading another user\'s device state', async () => {
    await expect(bob.deviceState(deviceA.thingName)).rejects.toThrow(/not linked to you/);
  });

  test('rejects controlling another user\'s relay', async () => {
    const appliedBefore = deviceA.applied.length;
    await expect(bob.controlRelay(deviceA.thingName, 'relay1', 'ON')).rejects.toThrow(/not linked to you/);
    expect(deviceA.applied.length).toBe(appliedBefore);
  });

  test('another user\'s subscription receives none of a device\'s updates', async () => {
    const bobWatch = await bob.watchUpdates(deviceA.thingName).catch(() => undefined);
    const aliceWatch = await alice.watchUpdates(deviceA.thingName);
    try {
      const command = await alice.controlRelay(deviceA.thingName, 'relay2', 'ON');
      await aliceWatch.waitFor((update) => update.command?.commandId === command.commandId && update.command.status === 'SUCCEEDED', 20_000, 'for alice');
      expect(bobWatch?.updates ?? []).toEqual([]);
    } finally {
      bobWatch?.close();
      aliceWatch.close();
    }
  });
});

describe('duplicated and reordered deliveries', () => {
  test('a duplicated acknowledgement completes the command once', async () => {
    const watch = await alice.watchUpdates(deviceA.thingName);
    try {
      const command = await alice.controlRelay(deviceA.thingName, 'relay1', 'ON');
      await watch.waitFor((update) => update.command?.commandId === command.commandId && update.command.status === 'SUCCEEDED', 20_000, 'with SUCCEEDED');
      const acknowledgement = { relay: 'relay1', state: 'ON', timestamp: Date.now(), commandId: command.commandId, result: 'APPLIED' };
      await deviceA.publish(`iot/status/${deviceA.thingName}/relay`, acknowledgement);
      await deviceA.publish(`iot/status/${deviceA.thingName}/relay`, acknowledgement);
      await new Promise((resolve) => setTimeout(resolve, 3_000));

      const completions = watch.updates.filter((update) => update.command?.commandId === command.commandId && update.command.status === 'SUCCEEDED');
      expect(completions).toHaveLength(1);
    } finally {
      watch.close();
    }
  });

  test('an older telemetry message does not replace a newer reading', async () => {
    const newer = Date.now();
    await deviceA.publish(`iot/telemetry/${deviceA.thingName}`, { timestamp: newer, readings: { temperature: 31.5 } });
    await deviceA.publish(`iot/telemetry/${deviceA.thingName}`, { timestamp: newer - 60_000, readings: { temperature: 12.25 } });

    const reading = await poll(async () => {
      const state = await alice.deviceState(deviceA.thingName);
      const temperature = state?.readings?.find((candidate: any) => candidate.sensorId === 'temperature');
      return temperature?.timestamp === newer ? temperature : undefined;
    }, 20_000, 'the newer temperature reading');
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    const state = await alice.deviceState(deviceA.thingName);
    const temperature = state.readings.find((candidate: any) => candidate.sensorId === 'temperature');
    expect(reading.value).toBe(31.5);
    expect(temperature).toMatchObject({ value: 31.5, timestamp: newer });
  });

  test('a repeated capability document onboards the device once', async () => {
    const before = await bob.deviceUi(deviceB.thingName);
    await deviceB.publishCapabilities();
    await deviceB.publishCapabilities();
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    const after = await bob.deviceUi(deviceB.thingName);
    expect(await bob.myDeviceIds()).toEqual([deviceB.thingName]);
    expect(after.document).toEqual(before.document);
  });
});

describe('device policies', () => {
  let credentialsA: { certificatePem: string; privateKeyPem: string };

  beforeAll(async () => {
    credentialsA = deviceA.credentials();
    await deviceA.disconnect();
  });

  test('rejects device A connecting as device B', async () => {
    await expect(connect(deviceB.thingName, credentialsA.certificatePem, credentialsA.privateKeyPem)).rejects.toThrow(/Not authorized|Connection refused/i);
  });

  test('refuses subscriptions to device B\'s command and job topics', async () => {
    const client = await connect(deviceA.thingName, credentialsA.certificatePem, credentialsA.privateKeyPem);
    try {
      const granted = await grantedQos(client, [
        `iot/control/${deviceB.thingName}/relay`,
        `iot/control/${deviceB.thingName}/reset`,
        `$aws/things/${deviceB.thingName}/jobs/notify-next`,
        'iot/control/+/relay',
        `iot/control/${deviceA.thingName}/relay`,
      ]);
      expect(granted).toEqual([128, 128, 128, 128, 1]);
    } finally {
      await client.endAsync();
    }
  });

  test('disconnects device A publishing on device B\'s telemetry topic', async () => {
    const client = await connect(deviceA.thingName, credentialsA.certificatePem, credentialsA.privateKeyPem);
    const closed = closesWithin(client, 5_000);
    client.publish(`iot/telemetry/${deviceB.thingName}`, JSON.stringify({ timestamp: Date.now(), readings: { temperature: 99 } }), { qos: 1 });
    expect(await closed).toBe(true);
    client.end(true);
  });

  test('limits the claim certificate to fleet provisioning', async () => {
    const claimCert = readFileSync(sandbox.endpoints.claimCertFile, 'utf8');
    const claimKey = readFileSync(sandbox.endpoints.claimKeyFile, 'utf8');
    const client = await connect('dev-SEC-CLAIM', claimCert, claimKey);
    const granted = await grantedQos(client, [
      `iot/control/${deviceB.thingName}/relay`,
      '$aws/certificates/create/json/accepted',
    ]);
    expect(granted).toEqual([128, 1]);

    const closed = closesWithin(client, 5_000);
    client.publish(`iot/telemetry/${deviceB.thingName}`, JSON.stringify({ timestamp: Date.now(), readings: {} }), { qos: 1 });
    expect(await closed).toBe(true);
    client.end(true);
  });

  test('rejects the claim certificate outside the thing name prefix', async () => {
    const claimCert = readFileSync(sandbox.endpoints.claimCertFile, 'utf8');
    const claimKey = readFileSync(sandbox.endpoints.claimKeyFile, 'utf8');
    await expect(connect('someone-else', claimCert, claimKey)).rejects.toThrow(/Not authorized|Connection refused/i);
  });
});
