import { graphqlSync, GraphQLObjectType } from 'graphql';
import { buildAppSyncSchema, Caller, FieldAuthorizer, subscribedMutations } from '../../sandbox/src/appsync/appsync-schema';

const SDL = `
type Open { id: ID! }
type Shared @aws_cognito_user_pools @aws_iam { id: ID! secret: String @aws_iam }
type Query {
  open: Open
  shared: Shared @aws_cognito_user_pools @aws_iam
  admins: String @aws_cognito_user_pools(cognito_groups: ["admins"])
  backend: String @aws_iam
  legacy: String @aws_auth(cognito_groups: ["ops"])
  echoJson(value: AWSJSON!): AWSJSON
  echoTimestamp(value: AWSTimestamp!): AWSTimestamp
  echoEmail(value: AWSEmail!): AWSEmail
  echoDateTime(value: AWSDateTime!): AWSDateTime
}
type Mutation { publish(id: ID!): Open @aws_iam }
type Subscription { onPublish(id: ID): Open @aws_subscribe(mutations: ["publish"]) }
`;

const schema = buildAppSyncSchema(SDL);
const query = schema.getQueryType()!;
const shared = schema.getType('Shared') as GraphQLObjectType;
const open = schema.getType('Open') as GraphQLObjectType;
const user: Caller = { mode: 'AMAZON_COGNITO_USER_POOLS', groups: ['users'] };
const admin: Caller = { mode: 'AMAZON_COGNITO_USER_POOLS', groups: ['admins'] };
const backend: Caller = { mode: 'AWS_IAM', groups: [] };

function echo(field: string, value: string) {
  return graphqlSync({ schema, source: `{ ${field}(value: ${value}) }`, rootValue: { [field]: (args: { value: unknown }) => args.value } });
}

describe('FieldAuthorizer', () => {
  const authorizer = new FieldAuthorizer('AMAZON_COGNITO_USER_POOLS');

  test.each([
    ['open', user, true],
    ['open', backend, false],
    ['shared', backend, true],
    ['admins', user, false],
    ['admins', admin, true],
    ['admins', backend, false],
    ['backend', user, false],
    ['backend', backend, true],
    ['legacy', user, false],
    ['legacy', { mode: 'AMAZON_COGNITO_USER_POOLS', groups: ['ops'] } as Caller, true],
  ])('Query.%s for %o is allowed: %s', (field, caller, allowed) => {
    expect(authorizer.isAllowed(caller, query, query.getFields()[field])).toBe(allowed);
  });

  test('applies type directives to fields without any', () => {
    expect(authorizer.isAllowed(backend, shared, shared.getFields().id)).toBe(true);
    expect(authorizer.isAllowed(user, shared, shared.getFields().id)).toBe(true);
  });

  test('lets field directives override type directives', () => {
    expect(authorizer.isAllowed(user, shared, shared.getFields().secret)).toBe(false);
    expect(authorizer.isAllowed(backend, shared, shared.getFields().secret)).toBe(true);
  });

  test('limits undirected types to the default mode', () => {
    expect(authorizer.isAllowed(user, open, open.getFields().id)).toBe(true);
    expect(authorizer.isAllowed(backend, open, open.getFields().id)).toBe(false);
  });

  test('denies undirected fields with default action DENY', () => {
    const denying = new FieldAuthorizer('AMAZON_COGNITO_USER_POOLS', 'DENY');

    expect(denying.isAllowed(user, query, query.getFields().open)).toBe(false);
    expect(denying.isAllowed(user, query, query.getFields().shared)).toBe(true);
  });
});

describe('buildAppSyncSchema', () => {
  test('reads @aws_subscribe mutations', () => {
    expect(subscribedMutations(schema.getSubscriptionType()!.getFields().onPublish)).toEqual(['publish']);
  });

  test('keeps AWSJSON inputs as strings', () => {
    expect(echo('echoJson', '"{\\"a\\":1}"').data).toEqual({ echoJson: '{"a":1}' });
  });

  test('rejects AWSJSON that is not JSON', () => {
    expect(echo('echoJson', '"{a"').errors?.[0].message).toContain('is not a valid AWSJSON');
  });

  test('accepts AWSTimestamp beyond 32 bits', () => {
    expect(echo('echoTimestamp', '1733356800000').data).toEqual({ echoTimestamp: 1733356800000 });
  });

  test.each([
    ['echoEmail', '"a@example.com"', true],
    ['echoEmail', '"not-an-email"', false],
    ['echoDateTime', '"2026-12-05T00:00:00.000Z"', true],
    ['echoDateTime', '"2026-12-05"', false],
  ])('%s(%s) is valid: %s', (field, value, valid) => {
    expect(echo(field, value).errors === undefined).toBe(valid);
  });
});
