import { EventPatternError, matchesEventPattern, validateEventPattern } from '../../sandbox/src/events/event-pattern';

type Event = Record<string, unknown>;
type Pattern = Record<string, unknown>;

function eventOf(source: string, detailType: string, detail: Record<string, unknown> = {}): Event {
  return {
    'version': '0',
    'id': '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': detailType,
    source,
    'account': '000000000000',
    'time': '2026-12-05T00:00:00Z',
    'region': 'us-east-1',
    'resources': ['arn:aws:iot:us-east-1:000000000000:thing/dev-a1'],
    detail,
  };
}

/** The AWS::Events::Rule patterns of the dev stack. */
const PLATFORM_RULES: Array<[string, Pattern, Array<[string, string]>, Array<[string, string]>]> = [
  [
    'relay reports',
    { 'source': ['cdk-smart-home.device'], 'detail-type': ['Relay State Reported'] },
    [['cdk-smart-home.device', 'Relay State Reported']],
    [['cdk-smart-home.api', 'Relay State Reported'], ['cdk-smart-home.device', 'Relay Command Requested'], ['cdk-smart-home.device', 'relay state reported']],
  ],
  [
    'relay command requests',
    { 'source': ['cdk-smart-home.workflow', 'cdk-smart-home.api'], 'detail-type': ['Relay Command Requested'] },
    [['cdk-smart-home.workflow', 'Relay Command Requested'], ['cdk-smart-home.api', 'Relay Command Requested']],
    [['cdk-smart-home.device', 'Relay Command Requested'], ['cdk-smart-home.api', 'Relay State Reported']],
  ],
  [
    'capabilities reports',
    { 'source': ['cdk-smart-home.device'], 'detail-type': ['Device Capabilities Reported'] },
    [['cdk-smart-home.device', 'Device Capabilities Reported']],
    [['cdk-smart-home.workflow', 'Device Capabilities Reported'], ['cdk-smart-home.device', 'Telemetry Reported']],
  ],
  [
    'rollout requests',
    { 'detail-type': ['Firmware Rollout Requested'] },
    [['cdk-smart-home.api', 'Firmware Rollout Requested'], ['anything.else', 'Firmware Rollout Requested']],
    [['cdk-smart-home.api', 'Firmware Rollout Started'], ['cdk-smart-home.api', 'Firmware Rollout Requested ']],
  ],
  [
    'telemetry events',
    { 'source': ['cdk-smart-home.device'], 'detail-type': ['Telemetry Reported', 'Energy Status Reported'] },
    [['cdk-smart-home.device', 'Telemetry Reported'], ['cdk-smart-home.device', 'Energy Status Reported']],
    [['cdk-smart-home.workflow', 'Telemetry Reported'], ['cdk-smart-home.device', 'Relay State Reported']],
  ],
  [
    'anomalies',
    { 'source': ['cdk-smart-home.workflow'], 'detail-type': ['Telemetry Anomaly Detected'] },
    [['cdk-smart-home.workflow', 'Telemetry Anomaly Detected']],
    [['cdk-smart-home.device', 'Telemetry Anomaly Detected'], ['cdk-smart-home.workflow', 'Telemetry Reported']],
  ],
];

describe('platform rule patterns', () => {
  test.each(PLATFORM_RULES)('%s pattern is valid', (_name, pattern) => {
    expect(() => validateEventPattern(pattern)).not.toThrow();
  });

  test.each(PLATFORM_RULES)('%s matches its events', (_name, pattern, matching) => {
    for (const [source, detailType] of matching) {
      expect([source, detailType, matchesEventPattern(pattern, eventOf(source, detailType))]).toEqual([source, detailType, true]);
    }
  });

  test.each(PLATFORM_RULES)('%s skips other events', (_name, pattern, _matching, other) => {
    for (const [source, detailType] of other) {
      expect([source, detailType, matchesEventPattern(pattern, eventOf(source, detailType))]).toEqual([source, detailType, false]);
    }
  });

  test.each(PLATFORM_RULES)('%s skips event without source fields', (_name, pattern) => {
    expect(matchesEventPattern(pattern, { detail: {} })).toBe(false);
  });
});

