import { CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import { listOf, logicalIdOf, newStack, propertiesOfType, RenderedStatement, renderTokens } from './template-helpers';
import { FleetProvisioning, FleetProvisioningProps } from '../../src';

const THING_NAME_VARIABLE = '${iot:Connection.Thing.ThingName}';
const ARN_PREFIX = 'arn:<Ref:AWS::Partition>:iot:<Ref:AWS::Region>:<Ref:AWS::AccountId>:';
const TEMPLATE_NAME = 'sh-template';

function synthesize(props: FleetProvisioningProps = {}): { stack: Stack; provisioning: FleetProvisioning; template: Template } {
  const stack = newStack();
  const provisioning = new FleetProvisioning(stack, 'Provisioning', props);
  return { stack, provisioning, template: Template.fromStack(stack) };
}

function policyStatements(template: Template, policyLogicalId: string): RenderedStatement[] {
  const policy = template.toJSON().Resources[policyLogicalId];
  return (renderTokens(policy.Properties.PolicyDocument) as { Statement: RenderedStatement[] }).Statement;
}

function resourcesFor(statements: RenderedStatement[], action: string): string[] {
  return statements.filter((statement) => listOf(statement.Action).includes(action)).flatMap((statement) => listOf(statement.Resource));
}

describe('FleetProvisioning claim policy', () => {
  const { provisioning, template } = synthesize({ templateName: TEMPLATE_NAME, serialPattern: '^SH-ESP32-[0-9]{6}$' });
  const claimPolicyId = Stack.of(provisioning).getLogicalId(provisioning.claimPolicy);
  const statements = policyStatements(template, claimPolicyId);
  const requests = [
    '$aws/certificates/create/json',
    '$aws/certificates/create-from-csr/json',
    `$aws/provisioning-templates/${TEMPLATE_NAME}/provision/json`,
  ];
  const replies = requests.flatMap((request) => [`${request}/accepted`, `${request}/rejected`]);

  test('allows only the thing name prefix as client id', () => {
    expect(resourcesFor(statements, 'iot:Connect')).toEqual([`${ARN_PREFIX}client/sh-*`]);
  });

  test('publishes exactly the three requests as topics', () => {
    expect(resourcesFor(statements, 'iot:Publish')).toEqual(requests.map((name) => `${ARN_PREFIX}topic/${name}`));
  });

  test('subscribes exactly the six replies as topic filters', () => {
    expect(resourcesFor(statements, 'iot:Subscribe')).toEqual(replies.map((name) => `${ARN_PREFIX}topicfilter/${name}`));
  });

  test('receives exactly the six replies as topics', () => {
    expect(resourcesFor(statements, 'iot:Receive')).toEqual(replies.map((name) => `${ARN_PREFIX}topic/${name}`));
  });

  test('grants no other action', () => {
    const actions = statements.flatMap((statement) => listOf(statement.Action)).sort();

    expect(actions).toEqual(['iot:Connect', 'iot:Publish', 'iot:Receive', 'iot:Subscribe']);
  });

  test('uses Allow statements only', () => {
    expect(statements.map((statement) => statement.Effect)).toEqual(['Allow', 'Allow', 'Allow', 'Allow']);
  });

  test('contains no multi-level wildcard', () => {
    const resources = statements.flatMap((statement) => listOf(statement.Resource));

    expect(resources.filter((resource) => resource.includes('#'))).toEqual([]);
  });

  test('is attached to the claim certificate', () => {
    const certificateId = logicalIdOf(template, 'Custom::IotClaimCertificate');

    template.hasResourceProperties('AWS::IoT::PolicyPrincipalAttachment', {
      PolicyName: { Ref: claimPolicyId },
      Principal: { 'Fn::GetAtt': [certificateId, 'CertificateArn'] },
    });
  });
});

describe('FleetProvisioning device policy', () => {
  const { provisioning, template } = synthesize();
  const statements = policyStatements(template, Stack.of(provisioning).getLogicalId(provisioning.devicePolicy));

  test('binds every resource to the connection thing name', () => {
    const resources = statements.flatMap((statement) => listOf(statement.Resource));

    expect(resources.length).toBeGreaterThan(0);
    expect(resources.filter((resource) => !resource.includes(THING_NAME_VARIABLE))).toEqual([]);
  });

  test('requires the certificate attached to the thing', () => {
    const connect = statements.filter((statement) => listOf(statement.Action).includes('iot:Connect'));

    expect(connect).toHaveLength(1);
    expect(connect[0].Condition).toEqual({ Bool: { 'iot:Connection.Thing.IsAttached': 'true' } });
    expect(listOf(connect[0].Resource)).toEqual([`${ARN_PREFIX}client/${THING_NAME_VARIABLE}`]);
  });

  test('grants no wildcard action', () => {
    const actions = statements.flatMap((statement) => listOf(statement.Action));

    expect(actions.filter((action) => action.includes('*'))).toEqual([]);
    expect(actions.sort()).toEqual(['iot:Connect', 'iot:Publish', 'iot:Receive', 'iot:Subscribe']);
  });

  test('publishes the four device topics', () => {
    const published = resourcesFor(statements, 'iot:Publish');

    expect(published).toEqual(expect.arrayContaining([
      `${ARN_PREFIX}topic/iot/capabilities/${THING_NAME_VARIABLE}`,
      `${ARN_PREFIX}topic/iot/telemetry/${THING_NAME_VARIABLE}`,
      `${ARN_PREFIX}topic/iot/status/${THING_NAME_VARIABLE}/relay`,
      `${ARN_PREFIX}topic/iot/status/${THING_NAME_VARIABLE}/energy`,
    ]));
  });

  test('subscribes with topic filters only', () => {
    const subscribed = resourcesFor(statements, 'iot:Subscribe');

    expect(subscribed.filter((resource) => !resource.startsWith(`${ARN_PREFIX}topicfilter/`))).toEqual([]);
    expect(subscribed).toEqual(expect.arrayContaining([
      `${ARN_PREFIX}topicfilter/iot/control/${THING_NAME_VARIABLE}/relay`,
      `${ARN_PREFIX}topicfilter/iot/control/${THING_NAME_VARIABLE}/reset`,
    ]));
  });

  test('publishes and receives topics only', () => {
    const topics = [...resourcesFor(statements, 'iot:Publish'), ...resourcesFor(statements, 'iot:Receive')];

    expect(topics.filter((resource) => !resource.startsWith(`${ARN_PREFIX}topic/`))).toEqual([]);
  });

  test('contains no multi-level wildcard', () => {
    const resources = statements.flatMap((statement) => listOf(statement.Resource));

    expect(resources.filter((resource) => resource.includes('#'))).toEqual([]);
  });
});

describe('FleetProvisioning template', () => {
  const { provisioning, template } = synthesize({ templateName: TEMPLATE_NAME, thingNamePrefix: 'home-' });
  const stack = Stack.of(provisioning);
  const templateId = logicalIdOf(template, 'AWS::IoT::ProvisioningTemplate');
  const properties = template.toJSON().Resources[templateId].Properties;
  const body = JSON.parse(renderTokens(properties.TemplateBody) as string);

  test('is enabled under its name', () => {
    expect(properties.TemplateName).toBe(TEMPLATE_NAME);
    expect(properties.Enabled).toBe(true);
  });

  test('names the thing prefix plus serial', () => {
    expect(body.Resources.thing.Properties.ThingName).toEqual({ 'Fn::Join': ['', ['home-', { Ref: 'SerialNumber' }]] });
  });

  test('requires SerialNumber without default', () => {
    expect(body.Parameters.SerialNumber).toEqual({ Type: 'String' });
  });

  test('activates the certificate', () => {
    expect(body.Resources.certificate).toEqual({
      Type: 'AWS::IoT::Certificate',
      Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' },
    });
  });

  test('attaches the device policy', () => {
    const devicePolicyId = stack.getLogicalId(provisioning.devicePolicy);

    expect(body.Resources.policy).toEqual({ Type: 'AWS::IoT::Policy', Properties: { PolicyName: `<Ref:${devicePolicyId}>` } });
  });

  test('adds the thing to the fleet group', () => {
    expect(body.Resources.thing.Properties.ThingGroups).toEqual([`${TEMPLATE_NAME}-fleet`]);
    template.hasResourceProperties('AWS::IoT::ThingGroup', { ThingGroupName: `${TEMPLATE_NAME}-fleet` });
  });

  test('calls the hook with payload version 2020-04-01', () => {
    const hookId = stack.getLogicalId(provisioning.hookFunction.node.defaultChild as CfnElement);

    expect(properties.PreProvisioningHook).toEqual({ PayloadVersion: '2020-04-01', TargetArn: { 'Fn::GetAtt': [hookId, 'Arn'] } });
  });

  test('lets only IoT of this account invoke the hook', () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'iot.amazonaws.com',
      SourceAccount: { Ref: 'AWS::AccountId' },
      SourceArn: Match.anyValue(),
    });
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission', { Properties: { Principal: 'iot.amazonaws.com' } }));
    expect(renderTokens(permissions[0].Properties.SourceArn)).toBe(`${ARN_PREFIX}provisioningtemplate/${TEMPLATE_NAME}`);
  });

  test('uses a role that only IoT of this account assumes', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      Description: Match.stringLikeRegexp('fleet provisioning template'),
      AssumeRolePolicyDocument: {
        Statement: [{
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'iot.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
        }],
      },
    });
  });
});

