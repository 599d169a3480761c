import { loadResolver, matchesFilter } from '../../sandbox/src/appsync/resolver-runtime';
import { INVOKE_RESOLVER_CODE, ME_RESOLVER_CODE, PUBLISH_UPDATE_RESOLVER_CODE, REMOVE_DEVICE_RESOLVER_CODE, SUBSCRIPTION_RESOLVER_CODE } from '../../src/api/private/resolver-code';

function context(overrides: Record<string, any> = {}) {
  return {
    info: { fieldName: 'onDeviceUpdate' },
    arguments: {},
    identity: { sub: 'user-a', groups: ['users'], claims: { email: 'a@example.com' } },
    ...overrides,
  };
}

describe('invoke resolver', () => {
  test('passes the verified identity, not arguments, to the function', () => {
    const resolver = loadResolver(INVOKE_RESOLVER_CODE);

    const request = resolver.request(context({ info: { fieldName: 'getDeviceState' }, arguments: { deviceId: 'sh-1', identity: { sub: 'user-b' } } }));

    expect(request.operation).toBe('Invoke');
    expect(request.payload.identity).toEqual({ sub: 'user-a', groups: ['users'] });
    expect(request.payload.field).toBe('getDeviceState');
  });

  test('raises the function\'s error with its type', () => {
    const resolver = loadResolver(INVOKE_RESOLVER_CODE);

    expect(() => resolver.response(context({ error: { message: 'not yours', type: 'NotAuthorizedError' } })))
      .toThrow(expect.objectContaining({ message: 'not yours', errorType: 'NotAuthorizedError' }));
  });
});

describe('onDeviceUpdate resolver', () => {
  test('filters on the subscriber whatever the arguments', () => {
    const resolver = loadResolver(SUBSCRIPTION_RESOLVER_CODE);

    resolver.response(context({ arguments: {}, result: { ownerId: 'user-a' } }));

    expect(matchesFilter(resolver.extensions.subscriptionFilter, { ownerId: 'user-a', deviceId: 'sh-1' })).toBe(true);
    expect(matchesFilter(resolver.extensions.subscriptionFilter, { ownerId: 'user-b', deviceId: 'sh-2' })).toBe(false);
  });

  test('narrows to the named device and invalidates on its removal', () => {
    const resolver = loadResolver(SUBSCRIPTION_RESOLVER_CODE);

    resolver.response(context({ arguments: { deviceId: 'sh-1' }, result: { ownerId: 'user-a' } }));

    expect(matchesFilter(resolver.extensions.subscriptionFilter, { ownerId: 'user-a', deviceId: 'sh-1' })).toBe(true);
    expect(matchesFilter(resolver.extensions.subscriptionFilter, { ownerId: 'user-a', deviceId: 'sh-2' })).toBe(false);
    expect(matchesFilter(resolver.extensions.invalidationFilter, { deviceId: 'sh-1' })).toBe(true);
  });

  test('rejects a subscription the function refused', () => {
    const resolver = loadResolver(SUBSCRIPTION_RESOLVER_CODE);

    expect(() => resolver.response(context({ arguments: { deviceId: 'sh-1' }, error: { message: 'not linked', type: 'NotAuthorizedError' } }))).toThrow('not linked');
    expect(resolver.extensions.subscriptionFilter).toBeUndefined();
  });
});

describe('removeDevice resolver', () => {
  test('invalidates subscriptions of the removed device', () => {
    const resolver = loadResolver(REMOVE_DEVICE_RESOLVER_CODE);

    expect(resolver.response(context({ info: { fieldName: 'removeDevice' }, result: 'sh-1' }))).toBe('sh-1');
    expect(resolver.extensions.invalidations).toEqual([{ subscriptionField: 'onDeviceUpdate', payload: { deviceId: 'sh-1' } }]);
  });
});

describe('publishDeviceUpdate resolver', () => {
  test('parses the JSON fields', () => {
    const resolver = loadResolver(PUBLISH_UPDATE_RESOLVER_CODE);
    const input = { deviceId: 'sh-1', ownerId: 'user-a', kind: 'state', state: '{"relays":[]}', at: 1 };

    const update = resolver.response(context({ result: resolver.request(context({ arguments: { input } })).payload }));

    expect(update).toEqual({ deviceId: 'sh-1', ownerId: 'user-a', kind: 'state', state: { relays: [] }, command: null, at: 1 });
  });
});

describe('me resolver', () => {
  test('returns the token\'s subject and email', () => {
    const resolver = loadResolver(ME_RESOLVER_CODE);

    expect(resolver.response(context({ result: resolver.request(context()).payload }))).toEqual({ id: 'user-a', email: 'a@example.com' });
  });
});
