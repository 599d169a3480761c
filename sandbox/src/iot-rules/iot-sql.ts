import { randomUUID } from 'node:crypto';

/**
 * Parser and evaluator for AWS IoT rule SQL, version 2016-03-23, limited to the clauses,
 * operators and functions listed in `FUNCTIONS` below. Anything else raises IotSqlError at
 * parse time, so a rule the sandbox cannot run fails loudly instead of dropping messages.
 */

/** An MQTT message delivered to the rules engine. */
export interface IotSqlMessage {
  topic: string;
  payload: Buffer;
  clientId?: string;
  principal?: string;
  /** Time the broker received the message, in epoch milliseconds. */
  timestamp: number;
}

/** Syntax error, unsupported feature, or a result that the sandbox cannot represent. */
export class IotSqlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IotSqlError';
  }
}

type Expression =
  | { kind: 'literal'; value: unknown }
  | { kind: 'reference'; path: Array<string | Expression> }
  | { kind: 'payload' }
  | { kind: 'call'; name: string; args: Expression[] }
  | { kind: 'unary'; operator: 'NOT' | '-'; operand: Expression }
  | { kind: 'binary'; operator: string; left: Expression; right: Expression }
  | { kind: 'is'; operand: Expression; negated: boolean; test: 'NULL' | 'UNDEFINED' };

type SelectItem = { kind: 'star' } | { kind: 'expression'; expression: Expression; name: string };

/** Supported functions with their minimum and maximum argument counts. */
const FUNCTIONS: Record<string, [number, number]> = {
  topic: [0, 1],
  timestamp: [0, 0],
  clientid: [0, 0],
  principal: [0, 0],
  encode: [2, 2],
  startswith: [2, 2],
  endswith: [2, 2],
  concat: [2, Number.POSITIVE_INFINITY],
  lower: [1, 1],
  upper: [1, 1],
  substring: [2, 3],
  abs: [1, 1],
  newuuid: [0, 0],
};

const KEYWORDS = new Set(['SELECT', 'FROM', 'WHERE', 'AS', 'AND', 'OR', 'NOT', 'IS', 'NULL', 'TRUE', 'FALSE']);
const COMPARISON_OPERATORS = new Set(['=', '<>', '!=', '<', '<=', '>', '>=']);

type Token =
  | { type: 'identifier'; text: string; position: number }
  | { type: 'keyword'; text: string; raw: string; position: number }
  | { type: 'number'; value: number; text: string; position: number }
  | { type: 'string'; value: string; text: string; position: number }
  | { type: 'symbol'; text: string; position: number }
  | { type: 'end'; text: ''; position: number };

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const char = sql[i];
    if (/\s/.test(char)) {
      i++;
      continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(char)) {
      while (i < sql.length && /[A-Za-z0-9_]/.test(sql[i])) {
        i++;
      }
      const text = sql.slice(start, i);
      const upper = text.toUpperCase();
      tokens.push(KEYWORDS.has(upper) ? { type: 'keyword', text: upper, raw: text, position: start } : { type: 'identifier', text, position: start });
      continue;
    }
    if (/[0-9]/.test(char) || (char === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      const match = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(sql.slice(i))!;
      i += match[0].length;
      tokens.push({ type: 'number', value: Number(match[0]), text: match[0], position: start });
      continue;
    }
    if (char === "'") {
      tokens.push(readString(sql, start));
      i = start + tokens[tokens.length - 1].text.length;
      continue;
    }
    if (char === '"' || char === '`') {
      throw new IotSqlError(`Unsupported quote ${char} at position ${start}: write string literals in single quotes, and attribute names without quotes.`);
    }
    const twoChars = sql.slice(i, i + 2);
    if (['<>', '!=', '<=', '>='].includes(twoChars)) {
      tokens.push({ type: 'symbol', text: twoChars, position: start });
      i += 2;
      continue;
    }
    if ('*,().[]=<>+-/%'.includes(char)) {
      tokens.push({ type: 'symbol', text: char, position: start });
      i++;
      continue;
    }
    throw new IotSqlError(`Unexpected character '${char}' at position ${start} in the rule SQL.`);
  }
  tokens.push({ type: 'end', text: '', position: sql.length });
  return tokens;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t' };

