import { isIP } from 'node:net';
import {
  buildSchema, DirectiveNode, GraphQLError, GraphQLField, GraphQLNamedType, GraphQLScalarType,
  GraphQLSchema, Kind, parse, valueFromASTUntyped, ValueNode,
} from 'graphql';

/** Authorization modes of an AppSync API, as CloudFormation names them. */
export type AuthMode = 'AMAZON_COGNITO_USER_POOLS' | 'AWS_IAM' | 'API_KEY' | 'OPENID_CONNECT' | 'AWS_LAMBDA';

const DIRECTIVE_MODES: Record<string, AuthMode> = {
  aws_cognito_user_pools: 'AMAZON_COGNITO_USER_POOLS',
  aws_iam: 'AWS_IAM',
  aws_api_key: 'API_KEY',
  aws_oidc: 'OPENID_CONNECT',
  aws_lambda: 'AWS_LAMBDA',
};

// AppSync declares these scalars and directives itself, so a schema it accepts does not declare
// them and graphql-js's buildSchema rejects it until they are added.
const APPSYNC_SCALARS = ['AWSDate', 'AWSTime', 'AWSDateTime', 'AWSTimestamp', 'AWSEmail', 'AWSJSON', 'AWSURL', 'AWSPhone', 'AWSIPAddress'];
const APPSYNC_DIRECTIVES: Record<string, string> = {
  aws_subscribe: 'directive @aws_subscribe(mutations: [String!]!) on FIELD_DEFINITION',
  aws_cognito_user_pools: 'directive @aws_cognito_user_pools(cognito_groups: [String!]) on OBJECT | FIELD_DEFINITION | INTERFACE | UNION | ENUM | INPUT_OBJECT',
  aws_iam: 'directive @aws_iam on OBJECT | FIELD_DEFINITION | INTERFACE | UNION | ENUM | INPUT_OBJECT',
  aws_api_key: 'directive @aws_api_key on OBJECT | FIELD_DEFINITION | INTERFACE | UNION | ENUM | INPUT_OBJECT',
  aws_oidc: 'directive @aws_oidc on OBJECT | FIELD_DEFINITION | INTERFACE | UNION | ENUM | INPUT_OBJECT',
  aws_lambda: 'directive @aws_lambda on OBJECT | FIELD_DEFINITION | INTERFACE | UNION | ENUM | INPUT_OBJECT',
  aws_auth: 'directive @aws_auth(cognito_groups: [String!]!) on FIELD_DEFINITION',
  aws_publish: 'directive @aws_publish(subscriptions: [String!]!) on FIELD_DEFINITION',
};

/**
 * Builds an executable schema from an AppSync schema definition: declares AppSync's scalars
 * and directives where the definition does not, and gives the scalars AppSync's validation.
 */
export function buildAppSyncSchema(definition: string): GraphQLSchema {
  const declared = parse(definition);
  const names = new Set<string>();
  for (const node of declared.definitions) {
    if ('name' in node && node.name) {
      names.add(node.name.value);
    }
  }
  const prelude = [
    ...APPSYNC_SCALARS.filter((name) => !names.has(name)).map((name) => `scalar ${name}`),
    ...Object.entries(APPSYNC_DIRECTIVES).filter(([name]) => !names.has(name)).map(([, sdl]) => sdl),
  ].join('\n');
  const schema = buildSchema(`${prelude}\n${definition}`);
  for (const name of APPSYNC_SCALARS) {
    const type = schema.getType(name);
    if (type instanceof GraphQLScalarType) {
      Object.assign(type, scalarBehaviour(name));
    }
  }
  return schema;
}

const DATE = '\\d{4}-\\d{2}-\\d{2}';
const TIME = '\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?';
const OFFSET = '(Z|[+-]\\d{2}(:\\d{2}(:\\d{2})?)?)';
const SCALAR_PATTERNS: Record<string, RegExp> = {
  AWSDate: new RegExp(`^${DATE}${OFFSET}?$`),
  AWSTime: new RegExp(`^${TIME}${OFFSET}?$`),
  AWSDateTime: new RegExp(`^${DATE}T${TIME}${OFFSET}$`),
  AWSEmail: /^[^\s@]+@[^\s@]+\.[^\s@]+$/,
  AWSPhone: /^\+?[0-9][0-9 ()-]{2,}$/,
};

function scalarBehaviour(name: string): Pick<GraphQLScalarType, 'serialize' | 'parseValue' | 'parseLiteral'> {
  const check = (value: unknown): unknown => checkScalar(name, value);
  return {
    serialize: (value: unknown) => (name === 'AWSJSON' && typeof value !== 'string' ? JSON.stringify(value) : value),
    parseValue: check,
    parseLiteral: (node: ValueNode, variables?: Record<string, unknown> | null) => check(valueFromASTUntyped(node, variables)),
  };
}

