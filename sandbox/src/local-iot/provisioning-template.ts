/**
 * The body of an AWS IoT fleet provisioning template, rendered for one RegisterThing request:
 * the parameters with their defaults, and the thing, certificate and policy resources with
 * `Ref`, `Fn::Join`, `Fn::Sub`, `Fn::Select` and `Fn::Split` applied. Any other intrinsic
 * function, or a resource type other than thing, certificate and policy, is rejected when the
 * template is parsed, so the sandbox never registers a device differently from AWS IoT.
 */

/** Resources that RegisterThing creates for one device. */
export interface RenderedProvisioning {
  readonly thingName: string;
  readonly thingTypeName?: string;
  readonly thingGroups: readonly string[];
  readonly attributes: Readonly<Record<string, string>>;
  /** Names of the policies to attach to the certificate (the template's `PolicyName` values). */
  readonly policyNames: readonly string[];
  readonly certificateStatus: string;
  readonly deviceConfiguration: Readonly<Record<string, string>>;
}

/** A RegisterThing request whose parameters do not fit the template. */
export class ProvisioningTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProvisioningTemplateError';
  }
}

interface TemplateParameter {
  readonly Type?: string;
  readonly Default?: string;
}

interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

interface TemplateDocument {
  readonly Parameters?: Record<string, TemplateParameter>;
  readonly Resources?: Record<string, TemplateResource>;
  readonly DeviceConfiguration?: Record<string, unknown>;
}

const SUPPORTED_RESOURCES = new Set(['AWS::IoT::Thing', 'AWS::IoT::Certificate', 'AWS::IoT::Policy']);
const SUPPORTED_FUNCTIONS = new Set(['Ref', 'Fn::Join', 'Fn::Sub', 'Fn::Select', 'Fn::Split']);

export class ProvisioningTemplateBody {
  /** Parses a template body, as the `TemplateBody` string of AWS::IoT::ProvisioningTemplate contains it. */
  public static parse(body: string): ProvisioningTemplateBody {
    let document: TemplateDocument;
    try {
      document = JSON.parse(body);
    } catch (error) {
      throw new ProvisioningTemplateError(`The provisioning template body is not valid JSON: ${(error as Error).message}`);
    }
    for (const [name, resource] of Object.entries(document.Resources ?? {})) {
      if (!SUPPORTED_RESOURCES.has(resource.Type)) {
        throw new ProvisioningTemplateError(`Provisioning template resource '${name}' has type ${resource.Type}; the sandbox supports ${[...SUPPORTED_RESOURCES].join(', ')}.`);
      }
      assertSupportedFunctions(resource.Properties, name);
    }
    assertSupportedFunctions(document.DeviceConfiguration, 'DeviceConfiguration');
    return new ProvisioningTemplateBody(document.Parameters ?? {}, document.Resources ?? {}, document.DeviceConfiguration ?? {});
  }

  private constructor(
    private readonly parameters: Record<string, TemplateParameter>,
    private readonly resources: Record<string, TemplateResource>,
    private readonly deviceConfiguration: Record<string, unknown>,
  ) {}

  /**
   * Renders the template for a request. `parameters` are the device's parameters after the
   * pre-provisioning hook's overrides; the certificate id fills `AWS::IoT::Certificate::Id`.
   */
  public render(parameters: Readonly<Record<string, string>>, certificateId: string): RenderedProvisioning {
    const values: Record<string, string> = {};
    for (const [name, definition] of Object.entries(this.parameters)) {
      if (name === 'AWS::IoT::Certificate::Id') {
        values[name] = certificateId;
      } else if (parameters[name] !== undefined) {
        values[name] = parameters[name];
      } else if (definition.Default !== undefined) {
        values[name] = definition.Default;
      } else {
        throw new ProvisioningTemplateError(`Parameter ${name} is missing from the RegisterThing request and has no default.`);
      }
    }

    const things = Object.values(this.resources).filter((resource) => resource.Type === 'AWS::IoT::Thing');
    if (things.length !== 1) {
      throw new ProvisioningTemplateError(`The provisioning template has ${things.length} AWS::IoT::Thing resources; the sandbox expects exactly one.`);
    }
    const thing = things[0].Properties ?? {};
    const attributes: Record<string, string> = {};
    for (const [key, value] of Object.entries((thing.AttributePayload ?? {}) as Record<string, unknown>)) {
      attributes[key] = evaluate(value, values);
    }
    const certificate = Object.values(this.resources).find((resource) => resource.Type === 'AWS::IoT::Certificate')?.Properties ?? {};
    const policyNames = Object.values(this.resources)
      .filter((resource) => resource.Type === 'AWS::IoT::Policy')
      .map((resource) => evaluate(resource.Properties?.PolicyName, values));
    const deviceConfiguration: Record<string, string> = {};
    for (const [key, value] of Object.entries(this.deviceConfiguration)) {
      deviceConfiguration[key] = evaluate(value, values);
    }

    return {
      thingName: evaluate(thing.ThingName, values),
      thingTypeName: thing.ThingTypeName === undefined ? undefined : evaluate(thing.ThingTypeName, values),
      thingGroups: ((thing.ThingGroups ?? []) as unknown[]).map((group) => evaluate(group, values)),
      attributes,
      policyNames,
      certificateStatus: certificate.Status === undefined ? 'ACTIVE' : evaluate(certificate.Status, values),
      deviceConfiguration,
    };
  }
}

function assertSupportedFunctions(value: unknown, where: string): void {
  if (Array.isArray(value)) {
    value.forEach((item) => assertSupportedFunctions(item, where));
    return;
  }
  if (typeof value !== 'object' || value === null) {
    return;
  }
  for (const [key, inner] of Object.entries(value)) {
    if ((key === 'Ref' || key.startsWith('Fn::')) && !SUPPORTED_FUNCTIONS.has(key)) {
      throw new ProvisioningTemplateError(`Provisioning template ${where} uses ${key}; the sandbox supports ${[...SUPPORTED_FUNCTIONS].join(', ')}.`);
    }
    assertSupportedFunctions(inner, where);
  }
}

function evaluate(value: unknown, parameters: Record<string, string>): string {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  const expression = value as Record<string, any>;
  if ('Ref' in expression) {
    const resolved = parameters[String(expression.Ref)];
    if (resolved === undefined) {
      throw new ProvisioningTemplateError(`The provisioning template references parameter ${expression.Ref}, which it does not declare.`);
    }
    return resolved;
  }
  if ('Fn::Join' in expression) {
    const [separator, parts] = expression['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => evaluate(part, parameters)).join(separator);
  }
  if ('Fn::Sub' in expression) {
    return String(expression['Fn::Sub']).replace(/\$\{([^}]+)\}/g, (_match, name: string) => evaluate({ Ref: name }, parameters));
  }
  if ('Fn::Select' in expression) {
    const [index, list] = expression['Fn::Select'] as [unknown, unknown];
    const items = Array.isArray(list) ? list.map((item) => evaluate(item, parameters)) : evaluateList(list, parameters);
    return items[Number(evaluate(index, parameters))] ?? '';
  }
  throw new ProvisioningTemplateError(`Unsupported expression in the provisioning template: ${JSON.stringify(value)}`);
}

function evaluateList(value: unknown, parameters: Record<string, string>): string[] {
  const expression = value as Record<string, any>;
  if ('Fn::Split' in expression) {
    const [separator, source] = expression['Fn::Split'] as [string, unknown];
    return evaluate(source, parameters).split(separator);
  }
  throw new ProvisioningTemplateError(`Fn::Select needs a list or Fn::Split, not ${JSON.stringify(value)}`);
}
