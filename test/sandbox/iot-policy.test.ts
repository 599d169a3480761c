import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { evaluate, IotAction, IotPolicy, loadIotPoliciesFromTemplate, PolicyContext } from '../../sandbox/src/iot-policy/iot-policy';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../sandbox/src/stepfunctions/definition';
import { SmartHomePlatform } from '../../src';

function synthesizePolicies() {
  const stack = new Stack(new App(), 'Policies');
  const platform = new SmartHomePlatform(stack, 'Platform', { stage: 'dev', provisioning: { thingNamePrefix: 'dev-' } });
  const template = Template.fromStack(stack).toJSON() as { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };
  const policies = loadIotPoliciesFromTemplate(template);
  const devicePolicy = policies.get(stack.getLogicalId(platform.provisioning.devicePolicy));
  const claimPolicy = policies.get(stack.getLogicalId(platform.provisioning.claimPolicy));
  if (!devicePolicy || !claimPolicy) {
    throw new Error(`device or claim policy not found in the template; found ${[...policies.keys()].join(', ')}`);
  }
  return { policies, devicePolicy, claimPolicy, provisioningTemplate: stack.resolve(platform.provisioning.templateName) as string };
}

const { policies, devicePolicy, claimPolicy, provisioningTemplate } = synthesizePolicies();

function device(thingName: string | undefined, clientId = thingName ?? 'dev-orphan'): PolicyContext {
  return { region: LOCAL_REGION, account: LOCAL_ACCOUNT, clientId, thingName, isAttached: thingName !== undefined, certificateCommonName: clientId };
}

const deviceA = device('dev-a');
const claim: PolicyContext = { region: LOCAL_REGION, account: LOCAL_ACCOUNT, clientId: 'dev-SERIAL1', isAttached: false, certificateCommonName: 'claim' };

type Case = [name: string, context: PolicyContext, action: IotAction, resource: string, allowed: boolean];

describe('loadIotPoliciesFromTemplate', () => {
  test('finds both platform policies', () => {
    expect(policies.size).toBe(2);
    expect(provisioningTemplate).toMatch(/^[A-Za-z0-9-]+$/);
  });

  test('resolves partition, region and account', () => {
    const decision = evaluate([devicePolicy], { action: 'iot:Publish', resource: 'iot/telemetry/dev-a' }, deviceA);
    expect(decision.allowed).toBe(true);
    expect(evaluate([devicePolicy], { action: 'iot:Publish', resource: 'iot/telemetry/dev-a' }, { ...deviceA, account: '111111111111' }).allowed).toBe(false);
  });
});

describe('device policy', () => {
  const cases: Case[] = [
    ['connect as own thing', deviceA, 'iot:Connect', 'dev-a', true],
    ['publish own telemetry', deviceA, 'iot:Publish', 'iot/telemetry/dev-a', true],
    ['publish own capabilities', deviceA, 'iot:Publish', 'iot/capabilities/dev-a', true],
    ['publish own relay status', deviceA, 'iot:Publish', 'iot/status/dev-a/relay', true],
    ['publish own job update', deviceA, 'iot:Publish', '$aws/things/dev-a/jobs/job-1/update', true],
    ['subscribe own relay control', deviceA, 'iot:Subscribe', 'iot/control/dev-a/relay', true],
    ['subscribe own jobs', deviceA, 'iot:Subscribe', '$aws/things/dev-a/jobs/notify-next', true],
    ['receive own relay control', deviceA, 'iot:Receive', 'iot/control/dev-a/relay', true],
    ['receive own job', deviceA, 'iot:Receive', '$aws/things/dev-a/jobs/job-1/get/accepted', true],
    ['connect as another thing', deviceA, 'iot:Connect', 'dev-b', false],
    ['publish telemetry of another thing', deviceA, 'iot:Publish', 'iot/telemetry/dev-b', false],
    ['publish control of another thing', deviceA, 'iot:Publish', 'iot/control/dev-b/relay', false],
    ['publish own control topic', deviceA, 'iot:Publish', 'iot/control/dev-a/relay', false],
    ['publish job of another thing', deviceA, 'iot:Publish', '$aws/things/dev-b/jobs/job-1/update', false],
    ['subscribe control of another thing', deviceA, 'iot:Subscribe', 'iot/control/dev-b/relay', false],
    ['subscribe jobs of another thing', deviceA, 'iot:Subscribe', '$aws/things/dev-b/jobs/notify-next', false],
    ['receive control of another thing', deviceA, 'iot:Receive', 'iot/control/dev-b/relay', false],
    ['receive job of another thing', deviceA, 'iot:Receive', '$aws/things/dev-b/jobs/job-1/get/accepted', false],
    ['subscribe single-level wildcard', deviceA, 'iot:Subscribe', 'iot/control/+/relay', false],
    ['subscribe multi-level wildcard', deviceA, 'iot:Subscribe', 'iot/control/#', false],
    ['subscribe wildcard inside own prefix', deviceA, 'iot:Subscribe', 'iot/control/dev-a/#', false],
    ['publish telemetry with suffix', deviceA, 'iot:Publish', 'iot/telemetry/dev-a/extra', false],
    ['unattached connect', device(undefined, 'dev-a'), 'iot:Connect', 'dev-a', false],
    ['unattached publish on own name', device(undefined, 'dev-a'), 'iot:Publish', 'iot/telemetry/dev-a', false],
    ['unattached subscribe on own name', device(undefined, 'dev-a'), 'iot:Subscribe', 'iot/control/dev-a/relay', false],
    ['unattached receive on own name', device(undefined, 'dev-a'), 'iot:Receive', 'iot/control/dev-a/relay', false],
  ];

  test.each(cases)('%s', (_name, context, action, resource, allowed) => {
    const decision = evaluate([devicePolicy], { action, resource }, context);
    expect(decision.allowed).toBe(allowed);
  });
});

