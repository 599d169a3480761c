/**
 * A stand-in for the virtual ESP32 when the firmware's host build is missing. It drives the
 * TypeScript device simulator like the firmware: provisioning with retries, capabilities, relay
 * commands, resets, periodic telemetry, the over-current fault signals and OTA jobs. It prints
 * the log lines that firmware/README.md lists, so the demo story reads the same.
 */
import { createHash, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ProvisioningRejectedError, SimulatedDevice } from './device-simulator';
import { LineLog } from './line-log';
import type { VirtualEsp32Options } from './virtual-esp32';

const OVER_CURRENT_A = 16;
const VOLTAGE_V = 230;

export class SimulatedEsp32 {
  private readonly output = new LineLog(() => this.thingName);
  private readonly device: SimulatedDevice;
  private readonly startedAt = Date.now();
  private telemetryTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private provisioned = false;
  private online = false;
  private overCurrent = false;
  private firmwareVersion: string;
  private sequence = 0;
  private readonly finishedJobs = new Set<string>();

  constructor(public readonly options: VirtualEsp32Options) {
    this.firmwareVersion = options.firmwareVersion ?? '1.0.0';
    this.device = SimulatedDevice.fromFiles({
      serial: options.serial,
      mqttHost: options.mqttHost,
      mqttPort: options.mqttPort,
      caFile: options.caFile,
      claimCertFile: options.claimCertFile,
      claimKeyFile: options.claimKeyFile,
      thingNamePrefix: options.thingNamePrefix,
      provisioningTemplateName: options.provisioningTemplateName,
      claimToken: options.claimToken,
      relays: options.relays,
      model: 'simulated-esp32',
      firmwareVersion: this.firmwareVersion,
    });
    this.device.onCommand((command) => this.log('I', 'relay', `${command.relay} ${command.state} command=${command.commandId} result=${command.result}`));
    this.device.onMessage((topic, payload) => this.onMessage(topic, payload));
  }

  /** Output lines so far, oldest first. */
  public get lines(): string[] {
    return this.output.lines;
  }

  public get thingName(): string {
    return this.device.thingName;
  }

  public get running(): boolean {
    return this.online || this.retryTimer !== undefined;
  }

  /** Provisions on first start, then connects with the stored certificate, as the firmware does. */
  public start(): void {
    void this.run(1);
  }

  /** Waits for an output line that matches, from index `from` of `lines` on. */
  public waitFor(pattern: RegExp, timeoutMs = 20_000, from = 0): Promise<string> {
    return this.output.waitFor(pattern, timeoutMs, from);
  }

  /** SIGUSR1 injects an over-current fault, SIGUSR2 clears it, SIGTERM stops the device. */
  public signal(signal: NodeJS.Signals): void {
    if (signal === 'SIGUSR1') {
      this.overCurrent = true;
      this.log('W', 'sensor', `over-current fault injected current=${OVER_CURRENT_A.toFixed(1)}A`);
    } else if (signal === 'SIGUSR2') {
      this.overCurrent = false;
      this.log('I', 'sensor', 'fault cleared');
    } else if (signal === 'SIGTERM' || signal === 'SIGINT') {
      void this.stop();
    }
  }

  public async stop(): Promise<void> {
    clearInterval(this.telemetryTimer);
    clearTimeout(this.retryTimer);
    this.telemetryTimer = undefined;
    this.retryTimer = undefined;
    if (this.online) {
      this.log('I', 'device', 'stopping on signal');
      this.online = false;
      await this.device.disconnect();
    }
  }

  private async run(attempt: number): Promise<void> {
    this.retryTimer = undefined;
    try {
      if (!this.provisioned) {
        this.log('I', 'provision', 'requesting certificate api=CreateKeysAndCertificate');
        this.log('I', 'provision', `registering thing serial=${this.options.serial} template=${this.options.provisioningTemplateName}`);
        await this.device.provision();
        this.provisioned = true;
        this.log('I', 'provision', `registered thing=${this.thingName}`);
      }
      this.log('I', 'mqtt', `connecting client=${this.thingName} identity=device`);
      await this.device.goOnline();
      await this.device.subscribe([`$aws/things/${this.thingName}/jobs/notify-next`, `$aws/things/${this.thingName}/jobs/start-next/accepted`]);
      this.online = true;
      this.log('I', 'mqtt', `online thing=${this.thingName}`);
      this.log('I', 'capabilities', `published relays=${this.options.relays ?? 2} sensors=2 claimToken=${this.options.claimToken ? 'yes' : 'no'}`);
      this.telemetryTimer = setInterval(() => void this.publishTelemetry(), this.options.telemetryPeriodMs ?? 60_000);
      await this.device.publish(`$aws/things/${this.thingName}/jobs/start-next`, {});
    } catch (error) {
      if (error instanceof ProvisioningRejectedError) {
        const reply = error.reply;
        this.log('W', 'provision', `RegisterThing rejected statusCode=${String(reply.statusCode)} errorCode=${String(reply.errorCode)} errorMessage=${String(reply.errorMessage)}`);
      } else {
        this.log('E', 'device', `start failed: ${(error as Error).message}`);
      }
      const delay = Math.min(60_000, 1000 * 2 ** attempt);
      this.log('I', 'provision', `retrying in ${delay} ms attempt=${attempt + 1}`);
      this.retryTimer = setTimeout(() => void this.run(attempt + 1), delay);
    }
  }

