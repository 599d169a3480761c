import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

/** Returns an empty stack in a new app, with the account and region left to deploy time. */
export function newStack(): Stack {
  return new Stack(new App(), 'Test');
}

/**
 * Turns CloudFormation intrinsics into plain text so that assertions can read ARNs and policy
 * documents. `Fn::Join` is joined, and `Ref` and `Fn::GetAtt` become `<Ref:Id>` and
 * `<GetAtt:Id.Attribute>`. Any other object is returned with its values rendered.
 */
export function renderTokens(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(renderTokens);
  }
  if (value === null || typeof value !== 'object') {
    return value;
  }
  const object = value as Record<string, unknown>;
  if ('Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => String(renderTokens(part))).join(separator);
  }
  if ('Ref' in object) {
    return `<Ref:${String(object.Ref)}>`;
  }
  if ('Fn::GetAtt' in object) {
    return `<GetAtt:${(object['Fn::GetAtt'] as string[]).join('.')}>`;
  }
  return Object.fromEntries(Object.entries(object).map(([key, entry]) => [key, renderTokens(entry)]));
}

/** A statement of an IAM or AWS IoT policy document after renderTokens. */
export interface RenderedStatement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: string | string[];
  readonly Condition?: Record<string, Record<string, string>>;
}

export function listOf(value: string | string[]): string[] {
  return Array.isArray(value) ? value : [value];
}

/** Returns the properties of every resource of a type, by logical id. */
export function propertiesOfType(template: Template, type: string): Record<string, Record<string, any>> {
  const resources = template.findResources(type);
  return Object.fromEntries(Object.entries(resources).map(([id, resource]) => [id, resource.Properties ?? {}]));
}

/** Returns the logical id of the only resource of a type that matches, and fails otherwise. */
export function logicalIdOf(template: Template, type: string, props: Record<string, unknown> = {}): string {
  const ids = Object.keys(template.findResources(type, props));
  if (ids.length !== 1) {
    throw new Error(`Expected one ${type} matching ${JSON.stringify(props)}, found ${ids.length}: ${ids.join(', ')}`);
  }
  return ids[0];
}
