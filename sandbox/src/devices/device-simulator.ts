/**
 * A TypeScript device that speaks the same MQTT contract as the firmware: fleet provisioning by
 * CreateKeysAndCertificate and RegisterThing, a capability document, relay commands with
 * acknowledgements, and telemetry. The load test uses it to run hundreds of devices in one
 * process, and the demo falls back to it, with a warning, when the firmware's host build is
 * missing.
 */
import { readFileSync } from 'node:fs';
import * as mqtt from 'mqtt';

export interface SimulatedDeviceOptions {
  readonly serial: string;
  readonly mqttHost: string;
  readonly mqttPort: number;
  readonly caPem: string;
  readonly claimCertPem: string;
  readonly claimKeyPem: string;
  readonly thingNamePrefix: string;
  readonly provisioningTemplateName: string;
  readonly claimToken?: string;
  readonly relays?: number;
  readonly model?: string;
  readonly firmwareVersion?: string;
}

/** Outcome of a relay command on a simulated device. */
export interface AppliedCommand {
  readonly commandId: string;
  readonly relay: string;
  readonly state: 'ON' | 'OFF';
  readonly result: 'APPLIED' | 'DUPLICATE' | 'EXPIRED' | 'REJECTED';
}

/** A provisioning request that AWS IoT (or the sandbox) rejected. */
export class ProvisioningRejectedError extends Error {
  constructor(public readonly topic: string, public readonly reply: Record<string, unknown>) {
    super(`${topic} rejected: ${String(reply.statusCode)} ${String(reply.errorCode)} ${String(reply.errorMessage)}`);
    this.name = 'ProvisioningRejectedError';
  }
}

export class SimulatedDevice {
  /** Reads the CA, claim certificate and key from the files that `up` writes. */
  public static fromFiles(options: Omit<SimulatedDeviceOptions, 'caPem' | 'claimCertPem' | 'claimKeyPem'> & { caFile: string; claimCertFile: string; claimKeyFile: string }): SimulatedDevice {
    return new SimulatedDevice({
      ...options,
      caPem: readFileSync(options.caFile, 'utf8'),
      claimCertPem: readFileSync(options.claimCertFile, 'utf8'),
      claimKeyPem: readFileSync(options.claimKeyFile, 'utf8'),
    });
  }

  public readonly relayStates = new Map<string, 'ON' | 'OFF'>();
  public readonly applied: AppliedCommand[] = [];
  /** Number of reset messages received. */
  public resets = 0;
  private client: mqtt.MqttClient | undefined;
  private certificatePem: string | undefined;
  private privateKeyPem: string | undefined;
  private readonly seenCommands = new Set<string>();
  private commandListeners: ((command: AppliedCommand) => void)[] = [];
  private messageListeners: ((topic: string, payload: Buffer) => void)[] = [];
  /** Announced in the capability document until a reset clears it, as the firmware does. */
  private claimToken: string | undefined;

  constructor(public readonly options: SimulatedDeviceOptions) {
    this.claimToken = options.claimToken;
    for (let index = 1; index <= (options.relays ?? 2); index += 1) {
      this.relayStates.set(`relay${index}`, 'OFF');
    }
  }

  public get thingName(): string {
    return `${this.options.thingNamePrefix}${this.options.serial}`;
  }

  /** Provisions with the claim certificate: CreateKeysAndCertificate, then RegisterThing. */
  public async provision(): Promise<void> {
    const claim = await this.connect(this.thingName, this.options.claimCertPem, this.options.claimKeyPem);
    try {
      const keys = await request(claim, '$aws/certificates/create/json', {});
      const template = `$aws/provisioning-templates/${this.options.provisioningTemplateName}/provision/json`;
      const registered = await request(claim, template, {
        certificateOwnershipToken: keys.certificateOwnershipToken,
        parameters: { SerialNumber: this.options.serial, Model: this.options.model ?? 'simulated-esp32', FirmwareVersion: this.options.firmwareVersion ?? '1.0.0' },
      });
      if (registered.thingName !== this.thingName) {
        throw new Error(`RegisterThing named the thing ${String(registered.thingName)}, expected ${this.thingName}; check --thing-prefix.`);
      }
      this.certificatePem = String(keys.certificatePem);
      this.privateKeyPem = String(keys.privateKey);
    } finally {
      await claim.endAsync();
    }
  }

  /** Connects with the device certificate, subscribes to its command topics and announces its capabilities. */
  public async goOnline(): Promise<void> {
    if (!this.certificatePem || !this.privateKeyPem) {
      throw new Error(`Device ${this.thingName} is not provisioned; call provision() first.`);
    }
    this.client = await this.connect(this.thingName, this.certificatePem, this.privateKeyPem);
    this.client.on('message', (topic, payload) => {
      this.messageListeners.forEach((listener) => listener(topic, payload));
      this.handleMessage(topic, payload);
    });
    const granted = await this.client.subscribeAsync([`iot/control/${this.thingName}/relay`, `iot/control/${this.thingName}/reset`], { qos: 1 });
    const refused = granted.filter((grant) => grant.qos === 128);
    if (refused.length > 0) {
      throw new Error(`Subscriptions rejected for ${this.thingName}; check the device policy: ${refused.map((grant) => grant.topic).join(', ')}`);
    }
    await this.publishCapabilities();
  }

