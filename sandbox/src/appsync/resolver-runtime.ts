/** A subscription filter in the form AppSync stores it. */
export interface SubscriptionFilter {
  readonly filterGroup: { readonly filters: { readonly fieldName: string; readonly operator: string; readonly value: unknown }[] }[];
}

/** Error that `util.error` raises; it carries the GraphQL error type. */
export class ResolverError extends Error {
  constructor(message: string, public readonly errorType?: string) {
    super(message);
    this.name = 'ResolverError';
  }
}

/** Requests that a resolver's response handler made to AppSync besides its result. */
export interface ResolverExtensions {
  subscriptionFilter?: SubscriptionFilter;
  invalidationFilter?: SubscriptionFilter;
  invalidations: { subscriptionField: string; payload: Record<string, unknown> }[];
}

/** A resolver's request and response handlers. */
export interface LoadedResolver {
  request(ctx: any): any;
  response(ctx: any): any;
  readonly extensions: ResolverExtensions;
}

/**
 * Loads APPSYNC_JS resolver code with the parts of `@aws-appsync/utils` that the platform's
 * resolvers use: `util.error`, `util.transform.toSubscriptionFilter`, and the `extensions`
 * calls for subscription filters and invalidation. The same code string that the template
 * deploys runs here.
 */
export function loadResolver(code: string): LoadedResolver {
  const extensions: ResolverExtensions = { invalidations: [] };
  const util = {
    error(message: string, type?: string): never {
      throw new ResolverError(message, type);
    },
    transform: { toSubscriptionFilter },
  };
  const extensionsApi = {
    setSubscriptionFilter(filter: SubscriptionFilter) { extensions.subscriptionFilter = filter; },
    setSubscriptionInvalidationFilter(filter: SubscriptionFilter) { extensions.invalidationFilter = filter; },
    invalidateSubscriptions(invalidation: { subscriptionField: string; payload: Record<string, unknown> }) { extensions.invalidations.push(invalidation); },
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

/** Returns whether a published payload passes a filter, which it does when all filters of any group match. */
export function matchesFilter(filter: SubscriptionFilter | undefined, payload: Record<string, unknown>): boolean {
  if (!filter) {
    return true;
  }
  return filter.filterGroup.some((group) => group.filters.every(({ fieldName, operator, value }) => {
    const actual = payload[fieldName];
    switch (operator) {
      case 'eq': return actual === value;
      case 'ne': return actual !== value;
      case 'in': return Array.isArray(value) && value.includes(actual);
      default: throw new Error(`Filter operator '${operator}' is not supported locally.`);
    }
  }));
}
