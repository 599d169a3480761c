/**
 * Dashboard configuration: which GraphQL API and Cognito user pool to use. The browser loads it
 * from config.json, and build.js and serve.js write that file with resolveConfig.
 */

/** Keys that config.json may contain. Other keys of an input, such as passwords, are dropped. */
export const CONFIG_KEYS = ['graphqlUrl', 'realtimeUrl', 'cognitoUrl', 'region', 'userPoolId', 'userPoolClientId', 'authFlow'];

/** Sign-in flows: the platform's app client allows USER_SRP_AUTH, the sandbox's user pool USER_PASSWORD_AUTH. */
export const AUTH_FLOWS = ['USER_SRP_AUTH', 'USER_PASSWORD_AUTH'];

const APPSYNC_API_HOST = /^([a-z0-9]+)\.appsync-api\.([a-z0-9-]+)\.(amazonaws\.com(?:\.cn)?)$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const AWS_HOST = /\.amazonaws\.com(\.cn)?$/;

/**
 * Returns the AppSync real-time URL for a GraphQL URL. An AppSync-generated host
 * `ID.appsync-api.REGION.amazonaws.com/graphql` becomes `wss://ID.appsync-realtime-api.REGION.amazonaws.com/graphql`.
 * Any other host (a custom domain or the local sandbox) serves real time at `<graphql path>/realtime`.
 */
export function realtimeUrlFor(graphqlUrl) {
  const url = new URL(graphqlUrl);
  const match = APPSYNC_API_HOST.exec(url.hostname);
  if (match) {
    return `wss://${match[1]}.appsync-realtime-api.${match[2]}.${match[3]}/graphql`;
  }
  const scheme = url.protocol === 'http:' ? 'ws:' : 'wss:';
  return `${scheme}//${url.host}${url.pathname.replace(/\/+$/, '')}/realtime`;
}

/** Returns the Cognito user pools API endpoint of an AWS region. */
export function cognitoUrlFor(region) {
  if (!REGION.test(region)) {
    throw new Error(`Invalid region '${region}': expected an AWS region such as eu-central-1.`);
  }
  const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://cognito-idp.${region}.${suffix}/`;
}

/**
 * Validates a raw configuration and fills in realtimeUrl and cognitoUrl when they are missing.
 * Throws an Error that names the missing or invalid key.
 */
export function resolveConfig(raw) {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error('Invalid dashboard configuration: expected a JSON object.');
  }
  const config = {};
  for (const key of CONFIG_KEYS) {
    if (raw[key] !== undefined && raw[key] !== null && raw[key] !== '') {
      if (typeof raw[key] !== 'string') {
        throw new Error(`Invalid dashboard configuration: ${key} must be a string, got ${JSON.stringify(raw[key])}.`);
      }
      config[key] = raw[key];
    }
  }
  if (!config.graphqlUrl) {
    throw new Error('Invalid dashboard configuration: graphqlUrl is missing. Set it to the GraphQL API URL.');
  }
  requireUrl('graphqlUrl', config.graphqlUrl, ['http:', 'https:']);
  if (!config.userPoolClientId) {
    throw new Error('Invalid dashboard configuration: userPoolClientId is missing. Set it to the id of the user pool app client.');
  }
  if (!config.cognitoUrl) {
    if (!config.region) {
      throw new Error('Invalid dashboard configuration: cognitoUrl and region are both missing. Set region, or cognitoUrl for a local user pool.');
    }
    config.cognitoUrl = cognitoUrlFor(config.region);
  }
  requireUrl('cognitoUrl', config.cognitoUrl, ['http:', 'https:']);
  config.authFlow = config.authFlow ?? (AWS_HOST.test(new URL(config.cognitoUrl).hostname) ? 'USER_SRP_AUTH' : 'USER_PASSWORD_AUTH');
  if (!AUTH_FLOWS.includes(config.authFlow)) {
    throw new Error(`Invalid dashboard configuration: authFlow '${config.authFlow}' is not supported. Use ${AUTH_FLOWS.join(' or ')}.`);
  }
  if (config.authFlow === 'USER_SRP_AUTH' && !/^[a-z0-9-]+_[A-Za-z0-9]+$/.test(config.userPoolId ?? '')) {
    throw new Error(`Invalid dashboard configuration: USER_SRP_AUTH needs userPoolId (such as eu-central-1_AbCdEf123), got '${config.userPoolId ?? ''}'.`);
  }
  config.realtimeUrl = config.realtimeUrl ?? realtimeUrlFor(config.graphqlUrl);
  requireUrl('realtimeUrl', config.realtimeUrl, ['ws:', 'wss:']);
  return config;
}

function requireUrl(key, value, protocols) {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`Invalid dashboard configuration: ${key} '${value}' is not a URL.`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new Error(`Invalid dashboard configuration: ${key} '${value}' must use ${protocols.join(' or ')}.`);
  }
}
