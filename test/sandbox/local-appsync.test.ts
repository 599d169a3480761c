import { createPublicKey, verify } from 'node:crypto';
import { once } from 'node:events';
import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { getIntrospectionQuery } from 'graphql';
import { WebSocket } from 'ws';
import { AppSyncClient, GraphQlRequestError, SubscriptionHandle } from '../../sandbox/src/appsync/appsync-client';
import { LocalAppSyncServer } from '../../sandbox/src/appsync/local-appsync-server';
import { LocalCognitoEndpoint } from '../../sandbox/src/cognito/local-cognito-endpoint';
import { SmartHomePlatform } from '../../src';
import { DeviceUpdatePublisher } from '../../src/workflows/private/device-updates';

const PASSWORD = 'Correct-Horse-7';
const ACCESS_KEY_ID = 'AKIALOCALTEST000001';
const SECRET_ACCESS_KEY = 'local-test-secret';

const ON_DEVICE_UPDATE = `subscription Updates($deviceId: ID) {
  onDeviceUpdate(deviceId: $deviceId) { deviceId ownerId kind at state { deviceId online relays { id state } } }
}`;

interface Invocation {
  readonly functionLogicalId: string;
  readonly event: any;
}

/** Canned results of the resolver function, by field; a function may throw a named error. */
const cannedResults: Record<string, (event: any) => unknown> = {
  getDeviceState: (event) => ({ deviceId: event.arguments.deviceId, online: true, relays: [{ id: 'r1', state: 'ON' }], readings: [], updatedAt: 5 }),
  getDeviceUi: (event) => {
    const error = new Error(`Device '${event.arguments.deviceId}' has not announced its capabilities yet.`);
    error.name = 'DeviceNotFoundError';
    throw error;
  },
  onDeviceUpdate: () => null,
  removeDevice: (event) => event.arguments.deviceId,
  createPairingCode: (event) => ({ deviceId: event.arguments.deviceId, code: 'ABCD-EFGH-JK', expiresAt: 1_900_000_000 }),
};

function synthesizeTemplate() {
  const stack = new Stack(new App(), 'Test');
  const platform = new SmartHomePlatform(stack, 'Platform', { stage: 'dev' });
  const resolverFunctionId = stack.getLogicalId(platform.apiResolvers.resolverFunction.node.defaultChild as CfnElement);
  return { template: Template.fromStack(stack).toJSON(), resolverFunctionId };
}

async function signIn(endpoint: LocalCognitoEndpoint, username: string, password: string): Promise<Response> {
  return fetch(endpoint.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSCognitoIdentityProviderService.InitiateAuth' },
    body: JSON.stringify({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: endpoint.userPool.clientId, AuthParameters: { USERNAME: username, PASSWORD: password } }),
  });
}

