import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { evaluateDetector, LabeledDataset } from '../src/domain/anomaly-evaluation';
import { buildApp } from '../examples/app/src/stages';

/**
 * Prints the platform's figures next to their baselines, measured in the same run, as medians
 * over several runs. `--json FILE` also writes them as JSON.
 */

const ROOT = path.resolve(__dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? '5');

/** Figures that `smart-home-sandbox load --json` writes. */
interface LoadFigures {
  readonly provisionedPerSecond: number;
  readonly onboardedPerSecond: number;
  readonly roundTripsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number };
  readonly failedCommands: number;
  readonly sandboxRssMb: number;
}

interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: number;
  readonly target?: string;
  readonly meetsTarget?: boolean;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 0 ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle];
}

function timeNodeScript(script: string, env: NodeJS.ProcessEnv): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) {
    const message = result.stderr.toString().split('\n').find((line) => /^\w*Error\b/.test(line)) ?? 'no error line';
    throw new Error(`Benchmark script failed: ${message.slice(0, 300)}`);
  }
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Synth of the example app against an empty aws-cdk-lib app, both without template validation. */
function synthFigures(): Figure[] {
  const env = { ...process.env, CDK_VALIDATION: 'false', AWS_EC2_METADATA_DISABLED: 'true' };
  delete env.NODE_EXTRA_CA_CERTS;
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
  const register = `require('ts-node').register({ transpileOnly: true, project: ${JSON.stringify(path.join(ROOT, 'examples/app/tsconfig.json'))} });`;
  const example = `${register} const { App } = require('aws-cdk-lib'); const { buildApp } = require('./examples/app/src/stages.ts'); const app = new App({ outdir: ${JSON.stringify(outdir)} }); buildApp(app); app.synth();`;
  const empty = `${register} const { App, Stack } = require('aws-cdk-lib'); const app = new App({ outdir: ${JSON.stringify(outdir)} }); new Stack(app, 'Empty'); app.synth();`;
  const exampleTimes: number[] = [];
  const emptyTimes: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    emptyTimes.push(timeNodeScript(empty, env));
    exampleTimes.push(timeNodeScript(example, env));
  }
  const ratio = median(exampleTimes) / median(emptyTimes);
  return [
    { name: 'synth: example app (dev and prod)', value: median(exampleTimes), unit: 'ms', baseline: median(emptyTimes) },
    { name: 'synth: example app / empty app', value: ratio, unit: 'x', target: '<= 2.5', meetsTarget: ratio <= 2.5 },
  ];
}

/** Size of each handler bundle, which excludes the AWS SDK, and its cold module-init time. */
function handlerFigures(): Figure[] {
  const figures: Figure[] = [];
  const assets = path.join(ROOT, 'assets');
  const env = { ...process.env, ...handlerEnv() };
  delete env.NODE_EXTRA_CA_CERTS;
  for (const area of fs.readdirSync(assets)) {
    for (const bundle of fs.readdirSync(path.join(assets, area))) {
      const file = path.join(assets, area, bundle, 'index.js');
      const source = fs.readFileSync(file, 'utf8');
      const kb = fs.statSync(file).size / 1000;
      const clients = [...new Set([...source.matchAll(/require\("(@aws-sdk\/client-[a-z0-9-]+)"\)/g)].map((match) => match[1]))];
      const bare = `${clients.map((client) => `require(${JSON.stringify(client)});`).join('')}`;
      const handlerTimes: number[] = [];
      const bareTimes: number[] = [];
      for (let run = 0; run < RUNS; run += 1) {
        bareTimes.push(timeNodeScript(bare, { ...env, AWS_REGION: 'us-east-1' }));
        handlerTimes.push(timeNodeScript(`require(${JSON.stringify(file)})`, { ...env, AWS_REGION: 'us-east-1' }));
      }
      const ratio = median(handlerTimes) / median(bareTimes);
      figures.push({ name: `bundle: ${area}/${bundle}`, value: kb, unit: 'kB', target: '<= 150', meetsTarget: kb <= 150 });
      figures.push({ name: `cold init: ${area}/${bundle}`, value: median(handlerTimes), unit: 'ms', baseline: median(bareTimes) });
      figures.push({ name: `cold init ratio: ${area}/${bundle}`, value: ratio, unit: 'x', target: '<= 1.3', meetsTarget: ratio <= 1.3 });
    }
  }
  return figures;
}

/**
 * Returns the environment variables that the example app gives its functions, with placeholders
 * for resource references, so that each bundle's module loads as it would in Lambda.
 */
