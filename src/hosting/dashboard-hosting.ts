import { Fn, Stack, Token } from 'aws-cdk-lib';
import * as amplify from 'aws-cdk-lib/aws-amplify';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { requireMatch } from '../private/validation';

/** Custom domain of the dashboard. */
export interface DashboardCustomDomain {
  /**
   * Domain whose DNS you control, for example `example.com`. Amplify issues its certificate
   * after you create the verification record that the Amplify console lists.
   */
  readonly domainName: string;

  /**
   * Subdomain prefix under which the branch is served, for example `home` for
   * `home.example.com`. An empty prefix serves the branch at the domain itself.
   * @default ''
   */
  readonly subdomainPrefix?: string;
}

/**
 * Settings of the dashboard's Amplify Hosting app that do not come from the platform.
 */
export interface DashboardHostingOptions {
  /**
   * HTTPS URL of the repository that contains the dashboard, for example
   * `https://github.com/octo-org/smart-home`. The URL must not contain credentials.
   */
  readonly repositoryUrl: string;

  /**
   * Secret with the repository access token. For a repository on github.com (or a
   * `repositoryUrl` that is a token) it is passed as a GitHub personal access token
   * (`AccessToken`), for any other host as an OAuth token (`OauthToken`). The template
   * references it through a `{{resolve:secretsmanager:...}}` dynamic reference, so the token
   * never appears in it.
   */
  readonly accessToken: secretsmanager.ISecret;

  /**
   * JSON key that contains the token when the secret is a JSON object.
   * @default - the whole secret string is the token
   */
  readonly accessTokenJsonField?: string;

  /**
   * Branch that Amplify builds and serves.
   * @default 'main'
   */
  readonly branch?: string;

  /**
   * Folder of the dashboard inside the repository, relative to its root.
   * @default 'examples/dashboard'
   */
  readonly appRoot?: string;

  /**
   * Folder with the built static site, relative to `appRoot`.
   * @default 'dist'
   */
  readonly buildOutputDirectory?: string;

  /**
   * Command that installs the dashboard's dependencies, run in `appRoot`.
   * @default 'npm ci'
   */
  readonly installCommand?: string;

  /**
   * Command that builds the static site into `buildOutputDirectory`, run in `appRoot`.
   * @default 'npm run build'
   */
  readonly buildCommand?: string;

  /**
   * Custom domain of the dashboard.
   * @default - the branch is served only at `https://<branch>.<app id>.amplifyapp.com`
   */
  readonly customDomain?: DashboardCustomDomain;

  /**
   * Further build-time environment variables. Names must not start with `SMART_HOME_` or
   * `AMPLIFY_`, which the construct sets. Do not put secrets here: Amplify shows these values in
   * its console and the template contains them in plain text.
   * @default - none
   */
  readonly environmentVariables?: { [name: string]: string };

  /**
   * Rewrites every path without a file extension to `/index.html`, as a single-page app with
   * client-side routing needs.
   * @default true
   */
  readonly singlePageApp?: boolean;
}

/** Properties of a DashboardHosting. */
export interface DashboardHostingProps extends DashboardHostingOptions {
  /** URL of the platform's GraphQL API. */
  readonly graphqlUrl: string;

  /** User pool in which dashboard users sign in. */
  readonly userPool: cognito.IUserPool;

  /** App client of that user pool for the dashboard. */
  readonly userPoolClient: cognito.IUserPoolClient;
}

/** Names of the build-time environment variables that carry the platform's settings. */
export class DashboardEnvironmentVariables {
  /** URL of the GraphQL API. */
  public static readonly GRAPHQL_URL = 'SMART_HOME_GRAPHQL_URL';
  /** Region of the platform. */
  public static readonly REGION = 'SMART_HOME_REGION';
  /** Id of the Cognito user pool. */
  public static readonly USER_POOL_ID = 'SMART_HOME_USER_POOL_ID';
  /** Id of the user pool's app client. */
  public static readonly USER_POOL_CLIENT_ID = 'SMART_HOME_USER_POOL_CLIENT_ID';

  private constructor() {}
}

