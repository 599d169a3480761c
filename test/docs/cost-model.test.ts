import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildApp } from '../../examples/app/src/stages';

interface CostLine {
  readonly group: string;
  readonly item: string;
  readonly quantity: number;
  readonly price: string;
  readonly usd: number;
}

interface CostModel {
  readonly perDevice: CostLine[];
  readonly fixed: CostLine[];
}

interface Options {
  readonly readingsPerMinute: number;
  readonly commandsPerDay: number;
  readonly devices: number[];
  readonly template?: string;
  readonly json: boolean;
}

interface Total {
  readonly devices: number;
  readonly variableUsd: number;
  readonly fixedUsd: number;
  readonly totalUsd: number;
}

interface Analysis {
  readonly functions: Record<string, { logicalId: string; memoryMb: number }>;
  readonly rules: Record<string, { logicalId: string; actionCount: number; batchSize: number }>;
  readonly relayCommand: { type: string; transitions: number };
}

// The script is plain Node.js, so it has no type declarations to import.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const costModel = require('../../scripts/cost-model.js') as {
  RELAY_COMMAND_SUCCESS_PATH: string[];
  parseArguments: (argv: string[]) => Options;
  findTemplate: (directory: string) => string;
  loadTemplate: (templatePath: string) => any;
  analyzeTemplate: (template: any) => Analysis;
  buildCostModel: (analysis: Analysis, options: Options) => CostModel;
  totalsFor: (model: CostModel, deviceCounts: number[]) => Total[];
  countTransitions: (definition: any, statePath: string[]) => number;
  main: (argv: string[]) => string;
};

const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cost-model-'));
const app = new App({ outdir });
buildApp(app);
app.synth();
const templatePath = costModel.findTemplate(path.join(outdir, 'assembly-dev'));
const template = costModel.loadTemplate(templatePath);
const analysis = costModel.analyzeTemplate(template);

afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

function modelFor(argv: string[]): CostModel {
  return costModel.buildCostModel(analysis, costModel.parseArguments(argv));
}

function quantities(model: CostModel, group: string): number[] {
  return model.perDevice.filter((line) => line.group === group).map((line) => line.quantity);
}

function stateMachineDefinition(suffix: string): any {
  const [, resource] = Object.entries<any>(template.Resources)
    .find(([logicalId, candidate]) => candidate.Type === 'AWS::StepFunctions::StateMachine' && logicalId.replace(/[0-9A-F]{8}$/, '').endsWith(suffix))!;
  const flatten = (value: any): string => typeof value === 'string' ? value
    : value['Fn::Join'] ? value['Fn::Join'][1].map(flatten).join(value['Fn::Join'][0])
      : `\${${value.Ref ?? value['Fn::GetAtt']?.join('.')}}`;
  return JSON.parse(flatten(resource.Properties.DefinitionString));
}

describe('cost model template analysis', () => {
  test('uses each function\'s MemorySize', () => {
    for (const fn of Object.values(analysis.functions)) {
      expect(fn.memoryMb).toBe(template.Resources[fn.logicalId].Properties.MemorySize);
    }
  });

  test('counts each rule\'s actions', () => {
    for (const rule of Object.values(analysis.rules)) {
      expect(rule.actionCount).toBe(template.Resources[rule.logicalId].Properties.TopicRulePayload.Actions.length);
    }
  });

  test('counts the relay command success path', () => {
    expect(analysis.relayCommand.type).toBe('STANDARD');
    expect(analysis.relayCommand.transitions).toBe(costModel.RELAY_COMMAND_SUCCESS_PATH.length);
  });

  test('rejects a path with a missing transition', () => {
    const definition = stateMachineDefinition('RelayCommandsStateMachine');
    const skipped = ['Record command', 'Record outcome', 'Command finished'];
    expect(() => costModel.countTransitions(definition, skipped)).toThrow("State 'Record command' cannot move to 'Record outcome'.");
  });

  test('rejects a path that does not end the execution', () => {
    const definition = stateMachineDefinition('RelayCommandsStateMachine');
    expect(() => costModel.countTransitions(definition, ['Record command', 'Already recorded?'])).toThrow(/does not end an execution/);
  });
});