describe('event pattern matching', () => {
  const event = eventOf('aws.ec2', 'EC2 Instance State-change Notification', {
    'state': 'running',
    'instance-id': 'i-1234567890abcdef0',
    'c-count': 5,
    'x-limit': 301.8,
    'price': 0,
    'negative': -12.5,
    'enabled': true,
    'disabled': false,
    'nothing': null,
    'empty': '',
    'file': 'dir/photo.PNG',
    'path': 'lib/a*b\\c',
    'source-ip': '10.0.0.33',
    'ipv6': '2001:db8::1',
    'tags': ['blue', 'green'],
    'numbers': [1, 10, 100],
    'nested': { level: { deep: 'value' } },
    'items': [{ id: 'a', size: 1 }, { id: 'b', size: 2 }],
    'parts': [{ id: 'a' }, { size: 2 }],
    'matrix': [['x', 'y'], ['z']],
    'emptyList': [],
  });

  test.each<[string, Pattern, boolean]>([
    // Exact values, with OR across array entries and AND across fields.
    ['exact string', { source: ['aws.ec2'] }, true],
    ['exact string differs', { source: ['aws.s3'] }, false],
    ['exact string case', { source: ['AWS.EC2'] }, false],
    ['any of strings', { source: ['aws.s3', 'aws.ec2'] }, true],
    ['all fields', { source: ['aws.ec2'], region: ['us-east-1'] }, true],
    ['one field fails', { source: ['aws.ec2'], region: ['eu-west-1'] }, false],
    ['missing field', { detail: { missing: ['x'] } }, false],
    ['exact number', { detail: { 'c-count': [5] } }, true],
    ['exact decimal', { detail: { 'x-limit': [301.8] } }, true],
    ['number equals float form', { detail: { 'c-count': [5.0] } }, true],
    ['number is not string', { detail: { 'c-count': ['5'] } }, false],
    ['string is not number', { detail: { state: [5] } }, false],
    ['exact zero', { detail: { price: [0] } }, true],
    ['exact true', { detail: { enabled: [true] } }, true],
    ['exact false', { detail: { disabled: [false] } }, true],
    ['true is not false', { detail: { disabled: [true] } }, false],
    ['exact null', { detail: { nothing: [null] } }, true],
    ['null is not missing', { detail: { missing: [null] } }, false],
    ['null is not empty string', { detail: { empty: [null] } }, false],
    ['empty string', { detail: { empty: [''] } }, true],
    ['nested object', { detail: { nested: { level: { deep: ['value'] } } } }, true],
    ['nested object differs', { detail: { nested: { level: { deep: ['other'] } } } }, false],
    ['nested pattern on leaf', { detail: { state: { inner: ['running'] } } }, false],
    ['event array any element', { resources: ['arn:aws:iot:us-east-1:000000000000:thing/dev-a1'] }, true],
    ['event array element', { detail: { tags: ['green'] } }, true],
    ['event array no element', { detail: { tags: ['red'] } }, false],
    ['event array of arrays', { detail: { matrix: ['z'] } }, true],
    ['objects in array', { detail: { items: { id: ['b'] } } }, true],
    ['objects in array same element', { detail: { items: { id: ['b'], size: [2] } } }, true],
    ['objects in array split elements', { detail: { items: { id: ['a'], size: [2] } } }, false],
    ['fields in different elements', { detail: { parts: { id: ['a'], size: [2] } } }, false],
    ['field in one element', { detail: { parts: { size: [2] } } }, true],

    // prefix
    ['prefix', { time: [{ prefix: '2026-12-05' }] }, true],
    ['prefix differs', { time: [{ prefix: '2026-12-06' }] }, false],
    ['prefix case', { source: [{ prefix: 'AWS.' }] }, false],
    ['prefix number', { detail: { 'c-count': [{ prefix: '5' }] } }, false],
    ['prefix in array', { detail: { tags: [{ prefix: 'gr' }] } }, true],
    ['prefix ignore case', { source: [{ prefix: { 'equals-ignore-case': 'AWS.' } }] }, true],
    ['prefix ignore case differs', { source: [{ prefix: { 'equals-ignore-case': 'AWS.S' } }] }, false],

    // suffix
    ['suffix', { detail: { 'instance-id': [{ suffix: 'def0' }] } }, true],
    ['suffix differs', { detail: { 'instance-id': [{ suffix: 'def1' }] } }, false],
    ['suffix case', { detail: { file: [{ suffix: '.png' }] } }, false],
    ['suffix ignore case', { detail: { file: [{ suffix: { 'equals-ignore-case': '.png' } }] } }, true],
    ['suffix ignore case differs', { detail: { file: [{ suffix: { 'equals-ignore-case': '.jpg' } }] } }, false],

    // equals-ignore-case
    ['equals ignore case', { source: [{ 'equals-ignore-case': 'AWS.EC2' }] }, true],
    ['equals ignore case differs', { source: [{ 'equals-ignore-case': 'AWS.EC' }] }, false],
    ['equals ignore case number', { detail: { 'c-count': [{ 'equals-ignore-case': '5' }] } }, false],

    // anything-but
    ['anything-but string', { detail: { state: [{ 'anything-but': 'initializing' }] } }, true],
    ['anything-but same string', { detail: { state: [{ 'anything-but': 'running' }] } }, false],
    ['anything-but number', { detail: { 'c-count': [{ 'anything-but': 6 }] } }, true],
    ['anything-but same number', { detail: { 'c-count': [{ 'anything-but': 5 }] } }, false],
    ['anything-but string list', { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } }, true],
    ['anything-but string list hit', { detail: { state: [{ 'anything-but': ['stopped', 'running'] }] } }, false],
    ['anything-but number list', { detail: { 'c-count': [{ 'anything-but': [100, 200] }] } }, true],
    ['anything-but number list hit', { detail: { 'c-count': [{ 'anything-but': [1, 5] }] } }, false],
    ['anything-but missing field', { detail: { missing: [{ 'anything-but': 'x' }] } }, false],
    ['anything-but array element', { detail: { tags: [{ 'anything-but': 'blue' }] } }, true],
    ['anything-but all elements', { detail: { tags: [{ 'anything-but': ['blue', 'green'] }] } }, false],
    ['anything-but prefix', { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } }, true],
    ['anything-but prefix hit', { detail: { state: [{ 'anything-but': { prefix: 'run' } }] } }, false],
    ['anything-but prefix number', { detail: { 'c-count': [{ 'anything-but': { prefix: '5' } }] } }, true],
    ['anything-but suffix', { detail: { file: [{ 'anything-but': { suffix: '.png' } }] } }, true],
    ['anything-but suffix hit', { detail: { file: [{ 'anything-but': { suffix: '.PNG' } }] } }, false],
    ['anything-but ignore case', { detail: { state: [{ 'anything-but': { 'equals-ignore-case': 'STOPPED' } }] } }, true],
    ['anything-but ignore case hit', { detail: { state: [{ 'anything-but': { 'equals-ignore-case': 'RUNNING' } }] } }, false],
    ['anything-but ignore case list hit', { detail: { state: [{ 'anything-but': { 'equals-ignore-case': ['a', 'Running'] } }] } }, false],
    ['anything-but wildcard', { detail: { file: [{ 'anything-but': { wildcard: '*/lib/*' } }] } }, true],
    ['anything-but wildcard hit', { detail: { file: [{ 'anything-but': { wildcard: 'dir/*' } }] } }, false],
    ['anything-but wildcard list hit', { detail: { file: [{ 'anything-but': { wildcard: ['x*', '*.PNG'] } }] } }, false],

    // numeric
    ['numeric range', { detail: { 'c-count': [{ numeric: ['>', 0, '<=', 5] }] } }, true],
    ['numeric range excludes', { detail: { 'c-count': [{ numeric: ['>', 0, '<', 5] }] } }, false],
    ['numeric lower inclusive', { detail: { 'c-count': [{ numeric: ['>=', 5, '<', 6] }] } }, true],
    ['numeric lower exclusive', { detail: { 'c-count': [{ numeric: ['>', 5] }] } }, false],
    ['numeric less than', { detail: { 'c-count': [{ numeric: ['<', 10] }] } }, true],
    ['numeric less or equal', { detail: { 'c-count': [{ numeric: ['<=', 4] }] } }, false],
    ['numeric greater or equal', { detail: { 'x-limit': [{ numeric: ['>=', 301.8] }] } }, true],
    ['numeric equals', { detail: { 'x-limit': [{ numeric: ['=', 3.018e2] }] } }, true],
    ['numeric equals differs', { detail: { 'x-limit': [{ numeric: ['=', 301.7] }] } }, false],
    ['numeric negative', { detail: { negative: [{ numeric: ['<', 0] }] } }, true],
    ['numeric on string', { detail: { state: [{ numeric: ['>', 0] }] } }, false],
    ['numeric on numeric string', { detail: { 'instance-id': [{ numeric: ['>', 0] }] } }, false],
    ['numeric array element', { detail: { numbers: [{ numeric: ['>', 50] }] } }, true],
    ['numeric no array element', { detail: { numbers: [{ numeric: ['>', 500] }] } }, false],

    // exists
    ['exists true', { detail: { state: [{ exists: true }] } }, true],
    ['exists true missing', { detail: { missing: [{ exists: true }] } }, false],
    ['exists false missing', { detail: { missing: [{ exists: false }] } }, true],
    ['exists false present', { detail: { state: [{ exists: false }] } }, false],
    ['exists true null', { detail: { nothing: [{ exists: true }] } }, true],
    ['exists true object', { detail: { nested: [{ exists: true }] } }, false],
    ['exists false object', { detail: { nested: [{ exists: false }] } }, true],
    ['exists false no detail', { missingObject: { field: [{ exists: false }] } }, true],
    ['exists true empty list', { detail: { emptyList: [{ exists: true }] } }, false],
    ['exists or value', { detail: { missing: [{ exists: false }, 'x'] } }, true],

    // wildcard
    ['wildcard', { detail: { file: [{ wildcard: 'dir/*.PNG' }] } }, true],
    ['wildcard middle', { source: [{ wildcard: 'aws*ec2' }] }, true],
    ['wildcard differs', { detail: { file: [{ wildcard: 'dir/*.png' }] } }, false],
    ['wildcard multiple', { detail: { file: [{ wildcard: '*/*.*' }] } }, true],
    ['wildcard empty run', { source: [{ wildcard: 'aws.ec2*' }] }, true],
    ['wildcard whole value', { source: [{ wildcard: 'aws' }] }, false],
    ['wildcard escaped star', { detail: { path: [{ wildcard: 'lib/a\\*b*' }] } }, true],
    ['wildcard escaped star literal', { detail: { path: [{ wildcard: 'lib/a\\*c*' }] } }, false],
    ['wildcard escaped backslash', { detail: { path: [{ wildcard: '*\\\\c' }] } }, true],
    ['wildcard dot is not any character', { source: [{ wildcard: 'aws.ec.' }] }, false],
    ['wildcard dot is literal', { source: [{ wildcard: 'aws?ec2' }] }, false],

    // cidr
    ['cidr', { detail: { 'source-ip': [{ cidr: '10.0.0.0/24' }] } }, true],
    ['cidr outside', { detail: { 'source-ip': [{ cidr: '10.0.1.0/24' }] } }, false],
    ['cidr wide', { detail: { 'source-ip': [{ cidr: '10.0.0.0/8' }] } }, true],
    ['cidr host', { detail: { 'source-ip': [{ cidr: '10.0.0.33/32' }] } }, true],
    ['cidr ipv6', { detail: { ipv6: [{ cidr: '2001:db8::/32' }] } }, true],
    ['cidr ipv6 outside', { detail: { ipv6: [{ cidr: '2001:db9::/32' }] } }, false],
    ['cidr family mismatch', { detail: { ipv6: [{ cidr: '10.0.0.0/8' }] } }, false],
    ['cidr not an address', { detail: { state: [{ cidr: '10.0.0.0/8' }] } }, false],

    // $or
    ['$or first', { $or: [{ source: ['aws.ec2'] }, { region: ['eu-west-1'] }] }, true],
    ['$or second', { $or: [{ source: ['aws.s3'] }, { region: ['us-east-1'] }] }, true],
    ['$or none', { $or: [{ source: ['aws.s3'] }, { region: ['eu-west-1'] }] }, false],
    ['$or with AND', { source: ['aws.ec2'], $or: [{ region: ['eu-west-1'] }, { detail: { state: ['running'] } }] }, true],
    ['$or with failing AND', { source: ['aws.s3'], $or: [{ region: ['us-east-1'] }, { detail: { state: ['running'] } }] }, false],
    ['$or nested', { detail: { $or: [{ state: ['stopped'] }, { 'c-count': [{ numeric: ['>', 1] }] }] } }, true],
    ['$or inner AND', { $or: [{ source: ['aws.ec2'], region: ['eu-west-1'] }, { source: ['aws.s3'] }] }, false],
    ['$or inside $or', { $or: [{ source: ['x'] }, { $or: [{ region: ['y'] }, { account: ['000000000000'] }] }] }, true],

    // mixed matchers in one array are OR
    ['mixed matchers', { detail: { state: ['stopped', { prefix: 'run' }] } }, true],
    ['mixed matchers none', { detail: { state: ['stopped', { prefix: 'init' }, { numeric: ['>', 0] }] } }, false],
  ])('%s', (_name, pattern, expected) => {
    expect(matchesEventPattern(pattern, event)).toBe(expected);
  });
});