/** Reads a single-quoted literal in which a backslash escapes the next character. */
function readString(sql: string, start: number): Token {
  let value = '';
  let i = start + 1;
  while (i < sql.length) {
    const char = sql[i];
    if (char === '\\' && i + 1 < sql.length) {
      value += ESCAPES[sql[i + 1]] ?? sql[i + 1];
      i += 2;
      continue;
    }
    if (char === "'") {
      return { type: 'string', value, text: sql.slice(start, i + 1), position: start };
    }
    value += char;
    i++;
  }
  throw new IotSqlError(`Unterminated string literal starting at position ${start}: close it with a single quote.`);
}

class Parser {
  private index = 0;

  constructor(private readonly tokens: Token[]) {}

  parseStatement(): { items: SelectItem[]; topicFilter: string; where?: Expression } {
    this.expectKeyword('SELECT');
    const items = [this.parseSelectItem()];
    while (this.acceptSymbol(',')) {
      items.push(this.parseSelectItem());
    }
    this.expectKeyword('FROM');
    const filterToken = this.next();
    if (filterToken.type !== 'string') {
      throw this.errorAt(filterToken, 'a topic filter in single quotes after FROM');
    }
    let where: Expression | undefined;
    if (this.acceptKeyword('WHERE')) {
      where = this.parseExpression();
    }
    const end = this.next();
    if (end.type !== 'end') {
      throw this.errorAt(end, 'the end of the statement');
    }
    return { items, topicFilter: filterToken.value, where };
  }

  private parseSelectItem(): SelectItem {
    const token = this.peek();
    if (token.type === 'symbol' && token.text === '*') {
      this.index++;
      return { kind: 'star' };
    }
    const expression = this.parseExpression();
    if (this.acceptKeyword('AS')) {
      const alias = this.next();
      if (alias.type !== 'identifier' && alias.type !== 'keyword') {
        throw this.errorAt(alias, 'a name after AS');
      }
      return { kind: 'expression', expression, name: alias.type === 'keyword' ? alias.raw : alias.text };
    }
    const last = expression.kind === 'reference' ? expression.path[expression.path.length - 1] : undefined;
    if (typeof last !== 'string') {
      throw new IotSqlError(`The SELECT item ending at position ${this.peek().position} has no name: add 'AS <name>' after it.`);
    }
    return { kind: 'expression', expression, name: last };
  }

  private parseExpression(): Expression {
    return this.parseOr();
  }