async function waitFor(condition: () => boolean, description: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function captureError(promise: Promise<unknown>): Promise<GraphQlRequestError> {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  if (!(error instanceof GraphQlRequestError)) {
    throw new Error(`Expected a GraphQlRequestError, got ${String(error)}`);
  }
  return error;
}

describe('LocalAppSyncServer', () => {
  const { template, resolverFunctionId } = synthesizeTemplate();
  const invocations: Invocation[] = [];
  const subscriptions: SubscriptionHandle[] = [];
  let clockOffsetMs = 0;
  let cognito: LocalCognitoEndpoint;
  let server: LocalAppSyncServer;
  let alice: { sub: string; client: AppSyncClient };
  let bob: { sub: string; client: AppSyncClient };

  const clientFor = async (username: string, groups: string[]) => {
    const { sub } = cognito.userPool.createUser(username, PASSWORD, groups);
    const { IdToken } = cognito.userPool.initiateAuth(username, PASSWORD);
    return { sub, client: new AppSyncClient({ graphqlUrl: server.graphqlUrl, realtimeUrl: server.realtimeUrl, token: IdToken }) };
  };

  const subscribe = async (client: AppSyncClient, deviceId?: string) => {
    const received: any[] = [];
    const ended: (Error | undefined)[] = [];
    const variables = deviceId ? { deviceId } : {};
    const handle = await client.subscribe(ON_DEVICE_UPDATE, variables, (payload) => received.push(payload), (error) => ended.push(error));
    subscriptions.push(handle);
    return { received, ended };
  };

  beforeAll(async () => {
    cognito = await LocalCognitoEndpoint.start({ clock: () => Date.now() + clockOffsetMs });
    server = await LocalAppSyncServer.start({
      template,
      userPool: cognito.userPool,
      iamCredentials: { [ACCESS_KEY_ID]: SECRET_ACCESS_KEY },
      invokeLambda: async (functionLogicalId, event: any) => {
        invocations.push({ functionLogicalId, event });
        const canned = cannedResults[event.field];
        if (!canned) {
          throw new Error(`No canned result for field ${event.field}`);
        }
        return canned(event);
      },
    });
    alice = await clientFor('alice@example.com', ['users']);
    bob = await clientFor('bob@example.com', ['users']);
    process.env.AWS_ACCESS_KEY_ID = ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = SECRET_ACCESS_KEY;
  });

  afterEach(() => {
    for (const handle of subscriptions.splice(0)) {
      handle.close();
    }
  });

  afterAll(async () => {
    await server?.stop();
    await cognito?.stop();
  });

  test('signs in over InitiateAuth and queries me', async () => {
    const response = await signIn(cognito, 'alice@example.com', PASSWORD);
    const body = await response.json() as any;
    const client = new AppSyncClient({ graphqlUrl: server.graphqlUrl, realtimeUrl: server.realtimeUrl, token: body.AuthenticationResult.IdToken });

    const data = await client.request<{ me: { id: string; email: string } }>('{ me { id email } }');

    expect(response.status).toBe(200);
    expect(body.AuthenticationResult.ExpiresIn).toBe(3600);
    expect(data.me).toEqual({ id: alice.sub, email: 'alice@example.com' });
  });

  test('issues tokens with Cognito claims that the JWKS verifies', async () => {
    const { IdToken, AccessToken } = cognito.userPool.initiateAuth('alice@example.com', PASSWORD);
    const jwks = await (await fetch(`${cognito.url}/${cognito.userPool.userPoolId}/.well-known/jwks.json`)).json() as any;
    const [header, payload, signature] = IdToken.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const accessClaims = JSON.parse(Buffer.from(AccessToken.split('.')[1], 'base64url').toString());

    expect(verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), createPublicKey({ key: jwks.keys[0], format: 'jwk' }), Buffer.from(signature, 'base64url'))).toBe(true);
    expect(claims).toMatchObject({
      'sub': alice.sub,
      'cognito:username': 'alice@example.com',
      'cognito:groups': ['users'],
      'token_use': 'id',
      'aud': cognito.userPool.clientId,
      'iss': `${cognito.url}/${cognito.userPool.userPoolId}`,
      'email': 'alice@example.com',
    });
    expect(claims.exp - claims.iat).toBe(3600);
    expect(accessClaims).toMatchObject({ token_use: 'access', client_id: cognito.userPool.clientId, username: 'alice@example.com' });
  });

  test('answers introspection and __typename', async () => {
    const data = await alice.client.request<any>('{ __schema { queryType { name } } me { __typename id } }');
    const introspection = await alice.client.request<any>(getIntrospectionQuery());

    expect(data.__schema.queryType.name).toBe('Query');
    expect(data.me.__typename).toBe('User');
    expect(introspection.__schema.types.map((type: { name: string }) => type.name)).toContain('AWSTimestamp');
  });

  test('rejects a query deeper than QueryDepthLimit', async () => {
    const modified = JSON.parse(JSON.stringify(template));
    const api = Object.values<any>(modified.Resources).find((resource) => resource.Type === 'AWS::AppSync::GraphQLApi');
    api.Properties.QueryDepthLimit = 2;
    const shallow = await LocalAppSyncServer.start({ template: modified, userPool: cognito.userPool, invokeLambda: async () => ({ items: [] }) });
    const { IdToken } = cognito.userPool.initiateAuth('alice@example.com', PASSWORD);
    const client = new AppSyncClient({ graphqlUrl: shallow.graphqlUrl, realtimeUrl: shallow.realtimeUrl, token: IdToken });

    let allowed: any;
    let error: GraphQlRequestError;
    try {
      allowed = await client.request('{ getMyDevices { nextToken } }');
      error = await captureError(client.request('{ getMyDevices { items { id } } }'));
    } finally {
      await shallow.stop();
    }

    expect(allowed.getMyDevices).toEqual({ nextToken: null });
    expect(error.errors[0].message).toContain('exceeds the API\'s QueryDepthLimit of 2');
  });

  test('rejects a wrong password with NotAuthorizedException', async () => {
    const response = await signIn(cognito, 'alice@example.com', 'wrong-password');
    const body = await response.json() as any;

    expect(response.status).toBe(400);
    expect(body.__type).toBe('NotAuthorizedException');
    expect(body.message).toBe('Incorrect username or password.');
  });

  test('passes identity and arguments to the Lambda data source', async () => {
    invocations.length = 0;

    const data = await alice.client.request<any>('query State($id: ID!) { getDeviceState(deviceId: $id) { deviceId online relays { id state } } }', { id: 'sh-1' });

    expect(data.getDeviceState).toEqual({ deviceId: 'sh-1', online: true, relays: [{ id: 'r1', state: 'ON' }] });
    expect(invocations).toEqual([{
      functionLogicalId: resolverFunctionId,
      event: { field: 'getDeviceState', arguments: { deviceId: 'sh-1' }, identity: { sub: alice.sub, groups: ['users'] } },
    }]);
  });

  test('returns a Lambda error as Lambda:Unhandled', async () => {
    const error = await captureError(alice.client.request('{ getDeviceUi(deviceId: "sh-9") { deviceId } }'));

    expect(error.errors).toHaveLength(1);
    expect(error.errors[0].errorType).toBe('Lambda:Unhandled');
    expect(error.errors[0].message).toContain("Device 'sh-9'");
    expect(error.errors[0].path).toEqual(['getDeviceUi']);
  });

  test('rejects publishDeviceUpdate from a Cognito user', async () => {
    const error = await captureError(alice.client.request(
      'mutation { publishDeviceUpdate(input: { deviceId: "sh-1", ownerId: "x", kind: "state", at: 1 }) { deviceId } }',
    ));

    expect(error.errors[0].errorType).toBe('Unauthorized');
    expect(error.errors[0].message).toBe('Not Authorized to access publishDeviceUpdate on type Mutation');
  });

  test('rejects an admins-only field for other groups', async () => {
    const admin = await clientFor('installer@example.com', ['admins']);
    invocations.length = 0;

    const error = await captureError(alice.client.request('mutation { createPairingCode(deviceId: "sh-1") { code } }'));
    const data = await admin.client.request<any>('mutation { createPairingCode(deviceId: "sh-1") { code } }');

    expect(error.errors[0].errorType).toBe('Unauthorized');
    expect(data.createPairingCode.code).toBe('ABCD-EFGH-JK');
    expect(invocations.map((invocation) => invocation.event.identity.groups)).toEqual([['admins']]);
  });

  test('delivers an IAM-signed update to matching subscribers only', async () => {
    const aliceDevice1 = await subscribe(alice.client, 'sh-1');
    const aliceDevice2 = await subscribe(alice.client, 'sh-2');
    const bobAll = await subscribe(bob.client);
    const publisher = new DeviceUpdatePublisher(server.graphqlUrl);

    await publisher.publish({ deviceId: 'sh-1', ownerId: alice.sub, kind: 'state', state: { online: true, relays: [{ id: 'r1', state: 'OFF' }] }, at: 10 });
    await publisher.publish({ deviceId: 'sh-2', ownerId: alice.sub, kind: 'state', state: { online: false }, at: 11 });
    await waitFor(() => aliceDevice1.received.length === 1 && aliceDevice2.received.length === 1, 'both updates');

    expect(aliceDevice1.received[0].data.onDeviceUpdate).toEqual({
      deviceId: 'sh-1',
      ownerId: alice.sub,
      kind: 'state',
      at: 10,
      state: { deviceId: 'sh-1', online: true, relays: [{ id: 'r1', state: 'OFF' }] },
    });
    expect(aliceDevice2.received.map((payload) => payload.data.onDeviceUpdate.deviceId)).toEqual(['sh-2']);
    expect(bobAll.received).toEqual([]);
  });

  test('runs the subscription resolver with the subscriber identity', async () => {
    invocations.length = 0;

    await subscribe(bob.client, 'sh-7');

    expect(invocations).toEqual([{
      functionLogicalId: resolverFunctionId,
      event: { field: 'onDeviceUpdate', arguments: { deviceId: 'sh-7' }, identity: { sub: bob.sub, groups: ['users'] } },
    }]);
  });

  test('ends a subscription that removeDevice invalidates', async () => {
    const removed = await subscribe(alice.client, 'sh-1');
    const otherDevice = await subscribe(alice.client, 'sh-2');

    await alice.client.request('mutation { removeDevice(deviceId: "sh-1") }');
    await waitFor(() => removed.ended.length === 1, 'the invalidated subscription to end');
    await new DeviceUpdatePublisher(server.graphqlUrl).publish({ deviceId: 'sh-2', ownerId: alice.sub, kind: 'state', at: 12 });
    await waitFor(() => otherDevice.received.length === 1, 'the update of the other device');

    expect(removed.ended).toEqual([undefined]);
    expect(otherDevice.ended).toEqual([]);
  });

  test('speaks the real-time protocol over graphql-ws', async () => {
    const { IdToken } = cognito.userPool.initiateAuth('alice@example.com', PASSWORD);
    const host = new URL(server.graphqlUrl).host;
    const authorization = { host, Authorization: IdToken };
    const header = Buffer.from(JSON.stringify(authorization)).toString('base64');
    const socket = new WebSocket(`${server.realtimeUrl}?header=${encodeURIComponent(header)}&payload=e30=`, 'graphql-ws');
    const messages: any[] = [];
    socket.on('message', (raw) => messages.push(JSON.parse(raw.toString())));
    const start = (id: string, variables: Record<string, unknown>, extensions: Record<string, unknown>) => socket.send(JSON.stringify({
      id,
      type: 'start',
      payload: { data: JSON.stringify({ query: ON_DEVICE_UPDATE, variables }), extensions },
    }));
    const received = (type: string, id?: string) => messages.some((message) => message.type === type && message.id === id);

    await once(socket, 'open');
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await waitFor(() => received('ka'), 'ka');
    start('device', { deviceId: 'sh-5' }, { authorization });
    start('all', {}, { authorization });
    start('anonymous', {}, {});
    await waitFor(() => received('start_ack', 'device') && received('start_ack', 'all') && received('error', 'anonymous'), 'start_ack and error');
    await alice.client.request('mutation { removeDevice(deviceId: "sh-5") }');
    await waitFor(() => received('complete', 'device'), 'complete of the invalidated subscription');
    socket.send(JSON.stringify({ type: 'stop', id: 'all' }));
    await waitFor(() => received('complete', 'all'), 'complete after stop');
    socket.close();

    expect(socket.protocol).toBe('graphql-ws');
    expect(messages[0]).toEqual({ type: 'connection_ack', payload: { connectionTimeoutMs: 300000 } });
    expect(messages.find((message) => message.id === 'anonymous').payload.errors[0].errorType).toBe('UnauthorizedException');
    expect(messages.filter((message) => message.type === 'complete').map((message) => message.id)).toEqual(['device', 'all']);
  });

  test('rejects a real-time connection without header', async () => {
    const socket = new WebSocket(`${server.realtimeUrl}?payload=e30=`, 'graphql-ws');
    const [raw] = await once(socket, 'message');
    const message = JSON.parse(raw.toString());

    expect(message.type).toBe('connection_error');
    expect(message.payload.errors[0].errorType).toBe('UnauthorizedException');
  });

  test('rejects a token with a bad signature', async () => {
    const { IdToken } = cognito.userPool.initiateAuth('alice@example.com', PASSWORD);
    const [header, payload] = IdToken.split('.');
    const forged = `${header}.${payload}.${Buffer.from('forged').toString('base64url')}`;

    const error = await captureError(new AppSyncClient({ graphqlUrl: server.graphqlUrl, realtimeUrl: server.realtimeUrl, token: forged }).request('{ me { id } }'));

    expect(error.status).toBe(401);
    expect(error.errors[0].errorType).toBe('UnauthorizedException');
  });

  test('rejects an expired token', async () => {
    clockOffsetMs = -2 * 3600 * 1000;
    const { IdToken } = cognito.userPool.initiateAuth('alice@example.com', PASSWORD);
    clockOffsetMs = 0;
    const client = new AppSyncClient({ graphqlUrl: server.graphqlUrl, realtimeUrl: server.realtimeUrl, token: IdToken });

    const error = await captureError(client.request('{ me { id } }'));
    const subscribeError = await captureError(client.subscribe(ON_DEVICE_UPDATE, {}, () => undefined));

    expect(error.status).toBe(401);
    expect(error.errors[0].message).toBe('Token has expired.');
    expect(subscribeError.errors[0].errorType).toBe('UnauthorizedException');
  });

  test('rejects a request without Authorization header', async () => {
    const error = await captureError(new AppSyncClient({ graphqlUrl: server.graphqlUrl, realtimeUrl: server.realtimeUrl }).request('{ me { id } }'));

    expect(error.status).toBe(401);
    expect(error.errors[0].errorType).toBe('UnauthorizedException');
  });

  test('rejects a malformed SigV4 header', async () => {
    const client = new AppSyncClient({
      graphqlUrl: server.graphqlUrl,
      realtimeUrl: server.realtimeUrl,
      authorization: { 'Authorization': 'AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/appsync', 'x-amz-date': '20260101T000000Z' },
    });

    const error = await captureError(client.request('mutation { publishDeviceUpdate(input: { deviceId: "sh-1", ownerId: "x", kind: "state", at: 1 }) { deviceId } }'));

    expect(error.status).toBe(401);
    expect(error.errors[0].message).toContain('SigV4 Authorization header is malformed');
  });

  test('rejects a SigV4 signature with a wrong secret', async () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
    const outcome = await new DeviceUpdatePublisher(server.graphqlUrl)
      .publish({ deviceId: 'sh-1', ownerId: alice.sub, kind: 'state', at: 13 })
      .then(() => undefined, (error: Error) => error);
    process.env.AWS_SECRET_ACCESS_KEY = SECRET_ACCESS_KEY;

    expect(outcome?.message).toMatch(/HTTP 401.*signature we calculated does not match/);
  });

  test('authenticates IAM callers over HTTP and real-time', async () => {
    const iam = new AppSyncClient({
      graphqlUrl: server.graphqlUrl,
      realtimeUrl: server.realtimeUrl,
      iam: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    });

    const published = await iam.request<any>('mutation { publishDeviceUpdate(input: { deviceId: "sh-3", ownerId: "x", kind: "state", at: 1 }) { deviceId } }');
    const meError = await captureError(iam.request('{ me { id } }'));
    const subscribeError = await captureError(iam.subscribe(ON_DEVICE_UPDATE, {}, () => undefined));

    expect(published.publishDeviceUpdate).toEqual({ deviceId: 'sh-3' });
    expect(meError.errors[0].errorType).toBe('Unauthorized');
    expect(subscribeError.errors[0]).toMatchObject({ errorType: 'Unauthorized', message: 'Not Authorized to access onDeviceUpdate on type Subscription' });
  });

  test('rejects a real-time connection signed with a wrong secret', async () => {
    const iam = new AppSyncClient({ graphqlUrl: server.graphqlUrl, realtimeUrl: server.realtimeUrl, iam: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: 'not-the-secret' } });

    const error = await captureError(iam.subscribe(ON_DEVICE_UPDATE, {}, () => undefined));

    expect(error.errors[0].errorType).toBe('UnauthorizedException');
    expect(error.errors[0].message).toContain('signature we calculated does not match');
  });

  test('rejects a resolver on a DynamoDB data source', async () => {
    const modified = JSON.parse(JSON.stringify(template));
    const [meResolverId] = Object.entries<any>(modified.Resources)
      .find(([, resource]) => resource.Type === 'AWS::AppSync::Resolver' && resource.Properties.FieldName === 'me')!;
    modified.Resources[meResolverId].Properties.DataSourceName = 'Devices';

    await expect(LocalAppSyncServer.start({ template: modified, userPool: cognito.userPool, invokeLambda: async () => null }))
      .rejects.toThrow(new RegExp(`${meResolverId}.*AMAZON_DYNAMODB`));
  });

  test('rejects a pipeline resolver without functions in the template', async () => {
    const modified = JSON.parse(JSON.stringify(template));
    const [meResolverId, meResolver] = Object.entries<any>(modified.Resources)
      .find(([, resource]) => resource.Type === 'AWS::AppSync::Resolver' && resource.Properties.FieldName === 'me')!;
    meResolver.Properties.Kind = 'PIPELINE';
    meResolver.Properties.PipelineConfig = { Functions: [{ 'Fn::GetAtt': ['MissingFunction', 'FunctionId'] }] };

    await expect(LocalAppSyncServer.start({ template: modified, userPool: cognito.userPool, invokeLambda: async () => null }))
      .rejects.toThrow(new RegExp(`${meResolverId}.*MissingFunction`));
  });
});