function handlerEnv(): Record<string, string> {
  const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'bench-env-')) });
  const stages = buildApp(app);
  const env: Record<string, string> = {};
  for (const stack of stages.flatMap((stage) => stage.synth().stacks)) {
    for (const resource of Object.values(stack.template.Resources ?? {}) as any[]) {
      const variables = resource.Type === 'AWS::Lambda::Function' ? resource.Properties.Environment?.Variables ?? {} : {};
      for (const [name, value] of Object.entries(variables)) {
        if (!name.startsWith('AWS_') && !name.startsWith('NODE_')) {
          // Literal values are kept; references to resources become a placeholder name.
          env[name] = typeof value === 'string' ? value : 'bench';
        }
      }
    }
  }
  return env;
}

/** Precision, recall and F1 of the anomaly detector per kind on the labelled set. */
function detectorFigures(): Figure[] {
  const dataset = JSON.parse(fs.readFileSync(path.join(ROOT, 'test/data/telemetry-labelled.json'), 'utf8')) as LabeledDataset;
  const evaluation = evaluateDetector(dataset);
  const figures: Figure[] = [];
  for (const [kind, scores] of [...Object.entries(evaluation.kinds), ['all kinds', evaluation.overall]] as [string, typeof evaluation.overall][]) {
    figures.push({ name: `detector ${kind}: precision`, value: scores.precision, unit: '' });
    figures.push({ name: `detector ${kind}: recall`, value: scores.recall, unit: '' });
    figures.push({ name: `detector ${kind}: F1`, value: scores.f1, unit: '' });
  }
  return figures;
}

/** Runs `smart-home-sandbox load` once with the given arguments and returns its JSON figures. */
function runLoad(args: string[]): LoadFigures {
  const output = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-load-')), 'load.json');
  const run = spawnSync(process.execPath, [path.join(ROOT, 'sandbox/bin/smart-home-sandbox.js'), 'load', ...args, '--json', output], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 30 * 60_000,
  });
  if (!fs.existsSync(output)) {
    throw new Error(`smart-home-sandbox load ${args.join(' ')} failed: ${run.stderr.toString().slice(-500)}`);
  }
  return JSON.parse(fs.readFileSync(output, 'utf8')) as LoadFigures;
}

/**
 * Provisioning, onboarding and relay round trips through the sandbox with simulated devices.
 * Each is one run, because a run of 1,000 devices takes minutes on 2 cores.
 */
function sandboxLoadFigures(): Figure[] {
  const hundred = runLoad(['--devices', '100', '--command-devices', '100', '--commands', '1000']);
  const thousand = runLoad(['--devices', '1000', '--commands', '0']);
  return [
    { name: 'sandbox: provisioned per second, 100 devices', value: hundred.provisionedPerSecond, unit: '/s' },
    { name: 'sandbox: onboarded per second, 100 devices', value: hundred.onboardedPerSecond, unit: '/s' },
    { name: 'sandbox: provisioned per second, 1,000 devices', value: thousand.provisionedPerSecond, unit: '/s' },
    { name: 'sandbox: onboarded per second, 1,000 devices', value: thousand.onboardedPerSecond, unit: '/s', target: '>= 50', meetsTarget: thousand.onboardedPerSecond >= 50 },
    { name: 'sandbox: relay round trip p50 (1,000 commands)', value: hundred.latencyMs.p50, unit: 'ms', target: '<= 10', meetsTarget: hundred.latencyMs.p50 <= 10 },
    { name: 'sandbox: relay round trip p95', value: hundred.latencyMs.p95, unit: 'ms' },
    { name: 'sandbox: relay round trip p99', value: hundred.latencyMs.p99, unit: 'ms', target: '<= 50', meetsTarget: hundred.latencyMs.p99 <= 50 },
    { name: 'sandbox: relay round trips per second, 100 devices', value: hundred.roundTripsPerSecond, unit: '/s', target: '>= 200', meetsTarget: hundred.roundTripsPerSecond >= 200 },
    { name: 'sandbox: failed relay commands', value: hundred.failedCommands, unit: '' },
    { name: 'sandbox: resident memory at 1,000 devices', value: thousand.sandboxRssMb, unit: 'MB' },
  ];
}

/**
 * State transitions per execution of each workflow, counted from the executions of one demo run
 * in the sandbox, and what a million executions would cost at us-east-1 list prices.
 */