  private parseOr(): Expression {
    let left = this.parseAnd();
    while (this.acceptKeyword('OR')) {
      left = { kind: 'binary', operator: 'OR', left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): Expression {
    let left = this.parseNot();
    while (this.acceptKeyword('AND')) {
      left = { kind: 'binary', operator: 'AND', left, right: this.parseNot() };
    }
    return left;
  }

  private parseNot(): Expression {
    if (this.acceptKeyword('NOT')) {
      return { kind: 'unary', operator: 'NOT', operand: this.parseNot() };
    }
    return this.parseComparison();
  }

  private parseComparison(): Expression {
    const left = this.parseAdditive();
    const token = this.peek();
    if (token.type === 'symbol' && COMPARISON_OPERATORS.has(token.text)) {
      this.index++;
      const operator = token.text === '!=' ? '<>' : token.text;
      return { kind: 'binary', operator, left, right: this.parseAdditive() };
    }
    if (this.acceptKeyword('IS')) {
      const negated = this.acceptKeyword('NOT');
      const test = this.next();
      if (test.type === 'keyword' && test.text === 'NULL') {
        return { kind: 'is', operand: left, negated, test: 'NULL' };
      }
      if (test.type === 'identifier' && test.text.toUpperCase() === 'UNDEFINED') {
        return { kind: 'is', operand: left, negated, test: 'UNDEFINED' };
      }
      throw this.errorAt(test, 'NULL or UNDEFINED after IS');
    }
    return left;
  }

  private parseAdditive(): Expression {
    let left = this.parseMultiplicative();
    for (;;) {
      const token = this.peek();
      if (token.type !== 'symbol' || (token.text !== '+' && token.text !== '-')) {
        return left;
      }
      this.index++;
      left = { kind: 'binary', operator: token.text, left, right: this.parseMultiplicative() };
    }
  }

  private parseMultiplicative(): Expression {
    let left = this.parseUnary();
    for (;;) {
      const token = this.peek();
      if (token.type !== 'symbol' || !['*', '/', '%'].includes(token.text)) {
        return left;
      }
      this.index++;
      left = { kind: 'binary', operator: token.text, left, right: this.parseUnary() };
    }
  }

  private parseUnary(): Expression {
    if (this.acceptSymbol('-')) {
      return { kind: 'unary', operator: '-', operand: this.parseUnary() };
    }
    return this.parsePostfix();
  }

  private parsePostfix(): Expression {
    const primary = this.parsePrimary();
    const path: Array<string | Expression> = primary.kind === 'reference' ? [...primary.path] : [];
    let hasAccessor = false;
    for (;;) {
      if (this.acceptSymbol('.')) {
        const name = this.next();
        if (name.type !== 'identifier' && name.type !== 'keyword') {
          throw this.errorAt(name, 'an attribute name after "."');
        }
        path.push(name.type === 'keyword' ? name.raw : name.text);
      } else if (this.acceptSymbol('[')) {
        path.push(this.parseExpression());
        this.expectSymbol(']');
      } else {
        break;
      }
      hasAccessor = true;
    }
    if (!hasAccessor) {
      return primary;
    }
    if (primary.kind !== 'reference') {
      throw new IotSqlError(`Attribute access on a ${primary.kind} expression is not supported: apply "." and "[]" to payload attributes only.`);
    }
    return { kind: 'reference', path };
  }

  private parsePrimary(): Expression {
    const token = this.next();
    switch (token.type) {
      case 'number':
        return { kind: 'literal', value: token.value };
      case 'string':
        return { kind: 'literal', value: token.value };
      case 'keyword':
        if (token.text === 'TRUE' || token.text === 'FALSE') {
          return { kind: 'literal', value: token.text === 'TRUE' };
        }
        if (token.text === 'NULL') {
          return { kind: 'literal', value: null };
        }
        throw this.errorAt(token, 'an expression');
      case 'identifier':
        if (this.acceptSymbol('(')) {
          return this.parseCall(token.text);
        }
        return { kind: 'reference', path: [token.text] };
      case 'symbol':
        if (token.text === '(') {
          const inner = this.parseExpression();
          this.expectSymbol(')');
          return inner;
        }
        throw this.errorAt(token, 'an expression');
      default:
        throw this.errorAt(token, 'an expression');
    }
  }

  private parseCall(rawName: string): Expression {
    const name = rawName.toLowerCase();
    const arity = FUNCTIONS[name];
    if (!arity) {
      throw new IotSqlError(
        `Function '${rawName}' is not supported by the local IoT rules engine. Supported functions: ${Object.keys(FUNCTIONS).join(', ')}.`,
      );
    }
    const args: Expression[] = [];
    if (!this.acceptSymbol(')')) {
      do {
        args.push(this.parseArgument());
      } while (this.acceptSymbol(','));
      this.expectSymbol(')');
    }
    const [min, max] = arity;
    if (args.length < min || args.length > max) {
      let expected = `${min} to ${max}`;
      if (min === max) {
        expected = `${min}`;
      } else if (max === Number.POSITIVE_INFINITY) {
        expected = `at least ${min}`;
      }
      throw new IotSqlError(`Function '${rawName}' takes ${expected} argument(s) but got ${args.length}.`);
    }
    if (name === 'encode') {
      const scheme = args[1];
      if (scheme.kind !== 'literal' || scheme.value !== 'base64') {
        throw new IotSqlError("encode() supports only the 'base64' encoding scheme as a string literal, for example encode(*, 'base64').");
      }
    }
    if (args.some((arg) => arg.kind === 'payload') && name !== 'encode') {
      throw new IotSqlError(`Function '${rawName}' does not accept * as an argument: only encode(*, 'base64') reads the raw payload.`);
    }
    return { kind: 'call', name, args };
  }

  private parseArgument(): Expression {
    const token = this.peek();
    const following = this.tokens[this.index + 1];
    if (token.type === 'symbol' && token.text === '*' && following.type === 'symbol' && (following.text === ',' || following.text === ')')) {
      this.index++;
      return { kind: 'payload' };
    }
    return this.parseExpression();
  }

  private peek(): Token {
    return this.tokens[this.index];
  }

  private next(): Token {
    const token = this.tokens[this.index];
    if (token.type !== 'end') {
      this.index++;
    }
    return token;
  }

  private acceptKeyword(keyword: string): boolean {
    const token = this.peek();
    if (token.type === 'keyword' && token.text === keyword) {
      this.index++;
      return true;
    }
    return false;
  }

  private acceptSymbol(symbol: string): boolean {
    const token = this.peek();
    if (token.type === 'symbol' && token.text === symbol) {
      this.index++;
      return true;
    }
    return false;
  }

  private expectKeyword(keyword: string): void {
    if (!this.acceptKeyword(keyword)) {
      throw this.errorAt(this.peek(), keyword);
    }
  }

  private expectSymbol(symbol: string): void {
    if (!this.acceptSymbol(symbol)) {
      throw this.errorAt(this.peek(), `'${symbol}'`);
    }
  }

  private errorAt(token: Token, expected: string): IotSqlError {
    const found = token.type === 'end' ? 'the end of the statement' : `'${token.text}'`;
    return new IotSqlError(`Expected ${expected} at position ${token.position} but found ${found}.`);
  }
}

/** Checks an MQTT topic filter: `+` must fill a whole level and `#` must be the last level. */
function validateTopicFilter(filter: string): void {
  if (filter.length === 0) {
    throw new IotSqlError("The FROM topic filter is empty: name a topic such as 'iot/telemetry/+'.");
  }
  const levels = filter.split('/');
  levels.forEach((level, index) => {
    if (level.includes('+') && level !== '+') {
      throw new IotSqlError(`Invalid topic filter '${filter}': '+' must fill a whole topic level.`);
    }
    if (level.includes('#') && (level !== '#' || index !== levels.length - 1)) {
      throw new IotSqlError(`Invalid topic filter '${filter}': '#' must be the whole last topic level.`);
    }
  });
}

/** Decoded payload kind: a JSON object, an empty payload, or anything else. */
type Payload = { kind: 'object'; value: Record<string, unknown> } | { kind: 'empty' } | { kind: 'other' };

function decodePayload(payload: Buffer): Payload {
  if (payload.length === 0) {
    return { kind: 'empty' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return { kind: 'other' };
  }
  return isObject(parsed) ? { kind: 'object', value: parsed } : { kind: 'other' };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Context {
  message: IotSqlMessage;
  payload: Payload;
}

/** A parsed topic rule statement that filters and transforms MQTT messages. */
export class IotSqlStatement {
  /** Parses a 2016-03-23 rule statement, raising IotSqlError for anything the evaluator cannot run. */
  static parse(sql: string): IotSqlStatement {
    const { items, topicFilter, where } = new Parser(tokenize(sql)).parseStatement();
    validateTopicFilter(topicFilter);
    return new IotSqlStatement(items, topicFilter, where);
  }

  private constructor(
    private readonly items: SelectItem[],
    readonly topicFilter: string,
    private readonly where: Expression | undefined,
  ) {}

  /** Tests a topic against the FROM filter with MQTT wildcard rules. */
  matchesTopic(topic: string): boolean {
    const filterLevels = this.topicFilter.split('/');
    const topicLevels = topic.split('/');
    // MQTT 3.1.1 section 4.7.2: a filter that starts with a wildcard does not match `$` topics.
    if (topic.startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) {
      return false;
    }
    for (let i = 0; i < filterLevels.length; i++) {
      const level = filterLevels[i];
      if (level === '#') {
        return true;
      }
      if (i >= topicLevels.length) {
        return false;
      }
      if (level !== '+' && level !== topicLevels[i]) {
        return false;
      }
    }
    return filterLevels.length === topicLevels.length;
  }

  /**
   * Returns the output object of the rule, or undefined when the topic does not match or the
   * WHERE clause is not true. Undefined values are left out, as AWS does when it serializes JSON.
   * Raises IotSqlError when `*` selects a payload that is not a JSON object, because the output
   * is then raw bytes: use evaluatePayload for that case.
   */
  evaluate(message: IotSqlMessage): Record<string, unknown> | undefined {
    const context = this.contextFor(message);
    if (!context) {
      return undefined;
    }
    if (context.payload.kind === 'other' && this.items.some((item) => item.kind === 'star')) {
      throw new IotSqlError(
        `SELECT * on topic '${message.topic}' selects a payload that is not a JSON object, so the output is raw bytes: call evaluatePayload instead.`,
      );
    }
    return this.select(context);
  }

  /**
   * Returns the output payload bytes of the rule, or undefined when the topic does not match or
   * the WHERE clause is not true. When `*` is the only SELECT item and the payload is not a JSON
   * object, the raw payload passes through unchanged, as it does for AWS actions that accept
   * binary input. Otherwise the output is the JSON text of `evaluate`.
   */
  evaluatePayload(message: IotSqlMessage): Buffer | undefined {
    const context = this.contextFor(message);
    if (!context) {
      return undefined;
    }
    if (context.payload.kind === 'other' && this.items.some((item) => item.kind === 'star')) {
      if (this.items.length > 1) {
        throw new IotSqlError(
          `SELECT * with other items cannot add fields to the non-JSON payload on topic '${message.topic}': ` +
          "select encode(*, 'base64') AS <name> to embed the payload in a JSON object.",
        );
      }
      return Buffer.from(message.payload);
    }
    return Buffer.from(JSON.stringify(this.select(context)), 'utf8');
  }

  private contextFor(message: IotSqlMessage): Context | undefined {
    if (!this.matchesTopic(message.topic)) {
      return undefined;
    }
    const context: Context = { message, payload: decodePayload(message.payload) };
    if (this.where && toBoolean(evaluateExpression(this.where, context)) !== true) {
      return undefined;
    }
    return context;
  }

  private select(context: Context): Record<string, unknown> {
    const output: Record<string, unknown> = {};
    for (const item of this.items) {
      if (item.kind === 'star') {
        if (context.payload.kind === 'object') {
          Object.assign(output, structuredClone(context.payload.value));
        }
        continue;
      }
      const value = evaluateExpression(item.expression, context);
      if (value !== undefined) {
        output[item.name] = value;
      }
    }
    return output;
  }
}

function evaluateExpression(expression: Expression, context: Context): unknown {
  switch (expression.kind) {
    case 'literal':
      return expression.value;
    case 'payload':
      return context.message.payload;
    case 'reference':
      return resolveReference(expression.path, context);
    case 'call':
      return callFunction(expression.name, expression.args, context);
    case 'unary':
      if (expression.operator === 'NOT') {
        const operand = toBoolean(evaluateExpression(expression.operand, context));
        return operand === undefined ? undefined : !operand;
      } else {
        const operand = toNumber(evaluateExpression(expression.operand, context));
        return operand === undefined ? undefined : -operand;
      }
    case 'is': {
      const value = evaluateExpression(expression.operand, context);
      const result = expression.test === 'NULL' ? value === null : value === undefined;
      return expression.negated ? !result : result;
    }
    case 'binary':
      return evaluateBinary(expression.operator, expression.left, expression.right, context);
  }
}

function resolveReference(path: Array<string | Expression>, context: Context): unknown {
  if (context.payload.kind !== 'object') {
    return undefined;
  }
  let current: unknown = context.payload.value;
  for (const segment of path) {
    if (typeof segment === 'string') {
      current = isObject(current) && Object.prototype.hasOwnProperty.call(current, segment) ? current[segment] : undefined;
    } else {
      const index = evaluateExpression(segment, context);
      current = Array.isArray(current) && typeof index === 'number' && Number.isInteger(index) ? current[index] : undefined;
    }
    if (current === undefined) {
      return undefined;
    }
  }
  return current;
}

/** Converts AND/OR/NOT operands: Booleans, or the strings "true" and "false" in any case. */
function toBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') {
    return value;
  }
  if (typeof value === 'string') {
    const lower = value.toLowerCase();
    if (lower === 'true' || lower === 'false') {
      return lower === 'true';
    }
  }
  return undefined;
}

/** Converts an operand to a number: numbers and numeric strings convert, Booleans and others do not. */
function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return value;
  }
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : undefined;
  }
  return undefined;
}

