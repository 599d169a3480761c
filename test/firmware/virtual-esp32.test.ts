/**
 * End-to-end test of the virtual ESP32 (firmware/build/virtual-esp32) against the local IoT
 * endpoint in sandbox/src/local-iot: TLS MQTT broker, local CA and fleet provisioning responder.
 * The endpoint runs as a child process because aedes is an ES module that Jest cannot load here.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import * as mqtt from 'mqtt';

const ROOT = join(__dirname, '..', '..');
const BINARY = join(ROOT, 'firmware', 'build', 'virtual-esp32');
const SERVER = join(ROOT, 'sandbox', 'src', 'local-iot', 'local-iot-server.ts');
const SERIAL = 'SH-E2E-0001';
const THING = `sh-${SERIAL}`;
const CLAIM_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLWEifQ.c2lnbmF0dXJl';
const WAIT_MS = 20_000;

interface ReadyEvent {
  port: number;
  caFile: string;
  claimCertFile: string;
  claimKeyFile: string;
  cloudCertFile: string;
  cloudKeyFile: string;
}

interface Message {
  topic: string;
  body: Record<string, any>;
}

/** Collects the stdout lines of a child process and waits for a matching one. */
class LineLog {
  public readonly lines: string[] = [];
  private waiters: Array<() => void> = [];

  public constructor(private readonly name: string, child: ChildProcess) {
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts);
      this.notify();
    });
    child.stderr!.on('data', (chunk: Buffer) => this.lines.push(...chunk.toString('utf8').split('\n').map((line) => `stderr: ${line}`)));
  }

  public waitFor(pattern: RegExp, timeoutMs = WAIT_MS): Promise<string> {
    return waitUntil(() => this.lines.find((line) => pattern.test(line)), timeoutMs, this.waiters,
      () => `${this.name} printed no line matching ${pattern} within ${timeoutMs} ms; output:\n${this.lines.join('\n')}`);
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  public wake(): void {
    this.notify();
  }
}

/** Resolves with the first defined value of find(), re-checked whenever a waiter is woken. */
function waitUntil<T>(find: () => T | undefined, timeoutMs: number, waiters: Array<() => void>, describe: () => string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(describe())), timeoutMs);
    const check = (): void => {
      const found = find();
      if (found !== undefined) {
        clearTimeout(timer);
        resolve(found);
      } else {
        waiters.push(check);
      }
    };
    check();
  });
}

/** Sends SIGTERM, waits up to timeoutMs for the exit, then SIGKILL. Returns the exit code. */
async function stopProcess(child: ChildProcess | undefined, timeoutMs = 10_000): Promise<number | null> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

function loadSchema(name: string): object {
  return JSON.parse(readFileSync(join(ROOT, 'contract', 'schemas', `${name}.schema.json`), 'utf8'));
}

