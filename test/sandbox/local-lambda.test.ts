import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { exampleDevAssembly } from './example-assembly';
import { LocalEventsEndpoint } from '../../sandbox/src/events/local-events-endpoint';
import { LocalIotDataEndpoint, LocalPublishProperties } from '../../sandbox/src/iot/local-iot-data-endpoint';
import { LocalLambdaEndpoint } from '../../sandbox/src/lambda/local-lambda-endpoint';
import {
  FunctionNotFoundError,
  functionDefinitionsFromTemplate,
  LambdaInvocationError,
  LocalFunctionDefinition,
  LocalLambdaRuntime,
} from '../../sandbox/src/lambda/local-lambda-runtime';
import { resolveIntrinsic } from '../../sandbox/src/stepfunctions/definition';

const REPOSITORY = path.join(__dirname, '..', '..');
const NODE_MODULES = path.join(REPOSITORY, 'node_modules');
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const BASE_ENVIRONMENT = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' };

/** Loads the synthesized dev template, or fails with the command that creates it. */
function loadDevTemplate(): any {
  const assembly = exampleDevAssembly();
  const templates = readdirSync(assembly).filter((name) => name.endsWith('.template.json'));
  if (templates.length !== 1) {
    throw new Error(`Expected one template in ${assembly}, found ${templates.length}.`);
  }
  return JSON.parse(readFileSync(path.join(assembly, templates[0]), 'utf8'));
}

function logicalIdOf(template: any, prefix: string): string {
  const id = Object.keys(template.Resources).find((key) => key.startsWith(prefix) && template.Resources[key].Type === 'AWS::Lambda::Function');
  if (!id) {
    throw new Error(`The dev template has no function whose logical id starts with ${prefix}.`);
  }
  return id;
}

/** Handlers for timeout, error, concurrency and environment cases, written to a temporary folder. */
const FIXTURE_HANDLERS = `
const { threadId } = require('node:worker_threads');
let invocationsInThisInstance = 0;
exports.sleep = async (event, context) => {
  invocationsInThisInstance += 1;
  await new Promise((resolve) => setTimeout(resolve, event.ms));
  return { threadId, invocationsInThisInstance, remainingMs: context.getRemainingTimeInMillis() };
};
exports.fail = async () => {
  class DeviceNotFoundError extends Error {}
  DeviceNotFoundError.prototype.name = 'DeviceNotFoundError';
  throw new DeviceNotFoundError('Device d-1 is not registered.');
};
exports.hog = async () => {
  const kept = [];
  for (;;) {
    kept.push(new Array(1e6).fill(Math.random()));
  }
};
exports.describe = async (event, context) => ({
  env: {
    AWS_LAMBDA_FUNCTION_NAME: process.env.AWS_LAMBDA_FUNCTION_NAME,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    LAMBDA_TASK_ROOT: process.env.LAMBDA_TASK_ROOT,
    _HANDLER: process.env._HANDLER,
    AWS_EXECUTION_ENV: process.env.AWS_EXECUTION_ENV,
    AWS_REGION: process.env.AWS_REGION,
    TABLE_NAME: process.env.TABLE_NAME,
    JEST_WORKER_ID: process.env.JEST_WORKER_ID,
  },
  context: {
    functionName: context.functionName,
    awsRequestId: context.awsRequestId,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    remainingMs: context.getRemainingTimeInMillis(),
  },
  sdkVersion: require('@aws-sdk/client-lambda/package.json').version,
  event,
});
exports.callPeer = async (event) => {
  const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');
  const response = await new LambdaClient({}).send(new InvokeCommand({ FunctionName: event.functionName, Payload: JSON.stringify(event.payload) }));
  return { functionError: response.FunctionError, payload: JSON.parse(Buffer.from(response.Payload).toString('utf8')) };
};
exports.publish = async (event) => {
  const { IoTDataPlaneClient, PublishCommand } = require('@aws-sdk/client-iot-data-plane');
  const client = new IoTDataPlaneClient({ endpoint: process.env.IOT_DATA_ENDPOINT });
  await client.send(new PublishCommand({ topic: event.topic, qos: 1, payload: Buffer.from(JSON.stringify(event.message)) }));
  return 'published';
};
`;

