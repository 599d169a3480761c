/**
 * The end-to-end story that `smart-home-sandbox demo` plays against a running sandbox: three
 * virtual ESP32s provision (one is denied), onboard, link to two users, switch relays, report
 * telemetry and an over-current fault, take a firmware update, and one is removed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AppSyncClient } from '../appsync/appsync-client';
import { SimulatedEsp32 } from '../devices/simulated-esp32';
import { deviceStorageDirectory, VirtualEsp32, VirtualEsp32Options } from '../devices/virtual-esp32';
import type { Sandbox, SandboxUser } from '../sandbox';
import { PlatformClient, poll, signIn, UpdateWatch } from './platform-client';

/** Outcome of one step, as the JSON report lists it. */
export interface StepReport {
  readonly name: string;
  readonly passed: boolean;
  readonly ms: number;
  readonly detail: string;
}

export interface DemoOptions {
  readonly sandbox: Sandbox;
  readonly users: readonly SandboxUser[];
  /** Prints a timeline line. */
  readonly print: (line: string) => void;
  /** Telemetry period of the devices. Default 2,000 ms. */
  readonly telemetryPeriodMs?: number;
  /** Plays the story with TypeScript simulators instead of the firmware's host build. */
  readonly simulatedDevices?: boolean;
}

/** Device that the story drives: the virtual ESP32 process or its TypeScript stand-in. */
type DemoDevice = VirtualEsp32 | SimulatedEsp32;

const SERIALS = { alice: 'SH-0001', bob: 'SH-0002', unknown: 'SH-9999' } as const;
const RELAY = 'relay1';

/** The devices and users of one run, shared by the steps. */
interface StoryState {
  alice: PlatformClient;
  bob: PlatformClient;
  operator: PlatformClient;
  devices: Record<keyof typeof SERIALS, DemoDevice>;
  aliceUpdates?: UpdateWatch;
  bobUpdates?: UpdateWatch;
}

export class DemoStory {
  public readonly steps: StepReport[] = [];
  private readonly started = Date.now();
  private state!: StoryState;

  constructor(private readonly options: DemoOptions) {}

  /** Plays every step, in order, and returns the reports; a failed step does not stop the story. */
  public async play(): Promise<StepReport[]> {
    await this.step('devices provision; an unknown serial is denied by the hook', () => this.provision());
    await this.step('capabilities announced, devices onboarded, UI configs generated', () => this.onboard());
    await this.step('one device linked by claim token, one by pairing code', () => this.link());
    await this.step('each user sees only their own devices', () => this.isolation());
    await this.step('relay command acknowledged over the subscription; offline device times out', () => this.relay());
    await this.step('telemetry flows; over-current triggers the automatic cut-off', () => this.anomaly());
    await this.step('OTA rollout: one device updates, one fails its self-test and rolls back', () => this.ota());
    await this.step('removeDevice resets the device and ends the subscription', () => this.remove());
    return this.steps;
  }

  /** Stops the devices and subscriptions that the story started. */
  public async stop(): Promise<void> {
    this.state?.aliceUpdates?.close();
    this.state?.bobUpdates?.close();
    await Promise.all(Object.values(this.state?.devices ?? {}).map((device) => device.stop()));
  }

