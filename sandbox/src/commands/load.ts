import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BatchWriteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { AppSyncClient } from '../appsync/appsync-client';
import { assemblyFolder, parseOptions, REPOSITORY_ROOT } from '../cli';
import { PlatformClient, poll, signIn } from '../demo/platform-client';
import { SimulatedDevice } from '../devices/device-simulator';
import { Sandbox } from '../sandbox';

const HELP = `Usage: smart-home-sandbox load [options]

Starts a sandbox in this process and measures it with TypeScript device simulators: devices
provisioned and onboarded per second, then relay commands from controlRelay to the device's
acknowledgement to the onDeviceUpdate notification. A benchmark, not a test: figures depend on
the machine.

Options:
  --assembly DIR        cloud assembly folder (default: examples/app/cdk.out of this repository)
  --stage NAME          stage of the platform stack (default: dev)
  --devices N           devices to provision and onboard (default: 100)
  --command-devices N   devices that receive relay commands (default: 100, at most --devices)
  --commands N          relay commands to send (default: 1000)
  --concurrency N       provisioning requests and commands in flight (default: 50 and 10)
  --json FILE           also write the figures as JSON to FILE`;

/** Figures of one load run. */
export interface LoadFigures {
  devices: number;
  provisionedPerSecond: number;
  onboardedPerSecond: number;
  commands: number;
  commandDevices: number;
  roundTripsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  failedCommands: number;
  rssMb: number;
  heapUsedMb: number;
}

export async function load(argv: string[]): Promise<number> {
  const values = parseOptions(argv, {
    'assembly': { type: 'string' },
    'stage': { type: 'string' },
    'devices': { type: 'string' },
    'command-devices': { type: 'string' },
    'commands': { type: 'string' },
    'concurrency': { type: 'string' },
    'json': { type: 'string' },
  }, HELP);
  const devices = integerOption('--devices', values.devices, 100, 1, 10_000);
  const commandDevices = Math.min(devices, integerOption('--command-devices', values['command-devices'], 100, 1, 10_000));
  const commands = integerOption('--commands', values.commands, 1000, 0, 1_000_000);
  const concurrency = values.concurrency === undefined ? undefined : integerOption('--concurrency', values.concurrency, 50, 1, 1000);

  const figures = await runLoad({
    assembly: assemblyFolder({ assembly: values.assembly ?? join(REPOSITORY_ROOT, 'examples', 'app', 'cdk.out') }, '.sandbox-load'),
    stage: values.stage ?? 'dev',
    devices,
    commandDevices,
    commands,
    provisioningConcurrency: concurrency ?? 50,
    commandConcurrency: concurrency ?? 10,
    progress: (line) => console.error(line),
  });
  console.log(formatFigures(figures));
  if (values.json) writeFileSync(resolve(values.json), JSON.stringify(figures, null, 2));
  return figures.failedCommands === 0 ? 0 : 1;
}

export interface LoadOptions {
  readonly assembly: string;
  readonly stage: string;
  readonly devices: number;
  readonly commandDevices: number;
  readonly commands: number;
  readonly provisioningConcurrency: number;
  readonly commandConcurrency: number;
  readonly progress: (line: string) => void;
}