describe('cost model totals', () => {
  const model = modelFor([]);
  const totals = costModel.totalsFor(model, [100, 10000, 1000000]);

  test('keep fixed costs independent of fleet size', () => {
    const fixed = totals.map((total) => total.fixedUsd);
    expect(fixed[0]).toBeGreaterThan(0);
    expect(new Set(fixed).size).toBe(1);
  });

  test('scale per-device costs linearly', () => {
    const perDevice = totals.map((total) => (total.totalUsd - total.fixedUsd) / total.devices);
    expect(perDevice[0]).toBeGreaterThan(0);
    expect(perDevice[1]).toBeCloseTo(perDevice[0], 10);
    expect(perDevice[2]).toBeCloseTo(perDevice[0], 10);
    expect(totals[2].variableUsd).toBeCloseTo(totals[0].variableUsd * 10000, 4);
  });

  test('price every line', () => {
    for (const line of [...model.perDevice, ...model.fixed]) {
      expect(Number.isFinite(line.usd)).toBe(true);
      expect(line.usd).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('cost model rates', () => {
  const base = modelFor([]);

  test('readings per minute change the telemetry lines', () => {
    const doubled = modelFor(['--readings-per-minute', '2']);
    const before = quantities(base, 'telemetry');
    const after = quantities(doubled, 'telemetry');
    expect(before.length).toBeGreaterThan(0);
    after.forEach((quantity, index) => expect(quantity).toBeCloseTo(before[index] * 2, 6));
  });

  test('readings per minute leave the command lines unchanged', () => {
    const doubled = modelFor(['--readings-per-minute', '2']);
    expect(quantities(doubled, 'commands')).toEqual(quantities(base, 'commands'));
  });

  test('commands per day change only the command lines', () => {
    const tripled = modelFor(['--commands-per-day', '30']);
    quantities(tripled, 'commands').forEach((quantity, index) => expect(quantity).toBeCloseTo(quantities(base, 'commands')[index] * 3, 6));
    expect(quantities(tripled, 'telemetry')).toEqual(quantities(base, 'telemetry'));
  });

  test('rules query follows the processor environment', () => {
    const withRules = JSON.parse(JSON.stringify(template));
    const withoutRules = JSON.parse(JSON.stringify(template));
    const [processorId] = Object.entries<any>(template.Resources)
      .find(([logicalId, resource]) => resource.Type === 'AWS::Lambda::Function' && logicalId.replace(/[0-9A-F]{8}$/, '').endsWith('TelemetryProcessor'))!;
    withRules.Resources[processorId].Properties.Environment.Variables.AUTOMATION_RULES_TABLE = 'rules';
    delete withoutRules.Resources[processorId].Properties.Environment.Variables.AUTOMATION_RULES_TABLE;
    const items = (model: CostModel) => model.perDevice.map((line) => line.item).filter((item) => item.includes('automation rules'));

    const without = costModel.buildCostModel(costModel.analyzeTemplate(withoutRules), costModel.parseArguments([]));
    const withQuery = costModel.buildCostModel(costModel.analyzeTemplate(withRules), costModel.parseArguments([]));

    expect(items(without)).toEqual([]);
    expect(items(withQuery)).toHaveLength(1);
  });

  test('command transitions follow the definition', () => {
    const line = base.perDevice.find((candidate) => candidate.group === 'commands' && candidate.price === 'sfnStateTransition')!;
    expect(line.quantity).toBe(10 * 30 * analysis.relayCommand.transitions);
  });
});

describe('cost model arguments', () => {
  test('rejects an unknown flag by name', () => {
    expect(() => costModel.parseArguments(['--readings-per-hour', '60'])).toThrow("Unknown option '--readings-per-hour'");
  });

  test('rejects a non-numeric rate', () => {
    expect(() => costModel.parseArguments(['--commands-per-day', 'ten'])).toThrow("Invalid --commands-per-day value 'ten'");
  });

  test('rejects a flag without a value', () => {
    expect(() => costModel.parseArguments(['--readings-per-minute'])).toThrow('Option --readings-per-minute needs a value.');
  });

  test('rejects an energy meter share above 1', () => {
    expect(() => costModel.parseArguments(['--energy-meter-share', '2'])).toThrow("Invalid --energy-meter-share value '2'");
  });

  test('fails when the template folder is empty', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'cost-model-empty-'));
    expect(() => costModel.findTemplate(empty)).toThrow('found 0; run `npx projen bundle && npm run synth:example`');
    fs.rmSync(empty, { recursive: true, force: true });
  });

  test('prints JSON with the requested fleet sizes', () => {
    const report = JSON.parse(costModel.main(['--template', templatePath, '--devices', '5,50', '--json']));
    expect(report.totals.map((total: Total) => total.devices)).toEqual([5, 50]);
  });

  test('prints a markdown totals table', () => {
    const markdown = costModel.main(['--template', templatePath, '--devices', '100']);
    expect(markdown).toContain('| devices | per-device costs | fixed costs | total per month | per device-month |');
    expect(markdown).toMatch(/^\| 100 \| \$/m);
  });
});