function workflowFigures(): Figure[] {
  const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-demo-')), 'demo.json');
  spawnSync(process.execPath, [path.join(ROOT, 'sandbox/bin/smart-home-sandbox.js'), 'demo', '--data-dir', path.join(path.dirname(report), 'data'), '--json', report], {
    cwd: ROOT,
    stdio: 'ignore',
    timeout: 10 * 60_000,
  });
  if (!fs.existsSync(report)) {
    throw new Error('smart-home-sandbox demo wrote no report.');
  }
  const workflows = JSON.parse(fs.readFileSync(report, 'utf8')).workflows as Record<string, { type: string; executions: number; stateTransitions: { median: number }; averageDurationMs: number }>;
  const figures: Figure[] = [];
  for (const [label, prefix, target] of [
    ['onboarding', 'PlatformOnboarding', undefined],
    ['relay command', 'PlatformRelayCommands', 8],
    ['anomaly response', 'PlatformAnomalyResponse', undefined],
  ] as [string, string, number | undefined][]) {
    const [, workflow] = Object.entries(workflows).find(([logicalId]) => logicalId.startsWith(prefix)) ?? [];
    if (!workflow || workflow.executions === 0) {
      throw new Error(`The demo ran no ${label} workflow; its report has ${Object.keys(workflows).join(', ')}.`);
    }
    const transitions = workflow.stateTransitions.median;
    figures.push({
      name: `transitions per ${label} (${workflow.type})`,
      value: transitions,
      unit: '',
      ...(target === undefined ? {} : { target: `< ${target}`, meetsTarget: transitions < target }),
    });
    figures.push({ name: `cost per million ${label} executions`, value: costPerMillion(workflow.type, transitions, workflow.averageDurationMs), unit: 'USD' });
  }
  return figures;
}

/**
 * Step Functions list prices in us-east-1: Standard $0.025 per 1,000 state transitions; Express
 * $1.00 per million requests plus $0.00001667 per GB-second at the 64 MB minimum, where the
 * duration is the local one, an estimate of the deployed duration.
 */
function costPerMillion(type: string, transitions: number, durationMs: number): number {
  if (type === 'EXPRESS') {
    return 1.0 + 1_000_000 * (durationMs / 1000) * 0.064 * 0.00001667;
  }
  return transitions * 25;
}

function firmwareFigures(): Figure[] {
  const output = execFileSync('bash', [path.join(ROOT, 'firmware/scripts/size.sh')], { cwd: ROOT, encoding: 'utf8' });
  const match = /total text=(\d+) data=(\d+) bss=(\d+)/.exec(output);
  if (!match) {
    throw new Error('firmware/scripts/size.sh printed no total line.');
  }
  return [
    { name: 'firmware core rv32imc: text', value: Number(match[1]), unit: 'bytes' },
    { name: 'firmware core rv32imc: data', value: Number(match[2]), unit: 'bytes' },
    { name: 'firmware core rv32imc: bss', value: Number(match[3]), unit: 'bytes' },
  ];
}

function print(figures: Figure[]): void {
  for (const figure of figures) {
    let digits = 1;
    if (figure.unit === 'x' || figure.unit === 'USD') {
      digits = 2;
    } else if (figure.unit === '') {
      digits = Number.isInteger(figure.value) ? 0 : 3;
    }
    const value = figure.value.toFixed(digits);
    const baseline = figure.baseline === undefined ? '' : `  (baseline ${figure.baseline.toFixed(1)} ${figure.unit})`;
    const target = figure.target === undefined ? '' : `  target ${figure.target}: ${figure.meetsTarget ? 'met' : 'MISSED'}`;
    console.log(`${figure.name.padEnd(52)} ${value} ${figure.unit}${baseline}${target}`);
  }
}

function main(): void {
  const jsonIndex = process.argv.indexOf('--json');
  const jsonFile = jsonIndex >= 0 ? process.argv[jsonIndex + 1] : undefined;
  if (jsonIndex >= 0 && !jsonFile) {
    throw new Error('--json needs a file name, for example --json bench.json');
  }
  console.log(`bench: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node.js ${process.version}, medians of ${RUNS} runs`);
  const sections: [string, () => Figure[]][] = [
    ['anomaly detector (test/data/telemetry-labelled.json)', detectorFigures],
    ['handlers', handlerFigures],
    ['synth', synthFigures],
    ['firmware', firmwareFigures],
    ['workflows (one demo run in the sandbox)', workflowFigures],
    ['sandbox load (smart-home-sandbox load, one run each)', sandboxLoadFigures],
  ];
  const all: Figure[] = [];
  for (const [title, measure] of sections) {
    console.log(`\n${title}`);
    const figures = measure();
    print(figures);
    all.push(...figures);
  }
  if (jsonFile) {
    fs.writeFileSync(jsonFile, JSON.stringify({ date: new Date().toISOString(), cores: os.cpus().length, node: process.version, figures: all }, null, 2));
  }
}

main();