const RESERVED_VARIABLE_PREFIXES = ['SMART_HOME_', 'AMPLIFY_'];
const RELATIVE_PATH_PATTERN = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;
const BRANCH_PATTERN = /^(?!.*\.\.)(?!\/)(?!.*\/$)[A-Za-z0-9._\/-]{1,255}$/;
const REPOSITORY_URL_PATTERN = /^https:\/\/[A-Za-z0-9.-]+(?::\d+)?\/[A-Za-z0-9._~-]+(?:\/[A-Za-z0-9._~-]+)+$/;
const DOMAIN_PATTERN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;
const SUBDOMAIN_PREFIX_PATTERN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)?$/;
const VARIABLE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

// Response headers for every path: HTTPS only, no MIME sniffing, no framing by other sites.
const SECURITY_HEADERS = codebuild.BuildSpec.fromObjectToYaml({
  customHeaders: [{
    pattern: '**/*',
    headers: [
      { key: 'Strict-Transport-Security', value: 'max-age=31536000; includeSubDomains' },
      { key: 'X-Content-Type-Options', value: 'nosniff' },
      { key: 'X-Frame-Options', value: 'DENY' },
      { key: 'Referrer-Policy', value: 'strict-origin-when-cross-origin' },
    ],
  }],
}).toBuildSpec();

// Paths without a file extension (client-side routes) get index.html with status 200.
const SINGLE_PAGE_APP_REWRITE: amplify.CfnApp.CustomRuleProperty = {
  source: '</^[^.]+$|\\.(?!(css|gif|ico|jpg|jpeg|js|json|map|png|svg|txt|webp|woff|woff2|ttf)$)([^.]+$)/>',
  target: '/index.html',
  status: '200',
};

/**
 * The owners' web dashboard on AWS Amplify Hosting: an Amplify app built from the dashboard's
 * repository, one branch, and optionally a custom domain. The build receives the GraphQL URL,
 * the region and the Cognito user pool and client ids as environment variables.
 *
 * @example
 * const token = secretsmanager.Secret.fromSecretNameV2(this, 'GithubToken', 'smart-home/github-token');
 * new DashboardHosting(this, 'Dashboard', {
 *   repositoryUrl: 'https://github.com/octo-org/smart-home',
 *   accessToken: token,
 *   graphqlUrl: platform.api.graphqlUrl,
 *   userPool: platform.auth.userPool,
 *   userPoolClient: platform.auth.userPoolClient,
 *   customDomain: { domainName: 'example.com', subdomainPrefix: 'home' },
 * });
 */
export class DashboardHosting extends Construct {
  public readonly app: amplify.CfnApp;
  public readonly branch: amplify.CfnBranch;
  /** Custom domain association, when `customDomain` is set. */
  public readonly domain?: amplify.CfnDomain;
  /** Amplify app id. */
  public readonly appId: string;
  /** HTTPS URL at which Amplify serves the branch, without the custom domain. */
  public readonly branchUrl: string;

