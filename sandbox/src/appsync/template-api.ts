import { AuthMode } from './appsync-schema';
import { loadResolver } from './resolver-runtime';

/** A data source that the local server can call. */
export type LocalDataSource =
  | { readonly name: string; readonly type: 'AWS_LAMBDA'; readonly functionLogicalId: string }
  | { readonly name: string; readonly type: 'NONE' };

/** One APPSYNC_JS step: a unit resolver, or a function of a pipeline resolver. */
export interface CodeStep {
  readonly logicalId: string;
  readonly code: string;
  readonly dataSource: LocalDataSource;
}

/** A resolver of the template. A unit resolver has one step; a pipeline's own code runs before and after its steps. */
export interface TemplateResolver {
  readonly logicalId: string;
  readonly typeName: string;
  readonly fieldName: string;
  readonly kind: 'UNIT' | 'PIPELINE';
  /** The unit resolver's code, or the pipeline's before and after handlers. */
  readonly code: string;
  readonly steps: CodeStep[];
}

/** The parts of an AWS::AppSync::GraphQLApi and its resources that the local server runs. */
export interface TemplateApi {
  readonly logicalId: string;
  readonly name: string;
  readonly definition: string;
  readonly defaultMode: AuthMode;
  readonly modes: AuthMode[];
  readonly userPoolDefaultAction: 'ALLOW' | 'DENY';
  readonly queryDepthLimit?: number;
  readonly introspection: boolean;
  /** Resolvers by `Type.field`. */
  readonly resolvers: Map<string, TemplateResolver>;
}

type Resources = Record<string, { Type: string; Properties?: Record<string, any> }>;

/**
 * Reads a GraphQL API, its schema, resolvers and data sources from a synthesized template.
 * Throws, naming the resource, for anything the local server cannot run: VTL or S3-hosted
 * code, and resolvers on data sources other than AWS_LAMBDA (on a function of the same
 * template) and NONE.
 */
export function readTemplateApi(template: any, apiLogicalId?: string): TemplateApi {
  const resources: Resources = template?.Resources ?? {};
  const apis = Object.entries(resources).filter(([, resource]) => resource.Type === 'AWS::AppSync::GraphQLApi');
  let logicalId = apiLogicalId;
  if (logicalId === undefined) {
    if (apis.length !== 1) {
      throw new Error(`The template has ${apis.length} AWS::AppSync::GraphQLApi resources (${apis.map(([id]) => id).join(', ') || 'none'}); pass apiLogicalId to choose one.`);
    }
    logicalId = apis[0][0];
  }
  const api = resources[logicalId];
  if (!api || api.Type !== 'AWS::AppSync::GraphQLApi') {
    throw new Error(`Resource '${logicalId}' is not an AWS::AppSync::GraphQLApi of the template; its GraphQL APIs are: ${apis.map(([id]) => id).join(', ') || 'none'}.`);
  }
  const properties = api.Properties ?? {};
  const ofApi = (resource: { Properties?: Record<string, any> }) => referencesApi(resource.Properties?.ApiId, logicalId!);

  const defaultMode = properties.AuthenticationType as AuthMode;
  const additionalModes = (properties.AdditionalAuthenticationProviders ?? []).map((provider: any) => provider.AuthenticationType as AuthMode);
  const modes: AuthMode[] = [defaultMode, ...additionalModes];
  const unsupportedModes = modes.filter((mode) => mode !== 'AMAZON_COGNITO_USER_POOLS' && mode !== 'AWS_IAM');
  if (unsupportedModes.length > 0) {
    throw new Error(`GraphQL API '${logicalId}' uses authorization modes ${unsupportedModes.join(', ')}; the local AppSync server supports AMAZON_COGNITO_USER_POOLS and AWS_IAM.`);
  }

  const schemas = Object.entries(resources).filter(([, resource]) => resource.Type === 'AWS::AppSync::GraphQLSchema' && ofApi(resource));
  if (schemas.length !== 1) {
    throw new Error(`GraphQL API '${logicalId}' has ${schemas.length} AWS::AppSync::GraphQLSchema resources; the local server needs exactly one.`);
  }
  const [schemaId, schema] = schemas[0];
  const definition = literalString(schema.Properties?.Definition);
  if (definition === undefined) {
    throw new Error(`GraphQL schema '${schemaId}' has no inline Definition string (DefinitionS3Location or an intrinsic function); the local server reads the schema text from the template.`);
  }

  const dataSources = new Map<string, { logicalId: string; properties: Record<string, any> }>();
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type === 'AWS::AppSync::DataSource' && ofApi(resource)) {
      dataSources.set(String(resource.Properties?.Name), { logicalId: id, properties: resource.Properties ?? {} });
    }
  }
  const dataSourceOf = (ownerKind: string, ownerId: string, reference: unknown): LocalDataSource =>
    resolveDataSource(ownerKind, ownerId, reference, dataSources, resources);

  const resolvers = new Map<string, TemplateResolver>();
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::AppSync::Resolver' || !ofApi(resource)) {
      continue;
    }
    const resolverProperties = resource.Properties ?? {};
    const kind = (resolverProperties.Kind ?? 'UNIT') as 'UNIT' | 'PIPELINE';
    const code = codeOf('Resolver', id, resolverProperties);
    let steps: CodeStep[];
    if (kind === 'PIPELINE') {
      steps = (resolverProperties.PipelineConfig?.Functions ?? []).map((reference: unknown) => pipelineStep(id, reference, resources, dataSourceOf));
    } else if (kind === 'UNIT') {
      steps = [{ logicalId: id, code, dataSource: dataSourceOf('Resolver', id, resolverProperties.DataSourceName) }];
    } else {
      throw new Error(`Resolver '${id}' has Kind '${String(kind)}'; the local AppSync server runs UNIT and PIPELINE resolvers.`);
    }
    const key = `${resolverProperties.TypeName}.${resolverProperties.FieldName}`;
    resolvers.set(key, { logicalId: id, typeName: resolverProperties.TypeName, fieldName: resolverProperties.FieldName, kind, code, steps });
  }

  return {
    logicalId,
    name: typeof properties.Name === 'string' ? properties.Name : logicalId,
    definition,
    defaultMode,
    modes,
    userPoolDefaultAction: properties.UserPoolConfig?.DefaultAction === 'DENY' ? 'DENY' : 'ALLOW',
    queryDepthLimit: typeof properties.QueryDepthLimit === 'number' && properties.QueryDepthLimit > 0 ? properties.QueryDepthLimit : undefined,
    introspection: properties.IntrospectionConfig !== 'DISABLED',
    resolvers,
  };
}

