import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { PipelineBootstrapStack } from '../../examples/app/src/pipeline-bootstrap';
import { buildApp } from '../../examples/app/src/stages';

interface Violation {
  readonly ruleName: string;
  readonly description: string;
  readonly violatingConstructs: { constructPath: string }[];
}

interface PluginReport {
  readonly pluginName: string;
  readonly violations: Violation[];
}

function synthesizeWithNag(build: (app: App) => void): PluginReport[] {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nag-'));
  const app = new App({ outdir, context: { '@aws-cdk/core:validationReportJson': true } });
  build(app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  try {
    app.synth();
  } catch (error) {
    // A failing plugin makes synth throw after writing the report; the report is asserted below.
    if (!fs.existsSync(path.join(outdir, 'validation-report.json'))) {
      throw error;
    }
  }
  const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
  return report.pluginReports;
}

function findingsOf(reports: PluginReport[], pluginPrefix: string): string[] {
  return reports
    .filter((report) => report.pluginName.includes(pluginPrefix))
    .flatMap((report) => report.violations.map((violation) => violation.ruleName));
}

describe('cdk-nag setup', () => {
  // A stack that breaks known rules shows that the packs run and report into the validation
  // report, so an empty report for the example app means compliance, not a silent setup.
  const reports = synthesizeWithNag((app) => {
    const stack = new Stack(app, 'NonCompliant');
    new sqs.Queue(stack, 'Queue', { encryption: sqs.QueueEncryption.UNENCRYPTED });
  });

  test('AwsSolutions reports an unencrypted queue', () => {
    expect(findingsOf(reports, 'AwsSolutions')).toEqual(expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']));
  });

  test('Serverless reports a queue without redrive', () => {
    expect(findingsOf(reports, 'Serverless')).toContain('Serverless-SQSRedrivePolicy');
  });
});

describe('example app compliance', () => {
  const reports = synthesizeWithNag(buildApp);

  function findings(pluginPrefix: string): string[] {
    return reports
      .filter((report) => report.pluginName.includes(pluginPrefix))
      .flatMap((report) => report.violations.map((violation) =>
        `${violation.ruleName} ${violation.violatingConstructs.map((construct) => construct.constructPath).join(',')}: ${violation.description.slice(0, 120)}`));
  }

  test('CloudFormation validation reports no violation', () => {
    expect(findings('CloudFormation')).toEqual([]);
  });

  test('AwsSolutions reports no unacknowledged finding', () => {
    expect(findings('AwsSolutions')).toEqual([]);
  });

  test('Serverless reports no unacknowledged finding', () => {
    expect(findings('Serverless')).toEqual([]);
  });
});

describe('pipeline bootstrap compliance', () => {
  const reports = synthesizeWithNag((app) => {
    new PipelineBootstrapStack(app, 'Pipeline', { githubRepository: 'octo-org/smart-home' });
  });

  test.each(['CloudFormation', 'AwsSolutions', 'Serverless'])('%s reports no finding', (pluginPrefix) => {
    expect(findingsOf(reports, pluginPrefix)).toEqual([]);
  });
});