  private async publishTelemetry(): Promise<void> {
    const relaysOn = [...this.device.relayStates.values()].filter((state) => state === 'ON').length;
    const current = this.overCurrent ? OVER_CURRENT_A : (relaysOn * 60) / VOLTAGE_V + 0.02;
    this.sequence += 1;
    await this.device.publishTelemetry({ temperature: 21.5, current: Math.round(current * 1000) / 1000 }).catch(() => undefined);
    this.log('I', 'telemetry', `published seq=${this.sequence} readings=2 missing=0`);
  }

  private onMessage(topic: string, payload: Buffer): void {
    let body: any;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    if (topic.endsWith('/reset')) {
      this.log('I', 'reset', `owner and claim token cleared command=${String(body.commandId)} reason=${String(body.reason)}`);
      return;
    }
    if (topic.endsWith('/jobs/notify-next') || topic.endsWith('/jobs/start-next/accepted')) {
      const execution = body.execution;
      if (!execution) {
        this.log('I', 'ota', 'no pending job');
        return;
      }
      if (topic.endsWith('/notify-next')) {
        void this.device.publish(`$aws/things/${this.thingName}/jobs/start-next`, {});
        return;
      }
      void this.runJob(String(execution.jobId), execution.jobDocument);
    }
  }

  private async runJob(jobId: string, document: any): Promise<void> {
    if (this.finishedJobs.has(jobId)) return;
    this.finishedJobs.add(jobId);
    this.log('I', 'ota', `job=${jobId} update to version=${String(document.version)} size=${String(document.size)}`);
    this.log('I', 'ota', `job=${jobId} status=IN_PROGRESS`);
    let reason: string | undefined;
    try {
      const response = await fetch(String(document.url));
      const image = Buffer.from(await response.arrayBuffer());
      const digest = createHash('sha256').update(image).digest('hex');
      const publicKey = this.options.otaPublicKeyFile ? readFileSync(this.options.otaPublicKeyFile, 'utf8') : undefined;
      if (!response.ok) {
        reason = `download failed with HTTP ${response.status}`;
      } else if (digest !== document.sha256) {
        reason = 'image SHA-256 does not match the job document';
      } else if (!publicKey || !verify('sha256', image, publicKey, Buffer.from(String(document.signature), 'base64'))) {
        reason = 'image signature is invalid';
      } else {
        this.log('I', 'ota', `job=${jobId} image verified sha256 and signature`);
        this.log('I', 'ota', `job=${jobId} restarting into version=${String(document.version)}`);
        if (this.options.selfTestFail) {
          this.log('E', 'ota', `self-test failed (SH_ERR_INVALID_STATE), rolling back version=${String(document.version)}`);
          reason = `version ${String(document.version)} failed its self-test; rolled back to ${this.firmwareVersion}`;
        } else {
          this.firmwareVersion = String(document.version);
          this.log('I', 'ota', `self-test passed, image confirmed version=${this.firmwareVersion}`);
        }
      }
    } catch (error) {
      reason = `download failed: ${(error as Error).message}`;
    }
    const status = reason ? 'FAILED' : 'SUCCEEDED';
    await this.device.publish(`$aws/things/${this.thingName}/jobs/${jobId}/update`, { status, statusDetails: reason ? { reason: reason.slice(0, 1024) } : { step: 'confirmed' } });
    this.log('I', 'ota', `job=${jobId} status=${status}${reason ? ` reason=${reason}` : ''}`);
  }

  private log(level: 'I' | 'W' | 'E', tag: string, message: string): void {
    const line = `${level} (${Date.now() - this.startedAt}) ${tag}: ${message}`;
    this.output.push(line);
    this.options.onLine?.(line);
  }
}
