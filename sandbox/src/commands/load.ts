import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assemblyFolder, parseOptions, REPOSITORY_ROOT } from '../cli';
import { PlatformClient, poll } from '../demo/platform-client';
import { SimulatedDevice } from '../devices/device-simulator';
import { startSandbox } from '../sandbox-process';

const HELP = `Usage: smart-home-sandbox load [options]

Starts a sandbox in its own process and measures it with TypeScript device simulators: devices
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
  /** Resident memory of the sandbox process after onboarding. */
  sandboxRssMb: number;
  /** Executions and state transitions per state machine, counted by the sandbox. */
  workflows: Record<string, { executions: number; stateTransitions: { median: number } }>;
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
    assembly: assemblyFolder({ assembly: values.assembly ?? join(REPOSITORY_ROOT, 'examples', 'app', 'cdk.out') }, '.'),
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

/** Runs the load measurement against a sandbox started in its own process. */
export async function runLoad(options: LoadOptions): Promise<LoadFigures> {
  const serials = Array.from({ length: options.devices }, (_, index) => `LOAD-${String(index + 1).padStart(5, '0')}`);
  const sandbox = await startSandbox({ assembly: options.assembly, stage: options.stage, allowSerials: serials, users: ['load'] });
  const simulated: SimulatedDevice[] = [];
  let stopped = false;
  try {
    const client = await sandbox.signIn('load');
    // A claim token links one device, so each device gets its own.
    const claimTokens: string[] = [];
    await inBatches(serials, options.provisioningConcurrency, async () => {
      claimTokens.push(await client.createClaimToken());
    });
    serials.forEach((serial, index) => simulated.push(sandbox.device(serial, claimTokens[index])));

    options.progress(`provisioning ${options.devices} devices ...`);
    const provisionStart = Date.now();
    await inBatches(simulated, options.provisioningConcurrency, (device) => device.provision());
    const provisionSeconds = (Date.now() - provisionStart) / 1000;

    options.progress(`onboarding ${options.devices} devices ...`);
    const onboardStart = Date.now();
    await inBatches(simulated, options.provisioningConcurrency, (device) => device.goOnline());
    await poll(async () => {
      const count = await client.countMyDevices();
      return count >= options.devices ? count : undefined;
    }, 120_000 + options.devices * 200, `onboarding and linking of ${options.devices} devices`);
    const onboardSeconds = (Date.now() - onboardStart) / 1000;
    const rssMb = residentSetMb(sandbox.pid);

    options.progress(`sending ${options.commands} relay commands to ${options.commandDevices} devices ...`);
    const { latencies, failed, seconds } = await sendCommands(client, simulated.slice(0, options.commandDevices), options);

    const statisticsFile = join(sandbox.dataDirectory, 'statistics.json');
    await sandbox.stop({ keepData: true });
    stopped = true;
    const workflows = JSON.parse(readFileSync(statisticsFile, 'utf8')).workflows as Record<string, { executions: number; stateTransitions: { median: number } }>;
    rmSync(sandbox.dataDirectory, { recursive: true, force: true });

    latencies.sort((a, b) => a - b);
    return {
      devices: options.devices,
      provisionedPerSecond: round(options.devices / provisionSeconds),
      onboardedPerSecond: round(options.devices / onboardSeconds),
      commands: options.commands,
      commandDevices: options.commandDevices,
      roundTripsPerSecond: seconds > 0 ? round(latencies.length / seconds) : 0,
      latencyMs: {
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        max: latencies[latencies.length - 1] ?? 0,
      },
      failedCommands: failed,
      sandboxRssMb: rssMb,
      workflows,
    };
  } finally {
    await Promise.all(simulated.map((device) => device.disconnect().catch(() => undefined)));
    if (!stopped) await sandbox.stop();
  }
}

interface CommandFigures {
  readonly latencies: number[];
  readonly failed: number;
  readonly seconds: number;
}

async function sendCommands(client: PlatformClient, devices: readonly SimulatedDevice[], options: LoadOptions): Promise<CommandFigures> {
  const watch = await client.watchUpdates();
  const latencies: number[] = [];
  let failed = 0;
  let next = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < options.commands) {
      const index = next;
      next += 1;
      const device = devices[index % devices.length];
      const sent = Date.now();
      try {
        const command = await client.controlRelay(device.thingName, 'relay1', index % 2 === 0 ? 'ON' : 'OFF');
        await watch.waitFor((update) => update.command?.commandId === command.commandId && update.command?.status === 'SUCCEEDED', 30_000, `for ${command.commandId}`);
        latencies.push(Date.now() - sent);
      } catch (error) {
        failed += 1;
        options.progress(`command ${index} to ${device.thingName} failed: ${(error as Error).message.slice(0, 200)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.commandConcurrency }, worker));
  watch.close();
  return { latencies, failed, seconds: (Date.now() - started) / 1000 };
}

/** Resident set size of a process in MB, from /proc (Linux). */
function residentSetMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kilobytes = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return round(kilobytes / 1024);
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
    `sandbox memory          ${figures.sandboxRssMb} MB resident after onboarding`,
    ...Object.entries(figures.workflows).filter(([, workflow]) => workflow.executions > 0)
      .map(([name, workflow]) => `transitions             ${workflow.stateTransitions.median} per execution of ${name} (${workflow.executions} executions)`),
  ].join('\n');
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
