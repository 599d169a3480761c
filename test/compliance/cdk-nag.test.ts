import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { buildApp } from '../../examples/app/src/stages';

interface Violation {
  readonly ruleName: string;
  readonly description: string;
  readonly violatingResources: { resourceLogicalId: string; templatePath: string }[];
}

interface PluginReport {
  readonly pluginName: string;
  readonly violations: Violation[];
}

function synthesizeWithNag(): PluginReport[] {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nag-'));
  const app = new App({ outdir, context: { '@aws-cdk/core:validationReportJson': true } });
  buildApp(app);
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

describe('example app compliance', () => {
  const reports = synthesizeWithNag();

  function findings(pluginPrefix: string): string[] {
    return reports
      .filter((report) => report.pluginName.includes(pluginPrefix))
      .flatMap((report) => report.violations.map((violation) =>
        `${violation.ruleName} ${violation.violatingResources.map((resource) => resource.resourceLogicalId).join(',')}: ${violation.description.slice(0, 120)}`));
  }

  test('cdk-nag packs ran', () => {
    const names = reports.map((report) => report.pluginName).join(' ');
    expect(names).toMatch(/AwsSolutions/);
    expect(names).toMatch(/Serverless/);
  });

  test('AwsSolutions reports no unacknowledged finding', () => {
    expect(findings('AwsSolutions')).toEqual([]);
  });

  test('Serverless reports no unacknowledged finding', () => {
    expect(findings('Serverless')).toEqual([]);
  });
});
