import { IotSqlError, IotSqlMessage, IotSqlStatement } from '../../sandbox/src/iot-rules/iot-sql';

const RECEIVED_AT = 1764892800000;
const CLAIM_CERTIFICATE_ID = 'c'.repeat(64);
const DEVICE_CERTIFICATE_ID = 'd'.repeat(64);

/** The topic rules of the dev stack, with the claim certificate id that CloudFormation joins in. */
const CAPABILITIES_RULE =
  "SELECT encode(*, 'base64') AS payload, topic(3) AS thingName, timestamp() AS receivedAt, 'capabilities' AS kind FROM 'iot/capabilities/+'";
const RELAY_STATUS_RULE =
  "SELECT encode(*, 'base64') AS payload, topic(3) AS thingName, timestamp() AS receivedAt, 'relay-status' AS kind FROM 'iot/status/+/relay'";
const ENERGY_STATUS_RULE =
  "SELECT encode(*, 'base64') AS payload, topic(3) AS thingName, timestamp() AS receivedAt, 'energy-status' AS kind FROM 'iot/status/+/energy'";
const TELEMETRY_RULE =
  "SELECT encode(*, 'base64') AS payload, topic(3) AS thingName, timestamp() AS receivedAt, 'telemetry' AS kind FROM 'iot/telemetry/+'";
const CONNECTED_RULE =
  'SELECT clientId AS thingName, eventType, timestamp, versionNumber, sessionIdentifier, disconnectReason, timestamp() AS receivedAt, ' +
  "'presence' AS kind FROM '$aws/events/presence/connected/+' WHERE startswith(clientId, 'dev-') AND principalIdentifier <> '" +
  CLAIM_CERTIFICATE_ID + "'";
const DISCONNECTED_RULE =
  'SELECT clientId AS thingName, eventType, timestamp, versionNumber, sessionIdentifier, disconnectReason, timestamp() AS receivedAt, ' +
  "'presence' AS kind FROM '$aws/events/presence/disconnected/+' WHERE startswith(clientId, 'dev-') AND principalIdentifier <> '" +
  CLAIM_CERTIFICATE_ID + "'";

function message(topic: string, payload: unknown, extra: Partial<IotSqlMessage> = {}): IotSqlMessage {
  const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8');
  return { topic, payload: bytes, timestamp: RECEIVED_AT, ...extra };
}

/** Lifecycle event payloads in the shape AWS IoT Core publishes on $aws/events/presence/... */
function connectedEvent(clientId: string, principalIdentifier: string) {
  return {
    clientId,
    timestamp: 1764892799000,
    eventType: 'connected',
    sessionIdentifier: '00000000-0000-0000-0000-000000000000',
    principalIdentifier,
    ipAddress: '192.0.2.10',
    versionNumber: 3,
  };
}

function disconnectedEvent(clientId: string, principalIdentifier: string) {
  return {
    clientId,
    timestamp: 1764892799500,
    eventType: 'disconnected',
    sessionIdentifier: '00000000-0000-0000-0000-000000000000',
    principalIdentifier,
    clientInitiatedDisconnect: false,
    disconnectReason: 'MQTT_KEEP_ALIVE_TIMEOUT',
    ipAddress: '192.0.2.10',
    versionNumber: 4,
  };
}

