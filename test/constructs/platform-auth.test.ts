import { CfnElement, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { logicalIdOf, newStack, propertiesOfType } from './template-helpers';
import { PlatformAuth, PlatformAuthProps, PlatformMfa } from '../../src';

function synthesize(props: PlatformAuthProps = {}) {
  const stack = newStack();
  const auth = new PlatformAuth(stack, 'Auth', props);
  return { stack, auth, template: Template.fromStack(stack) };
}

describe('PlatformAuth user pool', () => {
  const { template } = synthesize();

  test('signs in with email', () => {
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      UsernameAttributes: ['email'],
      AutoVerifiedAttributes: ['email'],
    });
  });

  test('recovers accounts by email only', () => {
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      AccountRecoverySetting: { RecoveryMechanisms: [{ Name: 'verified_email', Priority: 1 }] },
    });
  });

  test('requires a strong password of 12 characters', () => {
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      Policies: {
        PasswordPolicy: {
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
          TemporaryPasswordValidityDays: 3,
        },
      },
    });
  });

  test('is retained and protected from deletion', () => {
    template.hasResource('AWS::Cognito::UserPool', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtection: 'ACTIVE' }),
    });
  });

  test('has an admins group', () => {
    template.hasResourceProperties('AWS::Cognito::UserPoolGroup', {
      GroupName: 'admins',
      UserPoolId: { Ref: logicalIdOf(template, 'AWS::Cognito::UserPool') },
    });
    expect(PlatformAuth.ADMINS_GROUP).toBe('admins');
  });
});

describe('PlatformAuth MFA', () => {
  test('turns MFA off', () => {
    const { template } = synthesize({ mfa: PlatformMfa.OFF });

    template.hasResourceProperties('AWS::Cognito::UserPool', { MfaConfiguration: 'OFF', EnabledMfas: Match.absent() });
  });

  test('offers optional TOTP by default', () => {
    const { template } = synthesize();

    template.hasResourceProperties('AWS::Cognito::UserPool', { MfaConfiguration: 'OPTIONAL', EnabledMfas: ['SOFTWARE_TOKEN_MFA'] });
  });

  test('offers optional TOTP', () => {
    const { template } = synthesize({ mfa: PlatformMfa.OPTIONAL });

    template.hasResourceProperties('AWS::Cognito::UserPool', { MfaConfiguration: 'OPTIONAL', EnabledMfas: ['SOFTWARE_TOKEN_MFA'] });
  });

  test('requires TOTP', () => {
    const { template } = synthesize({ mfa: PlatformMfa.REQUIRED });

    template.hasResourceProperties('AWS::Cognito::UserPool', { MfaConfiguration: 'ON', EnabledMfas: ['SOFTWARE_TOKEN_MFA'] });
  });
});

describe('PlatformAuth app client', () => {
  const { template } = synthesize();
  const client = Object.values(propertiesOfType(template, 'AWS::Cognito::UserPoolClient'))[0];

  test('has no secret', () => {
    expect(client.GenerateSecret).toBe(false);
  });

  test('signs in with SRP and refresh tokens only', () => {
    expect(client.ExplicitAuthFlows.sort()).toEqual(['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_SRP_AUTH']);
  });

  test('offers no OAuth flow or callback URL', () => {
    expect(client.AllowedOAuthFlows).toBeUndefined();
    expect(client.AllowedOAuthFlowsUserPoolClient).not.toBe(true);
    expect(client.CallbackURLs).toBeUndefined();
  });

  test('hides whether a user exists', () => {
    expect(client.PreventUserExistenceErrors).toBe('ENABLED');
  });

  test('revokes tokens and keeps them short-lived', () => {
    expect(client.EnableTokenRevocation).toBe(true);
    expect(client.AccessTokenValidity).toBe(60);
    expect(client.IdTokenValidity).toBe(60);
  });
});

