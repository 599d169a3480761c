/** Values that stand in for the account, region and partition of a deployed stack. */
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };

/**
 * Returns the ARN or name that a reference to a template resource stands for locally. Lambda
 * functions become `arn:aws:lambda:<region>:<account>:function:<logicalId>`, so a task's
 * FunctionName leads back to the function's logical id.
 */
export function localReference(template: Template, logicalId: string, attribute?: string): string {
  const resource = template.Resources[logicalId];
  if (!resource) {
    throw new Error(`The definition references '${logicalId}', which is not a resource of the template.`);
  }
  const arn = (service: string, resourcePart: string) => `arn:aws:${service}:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${resourcePart}`;
  switch (resource.Type) {
    case 'AWS::Lambda::Function':
      return attribute === undefined || attribute === 'Arn' ? arn('lambda', `function:${logicalId}`) : logicalId;
    case 'AWS::DynamoDB::Table':
      return attribute === 'Arn' ? arn('dynamodb', `table/${logicalId}`) : logicalId;
    case 'AWS::Events::EventBus':
      return attribute === 'Arn' ? arn('events', `event-bus/${logicalId}`) : logicalId;
    case 'AWS::SQS::Queue':
      return attribute === 'Arn' ? arn('sqs', logicalId) : `https://sqs.${LOCAL_REGION}.amazonaws.com/${LOCAL_ACCOUNT}/${logicalId}`;
    case 'AWS::StepFunctions::StateMachine':
      return arn('states', `stateMachine:${logicalId}`);
    default:
      return attribute ? `${logicalId}.${attribute}` : logicalId;
  }
}

/** Returns the logical id that a local Lambda function ARN stands for. */
export function functionLogicalIdOf(functionArn: string): string {
  const match = /:function:([A-Za-z0-9]+)(:[^:]+)?$/.exec(functionArn);
  if (!match) {
    throw new Error(`'${functionArn}' is not a local Lambda function ARN.`);
  }
  return match[1];
}

/** Returns a local value for a reference, or undefined to use the default. */
export type ReferenceOverride = (logicalId: string, attribute?: string) => string | undefined;

/**
 * Resolves `Ref`, `Fn::GetAtt` and `Fn::Join` in a template value to local values; pseudo
 * parameters get the local account, region and partition.
 */
export function resolveIntrinsic(template: Template, value: unknown, override?: ReferenceOverride): string {
  if (typeof value === 'string') {
    return value;
  }
  const object = value as Record<string, unknown>;
  if ('Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => resolveIntrinsic(template, part, override)).join(separator);
  }
  if ('Ref' in object) {
    const name = String(object.Ref);
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': LOCAL_REGION,
      'AWS::AccountId': LOCAL_ACCOUNT,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    return pseudo[name] ?? override?.(name) ?? localReference(template, name);
  }
  if ('Fn::GetAtt' in object) {
    const [logicalId, attribute] = object['Fn::GetAtt'] as [string, string];
    return override?.(logicalId, attribute) ?? localReference(template, logicalId, attribute);
  }
  throw new Error(`Unsupported intrinsic function in a state machine definition: ${JSON.stringify(value)}`);
}

/**
 * Turns the DefinitionString of a synthesized state machine into the Amazon States Language
 * document it stands for, with every reference replaced by its local value.
 */
export function renderDefinition(template: Template, stateMachineLogicalId: string): Record<string, any> {
  const resource = template.Resources[stateMachineLogicalId];
  if (!resource || resource.Type !== 'AWS::StepFunctions::StateMachine') {
    throw new Error(`'${stateMachineLogicalId}' is not an AWS::StepFunctions::StateMachine of the template.`);
  }
  const definition = resource.Properties?.DefinitionString;
  if (definition === undefined) {
    throw new Error(`State machine '${stateMachineLogicalId}' has no DefinitionString.`);
  }
  let text = resolveIntrinsic(template, definition);
  const substitutions = resource.Properties?.DefinitionSubstitutions as Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(substitutions ?? {})) {
    text = text.split('${' + key + '}').join(resolveIntrinsic(template, value));
  }
  return JSON.parse(text);
}