describe('FleetProvisioning hook', () => {
  test('times out before the 5-second hook limit', () => {
    const { template } = synthesize();

    const hooks = Object.values(propertiesOfType(template, 'AWS::Lambda::Function')).filter((fn) => fn.Environment?.Variables?.SERIAL_PATTERN);
    expect(hooks).toHaveLength(1);
    expect(hooks[0].Timeout).toBeLessThan(5);
  });

  test('receives its pattern and prefix', () => {
    const { template } = synthesize({ thingNamePrefix: 'home-', serialPattern: '^SH-ESP32-[0-9]{6}$' });

    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ SERIAL_PATTERN: '^SH-ESP32-[0-9]{6}$', THING_NAME_PREFIX: 'home-' }) },
    });
  });

  test('receives allowedSerials without a table', () => {
    const { template, provisioning } = synthesize({ serialPattern: '^SH-ESP32-[0-9]{6}$', allowedSerials: ['SH-ESP32-000123', 'SH-ESP32-000124'] });

    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ALLOWED_SERIALS: 'SH-ESP32-000123,SH-ESP32-000124', ALLOWLIST_TABLE_NAME: Match.absent() }) },
    });
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    expect(provisioning.serialAllowlistTable).toBeUndefined();
  });

  test('reads the allowlist table by default', () => {
    const { template, provisioning } = synthesize();
    const tableId = Stack.of(provisioning).getLogicalId(provisioning.serialAllowlistTable!.node.defaultChild as CfnElement);

    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ALLOWLIST_TABLE_NAME: { Ref: tableId }, ALLOWED_SERIALS: Match.absent() }) },
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'serial', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  test('may describe only prefixed things', () => {
    const { template } = synthesize({ thingNamePrefix: 'home-' });

    const policies = Object.values(propertiesOfType(template, 'AWS::IAM::Policy')).map((policy) => renderTokens(policy.PolicyDocument) as { Statement: RenderedStatement[] });
    const describeThing = policies.flatMap((policy) => policy.Statement).filter((statement) => listOf(statement.Action).includes('iot:DescribeThing'));
    expect(describeThing.length).toBeGreaterThan(0);
    expect(describeThing.flatMap((statement) => listOf(statement.Resource)).filter((resource) => resource !== `${ARN_PREFIX}thing/home-*`)).toEqual([]);
  });
});