describe('platform topic rules', () => {
  const binary = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f]);

  test.each([
    [CAPABILITIES_RULE, 'iot/capabilities/dev-a1', 'capabilities'],
    [RELAY_STATUS_RULE, 'iot/status/dev-a1/relay', 'relay-status'],
    [ENERGY_STATUS_RULE, 'iot/status/dev-a1/energy', 'energy-status'],
    [TELEMETRY_RULE, 'iot/telemetry/dev-a1', 'telemetry'],
  ])('device rule %# wraps binary payload', (sql, topic, kind) => {
    const statement = IotSqlStatement.parse(sql);

    expect(statement.evaluate(message(topic, binary))).toEqual({
      payload: binary.toString('base64'),
      thingName: 'dev-a1',
      receivedAt: RECEIVED_AT,
      kind,
    });
  });

  test.each([
    [CAPABILITIES_RULE, 'iot/capabilities/dev-a1'],
    [RELAY_STATUS_RULE, 'iot/status/dev-a1/relay'],
    [ENERGY_STATUS_RULE, 'iot/status/dev-a1/energy'],
    [TELEMETRY_RULE, 'iot/telemetry/dev-a1'],
  ])('device rule %# encodes JSON payload bytes', (sql, topic) => {
    const text = '{"relay":1,"on":true}';

    const result = IotSqlStatement.parse(sql).evaluate(message(topic, text));

    expect(result?.payload).toBe(Buffer.from(text).toString('base64'));
  });

  test.each([
    [CAPABILITIES_RULE, 'iot/capabilities/dev-a1/extra'],
    [CAPABILITIES_RULE, 'iot/capabilities'],
    [RELAY_STATUS_RULE, 'iot/status/dev-a1/energy'],
    [ENERGY_STATUS_RULE, 'iot/status/dev-a1/relay'],
    [TELEMETRY_RULE, 'iot/telemetry'],
    [TELEMETRY_RULE, 'iot/capabilities/dev-a1'],
  ])('device rule %# ignores other topic', (sql, topic) => {
    expect(IotSqlStatement.parse(sql).evaluate(message(topic, binary))).toBeUndefined();
  });

  test('connected rule selects device event', () => {
    const event = connectedEvent('dev-a1', DEVICE_CERTIFICATE_ID);

    const result = IotSqlStatement.parse(CONNECTED_RULE).evaluate(message('$aws/events/presence/connected/dev-a1', event));

    expect(result).toEqual({
      thingName: 'dev-a1',
      eventType: 'connected',
      timestamp: event.timestamp,
      versionNumber: 3,
      sessionIdentifier: event.sessionIdentifier,
      receivedAt: RECEIVED_AT,
      kind: 'presence',
    });
    expect(result).not.toHaveProperty('disconnectReason');
  });

  test('disconnected rule selects reason', () => {
    const event = disconnectedEvent('dev-a1', DEVICE_CERTIFICATE_ID);

    const result = IotSqlStatement.parse(DISCONNECTED_RULE).evaluate(message('$aws/events/presence/disconnected/dev-a1', event));

    expect(result).toEqual({
      thingName: 'dev-a1',
      eventType: 'disconnected',
      timestamp: event.timestamp,
      versionNumber: 4,
      sessionIdentifier: event.sessionIdentifier,
      disconnectReason: 'MQTT_KEEP_ALIVE_TIMEOUT',
      receivedAt: RECEIVED_AT,
      kind: 'presence',
    });
  });

  test.each([
    ['claim certificate', CONNECTED_RULE, '$aws/events/presence/connected/dev-a1', connectedEvent('dev-a1', CLAIM_CERTIFICATE_ID)],
    ['claim certificate', DISCONNECTED_RULE, '$aws/events/presence/disconnected/dev-a1', disconnectedEvent('dev-a1', CLAIM_CERTIFICATE_ID)],
    ['other client prefix', CONNECTED_RULE, '$aws/events/presence/connected/prov-1', connectedEvent('prov-1', DEVICE_CERTIFICATE_ID)],
    ['other client prefix', DISCONNECTED_RULE, '$aws/events/presence/disconnected/prov-1', disconnectedEvent('prov-1', DEVICE_CERTIFICATE_ID)],
    ['other event topic', CONNECTED_RULE, '$aws/events/presence/disconnected/dev-a1', disconnectedEvent('dev-a1', DEVICE_CERTIFICATE_ID)],
    ['other event topic', DISCONNECTED_RULE, '$aws/events/presence/connected/dev-a1', connectedEvent('dev-a1', DEVICE_CERTIFICATE_ID)],
  ])('lifecycle rule skips %s', (_case, sql, topic, event) => {
    expect(IotSqlStatement.parse(sql).evaluate(message(topic, event))).toBeUndefined();
  });

  test('lifecycle rule skips event without principal', () => {
    const { principalIdentifier: _omitted, ...event } = connectedEvent('dev-a1', DEVICE_CERTIFICATE_ID);

    expect(IotSqlStatement.parse(CONNECTED_RULE).evaluate(message('$aws/events/presence/connected/dev-a1', event))).toBeUndefined();
  });

  test('rules expose topic filters', () => {
    expect(IotSqlStatement.parse(CAPABILITIES_RULE).topicFilter).toBe('iot/capabilities/+');
    expect(IotSqlStatement.parse(RELAY_STATUS_RULE).topicFilter).toBe('iot/status/+/relay');
    expect(IotSqlStatement.parse(CONNECTED_RULE).topicFilter).toBe('$aws/events/presence/connected/+');
  });
});

