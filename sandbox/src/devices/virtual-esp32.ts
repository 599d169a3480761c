import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LineLog } from './line-log';

/** Path of the firmware's host build, relative to the repository root. */
export const VIRTUAL_ESP32_BINARY = resolve(__dirname, '..', '..', '..', 'firmware', 'build', 'virtual-esp32');

/** Settings of a virtual ESP32: its identity, flash folder and the sandbox it connects to. */
export interface VirtualEsp32Options {
  readonly serial: string;
  /** Folder for the device's flash (NVS, OTA slots, TLS files). */
  readonly storageDirectory: string;
  readonly mqttHost: string;
  readonly mqttPort: number;
  readonly caFile: string;
  readonly claimCertFile: string;
  readonly claimKeyFile: string;
  readonly thingNamePrefix: string;
  readonly provisioningTemplateName: string;
  readonly claimToken?: string;
  readonly otaPublicKeyFile?: string;
  readonly firmwareVersion?: string;
  /** A newly installed image fails its self-test and rolls back. */
  readonly selfTestFail?: boolean;
  readonly telemetryPeriodMs?: number;
  readonly relays?: number;
  readonly binary?: string;
  /** Called with each output line. */
  readonly onLine?: (line: string) => void;
}

/**
 * A virtual ESP32: the firmware's host build run as a child process, with its log lines kept
 * so callers can wait for the lines the firmware README lists.
 */
export class VirtualEsp32 {
  /** Returns whether the host build exists (`npm run firmware:test` builds it). */
  public static available(binary = VIRTUAL_ESP32_BINARY): boolean {
    return existsSync(binary);
  }

  private readonly log = new LineLog(() => this.thingName);
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(public readonly options: VirtualEsp32Options) {}

  /** Output lines so far, oldest first. */
  public get lines(): string[] {
    return this.log.lines;
  }

  public get thingName(): string {
    return `${this.options.thingNamePrefix}${this.options.serial}`;
  }

  public get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process; its flash survives restarts, so a restarted device reconnects with its certificate. */
  public start(): void {
    const binary = this.options.binary ?? VIRTUAL_ESP32_BINARY;
    if (!existsSync(binary)) {
      throw new Error(`The virtual ESP32 binary ${binary} is missing. Build it with 'npm run firmware:test'.`);
    }
    mkdirSync(this.options.storageDirectory, { recursive: true });
    const args = [
      '--endpoint', `${this.options.mqttHost}:${this.options.mqttPort}`,
      '--ca', this.options.caFile,
      '--claim-cert', this.options.claimCertFile,
      '--claim-key', this.options.claimKeyFile,
      '--serial', this.options.serial,
      '--storage', this.options.storageDirectory,
      '--thing-prefix', this.options.thingNamePrefix,
      '--template', this.options.provisioningTemplateName,
      '--telemetry-period-ms', String(this.options.telemetryPeriodMs ?? 60_000),
      '--relays', String(this.options.relays ?? 2),
      '--firmware-version', this.options.firmwareVersion ?? '1.0.0',
    ];
    if (this.options.claimToken) args.push('--claim-token', this.options.claimToken);
    if (this.options.otaPublicKeyFile) args.push('--ota-public-key', this.options.otaPublicKeyFile);
    if (this.options.selfTestFail) args.push('--self-test-fail');

    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    let partial = '';
    const onData = (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        this.log.push(line);
        this.options.onLine?.(line);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  }

  /** Waits for an output line that matches, from index `from` of `lines` on. */
  public waitFor(pattern: RegExp, timeoutMs = 20_000, from = 0): Promise<string> {
    return this.log.waitFor(pattern, timeoutMs, from);
  }

  /** Sends a signal, for example SIGUSR1 to inject an over-current fault. */
  public signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Stops the process with SIGTERM (a clean disconnect) and waits for it to exit. */
  public async stop(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGTERM');
    const timeout = setTimeout(() => this.child?.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timeout);
  }
}

/** Storage folder of a device under a sandbox data folder. */
export function deviceStorageDirectory(dataDirectory: string, serial: string): string {
  return join(dataDirectory, 'devices', serial);
}