  public async publishCapabilities(): Promise<void> {
    const relays = [...this.relayStates.keys()].map((id) => ({ id, name: id, maxCurrentA: 10 }));
    await this.publish(`iot/capabilities/${this.thingName}`, {
      schemaVersion: 1,
      model: this.options.model ?? 'simulated-esp32',
      firmwareVersion: this.options.firmwareVersion ?? '1.0.0',
      timestamp: Date.now(),
      relays,
      sensors: [
        { id: 'temperature', type: 'temperature', unit: '°C', min: -40, max: 125 },
        { id: 'current', type: 'current', unit: 'A', min: 0, max: 16 },
      ],
      ...(this.claimToken ? { claimToken: this.claimToken } : {}),
    });
  }

  public async publishTelemetry(readings: Record<string, number | null>): Promise<void> {
    await this.publish(`iot/telemetry/${this.thingName}`, { timestamp: Date.now(), readings });
  }

  /** Calls `listener` for every relay command the device handles. */
  public onCommand(listener: (command: AppliedCommand) => void): () => void {
    this.commandListeners.push(listener);
    return () => {
      this.commandListeners = this.commandListeners.filter((candidate) => candidate !== listener);
    };
  }

  public async disconnect(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }

  /** The device certificate and key that provisioning returned. */
  public credentials(): { certificatePem: string; privateKeyPem: string } {
    if (!this.certificatePem || !this.privateKeyPem) {
      throw new Error(`Device ${this.thingName} is not provisioned; call provision() first.`);
    }
    return { certificatePem: this.certificatePem, privateKeyPem: this.privateKeyPem };
  }

  /** Subscribes the device's connection to more topic filters, such as its job topics. */
  public async subscribe(filters: string[]): Promise<void> {
    if (!this.client) throw new Error(`Device ${this.thingName} is offline.`);
    await this.client.subscribeAsync(filters, { qos: 1 });
  }

  /** Calls `listener` for every message on the device's connection, including those it handles itself. */
  public onMessage(listener: (topic: string, payload: Buffer) => void): void {
    this.messageListeners.push(listener);
  }

  /** Publishes a JSON message with QoS 1 on the device's connection. */
  public async publish(topic: string, body: unknown): Promise<void> {
    if (!this.client) throw new Error(`Device ${this.thingName} is offline.`);
    await this.client.publishAsync(topic, JSON.stringify(body), { qos: 1 });
  }

  private handleMessage(topic: string, payload: Buffer): void {
    let body: Record<string, any>;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    if (topic.includes('/jobs/')) {
      return;
    }
    if (topic.endsWith('/reset')) {
      this.resets += 1;
      this.claimToken = undefined;
      return;
    }
    const relay = String(body.relay);
    const state = body.state === 'ON' ? 'ON' : 'OFF';
    let result: AppliedCommand['result'];
    if (this.seenCommands.has(body.commandId)) {
      result = 'DUPLICATE';
    } else if (typeof body.expiresAt === 'number' && body.expiresAt < Date.now()) {
      result = 'EXPIRED';
    } else if (!this.relayStates.has(relay)) {
      result = 'REJECTED';
    } else {
      result = 'APPLIED';
      this.relayStates.set(relay, state);
    }
    this.seenCommands.add(body.commandId);
    const command: AppliedCommand = { commandId: body.commandId, relay, state, result };
    this.applied.push(command);
    this.commandListeners.forEach((listener) => listener(command));
    if (result === 'REJECTED') return;
    void this.publish(`iot/status/${this.thingName}/relay`, {
      relay,
      state: this.relayStates.get(relay),
      timestamp: Date.now(),
      commandId: body.commandId,
      result,
    }).catch(() => undefined);
  }

  private async connect(clientId: string, certificatePem: string, privateKeyPem: string): Promise<mqtt.MqttClient> {
    return mqtt.connectAsync({
      protocol: 'mqtts',
      host: this.options.mqttHost,
      port: this.options.mqttPort,
      clientId,
      ca: this.options.caPem,
      cert: certificatePem,
      key: privateKeyPem,
      rejectUnauthorized: true,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      clean: true,
    });
  }
}

/** Publishes a fleet provisioning request and waits for its accepted or rejected reply. */
async function request(client: mqtt.MqttClient, topic: string, body: unknown): Promise<Record<string, any>> {
  await client.subscribeAsync([`${topic}/accepted`, `${topic}/rejected`], { qos: 1 });
  const reply = new Promise<Record<string, any>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`No reply on ${topic}/accepted or /rejected within 10 s.`)), 10_000);
    const onMessage = (replyTopic: string, payload: Buffer) => {
      if (replyTopic !== `${topic}/accepted` && replyTopic !== `${topic}/rejected`) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      const parsed = JSON.parse(payload.toString('utf8'));
      if (replyTopic.endsWith('/rejected')) reject(new ProvisioningRejectedError(topic, parsed));
      else resolve(parsed);
    };
    client.on('message', onMessage);
  });
  await client.publishAsync(topic, JSON.stringify(body), { qos: 1 });
  return reply;
}
