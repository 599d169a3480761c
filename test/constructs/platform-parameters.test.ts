import { Fn, Token } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { newStack, propertiesOfType } from './template-helpers';
import { PlatformParameters, PlatformParameterValues } from '../../src';

const VALUES: PlatformParameterValues = {
  iotDataEndpoint: 'a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com',
  graphqlApiUrl: 'https://abc.appsync-api.eu-west-1.amazonaws.com/graphql',
  userPoolId: 'eu-west-1_AbCdEfGhI',
  userPoolClientId: '1example23456789',
  identityPoolId: 'eu-west-1:11111111-2222-3333-4444-555555555555',
  firmwareBucketName: 'firmware-bucket',
  uiConfigBucketName: 'ui-config-bucket',
  archiveBucketName: 'archive-bucket',
  provisioningTemplateName: 'sh-template',
};

const NAMES: [keyof PlatformParameterValues, string][] = [
  ['iotDataEndpoint', '/smart-home/dev/iot/data-endpoint'],
  ['provisioningTemplateName', '/smart-home/dev/iot/provisioning-template-name'],
  ['graphqlApiUrl', '/smart-home/dev/api/graphql-url'],
  ['userPoolId', '/smart-home/dev/auth/user-pool-id'],
  ['userPoolClientId', '/smart-home/dev/auth/user-pool-client-id'],
  ['identityPoolId', '/smart-home/dev/auth/identity-pool-id'],
  ['firmwareBucketName', '/smart-home/dev/storage/firmware-bucket'],
  ['uiConfigBucketName', '/smart-home/dev/storage/ui-config-bucket'],
  ['archiveBucketName', '/smart-home/dev/storage/archive-bucket'],
];

describe('PlatformParameters', () => {
  const stack = newStack();
  const parameters = new PlatformParameters(stack, 'Parameters', { prefix: 'smart-home', stage: 'dev', values: VALUES });
  const template = Template.fromStack(stack);

  test('creates nine parameters', () => {
    template.resourceCountIs('AWS::SSM::Parameter', 9);
    expect(Object.keys(parameters.parameters).sort()).toEqual(NAMES.map(([key]) => key).sort());
  });

  test.each(NAMES)('stores %s as %s', (key, name) => {
    template.hasResourceProperties('AWS::SSM::Parameter', { Name: name, Type: 'String', Value: VALUES[key], Tier: 'Standard' });
  });

  test('keeps every name under /prefix/stage/', () => {
    const names = Object.values(propertiesOfType(template, 'AWS::SSM::Parameter')).map((parameter) => parameter.Name as string);

    expect(names.filter((name) => !name.startsWith('/smart-home/dev/'))).toEqual([]);
  });

  test.each(NAMES)('parameterName names %s', (key, name) => {
    expect(PlatformParameters.parameterName('smart-home', 'dev', key)).toBe(name);
  });
});

describe('PlatformParameters.fromStack', () => {
  const stack = newStack();
  const values = PlatformParameters.fromStack(stack, 'smart-home', 'prod');
  // A consumer that uses every value, as an app stack would.
  new ssm.StringParameter(stack, 'Values', { stringValue: Fn.join(',', NAMES.map(([key]) => values[key])) });
  const template = Template.fromStack(stack);

  test.each(NAMES.map(([key]) => key))('returns a token for %s', (key) => {
    expect(Token.isUnresolved(values[key])).toBe(true);
  });

  test('reads the nine parameters at deploy time', () => {
    const defaults = Object.values(template.toJSON().Parameters as Record<string, { Type: string; Default: string }>)
      .filter((parameter) => parameter.Type === 'AWS::SSM::Parameter::Value<String>')
      .map((parameter) => parameter.Default)
      .filter((name) => name.startsWith('/smart-home/'))
      .sort();

    expect(defaults).toEqual(NAMES.map(([, name]) => name.replace('/dev/', '/prod/')).sort());
  });
});

describe('PlatformParameters validation', () => {
  test.each(['smart/home', '', 'a'.repeat(65), 'smart home'])('rejects prefix %j', (prefix) => {
    expect(() => new PlatformParameters(newStack(), 'Parameters', { prefix, stage: 'dev', values: VALUES })).toThrow(/Invalid parameter prefix/);
  });

  test.each(['dev/1', '', 'prod!'])('rejects stage %j', (stage) => {
    expect(() => new PlatformParameters(newStack(), 'Parameters', { prefix: 'smart-home', stage, values: VALUES })).toThrow(/Invalid stage/);
  });

  test('rejects a prefix with / in fromStack', () => {
    expect(() => PlatformParameters.fromStack(newStack(), 'smart/home', 'dev')).toThrow(/Invalid parameter prefix 'smart\/home'/);
  });

  test.each(['aws', 'ssm-home', 'AWS-home'])('rejects the reserved prefix %j', (prefix) => {
    expect(() => new PlatformParameters(newStack(), 'Parameters', { prefix, stage: 'dev', values: VALUES })).toThrow(/SSM reserves names that start with 'aws' or 'ssm'/);
  });

  test('rejects an inherited property name as key', () => {
    expect(() => PlatformParameters.parameterName('smart-home', 'dev', 'toString')).toThrow(/Unknown parameter key 'toString'/);
  });

  test('rejects a prefix with / in parameterName', () => {
    expect(() => PlatformParameters.parameterName('a/b', 'dev', 'userPoolId')).toThrow(/Invalid parameter prefix 'a\/b'/);
  });

  test('rejects an unknown key in parameterName', () => {
    expect(() => PlatformParameters.parameterName('smart-home', 'dev', 'apiKey')).toThrow(/Unknown parameter key 'apiKey'. Use one of: iotDataEndpoint, /);
  });
});
