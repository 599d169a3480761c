import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledgeRules } from '../private/acknowledge';

/**
 * Whether users must set up a second factor.
 */
export enum PlatformMfa {
  /** Users sign in with a password only. */
  OFF = 'OFF',
  /** Users may enrol a TOTP authenticator. */
  OPTIONAL = 'OPTIONAL',
  /** Every user must use a TOTP authenticator. */
  REQUIRED = 'REQUIRED',
}

/**
 * Properties of a PlatformAuth.
 */
export interface PlatformAuthProps {
  /**
   * Second-factor policy. Only TOTP is offered, because SMS needs an SNS role and a spending limit.
   * @default PlatformMfa.OPTIONAL
   */
  readonly mfa?: PlatformMfa;

  /**
   * Minimum password length.
   * @default 12
   */
  readonly minPasswordLength?: number;

  /**
   * Turns on Cognito threat protection (the Plus feature plan, billed per monthly active user)
   * in enforced mode.
   * @default false
   */
  readonly threatProtection?: boolean;

  /**
   * Lets users create their own accounts from the app.
   * @default true
   */
  readonly selfSignUp?: boolean;

  /**
   * Removal policy of the user pool.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Sign-in for the platform's app: a Cognito user pool with email sign-in, an `admins` group for
 * fleet operations, a public app client (SRP, no secret) and an identity pool whose
 * authenticated role grants nothing until a feature adds a permission.
 *
 * @example
 * const auth = new PlatformAuth(this, 'Auth', { mfa: PlatformMfa.REQUIRED });
 */
export class PlatformAuth extends Construct {
  /** Name of the group whose members may run fleet operations such as firmware rollouts. */
  public static readonly ADMINS_GROUP = 'admins';

  public readonly userPool: cognito.UserPool;
  /** App client for the mobile and web app: no secret, SRP sign-in. */
  public readonly userPoolClient: cognito.UserPoolClient;
  public readonly identityPool: cognito.CfnIdentityPool;
  /** Role that signed-in users of the identity pool assume. */
  public readonly authenticatedRole: iam.Role;

  constructor(scope: Construct, id: string, props: PlatformAuthProps = {}) {
    super(scope, id);

    const mfa = props.mfa ?? PlatformMfa.OPTIONAL;
    if (!Object.values(PlatformMfa).includes(mfa)) {
      throw new Error(`Invalid mfa '${String(mfa)}': use PlatformMfa.OFF, PlatformMfa.OPTIONAL or PlatformMfa.REQUIRED.`);
    }
    const minPasswordLength = props.minPasswordLength ?? 12;
    if (!Number.isInteger(minPasswordLength) || minPasswordLength < 8 || minPasswordLength > 99) {
      throw new Error(`Invalid minPasswordLength ${minPasswordLength}: Cognito accepts 8 to 99 characters, and 12 or more is recommended.`);
    }

    this.userPool = new cognito.UserPool(this, 'UserPool', {
      signInAliases: { email: true },
      autoVerify: { email: true },
      keepOriginal: { email: true },
      selfSignUpEnabled: props.selfSignUp ?? true,
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      mfa: mfaOf(mfa),
      mfaSecondFactor: mfa === PlatformMfa.OFF ? undefined : { otp: true, sms: false },
      passwordPolicy: {
        minLength: minPasswordLength,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      featurePlan: props.threatProtection ? cognito.FeaturePlan.PLUS : cognito.FeaturePlan.ESSENTIALS,
      standardThreatProtectionMode: props.threatProtection ? cognito.StandardThreatProtectionMode.FULL_FUNCTION : undefined,
      deletionProtection: (props.removalPolicy ?? RemovalPolicy.RETAIN) === RemovalPolicy.RETAIN,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    if (!props.threatProtection) {
      const reason = 'Threat protection needs the Cognito Plus feature plan, billed per monthly active user; it is the threatProtection prop.';
      acknowledgeRules(this.userPool, [{ id: 'AwsSolutions-COG3', reason }, { id: 'AwsSolutions-COG8', reason }]);
    }
    if (mfa !== PlatformMfa.REQUIRED) {
      acknowledgeRules(this.userPool, [{
        id: 'AwsSolutions-COG2',
        reason: 'Second factor is the mfa prop: consumer smart-home accounts enrol TOTP optionally by default, and production stages set it to REQUIRED.',
      }]);
    }

    new cognito.CfnUserPoolGroup(this, 'AdminsGroup', {
      userPoolId: this.userPool.userPoolId,
      groupName: PlatformAuth.ADMINS_GROUP,
      description: 'Operators allowed to run fleet operations such as firmware rollouts',
    });

    this.userPoolClient = this.userPool.addClient('AppClient', {
      generateSecret: false,
      authFlows: { userSrp: true },
      disableOAuth: true,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    });

    this.identityPool = new cognito.CfnIdentityPool(this, 'IdentityPool', {
      allowUnauthenticatedIdentities: false,
      allowClassicFlow: false,
      cognitoIdentityProviders: [{
        clientId: this.userPoolClient.userPoolClientId,
        providerName: this.userPool.userPoolProviderName,
        serverSideTokenCheck: true,
      }],
    });

    this.authenticatedRole = new iam.Role(this, 'AuthenticatedRole', {
      description: 'Role of signed-in app users; it grants no AWS permission by default',
      assumedBy: new iam.FederatedPrincipal('cognito-identity.amazonaws.com', {
        'StringEquals': { 'cognito-identity.amazonaws.com:aud': this.identityPool.ref },
        'ForAnyValue:StringLike': { 'cognito-identity.amazonaws.com:amr': 'authenticated' },
      }, 'sts:AssumeRoleWithWebIdentity'),
    });

    new cognito.CfnIdentityPoolRoleAttachment(this, 'IdentityPoolRoles', {
      identityPoolId: this.identityPool.ref,
      roles: { authenticated: this.authenticatedRole.roleArn },
    });
  }
}

function mfaOf(mfa: PlatformMfa): cognito.Mfa {
  switch (mfa) {
    case PlatformMfa.OFF:
      return cognito.Mfa.OFF;
    case PlatformMfa.REQUIRED:
      return cognito.Mfa.REQUIRED;
    default:
      return cognito.Mfa.OPTIONAL;
  }
}