describe('topic filter matching', () => {
  test.each([
    ['a/b/c', 'a/b/c', true],
    ['a/b/c', 'a/b', false],
    ['a/b/c', 'a/b/c/d', false],
    ['a/+/c', 'a/x/c', true],
    ['a/+/c', 'a//c', true],
    ['a/+/c', 'a/x/y/c', false],
    ['a/+', 'a', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b', true],
    ['a/#', 'a/b/c/d', true],
    ['a/#', 'b/a', false],
    ['#', 'any/topic', true],
    ['+/b', 'a/b', true],
    ['#', '$aws/events/presence/connected/x', false],
    ['+/events/#', '$aws/events/presence', false],
    ['$aws/events/#', '$aws/events/presence/connected/x', true],
    ['A/b', 'a/b', false],
  ])('filter %s on topic %s is %s', (filter, topic, expected) => {
    expect(IotSqlStatement.parse(`SELECT * FROM '${filter}'`).matchesTopic(topic)).toBe(expected);
  });

  test.each([
    ['a/b+'],
    ['a/#/c'],
    ['a/b#'],
    [''],
  ])('rejects filter %j', (filter) => {
    expect(() => IotSqlStatement.parse(`SELECT * FROM '${filter}'`)).toThrow(IotSqlError);
  });
});

describe('SELECT clause', () => {
  const payload = {
    temperature: 21.5,
    humidity: 40,
    name: 'Kitchen',
    on: true,
    nothing: null,
    reading: { value: 7, unit: 'W', nested: { deep: 'x' } },
    samples: [3, 5, 8],
    objects: [{ id: 'first' }, { id: 'second' }],
    keywords: { from: 'lower' },
  };
  const input = message('home/kitchen/sensor', payload, { clientId: 'dev-k1', principal: 'principal-1' });

  test.each<[string, Record<string, unknown>]>([
    ['SELECT * FROM \'home/#\'', payload],
    ['SELECT *, topic() AS topic FROM \'home/#\'', { ...payload, topic: 'home/kitchen/sensor' }],
    ['SELECT temperature FROM \'home/#\'', { temperature: 21.5 }],
    ['SELECT temperature AS t, humidity AS h FROM \'home/#\'', { t: 21.5, h: 40 }],
    ['select temperature as t from \'home/#\'', { t: 21.5 }],
    ['SELECT reading.value FROM \'home/#\'', { value: 7 }],
    ['SELECT keywords.from AS a, 1 AS Select FROM \'home/#\'', { a: 'lower', Select: 1 }],
    ['SELECT reading.nested.deep AS d FROM \'home/#\'', { d: 'x' }],
    ['SELECT reading FROM \'home/#\'', { reading: payload.reading }],
    ['SELECT samples[1] AS second FROM \'home/#\'', { second: 5 }],
    ['SELECT samples[0 + 2] AS third FROM \'home/#\'', { third: 8 }],
    ['SELECT objects[1].id AS id FROM \'home/#\'', { id: 'second' }],
    ['SELECT samples[9] AS missing FROM \'home/#\'', {}],
    ['SELECT reading.missing.deeper AS missing FROM \'home/#\'', {}],
    ['SELECT missing, name FROM \'home/#\'', { name: 'Kitchen' }],
    ['SELECT nothing FROM \'home/#\'', { nothing: null }],
    ['SELECT NULL AS n, TRUE AS t, FALSE AS f FROM \'home/#\'', { n: null, t: true, f: false }],
    ['SELECT \'it\\\'s\' AS s FROM \'home/#\'', { s: "it's" }],
    ['SELECT 42 AS i, 2.5 AS d, .5 AS half, 1e3 AS big, -3 AS negative FROM \'home/#\'', { i: 42, d: 2.5, half: 0.5, big: 1000, negative: -3 }],
    ['SELECT temperature * 2 AS doubled FROM \'home/#\'', { doubled: 43 }],
    ['SELECT humidity / 3 AS third, humidity % 3 AS rest FROM \'home/#\'', { third: 13, rest: 1 }],
    ['SELECT temperature / 2 AS half FROM \'home/#\'', { half: 10.75 }],
    ['SELECT humidity / 0 AS infinite FROM \'home/#\'', {}],
    ['SELECT humidity % 0 AS nan FROM \'home/#\'', {}],
    ['SELECT 1 + 2 * 3 AS precedence, (1 + 2) * 3 AS grouped FROM \'home/#\'', { precedence: 7, grouped: 9 }],
    ['SELECT humidity - 50 AS delta, -humidity AS negated FROM \'home/#\'', { delta: -10, negated: -40 }],
    ['SELECT \'5\' + 1 AS converted, name + 1 AS invalid FROM \'home/#\'', { converted: 6 }],
    ['SELECT missing + 1 AS sum FROM \'home/#\'', {}],
    ['SELECT temperature > 20 AS warm, humidity <= 39 AS dry FROM \'home/#\'', { warm: true, dry: false }],
    ['SELECT name = \'Kitchen\' AS same, name <> \'Kitchen\' AS different, name != \'Hall\' AS other FROM \'home/#\'',
      { same: true, different: false, other: true }],
    ['SELECT missing = 1 AS eq FROM \'home/#\'', {}],
    ['SELECT name = 1 AS mixed FROM \'home/#\'', {}],
    ['SELECT samples = samples AS arrays FROM \'home/#\'', { arrays: true }],
    ['SELECT on AND temperature > 20 AS both, on OR FALSE AS either, NOT on AS neither FROM \'home/#\'',
      { both: true, either: true, neither: false }],
    ['SELECT \'TRUE\' AND \'false\' AS strings FROM \'home/#\'', { strings: false }],
    ['SELECT humidity AND TRUE AS invalid FROM \'home/#\'', {}],
    ['SELECT nothing IS NULL AS a, name IS NULL AS b, missing IS UNDEFINED AS c, name IS NOT UNDEFINED AS d FROM \'home/#\'',
      { a: true, b: false, c: true, d: true }],
  ])('%s', (sql, expected) => {
    expect(IotSqlStatement.parse(sql).evaluate(input)).toEqual(expected);
  });

  test('later items overwrite star fields', () => {
    const result = IotSqlStatement.parse("SELECT *, 'replaced' AS name FROM 'home/#'").evaluate(input);

    expect(result?.name).toBe('replaced');
    expect(result?.temperature).toBe(21.5);
  });

  test('star output is a copy', () => {
    const result = IotSqlStatement.parse("SELECT * FROM 'home/#'").evaluate(input) as { reading: { value: number } };
    result.reading.value = 99;

    expect(IotSqlStatement.parse("SELECT reading.value FROM 'home/#'").evaluate(input)).toEqual({ value: 7 });
  });
});

describe('WHERE clause', () => {
  const input = message('home/hall/sensor', { temperature: 30, state: 'on', count: '12' });

  test.each<[string, boolean]>([
    ['temperature > 25', true],
    ['temperature > 30', false],
    ['temperature >= 30', true],
    ['temperature < 30', false],
    ['temperature <= 30', true],
    ['temperature = 30', true],
    ['temperature <> 30', false],
    ['count > 10', true],
    ['state = \'on\' AND temperature > 25', true],
    ['state = \'off\' OR temperature > 25', true],
    ['state = \'off\' OR temperature < 25', false],
    ['NOT state = \'off\'', true],
    ['NOT (state = \'on\' AND temperature > 25)', false],
    ['missing > 1', false],
    ['NOT missing > 1', false],
    ['missing IS UNDEFINED', true],
    ['state', false],
    ['\'true\'', true],
    ['temperature % 7 = 2', true],
    ['topic(2) = \'hall\'', true],
    ['startswith(topic(), \'home/\')', true],
  ])('WHERE %s is %s', (condition, expected) => {
    const result = IotSqlStatement.parse(`SELECT state FROM 'home/#' WHERE ${condition}`).evaluate(input);

    if (expected) {
      expect(result).toEqual({ state: 'on' });
    } else {
      expect(result).toBeUndefined();
    }
  });
});

describe('functions', () => {
  const input = message('a/b/c', { text: 'Hello', number: -4.5, list: [1, 2] }, { clientId: 'dev-x', principal: 'cert-123' });

  test.each<[string, unknown]>([
    ['topic()', 'a/b/c'],
    ['topic(1)', 'a'],
    ['topic(3)', 'c'],
    ['topic(4)', undefined],
    ['topic(0)', undefined],
    ['timestamp()', RECEIVED_AT],
    ['clientid()', 'dev-x'],
    ['principal()', 'cert-123'],
    ['encode(*, \'base64\')', Buffer.from(JSON.stringify({ text: 'Hello', number: -4.5, list: [1, 2] })).toString('base64')],
    ['encode(text, \'base64\')', Buffer.from('Hello').toString('base64')],
    ['encode(list, \'base64\')', undefined],
    ['startswith(text, \'He\')', true],
    ['startswith(text, \'he\')', false],
    ['startswith(missing, \'He\')', undefined],
    ['startswith(123, 12)', true],
    ['endswith(text, \'llo\')', true],
    ['endswith(text, \'He\')', false],
    ['concat(text, \' \', \'World\')', 'Hello World'],
    ['concat(text, 1)', 'Hello1'],
    ['concat(list, 3)', [1, 2, 3]],
    ['concat(list, list)', [1, 2, 1, 2]],
    ['concat(text, missing)', undefined],
    ['lower(text)', 'hello'],
    ['upper(text)', 'HELLO'],
    ['upper(list)', undefined],
    ['substring(text, 1)', 'ello'],
    ['substring(text, 1, 3)', 'el'],
    ['substring(text, -2, 2)', 'He'],
    ['substring(text, 3, 1)', ''],
    ['substring(text, 2, 99)', 'llo'],
    ['substring(text, 1.7)', 'ello'],
    ['substring(12345, 2)', '345'],
    ['abs(number)', 4.5],
    ['abs(\'-3\')', 3],
    ['abs(text)', undefined],
    ['abs(TRUE)', undefined],
    ['ABS(number)', 4.5],
  ])('%s', (call, expected) => {
    const result = IotSqlStatement.parse(`SELECT ${call} AS out FROM 'a/#'`).evaluate(input);

    expect(result).toEqual(expected === undefined ? {} : { out: expected });
  });

  test('clientid is undefined without client', () => {
    const result = IotSqlStatement.parse("SELECT clientid() AS c, principal() AS p FROM 'a/#'").evaluate(message('a/b', {}));

    expect(result).toEqual({});
  });

  test('newuuid returns fresh UUIDs', () => {
    const statement = IotSqlStatement.parse("SELECT newuuid() AS id FROM 'a/#'");

    const first = statement.evaluate(input)?.id;
    const second = statement.evaluate(input)?.id;

    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(second).not.toBe(first);
  });
});

describe('non-JSON payloads', () => {
  const binary = Buffer.from([0xde, 0xad, 0xbe, 0xef]);

  test.each([
    ['binary', binary],
    ['plain text', Buffer.from('on')],
    ['JSON number', Buffer.from('42')],
    ['JSON array', Buffer.from('[1,2]')],
    ['invalid UTF-8 JSON', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
  ])('field of %s payload is undefined', (_case, payload) => {
    const result = IotSqlStatement.parse("SELECT value, topic() AS t FROM 'raw/#'").evaluate(message('raw/x', payload));

    expect(result).toEqual({ t: 'raw/x' });
  });

  test('WHERE on binary field is false', () => {
    const statement = IotSqlStatement.parse("SELECT encode(*, 'base64') AS data FROM 'raw/#' WHERE kind = 'a'");

    expect(statement.evaluate(message('raw/x', binary))).toBeUndefined();
  });

  test('WHERE without fields passes binary', () => {
    const statement = IotSqlStatement.parse("SELECT encode(*, 'base64') AS data FROM 'raw/#' WHERE timestamp() > 0");

    expect(statement.evaluate(message('raw/x', binary))).toEqual({ data: '3q2+7w==' });
  });

  test('star alone passes raw bytes', () => {
    const statement = IotSqlStatement.parse("SELECT * FROM 'raw/#'");

    expect(statement.evaluatePayload(message('raw/x', binary))).toEqual(binary);
  });

  test('evaluatePayload serializes JSON output', () => {
    const statement = IotSqlStatement.parse("SELECT *, topic(2) AS device FROM 'raw/#'");

    const output = statement.evaluatePayload(message('raw/x', { a: 1 }));

    expect(JSON.parse(output!.toString('utf8'))).toEqual({ a: 1, device: 'x' });
  });

  test('evaluatePayload skips unmatched topic', () => {
    expect(IotSqlStatement.parse("SELECT * FROM 'raw/#'").evaluatePayload(message('other/x', binary))).toBeUndefined();
  });

  test('rejects star of binary in evaluate', () => {
    const statement = IotSqlStatement.parse("SELECT * FROM 'raw/#'");

    expect(() => statement.evaluate(message('raw/x', binary))).toThrow(/evaluatePayload/);
  });

  test('rejects fields added to binary', () => {
    const statement = IotSqlStatement.parse("SELECT *, timestamp() AS ts FROM 'raw/#'");

    expect(() => statement.evaluatePayload(message('raw/x', binary))).toThrow(/encode\(\*, 'base64'\)/);
  });

  test('empty payload accepts added fields', () => {
    const statement = IotSqlStatement.parse("SELECT *, timestamp() AS ts FROM 'raw/#'");

    expect(statement.evaluate(message('raw/x', Buffer.alloc(0)))).toEqual({ ts: RECEIVED_AT });
  });
});

describe('parse errors', () => {
  test.each([
    ["SELECT get_thing_shadow('x', 'y') AS s FROM 'a/b'", /Function 'get_thing_shadow' is not supported/],
    ["SELECT aws_lambda('arn', *) AS r FROM 'a/b'", /Function 'aws_lambda' is not supported/],
    ["SELECT a FROM 'a/b' WHERE isUndefined(a)", /Function 'isUndefined' is not supported/],
    ["SELECT topic(1, 2) AS t FROM 'a/b'", /'topic' takes 0 to 1 argument\(s\) but got 2/],
    ["SELECT concat('a') AS c FROM 'a/b'", /'concat' takes at least 2 argument\(s\) but got 1/],
    ["SELECT timestamp(1) AS t FROM 'a/b'", /'timestamp' takes 0 argument\(s\) but got 1/],
    ["SELECT encode(*, 'hex') AS e FROM 'a/b'", /only the 'base64' encoding scheme/],
    ["SELECT lower(*) AS l FROM 'a/b'", /does not accept \*/],
    ["SELECT topic() FROM 'a/b'", /has no name: add 'AS <name>'/],
    ["SELECT 'x' FROM 'a/b'", /has no name/],
    ['SELECT a FROM a/b', /topic filter in single quotes/],
    ["SELECT a 'a/b'", /Expected FROM/],
    ["SELECT FROM 'a/b'", /Expected an expression/],
    ["SELECT a FROM 'a/b' WHERE", /Expected an expression .* the end of the statement/],
    ["SELECT a FROM 'a/b' WHERE a >", /Expected an expression/],
    ["SELECT a FROM 'a/b' ORDER BY a", /Expected the end of the statement/],
    ["SELECT a FROM 'a/b' WHERE a IS 3", /NULL or UNDEFINED after IS/],
    ["SELECT a FROM 'a/b", /Unterminated string literal/],
    ['SELECT "a" FROM \'a/b\'', /Unsupported quote "/],
    ["SELECT `a` FROM 'a/b'", /Unsupported quote `/],
    ["SELECT a; FROM 'a/b'", /Unexpected character ';'/],
    ["SELECT (a AS b FROM 'a/b'", /Expected '\)'/],
    ["SELECT a[1 AS b FROM 'a/b'", /Expected '\]'/],
    ["SELECT topic().x AS b FROM 'a/b'", /Attribute access on a call expression/],
    ["SELECT a.'x' AS b FROM 'a/b'", /attribute name after/],
    ["SELECT a[0] FROM 'a/b'", /has no name/],
    ["SELECT a AS FROM 'a/b'", /Expected FROM/],
    ['UPDATE a', /Expected SELECT/],
  ])('rejects %s', (sql, expectedError) => {
    expect(() => IotSqlStatement.parse(sql)).toThrow(expectedError);
  });

  test('errors are IotSqlError', () => {
    expect(() => IotSqlStatement.parse("SELECT machinelearning_predict('m') AS p FROM 'a/b'")).toThrow(IotSqlError);
  });
});