describe('functionDefinitionsFromTemplate', () => {
  let template: any;

  beforeAll(() => {
    template = loadDevTemplate();
  });

  test('reads every function of the dev template', () => {
    const definitions = functionDefinitionsFromTemplate(template, exampleDevAssembly(), (value) => resolveIntrinsic(template, value));
    const functionIds = Object.keys(template.Resources).filter((id) => template.Resources[id].Type === 'AWS::Lambda::Function');

    expect(definitions.map((definition) => definition.logicalId).sort()).toEqual(functionIds.sort());
    for (const definition of definitions) {
      const properties = template.Resources[definition.logicalId].Properties;
      expect(existsSync(path.join(definition.codeDirectory, 'index.js'))).toBe(true);
      expect(definition.handler).toBe(properties.Handler);
      expect(definition.timeoutSeconds).toBe(properties.Timeout);
      expect(definition.memoryMb).toBe(properties.MemorySize);
      expect(definition.functionName).toBe(definition.logicalId);
    }
  });

  test('resolves environment variables', () => {
    const forwarderId = logicalIdOf(template, 'PlatformTopicRulesForwarder');
    const definitions = functionDefinitionsFromTemplate(template, exampleDevAssembly(), (value) => resolveIntrinsic(template, value));
    const forwarder = definitions.find((definition) => definition.logicalId === forwarderId)!;

    const busReference = template.Resources[forwarderId].Properties.Environment.Variables.EVENT_BUS_NAME;
    expect(forwarder.environment.EVENT_BUS_NAME).toBe(resolveIntrinsic(template, busReference));
    expect(forwarder.environment.AWS_ACCOUNT_ID).toBe('000000000000');
    expect(forwarder.environment.POWERTOOLS_SERVICE_NAME).toBe('Forwarder');
  });

  test.each([
    ['inline code', { Code: { ZipFile: 'exports.handler = async () => 1;' }, Runtime: 'nodejs20.x', Handler: 'index.handler' }, /InlineFn has inline code/],
    ['container images', { Code: { ImageUri: 'repo:latest' }, PackageType: 'Image' }, /InlineFn is a container image/],
    ['other runtimes', { Code: { S3Key: 'x.zip' }, Runtime: 'python3.12', Handler: 'app.handler' }, /InlineFn has runtime python3.12/],
  ])('rejects %s', (_case, properties, message) => {
    const badTemplate = { Resources: { InlineFn: { Type: 'AWS::Lambda::Function', Properties: properties } } };

    expect(() => functionDefinitionsFromTemplate(badTemplate, exampleDevAssembly(), String)).toThrow(message);
  });
});

