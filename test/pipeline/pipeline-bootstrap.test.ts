import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import {
  addPipelineBootstrap,
  PIPELINE_ROLE_NAMES,
  PipelineBootstrapStack,
  PipelineBootstrapStackProps,
} from '../../examples/app/src/pipeline-bootstrap';
import { renderTokens } from '../constructs/template-helpers';

const REPOSITORY = 'octo-org/smart-home';

function synthesize(props: Partial<PipelineBootstrapStackProps> = {}): Template {
  const stack = new PipelineBootstrapStack(new App(), 'Pipeline', { githubRepository: REPOSITORY, ...props });
  return Template.fromStack(stack);
}

function roleLogicalId(template: Template, roleName: string): string {
  const [id] = Object.keys(template.findResources('AWS::IAM::Role', { Properties: { RoleName: roleName } }));
  return id;
}

/** Returns the trust policy statements of the role with the given name. */
function trustOf(template: Template, roleName: string): unknown[] {
  const role = template.findResources('AWS::IAM::Role', { Properties: { RoleName: roleName } })[roleLogicalId(template, roleName)];
  return renderTokens(role.Properties.AssumeRolePolicyDocument.Statement) as unknown[];
}

/** Returns the resources that the role's policies allow, as text. */
function allowedResourcesOf(template: Template, roleName: string): { actions: unknown[]; resources: unknown[] } {
  const id = roleLogicalId(template, roleName);
  const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: id }] } }));
  const statements = policies.flatMap((policy) =>
    renderTokens(policy.Properties.PolicyDocument.Statement) as { Action: unknown; Resource: unknown }[]);
  return {
    actions: statements.flatMap((statement) => statement.Action),
    resources: statements.flatMap((statement) => statement.Resource),
  };
}

function githubTrust(subject: string, provider = '<Ref:GithubOidcProviderD8241A88>'): unknown[] {
  return [{
    Action: 'sts:AssumeRoleWithWebIdentity',
    Effect: 'Allow',
    Principal: { Federated: provider },
    Condition: {
      StringEquals: {
        'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
        'token.actions.githubusercontent.com:sub': subject,
      },
    },
  }];
}

function bootstrapRole(kind: string, qualifier = 'hnb659fds'): string {
  return `arn:<Ref:AWS::Partition>:iam::<Ref:AWS::AccountId>:role/cdk-${qualifier}-${kind}-role-<Ref:AWS::AccountId>-<Ref:AWS::Region>`;
}

