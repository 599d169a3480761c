import {
  defaultFieldResolver, DocumentNode, execute, ExecutionResult, FieldNode, FragmentDefinitionNode, getOperationAST, GraphQLError,
  GraphQLFieldResolver, GraphQLResolveInfo, GraphQLSchema, Kind, NoSchemaIntrospectionCustomRule, OperationDefinitionNode, parse,
  print, SelectionSetNode, specifiedRules, validate,
} from 'graphql';
import { buildAppSyncSchema, FieldAuthorizer } from './appsync-schema';
import { RequestIdentity } from './request-auth';
import { loadResolver, LoadedResolver, ResolverError, SubscriptionFilter } from './resolver-runtime';
import { CodeStep, LocalDataSource, TemplateApi, TemplateResolver } from './template-api';

/** Invokes a function of the template by logical id; see LocalAppSyncOptions.invokeLambda. */
export type InvokeLambda = (functionLogicalId: string, event: unknown) => Promise<unknown>;

/** An error of one field, with the errorType, data and errorInfo that AppSync reports. */
export class FieldError extends Error {
  constructor(
    public readonly errorType: string | null,
    message: string,
    public readonly data: unknown = null,
    public readonly errorInfo: unknown = null,
  ) {
    super(message);
  }
}

/** An error entry of a response, in AppSync's shape. */
export interface AppSyncError {
  readonly path: readonly (string | number)[] | null;
  readonly data: unknown;
  readonly errorType: string | null;
  readonly errorInfo: unknown;
  readonly locations: { line: number; column: number; sourceName: null }[] | null;
  readonly message: string;
}

/** Filters that a subscription field's resolver set when the subscription started. */
export interface SubscriptionSetup {
  filter?: SubscriptionFilter;
  invalidationFilter?: SubscriptionFilter;
}

/** An invalidation that a mutation resolver requested with `extensions.invalidateSubscriptions`. */
export interface Invalidation {
  readonly subscriptionField: string;
  readonly payload: Record<string, unknown>;
}

/**
 * Execution mode of an operation: `request` runs resolvers, `subscribe` runs a subscription field's
 * resolver to get its filters, and `deliver` resolves a subscription's selection from a
 * mutation's result without running resolvers.
 */
export type Phase = 'request' | 'subscribe' | 'deliver';

interface ExecutionContext {
  readonly caller: RequestIdentity;
  readonly headers: Record<string, string | undefined>;
  readonly variables: Record<string, unknown>;
  readonly phase: Phase;
  readonly invalidations: Invalidation[];
  readonly appendedErrors: AppSyncError[];
  subscriptionSetup?: SubscriptionSetup;
}

/** A parsed and validated operation, or the errors that rejected it. */
export type PreparedOperation =
  | { readonly document: DocumentNode; readonly operation: OperationDefinitionNode; readonly errors?: undefined }
  | { readonly errors: AppSyncError[]; readonly document?: undefined; readonly operation?: undefined };

/** The outcome of one operation, with the side effects that the server applies afterwards. */
export interface OperationResult {
  readonly response: { data: Record<string, unknown> | null; errors?: AppSyncError[] };
  readonly invalidations: Invalidation[];
  readonly subscriptionSetup?: SubscriptionSetup;
}

/**
 * Runs GraphQL operations against the schema and resolvers of a template's API: checks the
 * auth directives of every field, runs APPSYNC_JS resolvers and calls their data sources.
 */
export class AppSyncExecutor {
  public readonly schema: GraphQLSchema;
  private readonly authorizer: FieldAuthorizer;

  constructor(private readonly api: TemplateApi, private readonly invokeLambda: InvokeLambda, private readonly log: (line: string) => void) {
    this.schema = buildAppSyncSchema(api.definition);
    this.authorizer = new FieldAuthorizer(api.defaultMode, api.userPoolDefaultAction);
    for (const resolver of api.resolvers.values()) {
      const type = this.schema.getType(resolver.typeName);
      if (!type || !('getFields' in type) || !type.getFields()[resolver.fieldName]) {
        throw new Error(`Resolver '${resolver.logicalId}' is attached to ${resolver.typeName}.${resolver.fieldName}, which the schema of API '${api.logicalId}' does not define.`);
      }
    }
  }

