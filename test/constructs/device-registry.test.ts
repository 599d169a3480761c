import { CfnElement, RemovalPolicy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { listOf, logicalIdOf, newStack, propertiesOfType, RenderedStatement, renderTokens } from './template-helpers';
import { DeviceRegistry, DeviceRegistryProps } from '../../src';

function synthesize(props: DeviceRegistryProps = {}) {
  const stack = newStack();
  const registry = new DeviceRegistry(stack, 'Registry', props);
  const template = Template.fromStack(stack);
  const tableIds = {
    devices: stack.getLogicalId(registry.devicesTable.node.defaultChild as CfnElement),
    links: stack.getLogicalId(registry.linksTable.node.defaultChild as CfnElement),
    pairingCodes: stack.getLogicalId(registry.pairingCodesTable.node.defaultChild as CfnElement),
    commands: stack.getLogicalId(registry.commandsTable.node.defaultChild as CfnElement),
    idempotency: stack.getLogicalId(registry.idempotencyTable.node.defaultChild as CfnElement),
  };
  return { stack, registry, template, tableIds, tables: propertiesOfType(template, 'AWS::DynamoDB::Table') };
}

describe('DeviceRegistry tables', () => {
  const { template, tableIds, tables } = synthesize();
  const keyId = logicalIdOf(template, 'AWS::KMS::Key');

  test('creates five tables', () => {
    expect(Object.keys(tables).sort()).toEqual(Object.values(tableIds).sort());
  });

  test.each(Object.keys(tableIds))('%s is encrypted with the customer managed key', (name) => {
    expect(tables[tableIds[name as keyof typeof tableIds]].SSESpecification).toEqual({
      SSEEnabled: true,
      SSEType: 'KMS',
      KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
  });

  test.each(Object.keys(tableIds))('%s has point-in-time recovery', (name) => {
    expect(tables[tableIds[name as keyof typeof tableIds]].PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });

  test.each(Object.keys(tableIds))('%s is billed per request', (name) => {
    expect(tables[tableIds[name as keyof typeof tableIds]].BillingMode).toBe('PAY_PER_REQUEST');
  });

  test.each(Object.keys(tableIds))('%s has deletion protection', (name) => {
    expect(tables[tableIds[name as keyof typeof tableIds]].DeletionProtectionEnabled).toBe(true);
  });

  test.each([
    ['pairingCodes', 'ttl'],
    ['commands', 'ttl'],
    ['idempotency', 'expiration'],
  ] as const)('%s expires records by %s', (name, attribute) => {
    expect(tables[tableIds[name]].TimeToLiveSpecification).toEqual({ AttributeName: attribute, Enabled: true });
  });

  test.each(['devices', 'links'] as const)('%s keeps records without TTL', (name) => {
    expect(tables[tableIds[name]].TimeToLiveSpecification).toBeUndefined();
  });

  test.each([
    ['devices', [{ AttributeName: 'thingName', KeyType: 'HASH' }]],
    ['links', [{ AttributeName: 'userId', KeyType: 'HASH' }, { AttributeName: 'thingName', KeyType: 'RANGE' }]],
    ['pairingCodes', [{ AttributeName: 'codeHash', KeyType: 'HASH' }]],
    ['commands', [{ AttributeName: 'commandId', KeyType: 'HASH' }]],
    ['idempotency', [{ AttributeName: 'id', KeyType: 'HASH' }]],
  ] as const)('%s has its key schema', (name, keySchema) => {
    expect(tables[tableIds[name]].KeySchema).toEqual(keySchema);
  });

  test('lists devices by owner', () => {
    expect(tables[tableIds.devices].GlobalSecondaryIndexes).toEqual([{
      IndexName: 'byOwner',
      KeySchema: [{ AttributeName: 'ownerId', KeyType: 'HASH' }, { AttributeName: 'thingName', KeyType: 'RANGE' }],
      Projection: { ProjectionType: 'ALL' },
    }]);
    expect(DeviceRegistry.DEVICES_BY_OWNER_INDEX).toBe('byOwner');
  });

  test('lists links by thing', () => {
    expect(tables[tableIds.links].GlobalSecondaryIndexes).toEqual([expect.objectContaining({
      IndexName: 'byThing',
      KeySchema: [{ AttributeName: 'thingName', KeyType: 'HASH' }, { AttributeName: 'userId', KeyType: 'RANGE' }],
    })]);
  });

  test('lists commands by thing and time', () => {
    expect(tables[tableIds.commands].GlobalSecondaryIndexes).toEqual([expect.objectContaining({
      IndexName: 'byThing',
      KeySchema: [{ AttributeName: 'thingName', KeyType: 'HASH' }, { AttributeName: 'issuedAt', KeyType: 'RANGE' }],
    })]);
    expect(tables[tableIds.commands].AttributeDefinitions).toContainEqual({ AttributeName: 'issuedAt', AttributeType: 'N' });
  });

  test('retains every table', () => {
    const retained = Object.keys(template.findResources('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' }));

    expect(retained.sort()).toEqual(Object.values(tableIds).sort());
  });

  test('creates a rotating key', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });
});

describe('DeviceRegistry props', () => {
  test('encrypts with a given key', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'PlatformKey');
    new DeviceRegistry(stack, 'Registry', { encryptionKey: key });
    const template = Template.fromStack(stack);

    const keyIds = Object.values(propertiesOfType(template, 'AWS::DynamoDB::Table')).map((table) => table.SSESpecification.KMSMasterKeyId['Fn::GetAtt'][0]);
    expect(new Set(keyIds)).toEqual(new Set([stack.getLogicalId(key.node.defaultChild as CfnElement)]));
    template.resourceCountIs('AWS::KMS::Key', 1);
  });

  test('can be destroyed without deletion protection', () => {
    const { template, tables } = synthesize({ removalPolicy: RemovalPolicy.DESTROY, deletionProtection: false });

    expect(Object.keys(template.findResources('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' }))).toHaveLength(5);
    expect(Object.values(tables).map((table) => table.DeletionProtectionEnabled)).toEqual([false, false, false, false, false]);
  });
});

describe('DeviceRegistry grantReadWriteData', () => {
  test('grants every table and its indexes', () => {
    const stack = newStack();
    const registry = new DeviceRegistry(stack, 'Registry');
    const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });

    registry.grantReadWriteData(role);

    const policies = Object.values(propertiesOfType(Template.fromStack(stack), 'AWS::IAM::Policy'));
    const statements = policies.flatMap((policy) => (renderTokens(policy.PolicyDocument) as { Statement: RenderedStatement[] }).Statement);
    const resources = statements.filter((statement) => listOf(statement.Action).includes('dynamodb:PutItem')).flatMap((statement) => listOf(statement.Resource));
    const tables = [registry.devicesTable, registry.linksTable, registry.pairingCodesTable, registry.commandsTable, registry.idempotencyTable];
    for (const table of tables) {
      expect(resources).toContain(`<GetAtt:${stack.getLogicalId(table.node.defaultChild as CfnElement)}.Arn>`);
    }
    expect(resources).toContain(`<GetAtt:${stack.getLogicalId(registry.devicesTable.node.defaultChild as CfnElement)}.Arn>/index/*`);
  });
});
