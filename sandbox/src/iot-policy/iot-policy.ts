/**
 * AWS IoT Core policies for the local MQTT broker: parsing, policy variables, conditions and
 * evaluation of iot:Connect, iot:Publish, iot:Receive and iot:Subscribe.
 *
 * The rules follow the AWS IoT Core developer guide ("AWS IoT Core policy variables", "Using
 * wildcard characters in MQTT and AWS IoT Core policies"): an explicit Deny wins over any Allow,
 * and a request that no statement allows is denied. In resources `*` matches any sequence of
 * characters and `?` any single character, while the MQTT wildcards `+` and `#` are plain
 * characters. `$(*)`, `$(?)` and `$($)` stand for a literal `*`, `?` and `$`. A statement whose
 * policy variable has no value for the connection, such as a thing name for a certificate that
 * no thing is attached to, does not match.
 *
 * Parsing rejects every element this evaluator does not implement (NotAction, NotResource,
 * other condition operators, keys or variables), so no part of a policy is silently ignored.
 */
import { resolveIntrinsic } from '../stepfunctions/definition';

/** The MQTT actions that the broker authorizes. */
export type IotAction = 'iot:Connect' | 'iot:Publish' | 'iot:Receive' | 'iot:Subscribe';

/** Values that policy variables and condition keys take for one connection. */
export interface PolicyContext {
  readonly region: string;
  readonly account: string;
  /** MQTT client id of the connection. */
  readonly clientId: string;
  /** Thing attached to the client certificate; undefined when none is attached. */
  readonly thingName?: string;
  /** Whether a thing is attached to the client certificate. */
  readonly isAttached: boolean;
  /** Subject common name of the client certificate. */
  readonly certificateCommonName?: string;
}

/** A request to authorize; resource is the client id, topic or topic filter, not the ARN. */
export interface AuthorizationRequest {
  readonly action: IotAction;
  readonly resource: string;
}

/** Result of an evaluation; reason names the action, the resource and the deciding statement. */
export interface AuthorizationDecision {
  readonly allowed: boolean;
  readonly reason: string;
}

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };

const RESOURCE_TYPES: Record<IotAction, string> = {
  'iot:Connect': 'client',
  'iot:Publish': 'topic',
  'iot:Receive': 'topic',
  'iot:Subscribe': 'topicfilter',
};

const VARIABLES = [
  'iot:Connection.Thing.ThingName',
  'iot:Connection.Thing.IsAttached',
  'iot:ClientId',
  'iot:Certificate.Subject.CommonName',
] as const;
type Variable = (typeof VARIABLES)[number];

const OPERATORS = ['Bool', 'StringEquals', 'StringLike'] as const;
type Operator = (typeof OPERATORS)[number];

const STATEMENT_KEYS = ['Sid', 'Effect', 'Action', 'Resource', 'Condition'];
const SUPPORTED_VERSION = '2012-10-17';

/** One piece of a resource or condition pattern. */
type Token =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'anySequence' }
  | { readonly kind: 'anyCharacter' }
  | { readonly kind: 'variable'; readonly name: Variable };

interface ConditionTest {
  readonly operator: Operator;
  readonly key: Variable;
  /** The condition holds when the key matches any of these values. */
  readonly values: readonly (readonly Token[])[];
}

/** A statement of a parsed policy. */
export interface PolicyStatement {
  /** `Sid`, or `Statement[index]` when the statement has none. */
  readonly label: string;
  readonly effect: 'Allow' | 'Deny';
  readonly actions: readonly RegExp[];
  readonly resources: readonly (readonly Token[])[];
  readonly conditions: readonly ConditionTest[];
}