describe('claim policy', () => {
  const cases: Case[] = [
    ['connect with thing prefix', claim, 'iot:Connect', 'dev-SERIAL1', true],
    ['connect without thing prefix', claim, 'iot:Connect', 'other-SERIAL1', false],
    ['publish create-from-csr', claim, 'iot:Publish', '$aws/certificates/create-from-csr/json', true],
    ['publish create keys', claim, 'iot:Publish', '$aws/certificates/create/json', true],
    ['publish provision', claim, 'iot:Publish', `$aws/provisioning-templates/${provisioningTemplate}/provision/json`, true],
    ['publish provision of other template', claim, 'iot:Publish', '$aws/provisioning-templates/Other/provision/json', false],
    ['subscribe csr accepted', claim, 'iot:Subscribe', '$aws/certificates/create-from-csr/json/accepted', true],
    ['subscribe provision rejected', claim, 'iot:Subscribe', `$aws/provisioning-templates/${provisioningTemplate}/provision/json/rejected`, true],
    ['receive csr accepted', claim, 'iot:Receive', '$aws/certificates/create-from-csr/json/accepted', true],
    ['subscribe certificates wildcard', claim, 'iot:Subscribe', '$aws/certificates/#', false],
    ['subscribe device control', claim, 'iot:Subscribe', 'iot/control/dev-SERIAL1/relay', false],
    ['publish telemetry', claim, 'iot:Publish', 'iot/telemetry/dev-SERIAL1', false],
    ['receive device control', claim, 'iot:Receive', 'iot/control/dev-SERIAL1/relay', false],
  ];

  test.each(cases)('%s', (_name, context, action, resource, allowed) => {
    expect(evaluate([claimPolicy], { action, resource }, context).allowed).toBe(allowed);
  });
});