describe('LocalLambdaRuntime', () => {
  let template: any;
  let fixtureDirectory: string;
  let runtime: LocalLambdaRuntime;
  const logLines: string[] = [];

  function fixture(name: string, overrides: Partial<LocalFunctionDefinition> = {}): LocalFunctionDefinition {
    return { logicalId: name, functionName: `fn-${name}`, codeDirectory: fixtureDirectory, handler: `index.${name}`, environment: {}, timeoutSeconds: 5, ...overrides };
  }

  beforeAll(() => {
    template = loadDevTemplate();
    // A folder outside the repository, so `@aws-sdk/*` can only resolve through nodeModulesPath.
    fixtureDirectory = mkdtempSync(path.join(tmpdir(), 'local-lambda-'));
    writeFileSync(path.join(fixtureDirectory, 'index.js'), FIXTURE_HANDLERS);
  });

  afterAll(() => {
    rmSync(fixtureDirectory, { recursive: true, force: true });
  });

  beforeEach(() => {
    logLines.length = 0;
    runtime = new LocalLambdaRuntime({
      baseEnvironment: BASE_ENVIRONMENT,
      nodeModulesPath: NODE_MODULES,
      maxInstancesPerFunction: 2,
      log: (functionName, line) => logLines.push(`${functionName}: ${line}`),
    });
  });

  afterEach(async () => {
    await runtime.stop();
  });

  test('runs the bundled forwarder', async () => {
    const events = await LocalEventsEndpoint.start();
    const forwarderId = logicalIdOf(template, 'PlatformTopicRulesForwarder');
    const definitions = functionDefinitionsFromTemplate(template, exampleDevAssembly(), (value) => resolveIntrinsic(template, value));
    const definition = definitions.find((item) => item.logicalId === forwarderId)!;
    const codeCopy = mkdtempSync(path.join(tmpdir(), 'forwarder-'));
    cpSync(definition.codeDirectory, codeCopy, { recursive: true });
    const forwarderRuntime = new LocalLambdaRuntime({
      baseEnvironment: { ...BASE_ENVIRONMENT, AWS_ENDPOINT_URL_EVENTBRIDGE: events.url },
      nodeModulesPath: NODE_MODULES,
      log: (functionName, line) => logLines.push(`${functionName}: ${line}`),
    });
    const stdoutWrite = jest.spyOn(process.stdout, 'write');
    try {
      forwarderRuntime.register({ ...definition, codeDirectory: codeCopy });
      const presence = { kind: 'presence', thingName: 'plug-1', eventType: 'connected', timestamp: 1700000000000, versionNumber: 3, sessionIdentifier: 's-1', receivedAt: 1700000000100 };

      const result = await forwarderRuntime.invoke(forwarderId, {
        Records: [{ messageId: 'm-valid', body: JSON.stringify(presence) }, { messageId: 'm-malformed', body: 'not json' }],
      });

      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-malformed' }] });
      expect(events.events).toHaveLength(1);
      expect(events.events[0].eventBusName).toBe(definition.environment.EVENT_BUS_NAME);
      expect(events.events[0].detail).toMatchObject({ thingName: 'plug-1', eventType: 'connected', sessionIdentifier: 's-1' });
      expect(logLines.some((line) => line.startsWith(`${forwarderId}: `) && line.includes('"Batch forwarded"'))).toBe(true);
      const parentOutput = stdoutWrite.mock.calls.map((call) => String(call[0])).join('');
      expect(parentOutput).not.toContain('Batch forwarded');
    } finally {
      stdoutWrite.mockRestore();
      await forwarderRuntime.stop();
      await events.stop();
      rmSync(codeCopy, { recursive: true, force: true });
    }
  });

  test('passes environment and context', async () => {
    runtime.register(fixture('describe', { environment: { TABLE_NAME: 'Devices', AWS_REGION: 'eu-west-1' }, memoryMb: 256, timeoutSeconds: 7, runtime: 'nodejs22.x' }));

    const result = await runtime.invoke('describe', { ping: 1 }) as any;

    expect(result.env).toEqual({
      AWS_LAMBDA_FUNCTION_NAME: 'fn-describe',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      LAMBDA_TASK_ROOT: fixtureDirectory,
      _HANDLER: 'index.describe',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      AWS_REGION: 'us-east-1',
      TABLE_NAME: 'Devices',
    });
    expect(result.context.functionName).toBe('fn-describe');
    expect(result.context.invokedFunctionArn).toBe('arn:aws:lambda:us-east-1:000000000000:function:fn-describe');
    expect(result.context.memoryLimitInMB).toBe('256');
    expect(result.context.logGroupName).toBe('/aws/lambda/fn-describe');
    expect(result.context.logStreamName).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    expect(result.context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.context.remainingMs).toBeGreaterThan(0);
    expect(result.context.remainingMs).toBeLessThanOrEqual(7000);
    expect(result.sdkVersion).toBe(JSON.parse(readFileSync(path.join(NODE_MODULES, '@aws-sdk/client-lambda/package.json'), 'utf8')).version);
    expect(result.event).toEqual({ ping: 1 });
  });

  test('finds functions by name and ARN', async () => {
    runtime.register(fixture('describe'));

    const byName = await runtime.invoke('fn-describe', {}) as any;
    const byArn = await runtime.invoke('arn:aws:lambda:us-east-1:000000000000:function:fn-describe:$LATEST', {}) as any;

    expect(byName.context.functionName).toBe('fn-describe');
    expect(byArn.context.functionName).toBe('fn-describe');
    expect(runtime.invocationCount('describe')).toBe(2);
  });

  test('rejects handler errors with their name', async () => {
    runtime.register(fixture('fail'));

    const error = await runtime.invoke('fail', {}).catch((caught) => caught);

    expect(error).toBeInstanceOf(LambdaInvocationError);
    expect(error.errorType).toBe('DeviceNotFoundError');
    expect(error.errorMessage).toBe('Device d-1 is not registered.');
    expect(error.trace[0]).toBe('DeviceNotFoundError: Device d-1 is not registered.');
  });

  test('rejects a handler past its timeout', async () => {
    runtime.register(fixture('sleep', { timeoutSeconds: 1 }));
    const first = await runtime.invoke('sleep', { ms: 10 }) as any;

    const error = await runtime.invoke('sleep', { ms: 3000 }).catch((caught) => caught);
    const afterTimeout = await runtime.invoke('sleep', { ms: 10 }) as any;

    expect(error).toBeInstanceOf(LambdaInvocationError);
    expect(error.errorType).toBe('Sandbox.Timedout');
    expect(error.errorMessage).toMatch(/^RequestId: [0-9a-f-]{36} Error: Task timed out after 1\.00 seconds$/);
    expect(afterTimeout.threadId).not.toBe(first.threadId);
    expect(afterTimeout.invocationsInThisInstance).toBe(1);
    expect(runtime.instanceCount('sleep')).toBe(1);
    expect(runtime.invocationCount('sleep')).toBe(3);
  });

  test('rejects a handler out of memory', async () => {
    runtime.register(fixture('hog', { memoryMb: 128, timeoutSeconds: 20 }));

    const error = await runtime.invoke('hog', {}).catch((caught) => caught);

    expect(error).toBeInstanceOf(LambdaInvocationError);
    expect(error.errorType).toBe('Runtime.OutOfMemory');
    expect(runtime.instanceCount('hog')).toBe(0);
  });

  test('limits instances per function', async () => {
    runtime.register(fixture('sleep'));
    const started = Date.now();

    const results = await Promise.all([1, 2, 3, 4].map(() => runtime.invoke('sleep', { ms: 400 }))) as any[];
    const elapsedMs = Date.now() - started;

    expect(new Set(results.map((result) => result.threadId)).size).toBe(2);
    expect(results.map((result) => result.invocationsInThisInstance).sort()).toEqual([1, 1, 2, 2]);
    expect(runtime.instanceCount('sleep')).toBe(2);
    expect(elapsedMs).toBeGreaterThanOrEqual(800);
  });

  test('keeps instances warm', async () => {
    runtime.register(fixture('sleep'));

    const first = await runtime.invoke('sleep', { ms: 1 }) as any;
    const second = await runtime.invoke('sleep', { ms: 1 }) as any;

    expect(second.threadId).toBe(first.threadId);
    expect(second.invocationsInThisInstance).toBe(2);
  });

  test.each([
    ['a missing module', 'missing.handler', 'Runtime.ImportModuleError', /Cannot find module 'missing'/],
    ['a missing export', 'index.nothing', 'Runtime.HandlerNotFound', /index\.nothing is undefined or not exported/],
  ])('rejects %s', async (_case, handler, errorType, message) => {
    runtime.register(fixture('broken', { handler }));

    const error = await runtime.invoke('broken', {}).catch((caught) => caught);

    expect(error).toBeInstanceOf(LambdaInvocationError);
    expect(error.errorType).toBe(errorType);
    expect(error.errorMessage).toMatch(message);
  });

  test('loads handlers from subfolders', async () => {
    mkdirSync(path.join(fixtureDirectory, 'lib'), { recursive: true });
    writeFileSync(path.join(fixtureDirectory, 'lib', 'app.js'), 'exports.routes = { main: async (event) => ({ nested: event.value }) };');
    runtime.register(fixture('nested', { handler: 'lib/app.routes.main' }));

    const result = await runtime.invoke('nested', { value: 42 });

    expect(result).toEqual({ nested: 42 });
  });

  test('rejects unknown functions', async () => {
    const error = await runtime.invoke('NoSuchFunction', {}).catch((caught) => caught);

    expect(error).toBeInstanceOf(FunctionNotFoundError);
    expect(error.message).toBe('Function not found: arn:aws:lambda:us-east-1:000000000000:function:NoSuchFunction');
  });
});