describe('PlatformAuth identity pool', () => {
  const { stack, auth, template } = synthesize();

  test('turns unauthenticated identities off', () => {
    template.hasResourceProperties('AWS::Cognito::IdentityPool', {
      AllowUnauthenticatedIdentities: false,
      AllowClassicFlow: false,
    });
  });

  test('trusts the app client with a server-side token check', () => {
    template.hasResourceProperties('AWS::Cognito::IdentityPool', {
      CognitoIdentityProviders: [{
        ClientId: { Ref: stack.getLogicalId(auth.userPoolClient.node.defaultChild as CfnElement) },
        ProviderName: Match.anyValue(),
        ServerSideTokenCheck: true,
      }],
    });
  });

  test('lets only authenticated identities of this pool assume the role', () => {
    const identityPoolId = stack.getLogicalId(auth.identityPool);

    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [{
          Action: 'sts:AssumeRoleWithWebIdentity',
          Effect: 'Allow',
          Principal: { Federated: 'cognito-identity.amazonaws.com' },
          Condition: {
            'StringEquals': { 'cognito-identity.amazonaws.com:aud': { Ref: identityPoolId } },
            'ForAnyValue:StringLike': { 'cognito-identity.amazonaws.com:amr': 'authenticated' },
          },
        }],
      },
    });
  });

  test('attaches only the authenticated role', () => {
    template.hasResourceProperties('AWS::Cognito::IdentityPoolRoleAttachment', {
      Roles: { authenticated: { 'Fn::GetAtt': [stack.getLogicalId(auth.authenticatedRole.node.defaultChild as CfnElement), 'Arn'] } },
    });
  });

  test('grants the authenticated role nothing', () => {
    template.resourceCountIs('AWS::IAM::Policy', 0);
    template.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent(), Policies: Match.absent() });
  });
});

describe('PlatformAuth validation', () => {
  test.each([NaN, 12.5])('rejects minPasswordLength %p', (minPasswordLength) => {
    expect(() => synthesize({ minPasswordLength })).toThrow(/Invalid minPasswordLength/);
  });

  test('rejects an unknown mfa value', () => {
    expect(() => synthesize({ mfa: 'SMS' as any })).toThrow(/Invalid mfa 'SMS'/);
  });
});

describe('PlatformAuth props', () => {
  test('uses the Essentials plan without threat protection', () => {
    const { template } = synthesize();

    template.hasResourceProperties('AWS::Cognito::UserPool', { UserPoolTier: 'ESSENTIALS', UserPoolAddOns: Match.absent() });
  });

  test('enforces threat protection on the Plus plan', () => {
    const { template } = synthesize({ threatProtection: true });

    template.hasResourceProperties('AWS::Cognito::UserPool', { UserPoolTier: 'PLUS', UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' } });
  });

  test('turns self sign-up off', () => {
    const { template } = synthesize({ selfSignUp: false });

    template.hasResourceProperties('AWS::Cognito::UserPool', { AdminCreateUserConfig: { AllowAdminCreateUserOnly: true } });
  });

  test('sets the minimum password length', () => {
    const { template } = synthesize({ minPasswordLength: 16 });

    template.hasResourceProperties('AWS::Cognito::UserPool', { Policies: { PasswordPolicy: Match.objectLike({ MinimumLength: 16 }) } });
  });

  test('can be destroyed without deletion protection', () => {
    const { template } = synthesize({ removalPolicy: RemovalPolicy.DESTROY });

    template.hasResource('AWS::Cognito::UserPool', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ DeletionProtection: 'INACTIVE' }) });
  });

  test.each([6, 7, 100])('rejects minPasswordLength %d', (minPasswordLength) => {
    expect(() => synthesize({ minPasswordLength })).toThrow(`Invalid minPasswordLength ${minPasswordLength}: Cognito accepts 8 to 99 characters`);
  });

  test.each([8, 99])('accepts minPasswordLength %d', (minPasswordLength) => {
    expect(() => synthesize({ minPasswordLength })).not.toThrow();
  });
});
