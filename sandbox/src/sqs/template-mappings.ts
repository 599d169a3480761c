type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };

/** An AWS::Lambda::EventSourceMapping of a template that reads an SQS queue of the same template. */
export interface TemplateEventSourceMapping {
  /** Logical id of the AWS::Lambda::EventSourceMapping. */
  readonly logicalId: string;
  /** Logical id of the queue, under the name that LocalSqs.addEventSourceMapping takes it. */
  readonly queue: string;
  readonly queueLogicalId: string;
  readonly functionLogicalId: string;
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
  /** Whether FunctionResponseTypes contains ReportBatchItemFailures. */
  readonly reportBatchItemFailures: boolean;
  /** ScalingConfig.MaximumConcurrency, when the template sets it. */
  readonly maximumConcurrency?: number;
  readonly enabled: boolean;
}

/** Lambda's default batch size for SQS mappings. */
const DEFAULT_BATCH_SIZE = 10;

/**
 * Reads the event source mappings of a template. Throws, naming the mapping's logical id, for a
 * mapping whose source is not an AWS::SQS::Queue of the template, whose function is not an
 * AWS::Lambda::Function of the template, or that sets FilterCriteria, which the local poller
 * does not evaluate.
 */
export function eventSourceMappingsFromTemplate(template: Template): TemplateEventSourceMapping[] {
  const mappings: TemplateEventSourceMapping[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::EventSourceMapping') {
      continue;
    }
    const properties = resource.Properties ?? {};
    const queueLogicalId = referencedLogicalId(properties.EventSourceArn);
    if (!queueLogicalId || template.Resources[queueLogicalId]?.Type !== 'AWS::SQS::Queue') {
      throw new Error(`Event source mapping ${logicalId} reads ${JSON.stringify(properties.EventSourceArn)}, which is not an SQS queue of the template. The sandbox runs only SQS event source mappings.`);
    }
    const functionLogicalId = functionOf(template, properties.FunctionName);
    if (!functionLogicalId) {
      throw new Error(`Event source mapping ${logicalId} invokes ${JSON.stringify(properties.FunctionName)}, which is not a Lambda function of the template.`);
    }
    if (properties.FilterCriteria !== undefined) {
      throw new Error(`Event source mapping ${logicalId} sets FilterCriteria, which the sandbox does not evaluate. Remove the filter or filter in the handler.`);
    }
    const responseTypes: unknown[] = properties.FunctionResponseTypes ?? [];
    const maximumConcurrency = properties.ScalingConfig?.MaximumConcurrency;
    mappings.push({
      logicalId,
      queue: queueLogicalId,
      queueLogicalId,
      functionLogicalId,
      batchSize: Number(properties.BatchSize ?? DEFAULT_BATCH_SIZE),
      maximumBatchingWindowSeconds: Number(properties.MaximumBatchingWindowInSeconds ?? 0),
      reportBatchItemFailures: responseTypes.includes('ReportBatchItemFailures'),
      maximumConcurrency: maximumConcurrency === undefined ? undefined : Number(maximumConcurrency),
      enabled: properties.Enabled !== false && properties.Enabled !== 'false',
    });
  }
  return mappings;
}

/** Returns the logical id that `{ Ref }` or `{ Fn::GetAtt: [id, 'Arn'] }` points at. */
function referencedLogicalId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const object = value as Record<string, unknown>;
  if (typeof object.Ref === 'string') {
    return object.Ref;
  }
  const getAtt = object['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') {
    return getAtt[0];
  }
  return undefined;
}

/** Finds the function that a mapping's FunctionName names: a reference, or the function's FunctionName. */
function functionOf(template: Template, functionName: unknown): string | undefined {
  const referenced = referencedLogicalId(functionName);
  if (referenced) {
    return template.Resources[referenced]?.Type === 'AWS::Lambda::Function' ? referenced : undefined;
  }
  if (typeof functionName !== 'string') {
    return undefined;
  }
  const name = functionName.split(':function:').pop()!.split(':')[0];
  return Object.entries(template.Resources).find(([id, resource]) => resource.Type === 'AWS::Lambda::Function' && (resource.Properties?.FunctionName === name || id === name))?.[0];
}