describe('virtual-esp32', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validators = {
    capabilities: ajv.compile(loadSchema('capabilities')),
    relayStatus: ajv.compile(loadSchema('relay-status')),
    telemetry: ajv.compile(loadSchema('telemetry')),
    energyStatus: ajv.compile(loadSchema('energy-status')),
  };
  let workDir: string;
  let server: ChildProcess | undefined;
  let serverLog: LineLog;
  let device: ChildProcess | undefined;
  let deviceLog: LineLog;
  let cloud: mqtt.MqttClient | undefined;
  const messages: Message[] = [];
  const messageWaiters: Array<() => void> = [];

  function waitForMessage(topic: string, predicate: (body: Record<string, any>) => boolean, timeoutMs = WAIT_MS): Promise<Message> {
    return waitUntil(() => messages.find((message) => message.topic === topic && predicate(message.body)), timeoutMs, messageWaiters,
      () => `no message on ${topic} matched within ${timeoutMs} ms; device output:\n${deviceLog.lines.join('\n')}`);
  }

  function sendRelayCommand(command: object): Promise<void> {
    return new Promise((resolve, reject) => {
      cloud!.publish(`iot/control/${THING}/relay`, JSON.stringify(command), { qos: 1 }, (error) => (error ? reject(error) : resolve()));
    });
  }

  beforeAll(async () => {
    if (!existsSync(BINARY)) {
      throw new Error(`${BINARY} does not exist: run \`npm run firmware:test\` first, which builds it`);
    }
    workDir = mkdtempSync(join(tmpdir(), 'virtual-esp32-'));

    server = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', SERVER, '--dir', join(workDir, 'iot')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    serverLog = new LineLog('local-iot-server', server);
    const ready = JSON.parse(await serverLog.waitFor(/"event":"ready"/, 60_000)) as ReadyEvent;

    cloud = mqtt.connect(`mqtts://127.0.0.1:${ready.port}`, {
      clientId: 'cloud-e2e',
      ca: readFileSync(ready.caFile),
      cert: readFileSync(ready.cloudCertFile),
      key: readFileSync(ready.cloudKeyFile),
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: WAIT_MS,
    });
    await new Promise<void>((resolve, reject) => {
      cloud!.once('connect', () => resolve());
      cloud!.once('error', reject);
    });
    cloud.on('message', (topic, payload) => {
      messages.push({ topic, body: JSON.parse(payload.toString('utf8')) });
      for (const waiter of messageWaiters.splice(0)) waiter();
    });
    await cloud.subscribeAsync(['iot/#'], { qos: 1 });

    device = spawn(BINARY, [
      '--endpoint', `127.0.0.1:${ready.port}`,
      '--ca', ready.caFile,
      '--claim-cert', ready.claimCertFile,
      '--claim-key', ready.claimKeyFile,
      '--serial', SERIAL,
      '--model', 'esp32-relay-2',
      '--storage', join(workDir, 'device'),
      '--relays', '2',
      '--telemetry-period-ms', '500',
      '--claim-token', CLAIM_TOKEN,
      '--missing-sensor', 'temperature',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    deviceLog = new LineLog('virtual-esp32', device);
  }, 90_000);

  afterAll(async () => {
    const deviceExit = await stopProcess(device);
    cloud?.end(true);
    await stopProcess(server);
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    expect(deviceExit).toBe(0);
  }, 30_000);

  test('provisions through CreateCertificateFromCsr and RegisterThing', async () => {
    await deviceLog.waitFor(/provision: key generated/);
    await deviceLog.waitFor(/provision: requesting certificate api=CreateCertificateFromCsr/);
    await deviceLog.waitFor(/provision: certificate stored/);
    await deviceLog.waitFor(new RegExp(`provision: registered thing=${THING}$`));
    const registered = JSON.parse(await serverLog.waitFor(/"event":"thingRegistered"/));
    expect(registered.thingName).toBe(THING);
    expect(registered.parameters).toEqual({ SerialNumber: SERIAL, Model: 'esp32-relay-2', FirmwareVersion: '1.0.0' });
    await deviceLog.waitFor(new RegExp(`mqtt: online thing=${THING}`));
  });

  test('announces capabilities that match the contract schema', async () => {
    const { body } = await waitForMessage(`iot/capabilities/${THING}`, () => true);
    const valid = validators.capabilities(body);
    expect(validators.capabilities.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(body.relays.map((relay: { id: string }) => relay.id)).toEqual(['relay1', 'relay2']);
    expect(body.claimToken).toBe(CLAIM_TOKEN);
    expect(body.firmwareVersion).toBe('1.0.0');
  });

  test('obeys a relay command and acknowledges it', async () => {
    await deviceLog.waitFor(new RegExp(`mqtt: online thing=${THING}`));
    const commandId = 'cmd-e2e-0001';
    await sendRelayCommand({ commandId, relay: 'relay1', state: 'ON', expiresAt: Date.now() + 60_000, issuedAt: Date.now() });
    const { body } = await waitForMessage(`iot/status/${THING}/relay`, (message) => message.commandId === commandId);
    expect(validators.relayStatus(body)).toBe(true);
    expect(body).toMatchObject({ relay: 'relay1', state: 'ON', result: 'APPLIED' });
    await deviceLog.waitFor(new RegExp(`relay: relay1 ON command=${commandId} result=APPLIED`));
  });

  test('drops a duplicate and an expired command', async () => {
    await deviceLog.waitFor(/relay: relay1 ON command=cmd-e2e-0001 result=APPLIED/);
    await sendRelayCommand({ commandId: 'cmd-e2e-0001', relay: 'relay1', state: 'OFF', expiresAt: Date.now() + 60_000 });
    const duplicate = await waitForMessage(`iot/status/${THING}/relay`, (message) => message.result === 'DUPLICATE');
    expect(validators.relayStatus(duplicate.body)).toBe(true);
    expect(duplicate.body).toMatchObject({ relay: 'relay1', state: 'ON', commandId: 'cmd-e2e-0001' });

    await sendRelayCommand({ commandId: 'cmd-e2e-0002', relay: 'relay2', state: 'ON', expiresAt: Date.now() - 1_000 });
    const expired = await waitForMessage(`iot/status/${THING}/relay`, (message) => message.commandId === 'cmd-e2e-0002');
    expect(validators.relayStatus(expired.body)).toBe(true);
    expect(expired.body).toMatchObject({ relay: 'relay2', state: 'OFF', result: 'EXPIRED' });
    await deviceLog.waitFor(/relay: relay2 OFF command=cmd-e2e-0002 result=EXPIRED/);
  });

  test('reports telemetry and energy with null for a missing reading', async () => {
    const telemetry = await waitForMessage(`iot/telemetry/${THING}`, () => true);
    expect(validators.telemetry(telemetry.body)).toBe(true);
    expect(telemetry.body.readings.temperature).toBeNull();
    expect(typeof telemetry.body.readings.voltage).toBe('number');

    const energy = await waitForMessage(`iot/status/${THING}/energy`, () => true);
    expect(validators.energyStatus(energy.body)).toBe(true);
    expect(energy.body.energyKwh).toBeGreaterThanOrEqual(0);
    await deviceLog.waitFor(/telemetry: published seq=\d+ readings=5 missing=1/);
  });

  test('reports over-current between SIGUSR1 and SIGUSR2', async () => {
    const topic = `iot/telemetry/${THING}`;
    await deviceLog.waitFor(/telemetry: published seq=\d+/);
    // Telemetry published after a device log line has a seq above every seq logged before it.
    const lastSeqLoggedBefore = (line: string): number => {
      const earlier = deviceLog.lines.slice(0, deviceLog.lines.indexOf(line));
      const seqs = earlier.map((text) => /telemetry: published seq=(\d+)/.exec(text)).filter((match) => match !== null).map((match) => Number(match[1]));
      return Math.max(-1, ...seqs);
    };

    device!.kill('SIGUSR1');
    const injected = await deviceLog.waitFor(/^W \(\d+\) sensor: over-current fault injected current=16\.0A$/);
    const seqBeforeFault = lastSeqLoggedBefore(injected);
    const faulted = await waitForMessage(topic, (body) => body.seq > seqBeforeFault);
    expect(validators.telemetry(faulted.body)).toBe(true);
    expect(faulted.body.readings.current).toBe(16);
    expect(faulted.body.readings.power).toBe(3680);
    expect(faulted.body.readings.voltage).toBe(230);

    device!.kill('SIGUSR2');
    const cleared = await deviceLog.waitFor(/^I \(\d+\) sensor: fault cleared$/);
    const seqBeforeClear = lastSeqLoggedBefore(cleared);
    const normal = await waitForMessage(topic, (body) => body.seq > seqBeforeClear);
    expect(normal.body.readings.current).toBeLessThan(10);
    expect(normal.body.readings.power).toBeCloseTo(normal.body.readings.voltage * normal.body.readings.current, 0);
  });
});