describe('event pattern validation', () => {
  test.each<[string, unknown, RegExp]>([
    ['non-object pattern', ['source'], /Invalid event pattern: expected a JSON object/],
    ['null pattern', null, /expected a JSON object but got null/],
    ['empty pattern', {}, /empty object matches nothing/],
    ['empty nested object', { detail: {} }, /field 'detail': an empty object/],
    ['bare string value', { source: 'aws.ec2' }, /field 'source': expected an array of values or a nested object but got "aws.ec2"/],
    ['bare number value', { detail: { count: 5 } }, /field 'detail.count'/],
    ['empty value array', { source: [] }, /array of values is empty/],
    ['nested array value', { source: [['aws.ec2']] }, /Invalid value \[\["aws.ec2"\]\]|Invalid value \["aws.ec2"\]/],
    ['unknown operator', { detail: { type: [{ contains: 'x' }] } }, /Unsupported operator 'contains' in field 'detail.type'/],
    ['two operators', { source: [{ prefix: 'a', suffix: 'b' }] }, /exactly one operator/],
    ['empty operator object', { source: [{}] }, /exactly one operator/],
    ['prefix number', { source: [{ prefix: 5 }] }, /Invalid 'prefix' operand 5 in field 'source'/],
    ['prefix unknown inner', { source: [{ prefix: { 'equals-case': 'a' } }] }, /Invalid 'prefix' operand/],
    ['suffix null', { source: [{ suffix: null }] }, /Invalid 'suffix' operand null/],
    ['equals-ignore-case number', { source: [{ 'equals-ignore-case': 1 }] }, /Invalid 'equals-ignore-case' operand 1/],
    ['exists string', { source: [{ exists: 'true' }] }, /Invalid 'exists' operand "true".*true or false/],
    ['wildcard number', { source: [{ wildcard: 1 }] }, /Invalid 'wildcard' operand 1/],
    ['wildcard double star', { source: [{ wildcard: 'a**b' }] }, /consecutive '\*' characters/],
    ['wildcard bad escape', { source: [{ wildcard: 'a\\b' }] }, /backslash may escape only/],
    ['wildcard trailing backslash', { source: [{ wildcard: 'a\\' }] }, /backslash may escape only/],
    ['cidr without prefix', { ip: [{ cidr: '10.0.0.1' }] }, /Invalid 'cidr' operand "10.0.0.1"/],
    ['cidr bad address', { ip: [{ cidr: '10.0.0.300/24' }] }, /Invalid 'cidr' operand/],
    ['cidr prefix too long', { ip: [{ cidr: '10.0.0.0/33' }] }, /Invalid 'cidr' operand/],
    ['cidr ipv6 prefix too long', { ip: [{ cidr: '::/129' }] }, /Invalid 'cidr' operand/],
    ['numeric not array', { n: [{ numeric: 5 }] }, /Invalid 'numeric' operand 5/],
    ['numeric odd length', { n: [{ numeric: ['>', 1, '<'] }] }, /Invalid 'numeric' operand/],
    ['numeric unknown operator', { n: [{ numeric: ['!=', 1] }] }, /Invalid 'numeric' operand/],
    ['numeric string bound', { n: [{ numeric: ['>', '1'] }] }, /Invalid 'numeric' operand/],
    ['numeric out of range', { n: [{ numeric: ['<', 5.1e9] }] }, /between -5e9 and 5e9/],
    ['numeric reversed range', { n: [{ numeric: ['<', 5, '>', 1] }] }, /lower bound .* followed by a larger upper bound/],
    ['numeric empty range', { n: [{ numeric: ['>', 5, '<', 1] }] }, /larger upper bound/],
    ['numeric two equals', { n: [{ numeric: ['=', 1, '=', 1] }] }, /lower bound/],
    ['anything-but boolean', { s: [{ 'anything-but': true }] }, /Invalid 'anything-but' operand true/],
    ['anything-but null', { s: [{ 'anything-but': null }] }, /Invalid 'anything-but' operand null/],
    ['anything-but mixed list', { s: [{ 'anything-but': ['a', 1] }] }, /only strings or only numbers/],
    ['anything-but empty list', { s: [{ 'anything-but': [] }] }, /Invalid 'anything-but' operand \[\]/],
    ['anything-but numeric', { s: [{ 'anything-but': { numeric: ['>', 1] } }] }, /Unsupported operator 'anything-but: numeric'/],
    ['anything-but two inner', { s: [{ 'anything-but': { prefix: 'a', suffix: 'b' } }] }, /Invalid 'anything-but' operand/],
    ['anything-but prefix list', { s: [{ 'anything-but': { prefix: ['a'] } }] }, /a string for anything-but prefix/],
    ['anything-but wildcard bad', { s: [{ 'anything-but': { wildcard: ['a**'] } }] }, /consecutive '\*' characters/],
    ['anything-but ignore case number', { s: [{ 'anything-but': { 'equals-ignore-case': 1 } }] }, /anything-but equals-ignore-case/],
    ['$or single pattern', { $or: [{ source: ['a'] }] }, /\$or takes an array of at least two patterns/],
    ['$or object', { $or: { source: ['a'] } }, /\$or takes an array/],
    ['$or invalid branch', { $or: [{ source: ['a'] }, { source: 'b' }] }, /field '\$or\[1\].source'/],
  ])('rejects %s', (_name, pattern, expectedError) => {
    expect(() => validateEventPattern(pattern)).toThrow(expectedError);
  });

  test('errors are EventPatternError', () => {
    expect(() => validateEventPattern({ source: [{ regex: '.*' }] })).toThrow(EventPatternError);
  });

  test('matching rejects invalid pattern', () => {
    expect(() => matchesEventPattern({ source: [{ contains: 'ec2' }] }, eventOf('aws.ec2', 'x'))).toThrow(/Unsupported operator 'contains'/);
  });

  test.each<[string, Pattern]>([
    ['every operator', {
      source: [{ prefix: 'a' }, { suffix: 'b' }, { 'equals-ignore-case': 'c' }, { wildcard: 'd*e' }],
      detail: {
        n: [{ numeric: ['>=', -5e9, '<=', 5e9] }, { numeric: ['=', 0] }],
        e: [{ exists: true }],
        ip: [{ cidr: '192.168.0.0/16' }, { cidr: 'fe80::/10' }],
        s: [{ 'anything-but': { suffix: 'x' } }, { 'anything-but': { wildcard: 'a*' } }, { 'anything-but': [1, 2] }],
        $or: [{ a: ['x'] }, { b: [null, true, 1.5] }],
      },
    }],
    ['escaped wildcard', { source: [{ wildcard: 'a\\*b\\\\c*' }] }],
  ])('accepts %s', (_name, pattern) => {
    expect(() => validateEventPattern(pattern)).not.toThrow();
  });
});
