/** Request handler that passes a field's arguments and the caller's verified identity to the resolver function. */
const INVOKE_REQUEST = `export function request(ctx) {
  return {
    operation: 'Invoke',
    payload: {
      field: ctx.info.fieldName,
      arguments: ctx.arguments,
      identity: { sub: ctx.identity.sub, groups: ctx.identity.groups ?? [] },
    },
  };
}
`;

/**
 * APPSYNC_JS code of the API's resolvers. Every user-facing field passes the arguments and the
 * caller's identity to the resolver function; the identity comes from the verified token, never
 * from arguments.
 */
export const INVOKE_RESOLVER_CODE = `
import { util } from '@aws-appsync/utils';

${INVOKE_REQUEST}
export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return ctx.result;
}
`;

/**
 * removeDevice also ends the live subscriptions that name the removed device, after the
 * function has unlinked it.
 */
export const REMOVE_DEVICE_RESOLVER_CODE = `
import { util, extensions } from '@aws-appsync/utils';

${INVOKE_REQUEST}
export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  extensions.invalidateSubscriptions({ subscriptionField: 'onDeviceUpdate', payload: { deviceId: ctx.result } });
  return ctx.result;
}
`;

/**
 * onDeviceUpdate: the function checks ownership of a named device, and the filter set here
 * delivers only updates whose ownerId is the subscriber, whatever the client asked for.
 */
export const SUBSCRIPTION_RESOLVER_CODE = `
import { util, extensions } from '@aws-appsync/utils';

${INVOKE_REQUEST}
export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  const filter = { ownerId: { eq: ctx.identity.sub } };
  if (ctx.arguments.deviceId) {
    filter.deviceId = { eq: ctx.arguments.deviceId };
    extensions.setSubscriptionInvalidationFilter(util.transform.toSubscriptionFilter({ deviceId: { eq: ctx.arguments.deviceId } }));
  }
  extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter(filter));
  return null;
}
`;

/** publishDeviceUpdate turns the JSON fields of its input into the update's objects. */
export const PUBLISH_UPDATE_RESOLVER_CODE = `
export function request(ctx) {
  return { payload: ctx.arguments.input };
}

export function response(ctx) {
  const input = ctx.result;
  return {
    ...input,
    state: input.state ? JSON.parse(input.state) : null,
    command: input.command ? JSON.parse(input.command) : null,
  };
}
`;

/** me returns the signed-in user from the verified token's claims. */
export const ME_RESOLVER_CODE = `
export function request(ctx) {
  return { payload: { id: ctx.identity.sub, email: ctx.identity.claims.email ?? null } };
}

export function response(ctx) {
  return ctx.result;
}
`;