class PolicyParseError extends Error {
  public constructor(policyName: string, location: string, problem: string) {
    super(`IoT policy '${policyName}': ${location} ${problem}`);
    this.name = 'PolicyParseError';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function wildcardRegExp(pattern: string, flags: string): RegExp {
  const body = [...pattern].map((character) => {
    if (character === '*') return '.*';
    if (character === '?') return '.';
    return escapeRegExp(character);
  });
  return new RegExp(`^${body.join('')}$`, flags);
}

function findVariable(name: string): Variable | undefined {
  return VARIABLES.find((variable) => variable.toLowerCase() === name.toLowerCase());
}

/** Splits a resource or condition value into literals, wildcards and policy variables. */
function tokenize(pattern: string, fail: (problem: string) => never, wildcards: boolean): Token[] {
  const tokens: Token[] = [];
  let literal = '';
  const flush = (): void => {
    if (literal) tokens.push({ kind: 'literal', text: literal });
    literal = '';
  };
  for (let i = 0; i < pattern.length; i++) {
    const character = pattern[i];
    if (character === '$' && (pattern.startsWith('$(*)', i) || pattern.startsWith('$(?)', i) || pattern.startsWith('$($)', i))) {
      literal += pattern[i + 2];
      i += 3;
    } else if (character === '$' && pattern[i + 1] === '{') {
      const end = pattern.indexOf('}', i + 2);
      if (end < 0) fail(`has an unterminated policy variable in '${pattern}'; close it with '}'`);
      const name = pattern.slice(i + 2, end);
      const variable = findVariable(name);
      if (!variable) {
        fail(`uses the policy variable \${${name}}, which the local broker does not support; supported: ${VARIABLES.map((v) => `\${${v}}`).join(', ')}`);
      }
      flush();
      tokens.push({ kind: 'variable', name: variable });
      i = end;
    } else if (wildcards && character === '*') {
      flush();
      tokens.push({ kind: 'anySequence' });
    } else if (wildcards && character === '?') {
      flush();
      tokens.push({ kind: 'anyCharacter' });
    } else {
      literal += character;
    }
  }
  flush();
  return tokens;
}

function stringList(value: unknown, fail: (problem: string) => never, element: string): string[] {
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0 || values.some((entry) => typeof entry !== 'string' || entry === '')) {
    fail(`must be a non-empty string or array of non-empty strings, got ${JSON.stringify(value)} in ${element}`);
  }
  return values as string[];
}

function parseActions(value: unknown, fail: (problem: string) => never): RegExp[] {
  return stringList(value, fail, 'Action').map((action) => {
    if (action !== '*' && !/^iot:[A-Za-z*?]+$/i.test(action)) {
      fail(`has the action '${action}'; IoT policies take '*' or actions of the form 'iot:Name' such as iot:Publish`);
    }
    return wildcardRegExp(action, 'i');
  });
}

function parseConditions(value: unknown, fail: (problem: string) => never): ConditionTest[] {
  if (value === undefined) return [];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(`has a Condition that is not an object: ${JSON.stringify(value)}`);
  }
  const tests: ConditionTest[] = [];
  for (const [operatorName, keys] of Object.entries(value as Record<string, unknown>)) {
    const operator = OPERATORS.find((candidate) => candidate === operatorName);
    if (!operator) {
      fail(`uses the condition operator '${operatorName}', which the local broker does not support; use one of ${OPERATORS.join(', ')}`);
    }
    if (keys === null || typeof keys !== 'object' || Array.isArray(keys)) {
      fail(`has a ${operator} condition that is not an object of condition keys: ${JSON.stringify(keys)}`);
    }
    for (const [keyName, raw] of Object.entries(keys as Record<string, unknown>)) {
      const key = findVariable(keyName);
      if (!key) {
        fail(`uses the condition key '${keyName}', which the local broker does not support; use one of ${VARIABLES.join(', ')}`);
      }
      const strings = (Array.isArray(raw) ? raw : [raw]).map((entry) => (typeof entry === 'boolean' ? String(entry) : entry));
      const values = stringList(strings, fail, `${operator} ${keyName}`);
      if (operator === 'Bool' && values.some((entry) => !/^(true|false)$/i.test(entry))) {
        fail(`has the Bool condition ${keyName}: ${JSON.stringify(raw)}; Bool takes "true" or "false"`);
      }
      tests.push({ operator, key, values: values.map((entry) => tokenize(entry, fail, operator === 'StringLike')) });
    }
  }
  return tests;
}

function parseStatement(policyName: string, statement: unknown, index: number): PolicyStatement {
  let location = `Statement[${index}]`;
  const fail = (problem: string): never => {
    throw new PolicyParseError(policyName, location, problem);
  };
  if (statement === null || typeof statement !== 'object' || Array.isArray(statement)) {
    fail(`is not an object: ${JSON.stringify(statement)}`);
  }
  const fields = statement as Record<string, unknown>;
  if (typeof fields.Sid === 'string' && fields.Sid) location = `${location} (Sid ${fields.Sid})`;
  for (const key of Object.keys(fields)) {
    if (key === 'NotAction' || key === 'NotResource') {
      fail(`uses ${key}, which the local broker does not support; list the covered items in ${key.slice(3)} instead`);
    }
    if (!STATEMENT_KEYS.includes(key)) {
      fail(`has the key '${key}', which the local broker does not support; statements take ${STATEMENT_KEYS.join(', ')}`);
    }
  }
  if (fields.Effect !== 'Allow' && fields.Effect !== 'Deny') {
    fail(`has the Effect ${JSON.stringify(fields.Effect)}; use "Allow" or "Deny"`);
  }
  if (fields.Action === undefined) fail('is missing Action');
  if (fields.Resource === undefined) fail('is missing Resource');
  return {
    label: typeof fields.Sid === 'string' && fields.Sid ? fields.Sid : `Statement[${index}]`,
    effect: fields.Effect as 'Allow' | 'Deny',
    actions: parseActions(fields.Action, fail),
    resources: stringList(fields.Resource, fail, 'Resource').map((resource) => tokenize(resource, fail, true)),
    conditions: parseConditions(fields.Condition, fail),
  };
}