function evaluateBinary(operator: string, leftExpression: Expression, rightExpression: Expression, context: Context): unknown {
  const left = evaluateExpression(leftExpression, context);
  const right = evaluateExpression(rightExpression, context);
  switch (operator) {
    case 'AND': {
      const a = toBoolean(left);
      const b = toBoolean(right);
      return a === undefined || b === undefined ? undefined : a && b;
    }
    case 'OR': {
      const a = toBoolean(left);
      const b = toBoolean(right);
      return a === undefined || b === undefined ? undefined : a || b;
    }
    case '=':
    case '<>': {
      const equal = valuesEqual(left, right);
      if (equal === undefined) {
        return undefined;
      }
      return operator === '=' ? equal : !equal;
    }
    case '<':
    case '<=':
    case '>':
    case '>=':
      return compare(operator, left, right);
    default:
      return arithmetic(operator, left, right);
  }
}

/**
 * Compares two values for `=` and `<>`. Numbers compare by value, other values compare only with
 * the same JSON type. Undefined operands and mismatched types give Undefined.
 */
function valuesEqual(left: unknown, right: unknown): boolean | undefined {
  if (left === undefined || right === undefined) {
    return undefined;
  }
  if (typeof left === 'number' && typeof right === 'number') {
    return left === right;
  }
  if (jsonType(left) !== jsonType(right)) {
    return undefined;
  }
  return JSON.stringify(left) === JSON.stringify(right);
}