  /** Parses and validates an operation, applying the API's introspection setting and query depth limit. */
  public prepare(query: unknown, operationName?: string | null): PreparedOperation {
    if (typeof query !== 'string' || query.trim() === '') {
      return { errors: [plainError('MalformedHttpRequestException', 'The request has no query string.')] };
    }
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch (error) {
      return { errors: [formatError(error as GraphQLError, 'MalformedHttpRequestException')] };
    }
    const rules = this.api.introspection ? specifiedRules : [...specifiedRules, NoSchemaIntrospectionCustomRule];
    const validationErrors = validate(this.schema, document, rules);
    if (validationErrors.length > 0) {
      return { errors: validationErrors.map((error) => formatError(error, 'ValidationError')) };
    }
    const operation = getOperationAST(document, operationName ?? undefined);
    if (!operation) {
      return { errors: [plainError('ValidationError', operationName ? `The document has no operation named '${operationName}'.` : 'The document has several operations; set operationName.')] };
    }
    const fragments = fragmentsOf(document);
    const depth = selectionDepth(operation.selectionSet, fragments, new Set());
    if (this.api.queryDepthLimit !== undefined && depth > this.api.queryDepthLimit) {
      return { errors: [plainError('ValidationError', `The operation has depth ${depth}, which exceeds the API's QueryDepthLimit of ${this.api.queryDepthLimit}.`)] };
    }
    return { document, operation };
  }

  /** Runs a prepared operation for a caller. `rootValue` carries a mutation's result in the deliver phase. */
  public async run(
    prepared: { document: DocumentNode; operation: OperationDefinitionNode },
    caller: RequestIdentity,
    options: { phase: Phase; headers?: Record<string, string | undefined>; variables?: Record<string, unknown>; rootValue?: Record<string, unknown> },
  ): Promise<OperationResult> {
    const context: ExecutionContext = {
      caller,
      headers: options.headers ?? {},
      variables: options.variables ?? {},
      phase: options.phase,
      invalidations: [],
      appendedErrors: [],
    };
    const result = await execute({
      schema: this.schema,
      document: prepared.document,
      operationName: prepared.operation.name?.value,
      rootValue: options.rootValue ?? {},
      contextValue: context,
      variableValues: options.variables,
      fieldResolver: this.resolveField,
    }) as ExecutionResult;
    const errors = [...(result.errors ?? []).map((error) => formatError(error, null)), ...context.appendedErrors];
    return {
      response: { data: (result.data ?? null) as Record<string, unknown> | null, ...(errors.length > 0 ? { errors } : {}) },
      invalidations: context.invalidations,
      subscriptionSetup: context.subscriptionSetup,
    };
  }

  private readonly resolveField: GraphQLFieldResolver<unknown, ExecutionContext> = async (source, args, context, info) => {
    const field = info.parentType.getFields()[info.fieldName];
    if (!this.authorizer.isAllowed(context.caller, info.parentType, field)) {
      throw new FieldError('Unauthorized', `Not Authorized to access ${info.fieldName} on type ${info.parentType.name}`);
    }
    const resolver = this.api.resolvers.get(`${info.parentType.name}.${info.fieldName}`);
    if (!resolver || context.phase === 'deliver') {
      return defaultFieldResolver(source, args, context, info);
    }
    return this.runResolver(resolver, source, args, context, info);
  };

  private async runResolver(
    resolver: TemplateResolver,
    source: unknown,
    args: Record<string, unknown>,
    context: ExecutionContext,
    info: GraphQLResolveInfo,
  ): Promise<unknown> {
    const plainArgs = JSON.parse(JSON.stringify(args)) as Record<string, unknown>;
    const ctx: Record<string, any> = {
      arguments: plainArgs,
      args: plainArgs,
      identity: context.caller.identity,
      source: source && typeof source === 'object' && Object.keys(source).length > 0 ? source : null,
      info: infoOf(info, context.variables),
      stash: {},
      prev: {},
      request: { headers: { ...context.headers }, domainName: null },
      result: undefined,
      error: undefined,
    };
    const handlers = loadResolver(resolver.code);
    if (resolver.kind === 'UNIT') {
      return this.runStep(resolver.steps[0], handlers, ctx, context, info);
    }

    ctx.prev = { result: this.callHandler(resolver, () => handlers.request(ctx)) };
    for (const step of resolver.steps) {
      const stepResult = await this.runStep(step, loadResolver(step.code), ctx, context, info);
      ctx.prev = { result: stepResult };
    }
    ctx.result = ctx.prev.result;
    ctx.error = undefined;
    const value = this.callHandler(resolver, () => handlers.response(ctx));
    this.collectExtensions(handlers, context, info);
    return value;
  }

