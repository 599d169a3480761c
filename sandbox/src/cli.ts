/**
 * smart-home-sandbox: runs a synthesized SmartHomePlatform on this machine.
 *
 *   smart-home-sandbox up      start the sandbox from a cloud assembly or a CDK app
 *   smart-home-sandbox demo    play the end-to-end story and report each step
 *   smart-home-sandbox device  start virtual devices against a running sandbox
 *   smart-home-sandbox load    provision, onboard and command many simulated devices
 */
import { execSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, ParseArgsConfig } from 'node:util';

type Command = (argv: string[]) => Promise<number>;

// Each command module is loaded when it runs, so `--help` does not load the sandbox.
/* eslint-disable @typescript-eslint/no-require-imports */
const COMMANDS: Record<string, { summary: string; load: () => Command }> = {
  up: { summary: 'start the sandbox and print its endpoints and demo credentials', load: () => require('./commands/up').up },
  demo: { summary: 'start the sandbox for the example app and play the end-to-end story', load: () => require('./demo/demo-command').demo },
  device: { summary: 'start virtual ESP32 devices against a running sandbox', load: () => require('./commands/device').device },
  load: { summary: 'measure provisioning, onboarding and relay round trips with simulated devices', load: () => require('./commands/load').load },
};
/* eslint-enable @typescript-eslint/no-require-imports */

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(8)} ${command.summary}`);
  return `Usage: smart-home-sandbox <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'smart-home-sandbox <command> --help' for the options of a command.`;
}

/** Parses options, printing `help` and exiting 0 for --help and exiting 2 with the message on invalid input. */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, help: string) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(help);
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${help}`);
    process.exit(2);
  }
}

/** Repository root, when the sandbox runs from a checkout. */
export const REPOSITORY_ROOT = resolve(__dirname, '..', '..');

/**
 * Returns a cloud assembly folder: the given one, or the output of synthesizing `app` (a
 * command such as `npx ts-node bin/app.ts`) into `<dataDirectory>/cdk.out` with CDK_OUTDIR.
 */
export function assemblyFolder(values: { assembly?: string; app?: string }, dataDirectory: string): string {
  if (values.app) {
    const outdir = join(dataDirectory, 'cdk.out');
    console.error(`sandbox: synthesizing '${values.app}' into ${outdir}`);
    execSync(values.app, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CDK_OUTDIR: outdir } });
    return outdir;
  }
  const folder = resolve(values.assembly ?? 'cdk.out');
  if (!existsSync(join(folder, 'manifest.json'))) {
    throw new Error(`No cloud assembly at ${folder}. Pass --assembly <cdk.out folder> or --app '<command that synthesizes the app>'.`);
  }
  return folder;
}

/** Reads the endpoints file of a running sandbox. */
export function readEndpoints(dataDirectory: string): import('./sandbox').SandboxEndpoints {
  const file = join(resolve(dataDirectory), 'endpoints.json');
  if (!existsSync(file)) {
    throw new Error(`No running sandbox found: ${file} is missing. Start one with 'smart-home-sandbox up --data-dir ${dataDirectory}'.`);
  }
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** Runs one command with its arguments and returns the exit status. */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`Unknown command '${name}'.\n\n${usage()}`);
    return 2;
  }
  return command.load()(rest);
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(`smart-home-sandbox: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    },
  );
}