function jsonType(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  return Array.isArray(value) ? 'array' : typeof value;
}

/** Orders two operands after converting both to numbers, as AWS converts them to Decimal. */
function compare(operator: string, left: unknown, right: unknown): boolean | undefined {
  const a = toNumber(left);
  const b = toNumber(right);
  if (a === undefined || b === undefined) {
    return undefined;
  }
  switch (operator) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    default:
      return a >= b;
  }
}

function arithmetic(operator: string, left: unknown, right: unknown): number | undefined {
  const a = toNumber(left);
  const b = toNumber(right);
  if (a === undefined || b === undefined) {
    return undefined;
  }
  const integers = Number.isInteger(a) && Number.isInteger(b);
  switch (operator) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      if (b === 0) {
        return undefined;
      }
      // NOTE: dropping the fraction of Int / Int follows SQL integer division and is not checked against AWS.
      return integers ? Math.trunc(a / b) : a / b;
    default:
      return b === 0 ? undefined : a % b;
  }
}

/** Converts a function argument to a string: strings, numbers and Booleans convert, others do not. */
function toText(value: unknown): string | undefined {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  return undefined;
}

function callFunction(name: string, argExpressions: Expression[], context: Context): unknown {
  const args = argExpressions.map((arg) => evaluateExpression(arg, context));
  const { message } = context;
  switch (name) {
    case 'topic': {
      if (args.length === 0) {
        return message.topic;
      }
      const index = toNumber(args[0]);
      if (index === undefined || !Number.isInteger(index) || index < 1) {
        return undefined;
      }
      return message.topic.split('/')[index - 1];
    }
    case 'timestamp':
      return message.timestamp;
    case 'clientid':
      return message.clientId;
    case 'principal':
      return message.principal;
    case 'newuuid':
      return randomUUID();
    case 'encode':
      return encodeBase64(args[0]);
    case 'startswith':
    case 'endswith': {
      const text = toText(args[0]);
      const affix = toText(args[1]);
      if (text === undefined || affix === undefined) {
        return undefined;
      }
      return name === 'startswith' ? text.startsWith(affix) : text.endsWith(affix);
    }
    case 'lower':
    case 'upper': {
      const text = toText(args[0]);
      if (text === undefined) {
        return undefined;
      }
      return name === 'lower' ? text.toLowerCase() : text.toUpperCase();
    }
    case 'abs': {
      const value = toNumber(args[0]);
      return value === undefined ? undefined : Math.abs(value);
    }
    case 'substring':
      return substring(args);
    default:
      return concat(args);
  }
}