  private async runStep(
    step: CodeStep,
    handlers: LoadedResolver,
    ctx: Record<string, any>,
    context: ExecutionContext,
    info: GraphQLResolveInfo,
  ): Promise<unknown> {
    ctx.result = undefined;
    ctx.error = undefined;
    const request = this.callHandler(step, () => handlers.request(ctx));
    await this.callDataSource(step, step.dataSource, request, ctx);
    const value = this.callHandler(step, () => handlers.response(ctx));
    this.collectExtensions(handlers, context, info);
    return value;
  }

  /** Calls a data source and stores its result in `ctx.result`, or its failure in `ctx.error`. */
  private async callDataSource(step: CodeStep, dataSource: LocalDataSource, request: any, ctx: Record<string, any>): Promise<void> {
    if (dataSource.type === 'NONE') {
      ctx.result = request?.payload ?? null;
      return;
    }
    if (request?.operation !== 'Invoke') {
      throw new FieldError('InvalidRequest', `Resolver '${step.logicalId}' returned operation '${String(request?.operation)}' for Lambda data source '${dataSource.name}'; the local server supports 'Invoke'.`);
    }
    if (request.invocationType === 'Event') {
      this.invokeLambda(dataSource.functionLogicalId, request.payload ?? null).catch((error) => {
        this.log(`appsync: asynchronous invocation of ${dataSource.functionLogicalId} by ${step.logicalId} failed: ${(error as Error).message}`);
      });
      ctx.result = null;
      return;
    }
    try {
      ctx.result = await this.invokeLambda(dataSource.functionLogicalId, request.payload ?? null);
    } catch (error) {
      // NOTE: AppSync sets ctx.error.type to 'Lambda:Unhandled' for an error that the function
      // throws, whatever its Lambda errorType, as reported in aws/aws-appsync-community#209 and
      // aws-amplify/amplify-cli#9378 for resolvers that call util.error(ctx.error.message,
      // ctx.error.type). The AppSync documentation does not state it, so the log keeps the name.
      const failure = error as Error & { errorType?: string };
      ctx.error = { message: failure.message, type: 'Lambda:Unhandled' };
      this.log(`appsync: ${dataSource.functionLogicalId} failed for ${step.logicalId} with ${failure.errorType ?? failure.name}: ${failure.message}`);
    }
  }

  private callHandler<T>(owner: { logicalId: string }, handler: () => T): T {
    try {
      return handler();
    } catch (error) {
      if (error instanceof ResolverError) {
        throw new FieldError(error.errorType ?? null, error.message, error.data ?? null, error.errorInfo ?? null);
      }
      this.log(`appsync: code of ${owner.logicalId} threw: ${(error as Error).stack ?? String(error)}`);
      throw new FieldError('Code', `Resolver code of '${owner.logicalId}' threw: ${(error as Error).message}`);
    }
  }

  private collectExtensions(handlers: LoadedResolver, context: ExecutionContext, info: GraphQLResolveInfo): void {
    const { extensions } = handlers;
    context.invalidations.push(...extensions.invalidations);
    for (const error of extensions.appendedErrors ?? []) {
      context.appendedErrors.push({
        path: pathOf(info),
        data: error.data ?? null,
        errorType: error.errorType ?? null,
        errorInfo: error.errorInfo ?? null,
        locations: null,
        message: error.message,
      });
    }
    if (context.phase === 'subscribe' && info.parentType === this.schema.getSubscriptionType()) {
      context.subscriptionSetup = {
        filter: extensions.subscriptionFilter ?? context.subscriptionSetup?.filter,
        invalidationFilter: extensions.invalidationFilter ?? context.subscriptionSetup?.invalidationFilter,
      };
    }
  }
}

