import { CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { listOf, logicalIdOf, newStack, propertiesOfType, RenderedStatement, renderTokens } from './template-helpers';
import { DeviceRegistry, PlatformApi, PlatformApiProps } from '../../src';

interface Synthesized {
  readonly stack: Stack;
  readonly api: PlatformApi;
  readonly userPool: cognito.UserPool;
  readonly registry: DeviceRegistry;
  readonly template: Template;
}

function synthesize(props: Partial<PlatformApiProps> = {}, extend?: (stack: Stack, api: PlatformApi) => void): Synthesized {
  const stack = newStack();
  const userPool = new cognito.UserPool(stack, 'UserPool');
  const registry = new DeviceRegistry(stack, 'Registry');
  const api = new PlatformApi(stack, 'Api', { userPool, registry, ...props });
  extend?.(stack, api);
  return { stack, api, userPool, registry, template: Template.fromStack(stack) };
}

function tableId(stack: Stack, table: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(table.node.defaultChild as CfnElement);
}

describe('PlatformApi authorization', () => {
  const { stack, userPool, template } = synthesize();

  test('signs users in with the user pool by default', () => {
    template.hasResourceProperties('AWS::AppSync::GraphQLApi', {
      AuthenticationType: 'AMAZON_COGNITO_USER_POOLS',
      UserPoolConfig: Match.objectLike({ UserPoolId: { Ref: stack.getLogicalId(userPool.node.defaultChild as CfnElement) }, DefaultAction: 'ALLOW' }),
    });
  });

  test('accepts IAM as the only other mode', () => {
    template.hasResourceProperties('AWS::AppSync::GraphQLApi', {
      AdditionalAuthenticationProviders: [{ AuthenticationType: 'AWS_IAM' }],
    });
  });

  test('limits query depth and traces requests', () => {
    template.hasResourceProperties('AWS::AppSync::GraphQLApi', { QueryDepthLimit: 8, XrayEnabled: true });
  });
});

describe('PlatformApi schema', () => {
  const { template } = synthesize();
  const definition = Object.values(propertiesOfType(template, 'AWS::AppSync::GraphQLSchema'))[0].Definition as string;

  test.each([
    ['Query', 'getMyDevices'],
    ['Query', 'getDeviceState'],
    ['Query', 'getDeviceUi'],
    ['Mutation', 'controlRelay'],
    ['Mutation', 'registerDevice'],
    ['Mutation', 'addDevice'],
    ['Mutation', 'removeDevice'],
    ['Subscription', 'onDeviceUpdate'],
  ])('has %s.%s for users', (type, field) => {
    const block = definition.slice(definition.indexOf(`type ${type} {`));
    const line = block.split('\n').find((candidate) => candidate.trim().startsWith(`${field}(`));

    expect(line).toBeDefined();
    expect(line).toContain('@aws_cognito_user_pools');
    expect(line).not.toContain('@aws_iam');
  });

  test('lets only IAM publish device updates', () => {
    const line = definition.split('\n').find((candidate) => candidate.trim().startsWith('publishDeviceUpdate('));

    expect(line).toContain('@aws_iam');
    expect(line).not.toContain('@aws_cognito_user_pools');
  });

  test('subscribes onDeviceUpdate to publishDeviceUpdate', () => {
    expect(definition).toMatch(/onDeviceUpdate\(deviceId: ID\): DeviceUpdate @aws_subscribe\(mutations: \["publishDeviceUpdate"\]\)/);
  });
});

describe('PlatformApi logging', () => {
  const { stack, api, template } = synthesize();

  test('logs errors without verbose content', () => {
    template.hasResourceProperties('AWS::AppSync::GraphQLApi', {
      LogConfig: { FieldLogLevel: 'ERROR', ExcludeVerboseContent: true, CloudWatchLogsRoleArn: Match.anyValue() },
    });
  });

  test('creates the API log group with a retention', () => {
    const apiId = stack.getLogicalId(api.api.node.defaultChild as CfnElement);

    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: { 'Fn::Join': ['', ['/aws/appsync/apis/', { 'Fn::GetAtt': [apiId, 'ApiId'] }]] },
      RetentionInDays: 365,
    });
  });

  test('lets the logs role write only its own log group', () => {
    const logGroupId = logicalIdOf(template, 'AWS::Logs::LogGroup');
    const statements = Object.values(propertiesOfType(template, 'AWS::IAM::Policy'))
      .flatMap((policy) => (renderTokens(policy.PolicyDocument) as { Statement: RenderedStatement[] }).Statement)
      .filter((statement) => listOf(statement.Action).includes('logs:PutLogEvents'));

    expect(statements).toHaveLength(1);
    expect(listOf(statements[0].Resource)).toEqual([`<GetAtt:${logGroupId}.Arn>`, `<GetAtt:${logGroupId}.Arn>:log-stream:*`]);
  });

  test('keeps logs for logRetention', () => {
    const custom = synthesize({ logRetention: logs.RetentionDays.ONE_MONTH });

    custom.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  test('encrypts logs with encryptionKey', () => {
    const keyed = newStack();
    const key = new kms.Key(keyed, 'LogKey');
    new PlatformApi(keyed, 'Api', { userPool: new cognito.UserPool(keyed, 'UserPool'), registry: new DeviceRegistry(keyed, 'Registry'), encryptionKey: key });

    Template.fromStack(keyed).hasResourceProperties('AWS::Logs::LogGroup', {
      KmsKeyId: { 'Fn::GetAtt': [keyed.getLogicalId(key.node.defaultChild as CfnElement), 'Arn'] },
    });
  });
});

describe('PlatformApi data sources', () => {
  const { stack, registry, template } = synthesize();

  test.each([
    ['devices', 'devicesTable'],
    ['links', 'linksTable'],
  ] as const)('reads the %s table', (_name, property) => {
    template.hasResourceProperties('AWS::AppSync::DataSource', {
      Type: 'AMAZON_DYNAMODB',
      DynamoDBConfig: Match.objectLike({ TableName: { Ref: tableId(stack, registry[property]) } }),
    });
  });

  test('has a none data source', () => {
    template.hasResourceProperties('AWS::AppSync::DataSource', { Type: 'NONE' });
  });
});

describe('PlatformApi grantPublishDeviceUpdate', () => {
  test('grants only the publishDeviceUpdate mutation', () => {
    const { template } = synthesize({}, (stack, api) => {
      api.grantPublishDeviceUpdate(new iam.Role(stack, 'Publisher', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }));
    });

    const statements = Object.values(propertiesOfType(template, 'AWS::IAM::Policy'))
      .flatMap((policy) => (renderTokens(policy.PolicyDocument) as { Statement: RenderedStatement[] }).Statement)
      .filter((statement) => listOf(statement.Action).includes('appsync:GraphQL'));

    expect(statements).toHaveLength(1);
    expect(listOf(statements[0].Resource)).toHaveLength(1);
    expect(listOf(statements[0].Resource)[0]).toMatch(/\/types\/Mutation\/fields\/publishDeviceUpdate$/);
  });
});