function pipelineStep(
  resolverId: string,
  reference: unknown,
  resources: Resources,
  dataSourceOf: (ownerKind: string, ownerId: string, reference: unknown) => LocalDataSource,
): CodeStep {
  const functionId = logicalIdOf(reference, ['FunctionId', 'FunctionArn']);
  const fn = functionId ? resources[functionId] : undefined;
  if (!functionId || !fn || fn.Type !== 'AWS::AppSync::FunctionConfiguration') {
    throw new Error(`Pipeline resolver '${resolverId}' names function ${JSON.stringify(reference)}, which is not an AWS::AppSync::FunctionConfiguration of the template.`);
  }
  const properties = fn.Properties ?? {};
  return { logicalId: functionId, code: codeOf('Function', functionId, properties), dataSource: dataSourceOf('Function', functionId, properties.DataSourceName) };
}

function codeOf(kind: string, logicalId: string, properties: Record<string, any>): string {
  if (properties.Runtime?.Name !== 'APPSYNC_JS') {
    throw new Error(`${kind} '${logicalId}' uses ${properties.Runtime?.Name ? `runtime ${properties.Runtime.Name}` : 'VTL mapping templates'}; the local AppSync server runs only APPSYNC_JS code.`);
  }
  const code = literalString(properties.Code);
  if (code === undefined) {
    throw new Error(`${kind} '${logicalId}' has no inline Code string (CodeS3Location or an intrinsic function); the local AppSync server reads resolver code from the template.`);
  }
  try {
    loadResolver(code);
  } catch (error) {
    throw new Error(`${kind} '${logicalId}' has code that the local runtime cannot load: ${(error as Error).message}`);
  }
  return code;
}

function resolveDataSource(
  ownerKind: string,
  ownerId: string,
  reference: unknown,
  dataSources: Map<string, { logicalId: string; properties: Record<string, any> }>,
  resources: Resources,
): LocalDataSource {
  let name = literalString(reference);
  const referencedId = logicalIdOf(reference, ['Name', 'DataSourceArn']);
  if (name === undefined && referencedId) {
    name = resources[referencedId]?.Properties?.Name;
  }
  const dataSource = name === undefined ? undefined : dataSources.get(name);
  if (!dataSource) {
    throw new Error(`${ownerKind} '${ownerId}' names data source ${JSON.stringify(reference)}, which is not a data source of the API in the template.`);
  }
  const type = dataSource.properties.Type;
  if (type === 'NONE') {
    return { name: name!, type: 'NONE' };
  }
  if (type === 'AWS_LAMBDA') {
    const functionLogicalId = logicalIdOf(dataSource.properties.LambdaConfig?.LambdaFunctionArn, ['Arn']);
    if (!functionLogicalId || resources[functionLogicalId]?.Type !== 'AWS::Lambda::Function') {
      throw new Error(`Data source '${dataSource.logicalId}' of ${ownerKind} '${ownerId}' calls ${JSON.stringify(dataSource.properties.LambdaConfig?.LambdaFunctionArn)}, which is not the Arn of an AWS::Lambda::Function in the template.`);
    }
    return { name: name!, type: 'AWS_LAMBDA', functionLogicalId };
  }
  throw new Error(`${ownerKind} '${ownerId}' uses data source '${dataSource.logicalId}' of type ${String(type)}; the local AppSync server runs AWS_LAMBDA and NONE data sources.`);
}

function referencesApi(apiId: unknown, apiLogicalId: string): boolean {
  return logicalIdOf(apiId, ['ApiId']) === apiLogicalId || (apiId as any)?.Ref === apiLogicalId;
}

/** Returns the logical id in `{ "Fn::GetAtt": [id, attribute] }` when the attribute is one of `attributes`. */
function logicalIdOf(value: unknown, attributes: string[]): string | undefined {
  const getAtt = (value as any)?.['Fn::GetAtt'];
  if (Array.isArray(getAtt) && attributes.includes(getAtt[1])) {
    return String(getAtt[0]);
  }
  if (typeof getAtt === 'string') {
    const [id, attribute] = getAtt.split('.');
    return attributes.includes(attribute) ? id : undefined;
  }
  return undefined;
}

/** Returns a string property, or the text of an `Fn::Join` whose parts are all strings. */
function literalString(value: unknown): string | undefined {
  if (typeof value === 'string') {
    return value;
  }
  const join = (value as any)?.['Fn::Join'];
  if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1]) && join[1].every((part: unknown) => typeof part === 'string')) {
    return join[1].join(join[0]);
  }
  return undefined;
}