function infoOf(info: GraphQLResolveInfo, variables: Record<string, unknown>): Record<string, unknown> {
  const selectionSetList: string[] = [];
  const graphQl: string[] = [];
  for (const node of info.fieldNodes) {
    if (node.selectionSet) {
      listSelections(node.selectionSet, info.fragments, '', selectionSetList);
      graphQl.push(print(node.selectionSet));
    }
  }
  return {
    fieldName: info.fieldName,
    parentTypeName: info.parentType.name,
    variables: { ...variables },
    selectionSetList,
    selectionSetGraphQL: graphQl.join('\n'),
  };
}

/** Lists selected field paths as AppSync's `info.selectionSetList` does: `relays`, `relays/id`. */
function listSelections(selectionSet: SelectionSetNode, fragments: Record<string, FragmentDefinitionNode>, prefix: string, into: string[]): void {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value === '__typename') {
        continue;
      }
      const path = `${prefix}${selection.alias?.value ?? selection.name.value}`;
      if (!into.includes(path)) {
        into.push(path);
      }
      if (selection.selectionSet) {
        listSelections(selection.selectionSet, fragments, `${path}/`, into);
      }
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      listSelections(selection.selectionSet, fragments, prefix, into);
    } else if (fragments[selection.name.value]) {
      listSelections(fragments[selection.name.value].selectionSet, fragments, prefix, into);
    }
  }
}

function selectionDepth(selectionSet: SelectionSetNode, fragments: Record<string, FragmentDefinitionNode>, visiting: Set<string>): number {
  let depth = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      // NOTE: introspection fields are left out of the depth, so that GraphQL tools can read
      // the schema. Whether AppSync's QueryDepthLimit counts them is not documented.
      if (selection.name.value.startsWith('__')) {
        continue;
      }
      depth = Math.max(depth, 1 + (selection.selectionSet ? selectionDepth(selection.selectionSet, fragments, visiting) : 0));
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      depth = Math.max(depth, selectionDepth(selection.selectionSet, fragments, visiting));
    } else if (fragments[selection.name.value] && !visiting.has(selection.name.value)) {
      visiting.add(selection.name.value);
      depth = Math.max(depth, selectionDepth(fragments[selection.name.value].selectionSet, fragments, visiting));
      visiting.delete(selection.name.value);
    }
  }
  return depth;
}

/** Returns the fragments of a document by name. */
export function fragmentsOf(document: DocumentNode): Record<string, FragmentDefinitionNode> {
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments[definition.name.value] = definition;
    }
  }
  return fragments;
}

/** Returns the root fields that an operation selects, including those inside fragments. */
export function rootFieldsOf(operation: OperationDefinitionNode, document: DocumentNode): FieldNode[] {
  const fragments = fragmentsOf(document);
  const fields: FieldNode[] = [];
  const collect = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        fields.push(selection);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        collect(selection.selectionSet);
      } else if (fragments[selection.name.value]) {
        collect(fragments[selection.name.value].selectionSet);
      }
    }
  };
  collect(operation.selectionSet);
  return fields;
}

function pathOf(info: GraphQLResolveInfo): (string | number)[] {
  const path: (string | number)[] = [];
  for (let entry: GraphQLResolveInfo['path'] | undefined = info.path; entry; entry = entry.prev) {
    path.unshift(entry.key);
  }
  return path;
}

function formatError(error: GraphQLError, defaultType: string | null): AppSyncError {
  const original = error.originalError;
  const fieldError = original instanceof FieldError ? original : undefined;
  return {
    path: error.path ?? null,
    data: fieldError?.data ?? null,
    errorType: fieldError ? fieldError.errorType : defaultType,
    errorInfo: fieldError?.errorInfo ?? null,
    locations: error.locations ? error.locations.map(({ line, column }) => ({ line, column, sourceName: null })) : null,
    message: error.message,
  };
}

/** Returns an error entry that no field caused, such as a rejected request. */
export function plainError(errorType: string, message: string): AppSyncError {
  return { path: null, data: null, errorType, errorInfo: null, locations: null, message };
}
