import { BlockList, isIP } from 'node:net';

/**
 * EventBridge event pattern validation and matching. The rules follow the EventBridge user guide
 * ("Content filtering in Amazon EventBridge event patterns") and the README of aws/event-ruler,
 * the matching library behind EventBridge.
 */

/** Invalid event pattern, or an operator that the local matcher does not support. */
export class EventPatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventPatternError';
  }
}

const OPERATORS = ['prefix', 'suffix', 'equals-ignore-case', 'anything-but', 'numeric', 'exists', 'wildcard', 'cidr'];
const NUMERIC_LOWER_BOUNDS = ['>', '>='];
const NUMERIC_UPPER_BOUNDS = ['<', '<='];
/** Numeric matching accepts JSON numbers in this range only. */
const NUMERIC_LIMIT = 5e9;

type Pattern = Record<string, unknown>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function formatValue(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function joinPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * Checks that a pattern is a non-empty object whose fields are nested objects, `$or` lists or
 * arrays of matchers. Throws EventPatternError naming the field and the unsupported part.
 */
export function validateEventPattern(pattern: unknown): void {
  validateObject(pattern, '');
}

function validateObject(pattern: unknown, path: string): void {
  const where = path === '' ? 'event pattern' : `field '${path}'`;
  if (!isObject(pattern)) {
    throw new EventPatternError(`Invalid ${where}: expected a JSON object but got ${formatValue(pattern)}.`);
  }
  const keys = Object.keys(pattern);
  if (keys.length === 0) {
    throw new EventPatternError(`Invalid ${where}: an empty object matches nothing, so name at least one field.`);
  }
  for (const key of keys) {
    const value = pattern[key];
    const fieldPath = joinPath(path, key);
    if (key === '$or') {
      validateOr(value, fieldPath);
    } else if (Array.isArray(value)) {
      validateMatchers(value, fieldPath);
    } else if (isObject(value)) {
      validateObject(value, fieldPath);
    } else {
      throw new EventPatternError(`Invalid field '${fieldPath}': expected an array of values or a nested object but got ${formatValue(value)}.`);
    }
  }
}

function validateOr(value: unknown, path: string): void {
  if (!Array.isArray(value) || value.length < 2) {
    throw new EventPatternError(`Invalid '${path}': $or takes an array of at least two patterns but got ${formatValue(value)}.`);
  }
  value.forEach((alternative, index) => validateObject(alternative, `${path}[${index}]`));
}

function validateMatchers(matchers: unknown[], path: string): void {
  if (matchers.length === 0) {
    throw new EventPatternError(`Invalid field '${path}': the array of values is empty, so list at least one value or matcher.`);
  }
  for (const matcher of matchers) {
    if (matcher === null || ['string', 'number', 'boolean'].includes(typeof matcher)) {
      continue;
    }
    if (!isObject(matcher)) {
      throw new EventPatternError(`Invalid value ${formatValue(matcher)} in field '${path}': use a string, number, Boolean, null or an operator object.`);
    }
    validateOperator(matcher, path);
  }
}

function validateOperator(matcher: Record<string, unknown>, path: string): void {
  const keys = Object.keys(matcher);
  if (keys.length !== 1) {
    throw new EventPatternError(`Invalid matcher ${formatValue(matcher)} in field '${path}': an operator object takes exactly one operator.`);
  }
  const operator = keys[0];
  const operand = matcher[operator];
  const fail = (expected: string) =>
    new EventPatternError(`Invalid '${operator}' operand ${formatValue(operand)} in field '${path}': expected ${expected}.`);
  switch (operator) {
    case 'prefix':
    case 'suffix':
      if (typeof operand !== 'string' && !isIgnoreCaseString(operand)) {
        throw fail('a string or {"equals-ignore-case": <string>}');
      }
      return;
    case 'equals-ignore-case':
      if (typeof operand !== 'string') {
        throw fail('a string');
      }
      return;
    case 'exists':
      if (typeof operand !== 'boolean') {
        throw fail('true or false');
      }
      return;
    case 'wildcard':
      if (typeof operand !== 'string') {
        throw fail('a string');
      }
      validateWildcard(operand, path);
      return;
    case 'cidr':
      if (typeof operand !== 'string' || parseCidr(operand) === undefined) {
        throw fail('an IPv4 or IPv6 CIDR block such as "10.0.0.0/24"');
      }
      return;
    case 'numeric':
      validateNumeric(operand, fail);
      return;
    case 'anything-but':
      validateAnythingBut(operand, path, fail);
      return;
    default:
      throw new EventPatternError(
        `Unsupported operator '${operator}' in field '${path}'. Supported operators: ${OPERATORS.join(', ')}, and $or at object level.`,
      );
  }
}

function isIgnoreCaseString(operand: unknown): operand is { 'equals-ignore-case': string } {
  return isObject(operand) && Object.keys(operand).length === 1 && typeof operand['equals-ignore-case'] === 'string';
}

/** Rejects `**` and a backslash before anything other than `*` or `\`, as EventBridge does. */
function validateWildcard(wildcard: string, path: string): void {
  for (let i = 0; i < wildcard.length; i++) {
    const char = wildcard[i];
    if (char === '\\') {
      const next = wildcard[i + 1];
      if (next !== '*' && next !== '\\') {
        throw new EventPatternError(`Invalid wildcard ${formatValue(wildcard)} in field '${path}': a backslash may escape only '*' or '\\'.`);
      }
      i++;
    } else if (char === '*' && wildcard[i + 1] === '*') {
      throw new EventPatternError(`Invalid wildcard ${formatValue(wildcard)} in field '${path}': consecutive '*' characters are not allowed.`);
    }
  }
}

function validateNumeric(operand: unknown, fail: (expected: string) => EventPatternError): void {
  const expected = 'an array such as [">", 0, "<=", 5] or ["=", 3] with numbers between -5e9 and 5e9';
  if (!Array.isArray(operand) || (operand.length !== 2 && operand.length !== 4)) {
    throw fail(expected);
  }
  for (let i = 0; i < operand.length; i += 2) {
    const bound = operand[i + 1];
    if (typeof bound !== 'number' || !Number.isFinite(bound) || Math.abs(bound) > NUMERIC_LIMIT) {
      throw fail(expected);
    }
  }
  const [first, , second] = operand;
  if (operand.length === 2) {
    if (first !== '=' && !NUMERIC_LOWER_BOUNDS.includes(first) && !NUMERIC_UPPER_BOUNDS.includes(first)) {
      throw fail(expected);
    }
    return;
  }
  if (!NUMERIC_LOWER_BOUNDS.includes(first) || !NUMERIC_UPPER_BOUNDS.includes(second) || operand[1] >= operand[3]) {
    throw fail('a lower bound (">" or ">=") followed by a larger upper bound ("<" or "<=")');
  }
}

function validateAnythingBut(operand: unknown, path: string, fail: (expected: string) => EventPatternError): void {
  const expected = 'a string, a number, a list of only strings or only numbers, or one of prefix, suffix, equals-ignore-case, wildcard';
  if (typeof operand === 'string' || (typeof operand === 'number' && Number.isFinite(operand))) {
    return;
  }
  if (Array.isArray(operand)) {
    const allStrings = operand.every((item) => typeof item === 'string');
    const allNumbers = operand.every((item) => typeof item === 'number');
    if (operand.length === 0 || (!allStrings && !allNumbers)) {
      throw fail(expected);
    }
    return;
  }
  if (!isObject(operand) || Object.keys(operand).length !== 1) {
    throw fail(expected);
  }
  const [inner] = Object.keys(operand);
  const value = operand[inner];
  const isStringList = Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string');
  switch (inner) {
    case 'prefix':
    case 'suffix':
      if (typeof value !== 'string') {
        throw fail(`a string for anything-but ${inner}`);
      }
      return;
    case 'equals-ignore-case':
      if (typeof value !== 'string' && !isStringList) {
        throw fail('a string or a list of strings for anything-but equals-ignore-case');
      }
      return;
    case 'wildcard':
      if (typeof value !== 'string' && !isStringList) {
        throw fail('a string or a list of strings for anything-but wildcard');
      }
      (typeof value === 'string' ? [value] : (value as string[])).forEach((wildcard) => validateWildcard(wildcard, path));
      return;
    default:
      throw new EventPatternError(
        `Unsupported operator 'anything-but: ${inner}' in field '${path}'. anything-but supports prefix, suffix, equals-ignore-case and wildcard.`,
      );
  }
}

/**
 * Tests an event against a pattern. Fields combine with AND, the values listed for a field with
 * OR, and an array in the event matches when any of its elements matches. Objects inside event
 * arrays are matched one element at a time, so two fields never match in different elements.
 * Throws EventPatternError when the pattern is invalid.
 */
export function matchesEventPattern(pattern: Record<string, unknown>, event: Record<string, unknown>): boolean {
  validateEventPattern(pattern);
  return matchObject(pattern, event);
}

function matchObject(pattern: Pattern, node: unknown): boolean {
  if (Array.isArray(node)) {
    const objects = node.filter(isObject);
    return objects.length === 0 ? matchObject(pattern, undefined) : objects.some((element) => matchObject(pattern, element));
  }
  const fields = isObject(node) ? node : {};
  return Object.entries(pattern).every(([key, value]) => {
    if (key === '$or') {
      return (value as Pattern[]).some((alternative) => matchObject(alternative, fields));
    }
    if (Array.isArray(value)) {
      return matchField(value, fields[key]);
    }
    return matchObject(value as Pattern, fields[key]);
  });
}

/** Returns the leaf values of an event field: arrays flatten, and objects are not leaves. */
function leavesOf(value: unknown): unknown[] {
  if (value === undefined || isObject(value)) {
    return [];
  }
  if (Array.isArray(value)) {
    return value.flatMap(leavesOf);
  }
  return [value];
}

function matchField(matchers: unknown[], value: unknown): boolean {
  const leaves = leavesOf(value);
  return matchers.some((matcher) => {
    if (isObject(matcher) && 'exists' in matcher) {
      return matcher.exists === leaves.length > 0;
    }
    return leaves.some((leaf) => matchLeaf(matcher, leaf));
  });
}

function matchLeaf(matcher: unknown, leaf: unknown): boolean {
  if (!isObject(matcher)) {
    return matcher === leaf;
  }
  const [operator] = Object.keys(matcher);
  const operand = matcher[operator];
  switch (operator) {
    case 'prefix':
      return typeof leaf === 'string' && matchAffix(operand, leaf, (text, affix) => text.startsWith(affix));
    case 'suffix':
      return typeof leaf === 'string' && matchAffix(operand, leaf, (text, affix) => text.endsWith(affix));
    case 'equals-ignore-case':
      return typeof leaf === 'string' && leaf.toLowerCase() === (operand as string).toLowerCase();
    case 'wildcard':
      return typeof leaf === 'string' && wildcardRegExp(operand as string).test(leaf);
    case 'numeric':
      return typeof leaf === 'number' && matchNumeric(operand as unknown[], leaf);
    case 'cidr':
      return typeof leaf === 'string' && matchCidr(operand as string, leaf);
    default:
      return matchAnythingBut(operand, leaf);
  }
}

function matchAffix(operand: unknown, text: string, test: (text: string, affix: string) => boolean): boolean {
  if (typeof operand === 'string') {
    return test(text, operand);
  }
  const affix = (operand as { 'equals-ignore-case': string })['equals-ignore-case'];
  return test(text.toLowerCase(), affix.toLowerCase());
}

/** Compiles a wildcard: `*` matches any run of characters, `\*` a literal star, `\\` a backslash. */
function wildcardRegExp(wildcard: string): RegExp {
  let source = '';
  for (let i = 0; i < wildcard.length; i++) {
    const char = wildcard[i];
    if (char === '\\') {
      source += escapeRegExp(wildcard[i + 1]);
      i++;
    } else if (char === '*') {
      source += '.*';
    } else {
      source += escapeRegExp(char);
    }
  }
  return new RegExp(`^${source}$`, 's');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function matchNumeric(conditions: unknown[], value: number): boolean {
  for (let i = 0; i < conditions.length; i += 2) {
    const bound = conditions[i + 1] as number;
    const satisfied = {
      '=': value === bound,
      '<': value < bound,
      '<=': value <= bound,
      '>': value > bound,
      '>=': value >= bound,
    }[conditions[i] as string];
    if (!satisfied) {
      return false;
    }
  }
  return true;
}

function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const match = /^([^/]+)\/([0-9]{1,3})$/.exec(cidr);
  if (!match) {
    return undefined;
  }
  const version = isIP(match[1]);
  const prefix = Number(match[2]);
  if (version === 0 || prefix > (version === 4 ? 32 : 128)) {
    return undefined;
  }
  return { address: match[1], prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

function matchCidr(cidr: string, address: string): boolean {
  const block = parseCidr(cidr)!;
  const version = isIP(address);
  if (version === 0 || (version === 4) !== (block.family === 'ipv4')) {
    return false;
  }
  const list = new BlockList();
  list.addSubnet(block.address, block.prefix, block.family);
  return list.check(address, block.family);
}

/**
 * Matches leaves that differ from the excluded values. String conditions (prefix, suffix,
 * equals-ignore-case, wildcard) exclude strings only, so any non-string leaf matches them.
 * NOTE: the non-string case is inferred from event-ruler comparing JSON text, not tested on AWS.
 */
function matchAnythingBut(operand: unknown, leaf: unknown): boolean {
  if (!isObject(operand)) {
    const excluded = Array.isArray(operand) ? operand : [operand];
    return !excluded.includes(leaf);
  }
  if (typeof leaf !== 'string') {
    return true;
  }
  const [inner] = Object.keys(operand);
  const value = operand[inner];
  const values = Array.isArray(value) ? (value as string[]) : [value as string];
  switch (inner) {
    case 'prefix':
      return !leaf.startsWith(values[0]);
    case 'suffix':
      return !leaf.endsWith(values[0]);
    case 'equals-ignore-case':
      return !values.some((excluded) => excluded.toLowerCase() === leaf.toLowerCase());
    default:
      return !values.some((wildcard) => wildcardRegExp(wildcard).test(leaf));
  }
}
