import { App, CfnOutput, Stack, StackProps, Stage } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** Issuer of the OIDC tokens that GitHub Actions jobs request. */
export const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';

/** Qualifier that `cdk bootstrap` uses unless it is given `--qualifier`. */
export const DEFAULT_CDK_QUALIFIER = 'hnb659fds';

/**
 * Names of the roles that the workflows in examples/app/.github/workflows assume. The names are
 * fixed so that a workflow can build the role ARN from the account id alone.
 */
export const PIPELINE_ROLE_NAMES = {
  devDiff: 'smart-home-github-dev-diff',
  devDeploy: 'smart-home-github-dev-deploy',
  prodDeploy: 'smart-home-github-prod-deploy',
} as const;

/** GitHub environment whose required reviewers approve production deployments. */
export const PRODUCTION_ENVIRONMENT = 'production';

const GITHUB_REPOSITORY_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;
const CDK_QUALIFIER_PATTERN = /^[A-Za-z0-9_-]{1,10}$/;

/** Properties of the stack with the GitHub OIDC provider and the pipeline's roles. */
export interface PipelineBootstrapStackProps extends StackProps {
  /** Repository whose workflows may assume the roles, as `owner/name`. */
  readonly githubRepository: string;

  /**
   * ARN of an existing OIDC provider for token.actions.githubusercontent.com. An account has at
   * most one provider per issuer URL, so an account that already has one must pass its ARN.
   * @default - the stack creates the provider
   */
  readonly existingOidcProviderArn?: string;

  /**
   * Qualifier of the CDK bootstrap stack in this account and region.
   * @default 'hnb659fds'
   */
  readonly cdkQualifier?: string;
}

/**
 * The GitHub OIDC provider and one role per pipeline job. Each role trusts only tokens of one
 * repository for one kind of job, and may only assume the CDK bootstrap roles of this account
 * and region; the bootstrap roles hold the deployment permissions.
 */
export class PipelineBootstrapStack extends Stack {
  public readonly oidcProvider: iam.IOidcProvider;
  /** Pull request jobs: `cdk diff --method=template` of the dev stage. */
  public readonly devDiffRole: iam.Role;
  /** Jobs on the main branch: deploy the dev stage. */
  public readonly devDeployRole: iam.Role;
  /** Jobs in the production environment: deploy the prod stage. */
  public readonly prodDeployRole: iam.Role;

  constructor(scope: Construct, id: string, props: PipelineBootstrapStackProps) {
    super(scope, id, props);
    requireGithubRepository(props.githubRepository);
    const qualifier = props.cdkQualifier ?? DEFAULT_CDK_QUALIFIER;
    if (!CDK_QUALIFIER_PATTERN.test(qualifier)) {
      throw new Error(`Invalid cdkQualifier '${qualifier}': it must match ${CDK_QUALIFIER_PATTERN.source}, the qualifier given to 'cdk bootstrap --qualifier'.`);
    }

    this.oidcProvider = props.existingOidcProviderArn
      ? iam.OidcProviderNative.fromOidcProviderArn(this, 'GithubOidcProvider', props.existingOidcProviderArn)
      : new iam.OidcProviderNative(this, 'GithubOidcProvider', {
        url: `https://${GITHUB_OIDC_HOST}`,
        clientIds: ['sts.amazonaws.com'],
      });

    const repository = props.githubRepository;
    this.devDiffRole = this.createJobRole('DevDiffRole', {
      roleName: PIPELINE_ROLE_NAMES.devDiff,
      subject: `repo:${repository}:pull_request`,
      description: `cdk diff of the dev stage in pull requests of ${repository}`,
      // A template diff reads the deployed templates through the lookup role only.
      bootstrapRoles: ['lookup'],
      qualifier,
    });
    this.devDeployRole = this.createJobRole('DevDeployRole', {
      roleName: PIPELINE_ROLE_NAMES.devDeploy,
      subject: `repo:${repository}:ref:refs/heads/main`,
      description: `Deploys the dev stage from the main branch of ${repository}`,
      bootstrapRoles: ['deploy', 'file-publishing', 'image-publishing', 'lookup'],
      qualifier,
    });
    this.prodDeployRole = this.createJobRole('ProdDeployRole', {
      roleName: PIPELINE_ROLE_NAMES.prodDeploy,
      subject: `repo:${repository}:environment:${PRODUCTION_ENVIRONMENT}`,
      description: `Deploys the prod stage from the ${PRODUCTION_ENVIRONMENT} environment of ${repository}`,
      bootstrapRoles: ['deploy', 'file-publishing', 'image-publishing', 'lookup'],
      qualifier,
    });

    new CfnOutput(this, 'DevDiffRoleArn', { value: this.devDiffRole.roleArn });
    new CfnOutput(this, 'DevDeployRoleArn', { value: this.devDeployRole.roleArn });
    new CfnOutput(this, 'ProdDeployRoleArn', { value: this.prodDeployRole.roleArn });
  }

  private createJobRole(id: string, options: {
    roleName: string;
    subject: string;
    description: string;
    bootstrapRoles: string[];
    qualifier: string;
  }): iam.Role {
    const role = new iam.Role(this, id, {
      roleName: options.roleName,
      description: options.description,
      assumedBy: new iam.WebIdentityPrincipal(this.oidcProvider.oidcProviderArn, {
        StringEquals: {
          [`${GITHUB_OIDC_HOST}:aud`]: 'sts.amazonaws.com',
          [`${GITHUB_OIDC_HOST}:sub`]: options.subject,
        },
      }),
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['sts:AssumeRole'],
      resources: options.bootstrapRoles.map((kind) =>
        `arn:${this.partition}:iam::${this.account}:role/cdk-${options.qualifier}-${kind}-role-${this.account}-${this.region}`),
    }));
    return role;
  }
}

function requireGithubRepository(value: string): void {
  if (!GITHUB_REPOSITORY_PATTERN.test(value)) {
    throw new Error(`Invalid githubRepository '${value}': it must be 'owner/name' of one GitHub repository, for example 'octo-org/smart-home'. Wildcards are not allowed because the value restricts who may assume the deployment roles.`);
  }
}

/**
 * Adds the `pipeline` stage with the PipelineBootstrapStack when the app has the
 * `githubRepository` context value (`-c githubRepository=owner/name`) or the
 * GITHUB_REPOSITORY environment variable, which GitHub Actions sets. Without either, it adds
 * nothing and prints a note, so the example synthesizes with no configuration.
 * `-c githubOidcProviderArn=ARN` reuses an existing provider.
 */
export function addPipelineBootstrap(app: App): PipelineBootstrapStack | undefined {
  const repository = app.node.tryGetContext('githubRepository') ?? process.env.GITHUB_REPOSITORY;
  if (repository === undefined || repository === '') {
    console.error('pipeline: no githubRepository set, so the pipeline stage is not synthesized; pass -c githubRepository=owner/name to add it.');
    return undefined;
  }
  const stage = new Stage(app, 'pipeline');
  return new PipelineBootstrapStack(stage, 'SmartHome-pipeline', {
    stackName: 'SmartHome-pipeline',
    description: `GitHub OIDC provider and deployment roles for ${repository}`,
    githubRepository: String(repository),
    existingOidcProviderArn: app.node.tryGetContext('githubOidcProviderArn'),
  });
}