describe('FleetProvisioning claim certificate', () => {
  test('keeps key material out of the template', () => {
    const { template } = synthesize({ serialPattern: '^SH-ESP32-[0-9]{6}$', allowedSerials: ['SH-ESP32-000123'] });

    const text = JSON.stringify(template.toJSON());
    expect(text).not.toMatch(/PRIVATE KEY/);
    expect(text).not.toMatch(/BEGIN CERTIFICATE/);
  });

  test('comes from the custom resource', () => {
    const { template, provisioning } = synthesize({ claimCertificateRotation: '7' });
    const secretId = Stack.of(provisioning).getLogicalId(provisioning.claimCertificateSecret.node.defaultChild as CfnElement);

    template.hasResourceProperties('Custom::IotClaimCertificate', {
      ServiceToken: Match.anyValue(),
      SecretArn: { Ref: secretId },
      Rotation: '7',
    });
  });

  test('is stored in a secret encrypted with the key', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'Key');
    new FleetProvisioning(stack, 'Provisioning', { encryptionKey: key });

    Template.fromStack(stack).hasResourceProperties('AWS::SecretsManager::Secret', {
      KmsKeyId: { 'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as kms.CfnKey), 'Arn'] },
    });
  });

  test('exposes the data endpoint', () => {
    const { template, provisioning } = synthesize();

    template.resourceCountIs('Custom::IotDataEndpoint', 1);
    expect(Stack.of(provisioning).resolve(provisioning.dataEndpointAddress)).toEqual({ 'Fn::GetAtt': [logicalIdOf(template, 'Custom::IotDataEndpoint'), 'EndpointAddress'] });
  });
});