/**
 * Validates an input value of an AppSync scalar. AWSJSON inputs stay strings, so resolver code
 * calls JSON.parse on them.
 */
function checkScalar(name: string, value: unknown): unknown {
  const invalid = (expected: string) => new GraphQLError(`Value ${JSON.stringify(value)} is not a valid ${name}; expected ${expected}.`);
  switch (name) {
    case 'AWSTimestamp':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw invalid('a whole number of seconds since the epoch');
      }
      return value;
    case 'AWSJSON':
      if (typeof value !== 'string') {
        throw invalid('a string that contains JSON');
      }
      try {
        JSON.parse(value);
      } catch {
        throw invalid('a string that contains JSON');
      }
      return value;
    case 'AWSURL':
      if (typeof value !== 'string' || !URL.canParse(value)) {
        throw invalid('an absolute URL with a scheme, such as https://example.com/path');
      }
      return value;
    case 'AWSIPAddress': {
      const [address, prefix] = typeof value === 'string' ? value.split('/') : [];
      if (!address || isIP(address) === 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
        throw invalid('an IPv4 or IPv6 address, optionally with a /prefix');
      }
      return value;
    }
    default:
      if (typeof value !== 'string' || !SCALAR_PATTERNS[name].test(value)) {
        throw invalid(`a string in ${name} format`);
      }
      return value;
  }
}

/** An authorization mode that a field allows, with the Cognito groups it requires if any. */
interface AllowedMode {
  readonly mode: AuthMode;
  readonly groups?: string[];
}

/** The caller of a request as the authorization checks see it. */
export interface Caller {
  readonly mode: AuthMode;
  readonly groups: string[];
}

/**
 * AppSync's field authorization with several modes. The auth directives on a field apply. A
 * field without them takes those of its type, and where the type has none, only the API's
 * default mode is allowed.
 * A Cognito directive with `cognito_groups` also requires membership in one of the groups.
 * With the user pool's default action DENY, a field without directives is denied to Cognito
 * users unless `@aws_auth` names one of their groups.
 */
export class FieldAuthorizer {
  constructor(private readonly defaultMode: AuthMode, private readonly userPoolDefaultAction: 'ALLOW' | 'DENY' = 'ALLOW') {}

  public isAllowed(caller: Caller, type: GraphQLNamedType, field: GraphQLField<unknown, unknown>): boolean {
    const fieldModes = allowedModes(field.astNode?.directives);
    const allowed = fieldModes.length > 0 ? fieldModes : allowedModes(type.astNode?.directives);
    if (allowed.length === 0) {
      if (caller.mode !== this.defaultMode) {
        return false;
      }
      const legacyGroups = groupsOfAwsAuth(field.astNode?.directives);
      if (legacyGroups) {
        return legacyGroups.some((group) => caller.groups.includes(group));
      }
      return caller.mode !== 'AMAZON_COGNITO_USER_POOLS' || this.userPoolDefaultAction === 'ALLOW';
    }
    return allowed.some(({ mode, groups }) =>
      mode === caller.mode && (!groups || groups.some((group) => caller.groups.includes(group))));
  }
}

function allowedModes(directives: readonly DirectiveNode[] | undefined): AllowedMode[] {
  const modes: AllowedMode[] = [];
  for (const directive of directives ?? []) {
    const mode = DIRECTIVE_MODES[directive.name.value];
    if (!mode) {
      continue;
    }
    const groupsArgument = directive.arguments?.find((argument) => argument.name.value === 'cognito_groups');
    const groups = groupsArgument ? valueFromASTUntyped(groupsArgument.value) as string[] | null : undefined;
    modes.push({ mode, groups: groups ?? undefined });
  }
  return modes;
}

function groupsOfAwsAuth(directives: readonly DirectiveNode[] | undefined): string[] | undefined {
  const directive = directives?.find((node) => node.name.value === 'aws_auth');
  const argument = directive?.arguments?.find((node) => node.name.value === 'cognito_groups');
  return argument ? valueFromASTUntyped(argument.value) as string[] : undefined;
}

/** Returns the mutations whose results a subscription field receives, from its `@aws_subscribe`. */
export function subscribedMutations(field: GraphQLField<unknown, unknown>): string[] {
  const directive = field.astNode?.directives?.find((node) => node.name.value === 'aws_subscribe');
  const argument = directive?.arguments?.find((node) => node.name.value === 'mutations');
  if (!argument || argument.value.kind !== Kind.LIST) {
    return [];
  }
  return valueFromASTUntyped(argument.value) as string[];
}
