/**
 * Starts `smart-home-sandbox up` as a child process for end-to-end tests. The sandbox runs in
 * its own process because its MQTT broker (aedes) is an ES module, which Jest cannot load.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppSyncClient } from '../../sandbox/src/appsync/appsync-client';
import { PlatformClient, signIn } from '../../sandbox/src/demo/platform-client';
import { SimulatedDevice } from '../../sandbox/src/devices/device-simulator';
import type { SandboxEndpoints, SandboxUser } from '../../sandbox/src/sandbox';

export const REPOSITORY_ROOT = join(__dirname, '..', '..');
const CLI = join(REPOSITORY_ROOT, 'sandbox', 'bin', 'smart-home-sandbox.js');
const ASSEMBLY = join(REPOSITORY_ROOT, 'examples', 'app', 'cdk.out');

export interface RunningSandbox {
  readonly endpoints: SandboxEndpoints;
  readonly users: SandboxUser[];
  readonly dataDirectory: string;
  /** Lines the sandbox wrote to stderr (its log). */
  readonly log: string[];
  signIn(username: string): Promise<PlatformClient>;
  device(serial: string, claimToken?: string): SimulatedDevice;
  stop(): Promise<void>;
}

/** Starts the sandbox for the example app's dev stage and waits for its ready line. */
export async function startSandbox(options: { allowSerials: string[]; users?: string[] }): Promise<RunningSandbox> {
  if (!existsSync(join(ASSEMBLY, 'manifest.json'))) {
    throw new Error(`${ASSEMBLY} is missing: run 'npx projen bundle && npm run synth:example' first.`);
  }
  const dataDirectory = mkdtempSync(join(tmpdir(), 'sandbox-e2e-'));
  const args = [CLI, 'up', '--assembly', ASSEMBLY, '--stage', 'dev', '--data-dir', dataDirectory, '--json'];
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
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDirectory, { recursive: true, force: true });
    },
  };
}