/** A parsed AWS IoT Core policy document. */
export class IotPolicy {
  /**
   * Parses a policy document whose intrinsic functions are already resolved.
   *
   * @throws Error naming the policy and the offending element for anything the evaluator
   *   does not implement.
   */
  public static parse(name: string, document: object): IotPolicy {
    const fields = document as Record<string, unknown>;
    const fail = (problem: string): never => {
      throw new PolicyParseError(name, 'document', problem);
    };
    if (document === null || typeof document !== 'object' || Array.isArray(document)) {
      fail(`is not an object: ${JSON.stringify(document)}`);
    }
    if (fields.Version !== undefined && fields.Version !== SUPPORTED_VERSION) {
      fail(`has the Version ${JSON.stringify(fields.Version)}; policy variables need "${SUPPORTED_VERSION}"`);
    }
    const statements = Array.isArray(fields.Statement) ? fields.Statement : [fields.Statement];
    if (fields.Statement === undefined || statements.length === 0) fail('has no Statement');
    return new IotPolicy(name, statements.map((statement, index) => parseStatement(name, statement, index)));
  }

  private constructor(public readonly name: string, public readonly statements: readonly PolicyStatement[]) {}
}

function variableValue(name: Variable, context: PolicyContext): string | undefined {
  switch (name) {
    case 'iot:Connection.Thing.ThingName':
      return context.thingName;
    case 'iot:Connection.Thing.IsAttached':
      return String(context.isAttached);
    case 'iot:ClientId':
      return context.clientId;
    case 'iot:Certificate.Subject.CommonName':
      return context.certificateCommonName;
  }
}

/**
 * Builds the regular expression for a pattern in one context, or returns undefined when a
 * variable has no value. Substituted values match literally, so a `*` in a client id is no
 * wildcard.
 */
function patternRegExp(tokens: readonly Token[], context: PolicyContext, flags = ''): RegExp | undefined {
  let body = '';
  for (const token of tokens) {
    if (token.kind === 'anySequence') {
      body += '.*';
    } else if (token.kind === 'anyCharacter') {
      body += '.';
    } else {
      const text = token.kind === 'literal' ? token.text : variableValue(token.name, context);
      if (text === undefined) return undefined;
      body += escapeRegExp(text);
    }
  }
  return new RegExp(`^${body}$`, `s${flags}`);
}

function conditionHolds(test: ConditionTest, context: PolicyContext): boolean {
  const actual = variableValue(test.key, context);
  if (actual === undefined) return false;
  return test.values.some((value) => {
    const pattern = patternRegExp(value, context, test.operator === 'Bool' ? 'i' : '');
    return pattern !== undefined && pattern.test(actual);
  });
}

function statementMatches(statement: PolicyStatement, request: AuthorizationRequest, arn: string, context: PolicyContext): boolean {
  return (
    statement.actions.some((action) => action.test(request.action)) &&
    statement.resources.some((resource) => patternRegExp(resource, context)?.test(arn) ?? false) &&
    statement.conditions.every((test) => conditionHolds(test, context))
  );
}

/** Returns the ARN of a request's resource, such as arn:aws:iot:us-east-1:000000000000:topic/a/b. */
export function resourceArn(request: AuthorizationRequest, context: PolicyContext): string {
  return `arn:aws:iot:${context.region}:${context.account}:${RESOURCE_TYPES[request.action]}/${request.resource}`;
}

/**
 * Evaluates a request against every statement of the given policies: a matching Deny denies,
 * otherwise a matching Allow allows, otherwise the request is denied.
 */
export function evaluate(policies: readonly IotPolicy[], request: AuthorizationRequest, context: PolicyContext): AuthorizationDecision {
  const arn = resourceArn(request, context);
  const subject = `${request.action} on ${RESOURCE_TYPES[request.action]}/${request.resource}`;
  let allowedBy: string | undefined;
  for (const policy of policies) {
    for (const statement of policy.statements) {
      if (!statementMatches(statement, request, arn, context)) continue;
      if (statement.effect === 'Deny') {
        return { allowed: false, reason: `${subject} denied by policy ${policy.name} ${statement.label}` };
      }
      allowedBy ??= `policy ${policy.name} ${statement.label}`;
    }
  }
  if (allowedBy) return { allowed: true, reason: `${subject} allowed by ${allowedBy}` };
  return { allowed: false, reason: `${subject} denied: no statement allows it` };
}

function resolveDocument(template: Template, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((entry) => resolveDocument(template, entry));
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) {
    return resolveIntrinsic(template, object);
  }
  return Object.fromEntries(keys.map((key) => [key, resolveDocument(template, object[key])]));
}

/**
 * Parses every AWS::IoT::Policy of a synthesized template, keyed by logical id, with
 * references resolved to the local region, account and resource names.
 */
export function loadIotPoliciesFromTemplate(template: Template): Map<string, IotPolicy> {
  const policies = new Map<string, IotPolicy>();
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::IoT::Policy') continue;
    let document = resource.Properties?.PolicyDocument;
    if (typeof document === 'string') document = JSON.parse(document);
    if (document === undefined) {
      throw new PolicyParseError(logicalId, 'resource', 'has no PolicyDocument');
    }
    let resolved: unknown;
    try {
      resolved = resolveDocument(template, document);
    } catch (error) {
      throw new PolicyParseError(logicalId, 'document', `cannot be resolved: ${(error as Error).message}`);
    }
    policies.set(logicalId, IotPolicy.parse(logicalId, resolved as object));
  }
  return policies;
}