describe('evaluate', () => {
  const local = `arn:aws:iot:${LOCAL_REGION}:${LOCAL_ACCOUNT}`;
  const allowTelemetry = IotPolicy.parse('AllowTelemetry', {
    Version: '2012-10-17',
    Statement: { Effect: 'Allow', Action: 'iot:*', Resource: `${local}:topic/iot/telemetry/*` },
  });
  const denyDevB = IotPolicy.parse('DenyDevB', {
    Version: '2012-10-17',
    Statement: [{ Sid: 'NoDevB', Effect: 'Deny', Action: ['iot:Publish'], Resource: [`${local}:topic/iot/telemetry/dev-b`] }],
  });

  test('deny overrides allow', () => {
    const decision = evaluate([allowTelemetry, denyDevB], { action: 'iot:Publish', resource: 'iot/telemetry/dev-b' }, deviceA);
    expect(decision.allowed).toBe(false);
    expect(decision.reason).toBe('iot:Publish on topic/iot/telemetry/dev-b denied by policy DenyDevB NoDevB');
  });

  test('allow applies where deny does not', () => {
    const decision = evaluate([allowTelemetry, denyDevB], { action: 'iot:Publish', resource: 'iot/telemetry/dev-c' }, deviceA);
    expect(decision.allowed).toBe(true);
    expect(decision.reason).toBe('iot:Publish on topic/iot/telemetry/dev-c allowed by policy AllowTelemetry Statement[0]');
  });

  test('denies by default', () => {
    const decision = evaluate([allowTelemetry], { action: 'iot:Subscribe', resource: 'iot/telemetry/dev-a' }, deviceA);
    expect(decision).toEqual({ allowed: false, reason: 'iot:Subscribe on topicfilter/iot/telemetry/dev-a denied: no statement allows it' });
  });

  test('action names ignore case', () => {
    const policy = IotPolicy.parse('UpperCase', { Statement: { Effect: 'Allow', Action: 'IOT:PUBLISH', Resource: `${local}:topic/a` } });
    expect(evaluate([policy], { action: 'iot:Publish', resource: 'a' }, deviceA).allowed).toBe(true);
    expect(evaluate([policy], { action: 'iot:Receive', resource: 'a' }, deviceA).allowed).toBe(false);
  });

  test('question mark matches one character', () => {
    const policy = IotPolicy.parse('Single', { Statement: { Effect: 'Allow', Action: 'iot:Publish', Resource: `${local}:topic/room/?` } });
    expect(evaluate([policy], { action: 'iot:Publish', resource: 'room/1' }, deviceA).allowed).toBe(true);
    expect(evaluate([policy], { action: 'iot:Publish', resource: 'room/12' }, deviceA).allowed).toBe(false);
  });

  test('plus and hash match only themselves', () => {
    const policy = IotPolicy.parse('Literal', {
      Statement: { Effect: 'Allow', Action: 'iot:Subscribe', Resource: [`${local}:topicfilter/room/+/light`, `${local}:topicfilter/hall/#`] },
    });
    expect(evaluate([policy], { action: 'iot:Subscribe', resource: 'room/+/light' }, deviceA).allowed).toBe(true);
    expect(evaluate([policy], { action: 'iot:Subscribe', resource: 'room/kitchen/light' }, deviceA).allowed).toBe(false);
    expect(evaluate([policy], { action: 'iot:Subscribe', resource: 'hall/#' }, deviceA).allowed).toBe(true);
    expect(evaluate([policy], { action: 'iot:Subscribe', resource: 'hall/lamp' }, deviceA).allowed).toBe(false);
  });

  test('escaped wildcard is literal', () => {
    const policy = IotPolicy.parse('Escaped', { Statement: { Effect: 'Allow', Action: 'iot:Publish', Resource: `${local}:topic/a/$(*)` } });
    expect(evaluate([policy], { action: 'iot:Publish', resource: 'a/*' }, deviceA).allowed).toBe(true);
    expect(evaluate([policy], { action: 'iot:Publish', resource: 'a/b' }, deviceA).allowed).toBe(false);
  });

  test('substituted client id is literal', () => {
    const policy = IotPolicy.parse('ClientTopics', { Statement: { Effect: 'Allow', Action: 'iot:Publish', Resource: `${local}:topic/c/\${iot:ClientId}` } });
    expect(evaluate([policy], { action: 'iot:Publish', resource: 'c/x*' }, { ...deviceA, clientId: 'x*' }).allowed).toBe(true);
    expect(evaluate([policy], { action: 'iot:Publish', resource: 'c/xyz' }, { ...deviceA, clientId: 'x*' }).allowed).toBe(false);
  });

  test('string conditions', () => {
    const policy = IotPolicy.parse('Conditions', {
      Statement: {
        Effect: 'Allow',
        Action: 'iot:Connect',
        Resource: '*',
        Condition: {
          StringLike: { 'iot:Certificate.Subject.CommonName': 'dev-*' },
          StringEquals: { 'iot:ClientId': ['${iot:Connection.Thing.ThingName}', 'fallback'] },
        },
      },
    });
    expect(evaluate([policy], { action: 'iot:Connect', resource: 'dev-a' }, deviceA).allowed).toBe(true);
    expect(evaluate([policy], { action: 'iot:Connect', resource: 'fallback' }, device(undefined, 'fallback')).allowed).toBe(false);
    expect(evaluate([policy], { action: 'iot:Connect', resource: 'fallback' }, { ...device(undefined, 'fallback'), certificateCommonName: 'dev-x' }).allowed).toBe(true);
    expect(evaluate([policy], { action: 'iot:Connect', resource: 'dev-b' }, { ...deviceA, clientId: 'dev-b' }).allowed).toBe(false);
  });

  test('missing common name fails condition', () => {
    const policy = IotPolicy.parse('CommonName', {
      Statement: { Effect: 'Allow', Action: 'iot:Connect', Resource: '*', Condition: { StringLike: { 'iot:Certificate.Subject.CommonName': '*' } } },
    });
    expect(evaluate([policy], { action: 'iot:Connect', resource: 'dev-a' }, deviceA).allowed).toBe(true);
    expect(evaluate([policy], { action: 'iot:Connect', resource: 'dev-a' }, { ...deviceA, certificateCommonName: undefined }).allowed).toBe(false);
  });

  test('bool condition on attachment', () => {
    const policy = IotPolicy.parse('Attached', {
      Statement: { Effect: 'Deny', Action: 'iot:*', Resource: '*', Condition: { Bool: { 'iot:Connection.Thing.IsAttached': false } } },
    });
    const allowAll = IotPolicy.parse('AllowAll', { Statement: { Effect: 'Allow', Action: '*', Resource: '*' } });
    expect(evaluate([allowAll, policy], { action: 'iot:Connect', resource: 'dev-a' }, deviceA).allowed).toBe(true);
    expect(evaluate([allowAll, policy], { action: 'iot:Connect', resource: 'dev-a' }, device(undefined, 'dev-a')).allowed).toBe(false);
  });
});