describe('LocalLambdaEndpoint', () => {
  let fixtureDirectory: string;
  let runtime: LocalLambdaRuntime;
  let endpoint: LocalLambdaEndpoint;
  let client: LambdaClient;

  beforeAll(async () => {
    fixtureDirectory = mkdtempSync(path.join(tmpdir(), 'local-lambda-endpoint-'));
    writeFileSync(path.join(fixtureDirectory, 'index.js'), FIXTURE_HANDLERS);
    runtime = new LocalLambdaRuntime({ baseEnvironment: BASE_ENVIRONMENT, nodeModulesPath: NODE_MODULES });
    endpoint = await LocalLambdaEndpoint.start(runtime);
    // Handlers reach the endpoint the way the sandbox sets it up, through AWS_ENDPOINT_URL_LAMBDA.
    const environment = { AWS_ENDPOINT_URL_LAMBDA: endpoint.url };
    for (const name of ['describe', 'fail', 'sleep', 'callPeer']) {
      runtime.register({ logicalId: name, functionName: name, codeDirectory: fixtureDirectory, handler: `index.${name}`, environment, timeoutSeconds: 10 });
    }
    client = new LambdaClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: CREDENTIALS });
  });

  afterAll(async () => {
    client.destroy();
    await endpoint.stop();
    await runtime.stop();
    rmSync(fixtureDirectory, { recursive: true, force: true });
  });

  test('returns the handler result', async () => {
    const response = await client.send(new InvokeCommand({ FunctionName: 'describe', Payload: JSON.stringify({ deviceId: 'd-7' }) }));

    expect(response.StatusCode).toBe(200);
    expect(response.FunctionError).toBeUndefined();
    expect(response.ExecutedVersion).toBe('$LATEST');
    expect(JSON.parse(Buffer.from(response.Payload!).toString('utf8')).event).toEqual({ deviceId: 'd-7' });
  });

  test('reports handler errors as Unhandled', async () => {
    const response = await client.send(new InvokeCommand({ FunctionName: 'arn:aws:lambda:us-east-1:000000000000:function:fail', Payload: '{}' }));
    const payload = JSON.parse(Buffer.from(response.Payload!).toString('utf8'));

    expect(response.StatusCode).toBe(200);
    expect(response.FunctionError).toBe('Unhandled');
    expect(payload.errorType).toBe('DeviceNotFoundError');
    expect(payload.errorMessage).toBe('Device d-1 is not registered.');
    expect(Array.isArray(payload.trace)).toBe(true);
  });

  test('accepts Event invocations', async () => {
    const before = runtime.invocationCount('sleep');

    const response = await client.send(new InvokeCommand({ FunctionName: 'sleep', InvocationType: 'Event', Payload: JSON.stringify({ ms: 50 }) }));
    await endpoint.settle();

    expect(response.StatusCode).toBe(202);
    expect(runtime.invocationCount('sleep')).toBe(before + 1);
  });

  test('rejects unknown functions', async () => {
    const error = await client.send(new InvokeCommand({ FunctionName: 'NoSuchFunction', Payload: '{}' })).catch((caught) => caught);

    expect(error.name).toBe('ResourceNotFoundException');
    expect(error.$metadata.httpStatusCode).toBe(404);
  });

  test('lets a handler invoke another function', async () => {
    const result = await runtime.invoke('callPeer', { functionName: 'arn:aws:lambda:us-east-1:000000000000:function:describe', payload: { code: 'ABC123' } }) as any;

    expect(result.functionError).toBeUndefined();
    expect(result.payload.event).toEqual({ code: 'ABC123' });
    expect(result.payload.context.functionName).toBe('describe');
  });

  test('passes handler errors to the calling handler', async () => {
    const result = await runtime.invoke('callPeer', { functionName: 'fail', payload: {} }) as any;

    expect(result.functionError).toBe('Unhandled');
    expect(result.payload.errorType).toBe('DeviceNotFoundError');
  });
});

