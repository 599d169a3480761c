import { randomUUID } from 'node:crypto';

/** A subscription filter in the form AppSync stores it. */
export interface SubscriptionFilter {
  readonly filterGroup: { readonly filters: { readonly fieldName: string; readonly operator: string; readonly value: unknown }[] }[];
}

/** Error that `util.error` raises; it carries the GraphQL error type, data and error info. */
export class ResolverError extends Error {
  constructor(message: string, public readonly errorType?: string, public readonly data?: unknown, public readonly errorInfo?: unknown) {
    super(message);
    this.name = 'ResolverError';
  }
}

/** Requests that a resolver's response handler made to AppSync besides its result. */
export interface ResolverExtensions {
  subscriptionFilter?: SubscriptionFilter;
  invalidationFilter?: SubscriptionFilter;
  invalidations: { subscriptionField: string; payload: Record<string, unknown> }[];
  /** Errors that `util.appendError` added; the field keeps its result and the response lists them. */
  appendedErrors?: ResolverError[];
}

/** A resolver's request and response handlers. */
export interface LoadedResolver {
  readonly extensions: ResolverExtensions;
  request(ctx: any): any;
  response(ctx: any): any;
}

/**
 * Loads APPSYNC_JS resolver code with the parts of `@aws-appsync/utils` that the platform's
 * resolvers use: `util.error`, `util.appendError`, `util.unauthorized`, `util.autoId`,
 * `util.time.now*`, `util.transform.toSubscriptionFilter`, and the `extensions` calls for
 * subscription filters and invalidation. The same code string that the template deploys runs
 * here. Each call returns handlers with their own `extensions` record, so load the code once
 * per resolver invocation.
 */
export function loadResolver(code: string): LoadedResolver {
  const extensions: ResolverExtensions = { invalidations: [], appendedErrors: [] };
  const util = {
    error(message: string, type?: string, data?: unknown, errorInfo?: unknown): never {
      throw new ResolverError(message, type, data, errorInfo);
    },
    appendError(message: string, type?: string, data?: unknown, errorInfo?: unknown): void {
      extensions.appendedErrors!.push(new ResolverError(message, type, data, errorInfo));
    },
    unauthorized(): never {
      throw new ResolverError('Unauthorized', 'Unauthorized');
    },
    autoId(): string {
      return randomUUID();
    },
    time: {
      nowEpochMilliSeconds: () => Date.now(),
      nowEpochSeconds: () => Math.floor(Date.now() / 1000),
      nowISO8601: () => new Date().toISOString(),
    },
    transform: { toSubscriptionFilter },
  };
  const extensionsApi = {
    setSubscriptionFilter(filter: SubscriptionFilter) { extensions.subscriptionFilter = filter; },
    setSubscriptionInvalidationFilter(filter: SubscriptionFilter) { extensions.invalidationFilter = filter; },
    invalidateSubscriptions(invalidation: { subscriptionField: string; payload: Record<string, unknown> }) {
      extensions.invalidations.push(invalidation);
    },
  };
  const body = code
    .replace(/^\s*import\s+\{[^}]*\}\s+from\s+'@aws-appsync\/utils';\s*$/gm, '')
    .replace(/export function /g, 'function ');
  if (/\bimport\b|\bexport\b/.test(body)) {
    throw new Error('Resolver code imports or exports something other than @aws-appsync/utils; the local runtime cannot load it.');
  }
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function('util', 'extensions', `${body}\nreturn { request, response };`);
  const handlers = factory(util, extensionsApi) as { request(ctx: any): any; response(ctx: any): any };
  return { request: handlers.request, response: handlers.response, extensions };
}

/** Converts `{ field: { operator: value } }` into AppSync's filter form. */
export function toSubscriptionFilter(filter: Record<string, Record<string, unknown>>): SubscriptionFilter {
  const filters = Object.entries(filter).flatMap(([fieldName, conditions]) =>
    Object.entries(conditions).map(([operator, value]) => ({ fieldName, operator, value })));
  return { filterGroup: [{ filters }] };
}

/**
 * Returns whether a published payload passes a filter, which it does when all filters of any
 * group match. A field name with dots reads a nested field, as AppSync's enhanced filters do.
 */
export function matchesFilter(filter: SubscriptionFilter | undefined, payload: Record<string, unknown>): boolean {
  if (!filter) {
    return true;
  }
  return filter.filterGroup.some((group) => group.filters.every(({ fieldName, operator, value }) =>
    matchesCondition(fieldValue(payload, fieldName), operator, value)));
}

function fieldValue(payload: Record<string, unknown>, fieldName: string): unknown {
  let value: unknown = payload;
  for (const part of fieldName.split('.')) {
    value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  }
  return value;
}

function matchesCondition(actual: unknown, operator: string, value: unknown): boolean {
  switch (operator) {
    case 'eq': return actual === value;
    case 'ne': return actual !== value;
    case 'in': return Array.isArray(value) && value.includes(actual);
    case 'notIn': return Array.isArray(value) && !value.includes(actual);
    case 'le': return compare(actual, value, (a, b) => a <= b);
    case 'lt': return compare(actual, value, (a, b) => a < b);
    case 'ge': return compare(actual, value, (a, b) => a >= b);
    case 'gt': return compare(actual, value, (a, b) => a > b);
    case 'between': return Array.isArray(value) && compare(actual, value[0], (a, b) => a >= b) && compare(actual, value[1], (a, b) => a <= b);
    case 'contains': return (typeof actual === 'string' || Array.isArray(actual)) && actual.includes(value as never);
    case 'notContains': return (typeof actual === 'string' || Array.isArray(actual)) && !actual.includes(value as never);
    case 'beginsWith': return typeof actual === 'string' && typeof value === 'string' && actual.startsWith(value);
    case 'containsAny': return Array.isArray(actual) && Array.isArray(value) && value.some((item) => actual.includes(item));
    default: throw new Error(`Filter operator '${operator}' is not supported locally; use eq, ne, in, notIn, le, lt, ge, gt, between, contains, notContains, beginsWith or containsAny.`);
  }
}

function compare(actual: unknown, value: unknown, test: (a: any, b: any) => boolean): boolean {
  const comparable = (item: unknown) => typeof item === 'number' || typeof item === 'string';
  return comparable(actual) && typeof actual === typeof value && test(actual, value);
}