  constructor(scope: Construct, id: string, props: DashboardHostingProps) {
    super(scope, id);
    const branchName = props.branch ?? 'main';
    const appRoot = props.appRoot ?? 'examples/dashboard';
    const buildOutputDirectory = props.buildOutputDirectory ?? 'dist';
    validateOptions(props, branchName, appRoot, buildOutputDirectory);

    const tokenValue = props.accessTokenJsonField
      ? props.accessToken.secretValueFromJson(props.accessTokenJsonField)
      : props.accessToken.secretValue;
    // unsafeUnwrap renders the dynamic reference {{resolve:secretsmanager:...}}, which
    // CloudFormation resolves at deploy time. The token itself never enters the template.
    const token = tokenValue.unsafeUnwrap();
    const isGithub = Token.isUnresolved(props.repositoryUrl) || new URL(props.repositoryUrl).hostname === 'github.com';

    this.app = new amplify.CfnApp(this, 'App', {
      name: `${Stack.of(this).stackName}-dashboard`,
      description: 'Smart-home owners\' dashboard',
      platform: 'WEB',
      repository: props.repositoryUrl,
      // Amplify takes a GitHub token as accessToken and every other provider's as oauthToken.
      accessToken: isGithub ? token : undefined,
      oauthToken: isGithub ? undefined : token,
      buildSpec: buildSpecOf(appRoot, buildOutputDirectory, props.installCommand ?? 'npm ci', props.buildCommand ?? 'npm run build'),
      customHeaders: SECURITY_HEADERS,
      customRules: (props.singlePageApp ?? true) ? [SINGLE_PAGE_APP_REWRITE] : undefined,
      environmentVariables: Object.entries({
        ...props.environmentVariables,
        // Amplify requires this variable for an app that is not at the repository root.
        AMPLIFY_MONOREPO_APP_ROOT: appRoot,
        [DashboardEnvironmentVariables.GRAPHQL_URL]: props.graphqlUrl,
        [DashboardEnvironmentVariables.REGION]: Stack.of(this).region,
        [DashboardEnvironmentVariables.USER_POOL_ID]: props.userPool.userPoolId,
        [DashboardEnvironmentVariables.USER_POOL_CLIENT_ID]: props.userPoolClient.userPoolClientId,
      }).map(([name, value]) => ({ name, value })),
    });
    this.appId = this.app.attrAppId;

    this.branch = new amplify.CfnBranch(this, 'Branch', {
      appId: this.appId,
      branchName,
      enableAutoBuild: true,
      stage: 'PRODUCTION',
    });
    // Amplify serves a branch at a subdomain of the app's default domain, with / in the
    // branch name replaced by -.
    const branchLabel = Token.isUnresolved(branchName) ? Fn.join('-', Fn.split('/', branchName)) : branchName.replace(/\//g, '-');
    this.branchUrl = `https://${branchLabel}.${this.app.attrDefaultDomain}`;

    if (props.customDomain) {
      this.domain = new amplify.CfnDomain(this, 'Domain', {
        appId: this.appId,
        domainName: props.customDomain.domainName,
        subDomainSettings: [{ branchName: this.branch.attrBranchName, prefix: props.customDomain.subdomainPrefix ?? '' }],
      });
    }
  }
}

/** Throws on a synth-time value that Amplify would reject or that would expose a credential. */
function validateOptions(props: DashboardHostingProps, branchName: string, appRoot: string, buildOutputDirectory: string): void {
  requireMatch('repositoryUrl', props.repositoryUrl, REPOSITORY_URL_PATTERN,
    'Use the HTTPS URL of the repository without credentials, for example https://github.com/octo-org/smart-home.');
  requireMatch('branch', branchName, BRANCH_PATTERN, 'Use the name of a Git branch, for example main.');
  requireMatch('appRoot', appRoot, RELATIVE_PATH_PATTERN,
    'Use a folder relative to the repository root without . or .. segments, for example examples/dashboard.');
  requireMatch('buildOutputDirectory', buildOutputDirectory, RELATIVE_PATH_PATTERN,
    'Use a folder relative to appRoot without . or .. segments, for example dist.');
  if (props.accessTokenJsonField === '') {
    throw new Error('Invalid accessTokenJsonField \'\': name the JSON key that contains the token, or leave it unset when the whole secret is the token.');
  }
  if (props.customDomain) {
    requireMatch('customDomain.domainName', props.customDomain.domainName, DOMAIN_PATTERN,
      'Use a lower-case domain name without a scheme or trailing dot, for example example.com.');
    requireMatch('customDomain.subdomainPrefix', props.customDomain.subdomainPrefix ?? '', SUBDOMAIN_PREFIX_PATTERN,
      'Use one lower-case DNS label, for example home, or an empty string for the domain itself.');
  }
  for (const name of Object.keys(props.environmentVariables ?? {})) {
    requireMatch('environment variable name', name, VARIABLE_NAME_PATTERN, 'Use letters, digits and underscores, starting with a letter or underscore.');
    const reserved = RESERVED_VARIABLE_PREFIXES.find((prefix) => name.toUpperCase().startsWith(prefix));
    if (reserved) {
      throw new Error(`Invalid environment variable name '${name}': names starting with ${reserved} are set by DashboardHosting. Rename the variable.`);
    }
  }
}

/** Renders the Amplify build specification of a static site in a monorepo folder. */
function buildSpecOf(appRoot: string, buildOutputDirectory: string, installCommand: string, buildCommand: string): string {
  return codebuild.BuildSpec.fromObjectToYaml({
    version: 1,
    applications: [{
      appRoot,
      frontend: {
        phases: {
          preBuild: { commands: [installCommand] },
          build: { commands: [buildCommand] },
        },
        artifacts: { baseDirectory: buildOutputDirectory, files: ['**/*'] },
        cache: { paths: ['node_modules/**/*'] },
      },
    }],
  }).toBuildSpec();
}
