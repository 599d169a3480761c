/**
 * Starts `smart-home-sandbox up` as a child process, for end-to-end tests (Jest cannot load the
 * MQTT broker, aedes, which is an ES module) and for `load`, which measures the sandbox
 * process on its own.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppSyncClient } from './appsync/appsync-client';
import { PlatformClient, signIn } from './demo/platform-client';
import { SimulatedDevice } from './devices/device-simulator';
import type { SandboxEndpoints, SandboxUser } from './sandbox';

export const REPOSITORY_ROOT = join(__dirname, '..', '..');
const CLI = join(REPOSITORY_ROOT, 'sandbox', 'bin', 'smart-home-sandbox.js');
const EXAMPLE_ASSEMBLY = join(REPOSITORY_ROOT, 'examples', 'app', 'cdk.out');

export interface RunningSandbox {
  readonly endpoints: SandboxEndpoints;
  readonly users: SandboxUser[];
  readonly dataDirectory: string;
  /** Lines the sandbox wrote to stderr (its log). */
  readonly log: string[];
  /** Process id of the sandbox. */
  readonly pid: number;
  signIn(username: string): Promise<PlatformClient>;
  device(serial: string, claimToken?: string): SimulatedDevice;
  /** Stops the sandbox with SIGTERM; its data folder is removed unless `keepData` is set. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export interface StartSandboxOptions {
  /** Serial numbers for the provisioning allow-list. */
  readonly allowSerials: string[];
  /** Users as `up --user` takes them. Default alice, bob and operator:admins. */
  readonly users?: string[];
  /** Cloud assembly. Default: the example app's, in this repository. */
  readonly assembly?: string;
  /** Default dev. */
  readonly stage?: string;
}

/** Starts the sandbox in a child process and waits for its ready line. */
export async function startSandbox(options: StartSandboxOptions): Promise<RunningSandbox> {
  const assembly = options.assembly ?? EXAMPLE_ASSEMBLY;
  if (!existsSync(join(assembly, 'manifest.json'))) {
    throw new Error(`${assembly} is not a cloud assembly: run 'npx projen bundle && npm run synth:example' first.`);
  }
  const dataDirectory = mkdtempSync(join(tmpdir(), 'sandbox-'));
  const args = [CLI, 'up', '--assembly', assembly, '--stage', options.stage ?? 'dev', '--data-dir', dataDirectory, '--json'];
  options.allowSerials.forEach((serial) => args.push('--allow-serial', serial));
  (options.users ?? ['alice', 'bob', 'operator:admins']).forEach((user) => args.push('--user', user));
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => log.push(...chunk.toString('utf8').split('\n').filter(Boolean)));

  const ready = await new Promise<any>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`The sandbox did not start within 60 s. Log:\n${log.join('\n')}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const line = buffered.split('\n').find((candidate) => candidate.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The sandbox exited with status ${code} before it was ready. Log:\n${log.join('\n')}`));
    });
  });

  const endpoints = ready as SandboxEndpoints;
  const users = ready.users as SandboxUser[];
  return {
    endpoints,
    users,
    dataDirectory,
    log,
    pid: child.pid!,
    async signIn(username: string) {
      const user = users.find((candidate) => candidate.username === username);
      if (!user) throw new Error(`The sandbox has no user ${username}.`);
      const token = await signIn(endpoints.cognitoUrl, endpoints.userPoolClientId, user.username, user.password);
      return new PlatformClient(username, new AppSyncClient({ graphqlUrl: endpoints.graphqlUrl, realtimeUrl: endpoints.realtimeUrl, token }));
    },
    device(serial: string, claimToken?: string) {
      return SimulatedDevice.fromFiles({
        serial,
        claimToken,
        mqttHost: endpoints.mqtt.host,
        mqttPort: endpoints.mqtt.port,
        caFile: endpoints.caFile,
        claimCertFile: endpoints.claimCertFile,
        claimKeyFile: endpoints.claimKeyFile,
        thingNamePrefix: endpoints.thingNamePrefix,
        provisioningTemplateName: endpoints.provisioningTemplateName,
      });
    },
    async stop(stopOptions = {}) {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      if (!stopOptions.keepData) rmSync(dataDirectory, { recursive: true, force: true });
    },
  };
}