describe('IotPolicy.parse', () => {
  const statement = { Effect: 'Allow', Action: 'iot:Publish', Resource: '*' };

  test('rejects unknown condition operator', () => {
    expect(() => IotPolicy.parse('Bad', { Statement: { ...statement, Condition: { StringNotEquals: { 'iot:ClientId': 'x' } } } })).toThrow(
      /IoT policy 'Bad': Statement\[0\] uses the condition operator 'StringNotEquals'/,
    );
  });

  test('rejects ForAnyValue operator', () => {
    expect(() => IotPolicy.parse('Bad', { Statement: { ...statement, Condition: { 'ForAnyValue:StringLike': { 'iot:ClientId': 'x' } } } })).toThrow(
      /'ForAnyValue:StringLike'/,
    );
  });

  test('rejects unknown condition key', () => {
    expect(() => IotPolicy.parse('Bad', { Statement: { ...statement, Condition: { StringEquals: { 'aws:SourceIp': '1.2.3.4' } } } })).toThrow(
      /IoT policy 'Bad': Statement\[0\] uses the condition key 'aws:SourceIp'/,
    );
  });

  test('rejects NotAction', () => {
    expect(() => IotPolicy.parse('Bad', { Statement: [statement, { Effect: 'Deny', NotAction: 'iot:Connect', Resource: '*' }] })).toThrow(
      /IoT policy 'Bad': Statement\[1\] uses NotAction/,
    );
  });

  test('rejects NotResource', () => {
    expect(() => IotPolicy.parse('Bad', { Statement: { Sid: 'S1', Effect: 'Allow', Action: 'iot:*', NotResource: '*' } })).toThrow(
      /IoT policy 'Bad': Statement\[0\] \(Sid S1\) uses NotResource/,
    );
  });

  test('rejects unknown policy variable', () => {
    expect(() => IotPolicy.parse('Bad', { Statement: { ...statement, Resource: 'arn:aws:iot:*:*:topic/${iot:Connection.Thing.ThingTypeName}' } })).toThrow(
      /policy variable \$\{iot:Connection.Thing.ThingTypeName\}/,
    );
  });

  test('rejects invalid effect', () => {
    expect(() => IotPolicy.parse('Bad', { Statement: { ...statement, Effect: 'allow' } })).toThrow(/Effect "allow"/);
  });

  test('rejects non-IoT action', () => {
    expect(() => IotPolicy.parse('Bad', { Statement: { ...statement, Action: 's3:GetObject' } })).toThrow(/action 's3:GetObject'/);
  });

  test('rejects missing resource', () => {
    expect(() => IotPolicy.parse('Bad', { Statement: { Effect: 'Allow', Action: 'iot:Publish' } })).toThrow(/Statement\[0\] is missing Resource/);
  });

  test('rejects unsupported version', () => {
    expect(() => IotPolicy.parse('Bad', { Version: '2008-10-17', Statement: statement })).toThrow(/Version "2008-10-17"/);
  });
});