/** Runs the load measurement against a sandbox started in this process. */
export async function runLoad(options: LoadOptions): Promise<LoadFigures> {
  const dataDirectory = resolve('.sandbox-load');
  rmSync(dataDirectory, { recursive: true, force: true });
  mkdirSync(dataDirectory, { recursive: true });
  const password = `Load-${randomBytes(9).toString('base64url')}1!`;
  const sandbox = await Sandbox.start({
    assembly: options.assembly,
    stage: options.stage,
    dataDirectory,
    users: [{ username: 'load', password }],
  });
  const simulated: SimulatedDevice[] = [];
  try {
    const endpoints = sandbox.endpoints;
    const token = await signIn(endpoints.cognitoUrl, endpoints.userPoolClientId, 'load', password);
    const client = new PlatformClient('load', new AppSyncClient({ graphqlUrl: endpoints.graphqlUrl, realtimeUrl: endpoints.realtimeUrl, token }));
    const serials = Array.from({ length: options.devices }, (_, index) => `LOAD-${String(index + 1).padStart(5, '0')}`);
    await allowSerials(sandbox, serials);
    // A claim token links one device, so each device gets its own.
    const claimTokens: string[] = [];
    await inBatches(serials, options.provisioningConcurrency, async () => {
      claimTokens.push(await client.createClaimToken());
    });
    for (const [index, serial] of serials.entries()) {
      const claimToken = claimTokens[index];
      simulated.push(SimulatedDevice.fromFiles({
        serial,
        mqttHost: endpoints.mqtt.host,
        mqttPort: endpoints.mqtt.port,
        caFile: endpoints.caFile,
        claimCertFile: endpoints.claimCertFile,
        claimKeyFile: endpoints.claimKeyFile,
        thingNamePrefix: endpoints.thingNamePrefix,
        provisioningTemplateName: endpoints.provisioningTemplateName,
        claimToken,
      }));
    }

    options.progress(`provisioning ${options.devices} devices ...`);
    const provisionStart = Date.now();
    await inBatches(simulated, options.provisioningConcurrency, (device) => device.provision());
    const provisionSeconds = (Date.now() - provisionStart) / 1000;
    options.progress(`onboarding ${options.devices} devices ...`);
    const onboardStart = Date.now();
    await inBatches(simulated, options.provisioningConcurrency, (device) => device.goOnline());
    const devicesTable = sandbox.environmentValue('DEVICES_TABLE');
    await poll(async () => {
      const count = await countLinked(sandbox, devicesTable);
      return count >= options.devices ? count : undefined;
    }, 120_000 + options.devices * 200, `onboarding and linking of ${options.devices} devices`);
    const onboardSeconds = (Date.now() - onboardStart) / 1000;
    const memory = process.memoryUsage();

    options.progress(`sending ${options.commands} relay commands to ${options.commandDevices} devices ...`);
    const watch = await client.watchUpdates();
    const latencies: number[] = [];
    let failed = 0;
    const commandStart = Date.now();
    let next = 0;
    const worker = async () => {
      while (next < options.commands) {
        const index = next;
        next += 1;
        const device = simulated[index % options.commandDevices];
        const state = index % 2 === 0 ? 'ON' : 'OFF';
        const sent = Date.now();
        try {
          const command = await client.controlRelay(device.thingName, 'relay1', state);
          await watch.waitFor((update) => update.command?.commandId === command.commandId && update.command?.status === 'SUCCEEDED', 30_000, `for ${command.commandId}`);
          latencies.push(Date.now() - sent);
        } catch (error) {
          failed += 1;
          options.progress(`command ${index} to ${device.thingName} failed: ${(error as Error).message.slice(0, 200)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: options.commandConcurrency }, worker));
    const commandSeconds = (Date.now() - commandStart) / 1000;
    watch.close();

    latencies.sort((a, b) => a - b);
    return {
      devices: options.devices,
      provisionedPerSecond: round(options.devices / provisionSeconds),
      onboardedPerSecond: round(options.devices / onboardSeconds),
      commands: options.commands,
      commandDevices: options.commandDevices,
      roundTripsPerSecond: round(latencies.length / commandSeconds),
      latencyMs: {
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        max: latencies[latencies.length - 1] ?? 0,
      },
      failedCommands: failed,
      rssMb: round(memory.rss / 1024 / 1024),
      heapUsedMb: round(memory.heapUsed / 1024 / 1024),
    };
  } finally {
    await Promise.all(simulated.map((device) => device.disconnect().catch(() => undefined)));
    await sandbox.stop();
  }
}

/** Formats the figures as the lines that `load` prints. */
export function formatFigures(figures: LoadFigures): string {
  return [
    `devices                 ${figures.devices}`,
    `provisioned per second  ${figures.provisionedPerSecond}`,
    `onboarded per second    ${figures.onboardedPerSecond}`,
    `relay commands          ${figures.commands} to ${figures.commandDevices} devices, ${figures.failedCommands} failed`,
    `round trips per second  ${figures.roundTripsPerSecond}`,
    `round trip latency ms   p50 ${figures.latencyMs.p50}  p95 ${figures.latencyMs.p95}  p99 ${figures.latencyMs.p99}  max ${figures.latencyMs.max}`,
    `memory after onboarding rss ${figures.rssMb} MB, heap ${figures.heapUsedMb} MB (sandbox and simulators in one process)`,
  ].join('\n');
}

async function allowSerials(sandbox: Sandbox, serials: readonly string[]): Promise<void> {
  const table = sandbox.allowListTable();
  if (!table) return;
  for (let start = 0; start < serials.length; start += 25) {
    const items = serials.slice(start, start + 25).map((serial) => ({ PutRequest: { Item: { serial: { S: serial } } } }));
    await sandbox.dynamodb.client.send(new BatchWriteItemCommand({ RequestItems: { [table]: items } }));
  }
}

async function countLinked(sandbox: Sandbox, devicesTable: string): Promise<number> {
  let count = 0;
  let startKey: Record<string, any> | undefined;
  do {
    const page = await sandbox.dynamodb.client.send(new ScanCommand({ TableName: devicesTable, ExclusiveStartKey: startKey, FilterExpression: 'attribute_exists(ownerId)', Select: 'COUNT' }));
    count += page.Count ?? 0;
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return count;
}

async function inBatches<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function integerOption(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new Error(`Invalid ${flag} ${value}: expected an integer from ${min} to ${max}.`);
  }
  return parsed;
}