  private elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1).padStart(6)}s`;
  }

  private say(line: string): void {
    this.options.print(`[${this.elapsed()}]   ${line}`);
  }

  private async step(name: string, run: () => Promise<string>): Promise<void> {
    const index = this.steps.length + 1;
    this.options.print(`[${this.elapsed()}] ${index}. ${name}`);
    const started = Date.now();
    let report: StepReport;
    try {
      const detail = await run();
      report = { name, passed: true, ms: Date.now() - started, detail };
      this.options.print(`[${this.elapsed()}]   PASS ${detail}`);
    } catch (error) {
      report = { name, passed: false, ms: Date.now() - started, detail: (error as Error).message };
      this.options.print(`[${this.elapsed()}]   FAIL ${(error as Error).message}`);
    }
    this.steps.push(report);
  }

  private async client(username: string): Promise<PlatformClient> {
    const user = this.options.users.find((candidate) => candidate.username === username);
    if (!user) throw new Error(`The sandbox has no user ${username}.`);
    const endpoints = this.options.sandbox.endpoints;
    const token = await signIn(endpoints.cognitoUrl, endpoints.userPoolClientId, user.username, user.password);
    return new PlatformClient(username, new AppSyncClient({ graphqlUrl: endpoints.graphqlUrl, realtimeUrl: endpoints.realtimeUrl, token }));
  }

  private device(serial: string, extra: { claimToken?: string; selfTestFail?: boolean }): DemoDevice {
    const endpoints = this.options.sandbox.endpoints;
    const storageDirectory = deviceStorageDirectory(this.options.sandbox.dataDirectory, serial);
    rmSync(storageDirectory, { recursive: true, force: true });
    const options: VirtualEsp32Options = {
      serial,
      storageDirectory,
      mqttHost: endpoints.mqtt.host,
      mqttPort: endpoints.mqtt.port,
      caFile: endpoints.caFile,
      claimCertFile: endpoints.claimCertFile,
      claimKeyFile: endpoints.claimKeyFile,
      thingNamePrefix: endpoints.thingNamePrefix,
      provisioningTemplateName: endpoints.provisioningTemplateName,
      otaPublicKeyFile: endpoints.otaPublicKeyFile,
      telemetryPeriodMs: this.options.telemetryPeriodMs ?? 2_000,
      ...extra,
    };
    return this.options.simulatedDevices ? new SimulatedEsp32(options) : new VirtualEsp32(options);
  }

  private async provision(): Promise<string> {
    const [alice, bob, operator] = await Promise.all([this.client('alice'), this.client('bob'), this.client('operator')]);
    const claimToken = await alice.createClaimToken();
    this.say('alice requested a claim token for auto-discovery');
    const devices = {
      alice: this.device(SERIALS.alice, { claimToken }),
      bob: this.device(SERIALS.bob, { selfTestFail: true }),
      unknown: this.device(SERIALS.unknown, {}),
    };
    this.state = { alice, bob, operator, devices };
    Object.values(devices).forEach((device) => device.start());

    const registered = await Promise.all([devices.alice, devices.bob].map((device) => device.waitFor(/provision: registered thing=/, 30_000)));
    registered.forEach((line) => this.say(line.replace(/^. \(\d+\) /, '')));
    const denied = await devices.unknown.waitFor(/RegisterThing rejected statusCode=403/, 30_000);
    this.say(`${SERIALS.unknown}: ${denied.replace(/^. \(\d+\) /, '')}`);
    await devices.unknown.stop();

    const things = this.options.sandbox.registry.allThings().map((thing) => thing.thingName).sort();
    const expected = [devices.alice.thingName, devices.bob.thingName].sort();
    if (JSON.stringify(things) !== JSON.stringify(expected)) {
      throw new Error(`registry contains ${JSON.stringify(things)}, expected ${JSON.stringify(expected)}`);
    }
    return `registered ${expected.join(', ')}; ${SERIALS.unknown} denied with 403 AccessDenied`;
  }

  private async onboard(): Promise<string> {
    const sandbox = this.options.sandbox;
    const devicesTable = sandbox.environmentValue('DEVICES_TABLE');
    const uiBucket = sandbox.environmentValue('UI_CONFIG_BUCKET');
    const things = [this.state.devices.alice.thingName, this.state.devices.bob.thingName];
    await Promise.all([this.state.devices.alice, this.state.devices.bob].map((device) => device.waitFor(/capabilities: published/, 20_000)));
    const records = await poll(async () => {
      const scan = await sandbox.dynamodb.client.send(new ScanCommand({ TableName: devicesTable }));
      const found = (scan.Items ?? []).filter((item) => things.includes(item.thingName?.S ?? ''));
      return found.length === things.length ? found : undefined;
    }, 30_000, 'onboarding of both devices');
    const uiKeys = await poll(async () => {
      const keys = sandbox.s3.keys(uiBucket);
      return things.every((thing) => keys.some((key) => key.includes(thing))) ? keys : undefined;
    }, 20_000, 'UI configs for both devices');
    this.say(`devices table: ${records.map((item) => `${item.thingName.S} model=${item.model?.S ?? '?'} firmware=${item.firmwareVersion?.S ?? '?'}`).join('; ')}`);
    return `${records.length} devices onboarded, UI configs ${uiKeys.filter((key) => things.some((thing) => key.includes(thing))).join(', ')}`;
  }

  private async link(): Promise<string> {
    const { alice, bob, operator, devices } = this.state;
    const aliceDevices = await poll(async () => {
      const ids = await alice.myDeviceIds();
      return ids.includes(devices.alice.thingName) ? ids : undefined;
    }, 20_000, `claim-token link of ${devices.alice.thingName} to alice`);
    this.say(`alice owns ${aliceDevices.join(', ')} through the claim token in the capability document`);

    const code = await operator.createPairingCode(devices.bob.thingName);
    this.say(`operator (admins) issued a pairing code for ${devices.bob.thingName}`);
    const linked = await bob.addDevice(code);
    const bobDevices = await poll(async () => {
      const ids = await bob.myDeviceIds();
      return ids.includes(devices.bob.thingName) ? ids : undefined;
    }, 20_000, `pairing-code link of ${devices.bob.thingName} to bob`);
    this.say(`bob added ${linked} with the pairing code`);
    const ui = await alice.deviceUi(devices.alice.thingName);
    if (!ui?.document) throw new Error(`getDeviceUi returned no document for ${devices.alice.thingName}`);
    return `alice -> ${aliceDevices.join(', ')}; bob -> ${bobDevices.join(', ')}; alice reads her device's UI document (schema ${ui.schemaVersion})`;
  }

  private async isolation(): Promise<string> {
    const { alice, bob, devices } = this.state;
    const [aliceIds, bobIds] = await Promise.all([alice.myDeviceIds(), bob.myDeviceIds()]);
    const aliceIsolated = JSON.stringify(aliceIds) === JSON.stringify([devices.alice.thingName]);
    const isolated = aliceIsolated && JSON.stringify(bobIds) === JSON.stringify([devices.bob.thingName]);
    if (!isolated) {
      throw new Error(`getMyDevices: alice ${JSON.stringify(aliceIds)}, bob ${JSON.stringify(bobIds)}`);
    }
    const rejections: string[] = [];
    for (const [what, attempt] of [
      ['getDeviceState', () => bob.deviceState(devices.alice.thingName)],
      ['controlRelay', () => bob.controlRelay(devices.alice.thingName, RELAY, 'ON')],
    ] as const) {
      const outcome = await attempt().then((value) => ({ value }), (error: Error) => ({ error }));
      if ('value' in outcome && outcome.value !== null) {
        throw new Error(`bob's ${what} on alice's device succeeded: ${JSON.stringify(outcome.value)}`);
      }
      rejections.push(`${what} ${'error' in outcome ? `rejected (${outcome.error.message.slice(0, 80)})` : 'returned null'}`);
    }
    return `alice sees [${aliceIds.join(', ')}], bob sees [${bobIds.join(', ')}]; bob on alice's device: ${rejections.join('; ')}`;
  }

  private async relay(): Promise<string> {
    const { alice, bob, devices } = this.state;
    this.state.aliceUpdates = await alice.watchUpdates();
    this.state.bobUpdates = await bob.watchUpdates();
    const command = await alice.controlRelay(devices.alice.thingName, RELAY, 'ON');
    this.say(`alice: controlRelay ${RELAY} ON -> ${command.status} (${command.commandId})`);
    const applied = await devices.alice.waitFor(new RegExp(`relay: ${RELAY} ON command=${command.commandId} result=APPLIED`), 15_000);
    this.say(`${devices.alice.thingName}: ${applied.replace(/^. \(\d+\) /, '')}`);
    const update = await this.state.aliceUpdates.waitFor((candidate) => candidate.command?.commandId === command.commandId && candidate.command?.status === 'SUCCEEDED', 15_000, `with ${command.commandId} SUCCEEDED`);
    this.say(`alice's subscription: ${update.kind} ${update.command.commandId} ${update.command.status}`);

    await devices.bob.stop();
    this.say(`${devices.bob.thingName} taken offline`);
    const offlineCommand = await bob.controlRelay(devices.bob.thingName, RELAY, 'ON');
    const timedOut = await this.state.bobUpdates.waitFor((candidate) => candidate.command?.commandId === offlineCommand.commandId && candidate.command?.status === 'TIMED_OUT', 30_000, `with ${offlineCommand.commandId} TIMED_OUT`);
    this.say(`bob's subscription: ${timedOut.command.commandId} ${timedOut.command.status}`);
    const from = devices.bob.lines.length;
    devices.bob.start();
    await devices.bob.waitFor(/mqtt: online/, 20_000, from);
    this.say(`${devices.bob.thingName} back online with its stored certificate`);
    return `${command.commandId} SUCCEEDED via onDeviceUpdate; ${offlineCommand.commandId} TIMED_OUT while the device was offline`;
  }

  private async anomaly(): Promise<string> {
    const { alice, devices } = this.state;
    const state = await poll(async () => {
      const current = await alice.deviceState(devices.alice.thingName);
      return current?.readings?.some((reading: any) => reading.sensorId === 'current' && reading.value !== null) ? current : undefined;
    }, 20_000, 'telemetry readings in getDeviceState');
    const current = state.readings.find((reading: any) => reading.sensorId === 'current');
    this.say(`getDeviceState: current=${current.value} ${current.unit ?? ''} at ${new Date(current.timestamp).toISOString()}`);

    const ruleId = await alice.createAutomationRule({
      name: 'Over-current cut-off',
      condition: { deviceId: devices.alice.thingName, source: 'ANOMALY', anomalyKind: 'OVER_CURRENT' },
      action: { deviceId: devices.alice.thingName, relay: RELAY, state: 'OFF' },
      cooldownSeconds: 60,
    });
    this.say(`alice created automation rule ${ruleId}: OVER_CURRENT -> ${RELAY} OFF`);
    const from = devices.alice.lines.length;
    devices.alice.signal('SIGUSR1');
    await devices.alice.waitFor(/over-current fault injected/, 10_000, from);
    this.say(`${devices.alice.thingName}: over-current fault injected`);
    const cutOff = await devices.alice.waitFor(new RegExp(`relay: ${RELAY} OFF command=\\S+ result=APPLIED`), 45_000, from);
    this.say(`${devices.alice.thingName}: ${cutOff.replace(/^. \(\d+\) /, '')}`);
    devices.alice.signal('SIGUSR2');
    const alert = await this.state.aliceUpdates!.waitFor((update) => update.kind !== 'COMMAND' && /anomaly|alert/i.test(update.kind), 15_000, 'for the anomaly').catch(() => undefined);
    return `automatic cut-off of ${RELAY} after the over-current anomaly${alert ? `; alice notified (${alert.kind})` : ''}`;
  }

  private async ota(): Promise<string> {
    const sandbox = this.options.sandbox;
    const { operator, devices } = this.state;
    const bucket = sandbox.environmentValue('FIRMWARE_BUCKET');
    const keyArn = sandbox.environmentValue('SIGNING_KEY_ARN');
    const version = '1.1.0';
    const imageKey = `firmware/${version}/smarthome-firmware.bin`;
    const image = randomBytes(256 * 1024);
    const digest = createHash('sha256').update(image).digest();
    const signature = sandbox.kms.sign(keyArn, digest, 'DIGEST').toString('base64');
    const s3 = new S3Client({ endpoint: sandbox.s3.url, region: sandbox.endpoints.region, forcePathStyle: true, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: imageKey, Body: image }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${imageKey}.sig`, Body: signature }));
    s3.destroy();
    this.say(`operator uploaded ${imageKey} (${image.length} bytes) signed with the KMS key`);

    const rolloutId = `demo-${Date.now()}`;
    const fromAlice = devices.alice.lines.length;
    const fromBob = devices.bob.lines.length;
    const started = await operator.startFirmwareRollout({ rolloutId, version, imageKey, waves: [100] });
    this.say(`operator started rollout ${started.rolloutId}: ${started.status}`);
    const confirmed = await devices.alice.waitFor(/ota: job=\S+ status=SUCCEEDED/, 60_000, fromAlice);
    this.say(`${devices.alice.thingName}: ${confirmed.replace(/^. \(\d+\) /, '')}`);
    const rolledBack = await devices.bob.waitFor(/ota: job=\S+ status=FAILED/, 60_000, fromBob);
    this.say(`${devices.bob.thingName}: ${rolledBack.replace(/^. \(\d+\) /, '')}`);

    const rolloutsTable = sandbox.environmentValue('ROLLOUTS_TABLE');
    const outcomes = await poll(async () => {
      const result = await sandbox.dynamodb.client.send(new QueryCommand({
        TableName: rolloutsTable,
        KeyConditionExpression: 'rolloutId = :id',
        ExpressionAttributeValues: { ':id': { S: rolloutId } },
      }));
      const byThing = new Map((result.Items ?? []).map((item) => [item.thingName?.S, item.status?.S]));
      const alice = byThing.get(devices.alice.thingName);
      const bob = byThing.get(devices.bob.thingName);
      return alice === 'SUCCEEDED' && bob === 'FAILED' ? [...byThing.entries()] : undefined;
    }, 90_000, `per-device outcomes of rollout ${rolloutId} (SUCCEEDED and FAILED)`);
    return `rollout ${rolloutId} recorded ${outcomes.map(([thing, status]) => `${thing}=${status}`).join(', ')}`;
  }

  private async remove(): Promise<string> {
    const { alice, devices } = this.state;
    const watch = await alice.watchUpdates(devices.alice.thingName);
    const from = devices.alice.lines.length;
    await alice.removeDevice(devices.alice.thingName);
    this.say(`alice: removeDevice ${devices.alice.thingName}`);
    const reset = await devices.alice.waitFor(/reset: owner and claim token cleared/, 20_000, from);
    this.say(`${devices.alice.thingName}: ${reset.replace(/^. \(\d+\) /, '')}`);
    const removed = await watch.waitFor((update) => update.removed === true, 15_000, 'with removed=true');
    await watch.waitForEnd(15_000);
    const remaining = await alice.myDeviceIds();
    if (remaining.includes(devices.alice.thingName)) {
      throw new Error(`getMyDevices still lists ${devices.alice.thingName} after removal`);
    }
    return `device reset, update ${removed.kind} removed=true received, subscription ended; alice now owns ${remaining.length} devices`;
  }
}