describe('LocalIotDataEndpoint', () => {
  const publishes: { topic: string; payload: Buffer; qos: number; properties: LocalPublishProperties }[] = [];
  let endpoint: LocalIotDataEndpoint;
  let client: IoTDataPlaneClient;

  beforeAll(async () => {
    endpoint = await LocalIotDataEndpoint.start((topic, payload, qos, properties) => {
      publishes.push({ topic, payload, qos, properties });
    });
    client = new IoTDataPlaneClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: CREDENTIALS });
  });

  beforeEach(() => {
    publishes.length = 0;
  });

  afterAll(async () => {
    client.destroy();
    await endpoint.stop();
  });

  test('delivers a handler publish', async () => {
    const fixtureDirectory = mkdtempSync(path.join(tmpdir(), 'local-iot-data-'));
    writeFileSync(path.join(fixtureDirectory, 'index.js'), FIXTURE_HANDLERS);
    const runtime = new LocalLambdaRuntime({ baseEnvironment: BASE_ENVIRONMENT, nodeModulesPath: NODE_MODULES });
    try {
      runtime.register({
        logicalId: 'publish',
        functionName: 'publish',
        codeDirectory: fixtureDirectory,
        handler: 'index.publish',
        environment: { IOT_DATA_ENDPOINT: endpoint.url },
        timeoutSeconds: 10,
      });

      const result = await runtime.invoke('publish', { topic: 'iot/control/plug-1/relay', message: { relay: 'r1', state: 'ON' } });

      expect(result).toBe('published');
      expect(publishes).toHaveLength(1);
      expect(publishes[0].topic).toBe('iot/control/plug-1/relay');
      expect(publishes[0].qos).toBe(1);
      expect(JSON.parse(publishes[0].payload.toString('utf8'))).toEqual({ relay: 'r1', state: 'ON' });
    } finally {
      await runtime.stop();
      rmSync(fixtureDirectory, { recursive: true, force: true });
    }
  });

  test('passes binary payloads and properties', async () => {
    const payload = Buffer.from([0, 255, 1, 254]);

    await client.send(new PublishCommand({ topic: '$aws/things/plug-1/shadow/update', qos: 0, retain: true, contentType: 'application/octet-stream', payload }));

    expect(publishes).toHaveLength(1);
    expect(publishes[0].topic).toBe('$aws/things/plug-1/shadow/update');
    expect(publishes[0].qos).toBe(0);
    expect(publishes[0].payload.equals(payload)).toBe(true);
    expect(publishes[0].properties.retain).toBe(true);
    expect(publishes[0].properties.contentType).toBe('application/octet-stream');
  });

  test.each([
    ['reserved topics', '$SYS/broker/load', 0, 'ForbiddenException', 403],
    ['other $aws topics', '$aws/events/presence/connected/plug-1', 0, 'ForbiddenException', 403],
    ['wildcard topics', 'iot/control/+/relay', 0, 'InvalidRequestException', 400],
    ['topics with more than 7 slashes', 'a/b/c/d/e/f/g/h/i', 0, 'InvalidRequestException', 400],
    ['QoS 2', 'iot/control/plug-1/relay', 2, 'InvalidRequestException', 400],
  ])('rejects %s', async (_case, topic, qos, errorName, status) => {
    const error = await client.send(new PublishCommand({ topic, qos, payload: Buffer.from('{}') })).catch((caught) => caught);

    expect(error.name).toBe(errorName);
    expect(error.$metadata.httpStatusCode).toBe(status);
    expect(publishes).toHaveLength(0);
  });

  test('rejects payloads over 128 KB', async () => {
    const error = await client.send(new PublishCommand({ topic: 'iot/telemetry/plug-1', payload: Buffer.alloc(128 * 1024 + 1) })).catch((caught) => caught);

    expect(error.name).toBe('RequestEntityTooLargeException');
    expect(publishes).toHaveLength(0);
  });
});
