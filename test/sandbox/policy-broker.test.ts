/**
 * Integration test of IoT policy enforcement: real MQTT clients over mutual TLS against the
 * local broker with the policy authorizer and the policies of a synthesized SmartHomePlatform.
 * The broker runs as a child process because aedes is an ES module that Jest cannot load here.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as mqtt from 'mqtt';
import { SmartHomePlatform } from '../../src';

const ROOT = join(__dirname, '..', '..');
const FIXTURE = join(ROOT, 'sandbox', 'src', 'iot-policy', 'policy-broker-fixture.ts');
const WAIT_MS = 20_000;
/** Time to wait for a message that must not arrive, after a later message on the same connection did. */
const QUIET_MS = 300;

type IdentityName = 'deviceA' | 'deviceB' | 'orphan' | 'claim' | 'wide';

interface ReadyEvent {
  host: string;
  port: number;
  caFile: string;
  identities: Record<IdentityName, { certFile: string; keyFile: string }>;
}

interface FixtureEvent {
  event: string;
  [key: string]: unknown;
}

/** Collects the JSON lines a child process prints and waits for matching ones. */
class EventLog {
  public readonly events: FixtureEvent[] = [];
  public readonly output: string[] = [];
  private waiters: Array<() => void> = [];

  public constructor(child: ChildProcess) {
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        this.output.push(line);
        if (line.startsWith('{')) this.events.push(JSON.parse(line) as FixtureEvent);
      }
      this.notify();
    });
    child.stderr!.on('data', (chunk: Buffer) => this.output.push(`stderr: ${chunk.toString('utf8')}`));
    child.on('exit', () => this.notify());
  }

  public waitFor(predicate: (event: FixtureEvent) => boolean, description: string): Promise<FixtureEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no fixture event ${description} within ${WAIT_MS} ms; output:\n${this.output.join('\n')}`));
      }, WAIT_MS);
      const check = (): void => {
        const found = this.events.find(predicate);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

function synthesizeTemplate(file: string): { devicePolicy: string; claimPolicy: string } {
  const stack = new Stack(new App(), 'PolicyBroker');
  const platform = new SmartHomePlatform(stack, 'Platform', { stage: 'dev', provisioning: { thingNamePrefix: 'dev-' } });
  writeFileSync(file, JSON.stringify(Template.fromStack(stack).toJSON()));
  return {
    devicePolicy: stack.getLogicalId(platform.provisioning.devicePolicy),
    claimPolicy: stack.getLogicalId(platform.provisioning.claimPolicy),
  };
}

describe('policy-enforcing broker', () => {
  let workDir: string;
  let fixture: ChildProcess | undefined;
  let log: EventLog;
  let ready: ReadyEvent;
  const clients: mqtt.MqttClient[] = [];

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'policy-broker-'));
    const templateFile = join(workDir, 'template.json');
    const { devicePolicy, claimPolicy } = synthesizeTemplate(templateFile);
    fixture = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', FIXTURE, '--dir', join(workDir, 'certs'), '--template', templateFile,
        '--device-policy', devicePolicy, '--claim-policy', claimPolicy],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    log = new EventLog(fixture);
    ready = (await log.waitFor((event) => event.event === 'ready', 'ready')) as unknown as ReadyEvent;
  });

  afterAll(async () => {
    for (const client of clients) client.end(true);
    if (fixture && fixture.exitCode === null) {
      const exited = new Promise((resolve) => fixture!.once('exit', resolve));
      fixture.kill('SIGTERM');
      await exited;
    }
    rmSync(workDir, { recursive: true, force: true });
  });

  function options(identity: IdentityName, clientId: string): mqtt.IClientOptions {
    return {
      clientId,
      ca: readFileSync(ready.caFile),
      cert: readFileSync(ready.identities[identity].certFile),
      key: readFileSync(ready.identities[identity].keyFile),
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: WAIT_MS,
    };
  }

  /** Connects and resolves with the client, or rejects with the CONNACK error. */
  function connect(identity: IdentityName, clientId: string): Promise<mqtt.MqttClient> {
    const client = mqtt.connect(`mqtts://${ready.host}:${ready.port}`, options(identity, clientId));
    clients.push(client);
    return new Promise((resolve, reject) => {
      client.once('connect', () => resolve(client));
      client.once('error', reject);
      client.once('close', () => reject(new Error(`connection of ${clientId} closed before CONNACK`)));
    });
  }

  async function connectionError(identity: IdentityName, clientId: string): Promise<Error & { code?: number }> {
    try {
      await connect(identity, clientId);
    } catch (error) {
      return error as Error & { code?: number };
    }
    throw new Error(`${identity} connected as ${clientId}, but the policy should reject it`);
  }

  /** Subscribes and returns the SUBACK return code: the granted QoS, or 128 for failure. */
  function subackCode(client: mqtt.MqttClient, filter: string): Promise<number> {
    return new Promise((resolve, reject) => {
      // mqtt.js passes the SUBACK packet alongside the error it raises for return code 128.
      client.subscribe(filter, { qos: 1 }, (error, _granted, packet) => {
        if (packet) resolve(packet.granted[0] as number);
        else reject(error ?? new Error(`no SUBACK for ${filter}`));
      });
    });
  }

  async function cloudPublish(topic: string, payload: string): Promise<void> {
    const sent = log.events.length;
    fixture!.stdin!.write(`${JSON.stringify({ command: 'publish', topic, payload })}\n`);
    await log.waitFor((event) => log.events.indexOf(event) >= sent && event.event === 'published' && event.topic === topic, `published ${topic}`);
  }

  function collect(client: mqtt.MqttClient): Array<{ topic: string; payload: string }> {
    const received: Array<{ topic: string; payload: string }> = [];
    client.on('message', (topic, payload) => received.push({ topic, payload: payload.toString('utf8') }));
    return received;
  }

  async function waitForMessage(received: Array<{ topic: string; payload: string }>, topic: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!received.some((message) => message.topic === topic)) {
      if (Date.now() > deadline) throw new Error(`no message on ${topic} within ${WAIT_MS} ms; received ${JSON.stringify(received)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  test('device connects as its thing', async () => {
    const client = await connect('deviceA', 'dev-a');
    expect(client.connected).toBe(true);
    client.end(true);
  });

  test('rejects connect as another thing', async () => {
    const error = await connectionError('deviceA', 'dev-b');
    expect(error.code).toBe(5);
    const denied = await log.waitFor((event) => event.event === 'denied' && event.action === 'iot:Connect' && event.resource === 'dev-b', 'denied connect dev-b');
    expect(denied.reason).toBe('iot:Connect on client/dev-b denied: no statement allows it');
  });

  test('rejects certificate without thing', async () => {
    const error = await connectionError('orphan', 'dev-c');
    expect(error.code).toBe(5);
  });

  test('device publishes own telemetry', async () => {
    const client = await connect('deviceA', 'dev-a');
    await client.publishAsync('iot/telemetry/dev-a', '{"watts":3}', { qos: 1 });
    expect(client.connected).toBe(true);
    client.end(true);
  });

  test('closes connection on unauthorized publish', async () => {
    const client = await connect('deviceA', 'dev-a');
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('iot/telemetry/dev-b', '{"watts":3}', { qos: 1 });
    await closed;
    expect(client.connected).toBe(false);
    const denied = await log.waitFor((event) => event.event === 'denied' && event.action === 'iot:Publish', 'denied publish');
    expect(denied.resource).toBe('iot/telemetry/dev-b');
    expect(denied.clientId).toBe('dev-a');
  });

  test('rejects subscribe to other thing', async () => {
    const client = await connect('deviceA', 'dev-a');
    expect(await subackCode(client, 'iot/control/dev-b/relay')).toBe(128);
    expect(await subackCode(client, 'iot/control/+/relay')).toBe(128);
    expect(await subackCode(client, 'iot/control/dev-a/relay')).toBe(1);
    expect(client.connected).toBe(true);
    client.end(true);
  });

  test('claim limited to provisioning topics', async () => {
    const client = await connect('claim', 'dev-SERIAL-1');
    expect(await subackCode(client, '$aws/certificates/create-from-csr/json/accepted')).toBe(1);
    expect(await subackCode(client, 'iot/control/dev-a/relay')).toBe(128);
    await client.publishAsync('$aws/certificates/create-from-csr/json', '{}', { qos: 1 });
    expect(client.connected).toBe(true);
    client.end(true);
  });

  test('receive checked separately from subscribe', async () => {
    const wide = await connect('wide', 'dev-w');
    const deviceB = await connect('deviceB', 'dev-b');
    const wideReceived = collect(wide);
    const deviceBReceived = collect(deviceB);
    expect(await subackCode(wide, 'iot/control/+/relay')).toBe(1);
    expect(await subackCode(deviceB, 'iot/control/dev-b/relay')).toBe(1);

    await cloudPublish('iot/control/dev-b/relay', '{"on":true}');
    await cloudPublish('iot/control/dev-w/relay', '{"on":false}');
    await waitForMessage(wideReceived, 'iot/control/dev-w/relay');
    await waitForMessage(deviceBReceived, 'iot/control/dev-b/relay');
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));

    expect(wideReceived).toEqual([{ topic: 'iot/control/dev-w/relay', payload: '{"on":false}' }]);
    expect(deviceBReceived).toEqual([{ topic: 'iot/control/dev-b/relay', payload: '{"on":true}' }]);
    const denied = log.events.find((event) => event.event === 'denied' && event.action === 'iot:Receive');
    expect(denied).toMatchObject({ resource: 'iot/control/dev-b/relay', clientId: 'dev-w' });
    wide.end(true);
    deviceB.end(true);
  });
});
