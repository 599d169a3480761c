import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import * as YAML from 'yaml';
import { newStack, propertiesOfType } from './template-helpers';
import { DashboardEnvironmentVariables, DashboardHosting, DashboardHostingOptions, SmartHomePlatform } from '../../src';

const TOKEN_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:smart-home/github-token-AbCdEf';
const REPOSITORY_URL = 'https://github.com/octo-org/smart-home';

interface HostingFixture {
  readonly stack: Stack;
  readonly hosting: DashboardHosting;
  readonly template: Template;
  readonly userPool: cognito.UserPool;
  readonly userPoolClient: cognito.UserPoolClient;
}

function synthesize(options: Partial<DashboardHostingOptions> = {}, stack: Stack = newStack()): HostingFixture {
  const userPool = new cognito.UserPool(stack, 'UserPool');
  const userPoolClient = userPool.addClient('Client');
  const hosting = new DashboardHosting(stack, 'Dashboard', {
    repositoryUrl: REPOSITORY_URL,
    accessToken: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Token', TOKEN_SECRET_ARN),
    graphqlUrl: 'https://example.appsync-api.eu-west-1.amazonaws.com/graphql',
    userPool,
    userPoolClient,
    ...options,
  });
  return { stack, hosting, template: Template.fromStack(stack), userPool, userPoolClient };
}

function appProperties(template: Template): Record<string, any> {
  const apps = Object.values(propertiesOfType(template, 'AWS::Amplify::App'));
  expect(apps).toHaveLength(1);
  return apps[0];
}

function environmentOf(template: Template): Record<string, unknown> {
  const variables = appProperties(template).EnvironmentVariables as { Name: string; Value: unknown }[];
  return Object.fromEntries(variables.map((variable) => [variable.Name, variable.Value]));
}

function refOf(stack: Stack, construct: { node: { defaultChild?: unknown } }): { Ref: string } {
  return { Ref: stack.getLogicalId(construct.node.defaultChild as CfnElement) };
}

