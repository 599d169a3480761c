import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assemblyFolder, parseOptions, REPOSITORY_ROOT } from '../cli';
import { VirtualEsp32 } from '../devices/virtual-esp32';
import { Sandbox, SandboxUser } from '../sandbox';
import { DemoStory } from './demo-story';

/** File that marks a folder as the demo's own, so a later run may empty it. */
const DEMO_MARKER = '.smart-home-sandbox-demo';

const HELP = `Usage: smart-home-sandbox demo [options]

Starts the sandbox from a cloud assembly, starts three virtual ESP32s (the firmware's host build)
and plays the end-to-end story, printing a timeline. Exits 0 only when every step passed.

Options:
  --assembly DIR   cloud assembly folder (default: examples/app/cdk.out of this repository)
  --app COMMAND    synthesize this CDK app first instead
  --stage NAME     stage of the platform stack (default: dev)
  --data-dir DIR   certificates, device flash and logs (default: ./.sandbox-demo); an earlier demo
                   run's folder is emptied first, any other folder must be empty
  --json FILE      write the report {"steps":[{"name","passed","ms","detail"}]} to FILE
  --simulator      use TypeScript simulators instead of the virtual ESP32 (the default only
                   when firmware/build/virtual-esp32 is missing, with a warning)`;

export async function demo(argv: string[]): Promise<number> {
  const values = parseOptions(argv, {
    'assembly': { type: 'string' },
    'app': { type: 'string' },
    'stage': { type: 'string' },
    'data-dir': { type: 'string' },
    'json': { type: 'string' },
    'simulator': { type: 'boolean' },
  }, HELP);

  const simulatedDevices = values.simulator === true || !VirtualEsp32.available();
  if (simulatedDevices && !values.simulator) {
    console.log([
      '',
      '*** WARNING: firmware/build/virtual-esp32 is missing, so the devices are TypeScript simulators, not the',
      '*** firmware. Build the virtual ESP32 with `npm run firmware:test` (`npm run demo` builds it) to run the firmware.',
      '',
    ].join('\n'));
  }
  const dataDirectory = resolve(values['data-dir'] ?? '.sandbox-demo');
  emptyDemoDirectory(dataDirectory);
  const logFile = join(dataDirectory, 'sandbox.log');
  const users: SandboxUser[] = ['alice', 'bob', 'operator'].map((username) => ({
    username,
    password: `Demo-${randomBytes(9).toString('base64url')}1!`,
    groups: username === 'operator' ? ['admins'] : [],
  }));

  console.log('Starting the sandbox ...');
  const sandbox = await Sandbox.start({
    assembly: assemblyFolder({ assembly: values.assembly ?? (values.app ? undefined : join(REPOSITORY_ROOT, 'examples', 'app', 'cdk.out')), app: values.app }, dataDirectory),
    stage: values.stage ?? 'dev',
    dataDirectory,
    users,
    allowedSerials: ['SH-0001', 'SH-0002'],
    waitStateMs: 2_000,
    visibilityTimeoutScale: 0.1,
    log: (line) => appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`),
    functionLog: (functionName, line) => appendFileSync(join(dataDirectory, 'functions.log'), `${functionName} ${line}\n`),
  });
  console.log(`Sandbox for ${sandbox.endpoints.stackName} running: MQTT ${sandbox.endpoints.mqtt.host}:${sandbox.endpoints.mqtt.port}, GraphQL ${sandbox.endpoints.graphqlUrl}`);
  console.log(`Logs: ${logFile}, ${join(dataDirectory, 'functions.log')}\n`);

  const story = new DemoStory({ sandbox, users, simulatedDevices, print: (line) => console.log(line) });
  let steps;
  let workflows;
  try {
    steps = await story.play();
  } finally {
    // The devices stop first, so no message they send starts work that the stop would cut off.
    await story.stop();
    await sandbox.settle().catch(() => undefined);
    workflows = sandbox.workflowStatistics();
    await sandbox.stop();
  }

  const passed = steps.filter((step) => step.passed).length;
  console.log(`\n${passed} of ${steps.length} steps passed.`);
  if (values.json) {
    writeFileSync(resolve(values.json), JSON.stringify({ steps, workflows }, null, 2));
    console.log(`Report written to ${resolve(values.json)}`);
  }
  return passed === steps.length ? 0 : 1;
}

/**
 * Empties the demo's data folder from an earlier run. A folder that contains anything else is
 * refused, so a mistyped --data-dir never deletes a user's files.
 */
function emptyDemoDirectory(directory: string): void {
  if (existsSync(directory) && readdirSync(directory).length > 0 && !existsSync(join(directory, DEMO_MARKER))) {
    throw new Error(`--data-dir ${directory} is not empty and contains no earlier demo run; the demo empties its data folder, so choose an empty or new folder.`);
  }
  rmSync(directory, { recursive: true, force: true });
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, DEMO_MARKER), 'This folder holds a smart-home-sandbox demo run; the next run empties it.\n');
}
