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
    const value = figure.unit === '' ? figure.value.toFixed(3) : figure.value.toFixed(figure.unit === 'x' ? 2 : 1);
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