describe('DashboardHosting', () => {
  const { stack, template, userPool, userPoolClient } = synthesize();
  const app = appProperties(template);

  test('creates one app and one branch', () => {
    template.resourceCountIs('AWS::Amplify::App', 1);
    template.resourceCountIs('AWS::Amplify::Branch', 1);
    template.hasResourceProperties('AWS::Amplify::Branch', {
      AppId: { 'Fn::GetAtt': [Match.anyValue(), 'AppId'] },
      BranchName: 'main',
      EnableAutoBuild: true,
      Stage: 'PRODUCTION',
    });
  });

  test('builds from the repository', () => {
    expect(app.Repository).toBe(REPOSITORY_URL);
    expect(app.Platform).toBe('WEB');
  });

  test('references the token dynamically', () => {
    expect(app.AccessToken).toBe(`{{resolve:secretsmanager:${TOKEN_SECRET_ARN}:SecretString:::}}`);
    expect(app.OauthToken).toBeUndefined();
  });

  test('template contains no plain token', () => {
    const text = JSON.stringify(template.toJSON());
    const tokenValues = [...text.matchAll(/"(?:AccessToken|OauthToken)":("[^"]*")/g)].map((match) => JSON.parse(match[1]) as string);
    expect(tokenValues).toEqual([`{{resolve:secretsmanager:${TOKEN_SECRET_ARN}:SecretString:::}}`]);
  });

  test('passes the platform settings', () => {
    expect(environmentOf(template)).toEqual({
      AMPLIFY_MONOREPO_APP_ROOT: 'examples/dashboard',
      [DashboardEnvironmentVariables.GRAPHQL_URL]: 'https://example.appsync-api.eu-west-1.amazonaws.com/graphql',
      [DashboardEnvironmentVariables.REGION]: { Ref: 'AWS::Region' },
      [DashboardEnvironmentVariables.USER_POOL_ID]: refOf(stack, userPool),
      [DashboardEnvironmentVariables.USER_POOL_CLIENT_ID]: refOf(stack, userPoolClient),
    });
  });

  test('build spec builds the static site', () => {
    const buildSpec = YAML.parse(app.BuildSpec);
    expect(buildSpec).toEqual({
      version: 1,
      applications: [{
        appRoot: 'examples/dashboard',
        frontend: {
          phases: {
            preBuild: { commands: ['npm ci'] },
            build: { commands: ['npm run build'] },
          },
          artifacts: { baseDirectory: 'dist', files: ['**/*'] },
          cache: { paths: ['node_modules/**/*'] },
        },
      }],
    });
  });

  test('sends security headers', () => {
    const headers = YAML.parse(app.CustomHeaders).customHeaders[0];
    expect(headers.pattern).toBe('**/*');
    expect(headers.headers.map((header: { key: string }) => header.key)).toEqual([
      'Strict-Transport-Security', 'X-Content-Type-Options', 'X-Frame-Options', 'Referrer-Policy',
    ]);
  });

  test('rewrites client routes to index.html', () => {
    expect(app.CustomRules).toEqual([expect.objectContaining({ Target: '/index.html', Status: '200' })]);
    const pattern = new RegExp(app.CustomRules[0].Source.slice(2, -2));
    expect(pattern.test('/devices/kitchen')).toBe(true);
    expect(pattern.test('/assets/index.js')).toBe(false);
  });

  test('creates no domain by default', () => {
    template.resourceCountIs('AWS::Amplify::Domain', 0);
  });
});

describe('DashboardHosting options', () => {
  test('custom domain maps the branch', () => {
    const { template } = synthesize({ customDomain: { domainName: 'example.com', subdomainPrefix: 'home' } });
    template.resourceCountIs('AWS::Amplify::Domain', 1);
    template.hasResourceProperties('AWS::Amplify::Domain', {
      AppId: { 'Fn::GetAtt': [Match.anyValue(), 'AppId'] },
      DomainName: 'example.com',
      SubDomainSettings: [{ BranchName: { 'Fn::GetAtt': [Match.anyValue(), 'BranchName'] }, Prefix: 'home' }],
    });
  });

  test('domain prefix defaults to the apex', () => {
    const { template } = synthesize({ customDomain: { domainName: 'example.com' } });
    template.hasResourceProperties('AWS::Amplify::Domain', { SubDomainSettings: [Match.objectLike({ Prefix: '' })] });
  });

  test('JSON field selects the token key', () => {
    const { template } = synthesize({ accessTokenJsonField: 'token' });
    expect(appProperties(template).AccessToken).toBe(`{{resolve:secretsmanager:${TOKEN_SECRET_ARN}:SecretString:token::}}`);
  });

  test('other hosts get an OAuth token', () => {
    const { template } = synthesize({ repositoryUrl: 'https://gitlab.com/octo-org/smart-home' });
    const app = appProperties(template);
    expect(app.OauthToken).toBe(`{{resolve:secretsmanager:${TOKEN_SECRET_ARN}:SecretString:::}}`);
    expect(app.AccessToken).toBeUndefined();
  });

  test('build settings are configurable', () => {
    const { template } = synthesize({
      branch: 'release/dashboard',
      appRoot: 'web',
      buildOutputDirectory: 'build/site',
      installCommand: 'pnpm install --frozen-lockfile',
      buildCommand: 'pnpm build',
    });
    const frontend = YAML.parse(appProperties(template).BuildSpec).applications[0].frontend;

    expect(YAML.parse(appProperties(template).BuildSpec).applications[0].appRoot).toBe('web');
    expect(frontend.phases.preBuild.commands).toEqual(['pnpm install --frozen-lockfile']);
    expect(frontend.phases.build.commands).toEqual(['pnpm build']);
    expect(frontend.artifacts.baseDirectory).toBe('build/site');
    expect(environmentOf(template).AMPLIFY_MONOREPO_APP_ROOT).toBe('web');
    template.hasResourceProperties('AWS::Amplify::Branch', { BranchName: 'release/dashboard' });
  });

  test('branch URL uses the default domain', () => {
    const { stack, hosting } = synthesize({ branch: 'release/dashboard' });
    expect(stack.resolve(hosting.branchUrl)).toEqual({
      'Fn::Join': ['', ['https://release-dashboard.', { 'Fn::GetAtt': [stack.getLogicalId(hosting.app), 'DefaultDomain'] }]],
    });
  });

  test('adds further environment variables', () => {
    const { template } = synthesize({ environmentVariables: { VITE_THEME: 'dark' } });
    expect(environmentOf(template).VITE_THEME).toBe('dark');
  });

  test('single-page rewrite can be turned off', () => {
    const { template } = synthesize({ singlePageApp: false });
    expect(appProperties(template).CustomRules).toBeUndefined();
  });
});

describe('DashboardHosting validation', () => {
  test.each([
    ['repositoryUrl', { repositoryUrl: 'http://github.com/octo-org/smart-home' }, 'http://github.com/octo-org/smart-home'],
    ['repositoryUrl', { repositoryUrl: 'https://ghp_secret@github.com/octo-org/smart-home' }, 'https://ghp_secret@github.com/octo-org/smart-home'],
    ['repositoryUrl', { repositoryUrl: 'https://github.com' }, 'https://github.com'],
    ['branch', { branch: '../main' }, '../main'],
    ['branch', { branch: 'feature/' }, 'feature/'],
    ['appRoot', { appRoot: '../outside' }, '../outside'],
    ['appRoot', { appRoot: '/examples/dashboard' }, '/examples/dashboard'],
    ['buildOutputDirectory', { buildOutputDirectory: 'dist/../..' }, 'dist/../..'],
    ['customDomain.domainName', { customDomain: { domainName: 'https://example.com' } }, 'https://example.com'],
    ['customDomain.domainName', { customDomain: { domainName: 'Example.com' } }, 'Example.com'],
    ['customDomain.subdomainPrefix', { customDomain: { domainName: 'example.com', subdomainPrefix: 'home.www' } }, 'home.www'],
    ['environment variable name', { environmentVariables: { 'VITE-THEME': 'dark' } }, 'VITE-THEME'],
  ] as [string, Partial<DashboardHostingOptions>, string][])('rejects invalid %s %j', (name, options, value) => {
    expect(() => synthesize(options)).toThrow(`Invalid ${name} '${value}'`);
  });

  test.each(['SMART_HOME_GRAPHQL_URL', 'AMPLIFY_MONOREPO_APP_ROOT', 'amplify_diff_deploy'])('rejects reserved variable %s', (name) => {
    expect(() => synthesize({ environmentVariables: { [name]: 'x' } })).toThrow(`Invalid environment variable name '${name}'`);
  });

  test('rejects an empty JSON field', () => {
    expect(() => synthesize({ accessTokenJsonField: '' })).toThrow("Invalid accessTokenJsonField ''");
  });
});

describe('DashboardHosting compliance', () => {
  test('cdk-nag reports no finding', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nag-dashboard-'));
    const app = new App({ outdir, context: { '@aws-cdk/core:validationReportJson': true } });
    const stack = new Stack(app, 'Dashboard');
    // Imported Cognito resources keep the stack to the Amplify resources under test.
    const userPool = cognito.UserPool.fromUserPoolId(stack, 'UserPool', 'eu-west-1_AbCdEf123');
    new DashboardHosting(stack, 'Dashboard', {
      repositoryUrl: REPOSITORY_URL,
      accessToken: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Token', TOKEN_SECRET_ARN),
      graphqlUrl: 'https://example.appsync-api.eu-west-1.amazonaws.com/graphql',
      userPool,
      userPoolClient: cognito.UserPoolClient.fromUserPoolClientId(stack, 'Client', '1example23456789'),
      customDomain: { domainName: 'example.com' },
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
    app.synth();

    // The report lists only plugins with violations; test/compliance/cdk-nag.test.ts shows
    // that both packs report into it.
    const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
    const plugins = report.pluginReports as { pluginName: string; violations: { ruleName: string }[] }[];
    expect(plugins.flatMap((plugin) => plugin.violations.map((violation) => `${plugin.pluginName} ${violation.ruleName}`))).toEqual([]);
  });
});

describe('SmartHomePlatform dashboard', () => {
  const stack = newStack();
  const platform = new SmartHomePlatform(stack, 'Platform', {
    stage: 'dev',
    dashboard: {
      repositoryUrl: REPOSITORY_URL,
      accessToken: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Token', TOKEN_SECRET_ARN),
    },
  });
  const template = Template.fromStack(stack);

  test('wires the platform settings', () => {
    expect(environmentOf(template)).toEqual(expect.objectContaining({
      [DashboardEnvironmentVariables.GRAPHQL_URL]: { 'Fn::GetAtt': [stack.getLogicalId(platform.api.api.node.defaultChild as CfnElement), 'GraphQLUrl'] },
      [DashboardEnvironmentVariables.USER_POOL_ID]: refOf(stack, platform.auth.userPool),
      [DashboardEnvironmentVariables.USER_POOL_CLIENT_ID]: refOf(stack, platform.auth.userPoolClient),
    }));
  });

  test('exposes the hosting', () => {
    expect(platform.dashboard).toBeInstanceOf(DashboardHosting);
  });

  test('hosting is off by default', () => {
    const plain = new SmartHomePlatform(newStack(), 'Platform', { stage: 'dev' });
    expect(plain.dashboard).toBeUndefined();
    expect(plain.node.tryFindChild('Dashboard')).toBeUndefined();
  });
});