describe('FleetProvisioning defaults', () => {
  test('uses the sh- prefix', () => {
    const { provisioning } = synthesize();

    expect(provisioning.thingNamePrefix).toBe('sh-');
  });

  test('uses the default serial pattern', () => {
    const { provisioning } = synthesize();

    expect(provisioning.serialPattern).toBe('^[A-Za-z0-9_-]{1,64}$');
  });

  test('generates a valid template name', () => {
    const { provisioning } = synthesize();

    expect(provisioning.templateName).toMatch(/^[0-9A-Za-z_-]{1,36}$/);
  });

  test('retains the table and the secret', () => {
    const { template } = synthesize();

    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  test('creates a rotating key', () => {
    const { template } = synthesize();

    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  test('accepts a 36-character template name', () => {
    expect(() => synthesize({ templateName: 'a'.repeat(36) })).not.toThrow();
  });
});

describe('FleetProvisioning validation', () => {
  test('rejects an empty allowedSerials list', () => {
    expect(() => synthesize({ allowedSerials: [] })).toThrow(/an empty list would deny every device/);
  });

  test('rejects allowedSerials too long for the environment', () => {
    const serials = Array.from({ length: 400 }, (_, index) => `SH-ESP32-${String(index).padStart(6, '0')}`);
    expect(() => synthesize({ allowedSerials: serials })).toThrow(/put the serials in the allowlist table/);
  });

  test('rejects a serial outside the default characters', () => {
    expect(() => synthesize({ serialPattern: '^[A-Z0-9.]{1,20}$', allowedSerials: ['SH.1'] })).toThrow(/Invalid allowedSerials entry 'SH.1': serials are 1 to 64 letters/);
  });

  test('rejects an invalid thingTypeName', () => {
    expect(() => synthesize({ thingTypeName: 'bad name/x' })).toThrow(/Invalid thingTypeName 'bad name\/x'/);
  });

  test.each([
    ['bad name!'],
    ['a'.repeat(37)],
    [''],
  ])('rejects templateName %j', (templateName) => {
    expect(() => synthesize({ templateName })).toThrow(/Invalid templateName/);
  });

  test.each([
    ['[A-Z0-9-]+'],
    ['^SH-[0-9]+'],
    ['SH-[0-9]+$'],
  ])('rejects unanchored serialPattern %j', (serialPattern) => {
    expect(() => synthesize({ serialPattern })).toThrow(/anchor it with \^ and \$/);
  });

  test.each([
    ['^[A-Za-z0-9/]+$', '/'],
    ['^[A-Za-z0-9+]+$', '+'],
    ['^[A-Za-z0-9#]+$', '#'],
    ['^[A-Za-z0-9 ]+$', ' '],
    ['^.+$', '/'],
    ['^sh/[0-9]+$', '/'],
    ['^SH\\+[0-9]+$', '+'],
  ])('rejects serialPattern %j that accepts %j', (serialPattern, character) => {
    expect(() => synthesize({ serialPattern })).toThrow(`it accepts '${character}'`);
  });

  test('rejects a serialPattern that does not compile', () => {
    expect(() => synthesize({ serialPattern: '^[A-Z$' })).toThrow(/Invalid serialPattern '\^\[A-Z\$'/);
  });

  test('rejects an allowedSerials entry outside the pattern', () => {
    const props = { serialPattern: '^SH-ESP32-[0-9]{6}$', allowedSerials: ['SH-ESP32-000123', 'FOO'] };

    expect(() => synthesize(props)).toThrow(/Invalid allowedSerials entry 'FOO': it does not match serialPattern/);
  });

  test('rejects an allowedSerials entry longer than 64 characters', () => {
    const props = { thingNamePrefix: 'p'.repeat(63), serialPattern: '^[A-Za-z0-9_-]{1,80}$', allowedSerials: ['s'.repeat(66)] };

    expect(() => synthesize(props)).toThrow(/serials are 1 to 64 letters, digits, _ or -/);
  });

  test.each([
    ['sh/'],
    ['sh+'],
    ['sh#'],
    ['p'.repeat(64)],
  ])('rejects thingNamePrefix %j', (thingNamePrefix) => {
    expect(() => synthesize({ thingNamePrefix })).toThrow(/Invalid thingNamePrefix/);
  });
});