describe('PipelineBootstrapStack', () => {
  const template = synthesize();

  test('creates the GitHub OIDC provider', () => {
    template.resourceCountIs('AWS::IAM::OIDCProvider', 1);
    template.hasResourceProperties('AWS::IAM::OIDCProvider', {
      Url: 'https://token.actions.githubusercontent.com',
      ClientIdList: ['sts.amazonaws.com'],
    });
  });

  test('creates one role per job', () => {
    template.resourceCountIs('AWS::IAM::Role', 3);
    for (const roleName of Object.values(PIPELINE_ROLE_NAMES)) {
      template.hasResourceProperties('AWS::IAM::Role', { RoleName: roleName, ManagedPolicyArns: Match.absent() });
    }
  });

  test('diff role trusts pull requests only', () => {
    expect(trustOf(template, PIPELINE_ROLE_NAMES.devDiff)).toEqual(githubTrust(`repo:${REPOSITORY}:pull_request`));
  });

  test('dev deploy role trusts the main branch only', () => {
    expect(trustOf(template, PIPELINE_ROLE_NAMES.devDeploy)).toEqual(githubTrust(`repo:${REPOSITORY}:ref:refs/heads/main`));
  });

  test('prod deploy role trusts the production environment only', () => {
    expect(trustOf(template, PIPELINE_ROLE_NAMES.prodDeploy)).toEqual(githubTrust(`repo:${REPOSITORY}:environment:production`));
  });

  test('diff role may assume the lookup role only', () => {
    expect(allowedResourcesOf(template, PIPELINE_ROLE_NAMES.devDiff)).toEqual({
      actions: ['sts:AssumeRole'],
      resources: [bootstrapRole('lookup')],
    });
  });

  test.each([PIPELINE_ROLE_NAMES.devDeploy, PIPELINE_ROLE_NAMES.prodDeploy])('%s may assume the bootstrap roles only', (roleName) => {
    expect(allowedResourcesOf(template, roleName)).toEqual({
      actions: ['sts:AssumeRole'],
      resources: ['deploy', 'file-publishing', 'image-publishing', 'lookup'].map((kind) => bootstrapRole(kind)),
    });
  });

  test('outputs the role ARNs', () => {
    for (const output of ['DevDiffRoleArn', 'DevDeployRoleArn', 'ProdDeployRoleArn']) {
      template.hasOutput(output, {});
    }
  });

  test('existing provider is imported', () => {
    const providerArn = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
    const imported = synthesize({ existingOidcProviderArn: providerArn });
    imported.resourceCountIs('AWS::IAM::OIDCProvider', 0);
    expect(trustOf(imported, PIPELINE_ROLE_NAMES.prodDeploy)).toEqual(githubTrust(`repo:${REPOSITORY}:environment:production`, providerArn));
  });

  test('qualifier names the bootstrap roles', () => {
    const qualified = synthesize({ cdkQualifier: 'home1' });
    expect(allowedResourcesOf(qualified, PIPELINE_ROLE_NAMES.devDiff).resources).toEqual([bootstrapRole('lookup', 'home1')]);
  });

  test.each(['octo-org', 'octo-org/*', '*/*', 'octo-org/smart-home:ref:refs/heads/main', 'octo org/smart-home', ''])(
    'rejects githubRepository %j', (repository) => {
      expect(() => synthesize({ githubRepository: repository })).toThrow(`Invalid githubRepository '${repository}'`);
    });

  test('rejects an invalid qualifier', () => {
    expect(() => synthesize({ cdkQualifier: 'too-long-qualifier' })).toThrow("Invalid cdkQualifier 'too-long-qualifier'");
  });
});

describe('addPipelineBootstrap', () => {
  const savedRepository = process.env.GITHUB_REPOSITORY;

  beforeEach(() => {
    delete process.env.GITHUB_REPOSITORY;
    jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });

  afterEach(() => {
    jest.restoreAllMocks();
    if (savedRepository === undefined) {
      delete process.env.GITHUB_REPOSITORY;
    } else {
      process.env.GITHUB_REPOSITORY = savedRepository;
    }
  });

  test('adds nothing without a repository', () => {
    const app = new App();
    expect(addPipelineBootstrap(app)).toBeUndefined();
    expect(app.node.tryFindChild('pipeline')).toBeUndefined();
    expect(console.error).toHaveBeenCalledWith(expect.stringContaining('-c githubRepository=owner/name'));
  });

  test('adds the pipeline stage from context', () => {
    const app = new App({ context: { githubRepository: REPOSITORY } });
    const stack = addPipelineBootstrap(app);
    expect(stack?.node.path).toBe('pipeline/SmartHome-pipeline');
    expect(trustOf(Template.fromStack(stack!), PIPELINE_ROLE_NAMES.devDeploy)).toEqual(githubTrust(`repo:${REPOSITORY}:ref:refs/heads/main`));
  });

  test('reads GITHUB_REPOSITORY', () => {
    process.env.GITHUB_REPOSITORY = 'other-org/home';
    const stack = addPipelineBootstrap(new App());
    expect(trustOf(Template.fromStack(stack!), PIPELINE_ROLE_NAMES.devDiff)).toEqual(githubTrust('repo:other-org/home:pull_request'));
  });

  test('context wins over GITHUB_REPOSITORY', () => {
    process.env.GITHUB_REPOSITORY = 'other-org/home';
    const stack = addPipelineBootstrap(new App({ context: { githubRepository: REPOSITORY } }));
    expect(trustOf(Template.fromStack(stack!), PIPELINE_ROLE_NAMES.devDiff)).toEqual(githubTrust(`repo:${REPOSITORY}:pull_request`));
  });

  test('imports the provider from context', () => {
    const providerArn = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
    const stack = addPipelineBootstrap(new App({ context: { githubRepository: REPOSITORY, githubOidcProviderArn: providerArn } }));
    Template.fromStack(stack!).resourceCountIs('AWS::IAM::OIDCProvider', 0);
  });
});