function encodeBase64(value: unknown): string | undefined {
  if (Buffer.isBuffer(value)) {
    return value.toString('base64');
  }
  const text = toText(value);
  return text === undefined ? undefined : Buffer.from(text, 'utf8').toString('base64');
}

/** Takes characters from a zero-based start to an exclusive end, both clamped to the string. */
function substring(args: unknown[]): string | undefined {
  const text = toText(args[0]);
  const start = toNumber(args[1]);
  const end = args.length > 2 ? toNumber(args[2]) : text?.length;
  if (text === undefined || start === undefined || end === undefined) {
    return undefined;
  }
  const clamp = (index: number) => Math.min(Math.max(Math.trunc(index), 0), text.length);
  const from = clamp(start);
  const to = clamp(end);
  return from >= to ? '' : text.slice(from, to);
}

/**
 * Joins strings, or arrays when any argument is an array, in which case other arguments become
 * elements. Undefined, null and object arguments give Undefined.
 */
function concat(args: unknown[]): unknown {
  if (args.some((arg) => arg === undefined || arg === null || isObject(arg))) {
    return undefined;
  }
  if (args.some(Array.isArray)) {
    return args.flatMap((arg) => (Array.isArray(arg) ? arg : [arg]));
  }
  return args.map((arg) => toText(arg)).join('');
}
