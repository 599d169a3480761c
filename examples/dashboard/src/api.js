/**
 * The platform's GraphQL API: queries and mutations over HTTP POST, and onDeviceUpdate over the
 * AppSync real-time WebSocket protocol (subprotocol `graphql-ws`).
 */

const DEVICE_FIELDS = 'id name room model firmwareVersion online lastSeenAt relays { id name state updatedAt } sensors { id type name unit }';
const STATE_FIELDS = 'deviceId online relays { id state updatedAt } readings { sensorId value unit timestamp } updatedAt';
const UPDATE_FIELDS = `deviceId ownerId kind removed at
  state { ${STATE_FIELDS} }
  command { commandId deviceId relay state status issuedAt expiresAt }`;

export class GraphQlError extends Error {
  constructor(errors, status) {
    super(errors.map((error) => (error.errorType ? `${error.errorType}: ${error.message}` : error.message)).join('; ') || `The GraphQL request failed with HTTP ${status}.`);
    this.name = 'GraphQlError';
    this.errors = errors;
    this.status = status;
  }
}

export class PlatformApi {
  /** `idToken` returns a valid Cognito ID token for the Authorization header. */
  constructor(config, idToken) {
    this.config = config;
    this.idToken = idToken;
  }

  async request(query, variables = {}) {
    const response = await fetch(this.config.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: await this.idToken() },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || (Array.isArray(body.errors) && body.errors.length > 0)) {
      throw new GraphQlError(body.errors ?? [], response.status);
    }
    return body.data;
  }

  /** Returns every device linked to the signed-in user, following nextToken. */
  async myDevices() {
    const devices = [];
    let nextToken = null;
    do {
      const data = await this.request(`query ($nextToken: String) { getMyDevices(limit: 50, nextToken: $nextToken) { items { ${DEVICE_FIELDS} } nextToken } }`, { nextToken });
      devices.push(...data.getMyDevices.items);
      nextToken = data.getMyDevices.nextToken;
    } while (nextToken);
    return devices;
  }

  async deviceState(deviceId) {
    const data = await this.request(`query ($deviceId: ID!) { getDeviceState(deviceId: $deviceId) { ${STATE_FIELDS} } }`, { deviceId });
    return data.getDeviceState;
  }

  /** Returns the device's parsed UI document, or null when the platform has not generated one yet. */
  async deviceUi(deviceId) {
    const data = await this.request('query ($deviceId: ID!) { getDeviceUi(deviceId: $deviceId) { deviceId schemaVersion document } }', { deviceId });
    const ui = data.getDeviceUi;
    if (!ui) return null;
    return typeof ui.document === 'string' ? JSON.parse(ui.document) : ui.document;
  }

  async controlRelay(deviceId, relay, state) {
    const data = await this.request(
      'mutation ($deviceId: ID!, $relay: ID!, $state: RelayState!) { controlRelay(deviceId: $deviceId, relay: $relay, state: $state) { commandId deviceId relay state status issuedAt expiresAt } }',
      { deviceId, relay, state },
    );
    return data.controlRelay;
  }

  async addDevice(code) {
    const data = await this.request(`mutation ($code: String!) { addDevice(code: $code) { ${DEVICE_FIELDS} } }`, { code });
    return data.addDevice;
  }

  async removeDevice(deviceId) {
    const data = await this.request('mutation ($deviceId: ID!) { removeDevice(deviceId: $deviceId) }', { deviceId });
    return data.removeDevice;
  }

  async createClaimToken() {
    const data = await this.request('mutation { createClaimToken { token expiresAt } }');
    return data.createClaimToken;
  }

  /**
   * Subscribes to onDeviceUpdate for all of the user's devices and reconnects after a dropped
   * connection. Returns a handle whose stop() ends the subscription.
   */
  watchDeviceUpdates(handlers) {
    return new RealtimeSubscription(this.config, this.idToken, `subscription { onDeviceUpdate { ${UPDATE_FIELDS} } }`, handlers);
  }
}

/** Delay before reconnecting, doubled after each failed attempt up to the maximum, in milliseconds. */
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;

/**
 * One subscription on its own WebSocket. `handlers.onData(value)` receives each update,
 * `handlers.onStatus(status, detail)` receives 'connecting', 'connected' or 'disconnected'.
 */
class RealtimeSubscription {
  constructor(config, idToken, query, handlers) {
    this.config = config;
    this.idToken = idToken;
    this.query = query;
    this.handlers = handlers;
    this.stopped = false;
    this.reconnectMs = RECONNECT_MIN_MS;
    void this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.keepAliveTimer);
    if (this.webSocket?.readyState === WebSocket.OPEN) {
      this.webSocket.send(JSON.stringify({ type: 'stop', id: this.id }));
    }
    this.webSocket?.close();
  }

  async connect() {
    this.handlers.onStatus('connecting');
    let authorization;
    try {
      authorization = { host: new URL(this.config.graphqlUrl).host, Authorization: await this.idToken() };
    } catch (error) {
      this.handlers.onStatus('disconnected', error.message);
      return;
    }
    const url = new URL(this.config.realtimeUrl);
    url.searchParams.set('header', btoa(JSON.stringify(authorization)));
    url.searchParams.set('payload', btoa('{}'));
    this.id = crypto.randomUUID();
    const webSocket = new WebSocket(url, ['graphql-ws']);
    this.webSocket = webSocket;

    webSocket.addEventListener('open', () => webSocket.send(JSON.stringify({ type: 'connection_init' })));
    webSocket.addEventListener('message', (event) => this.onMessage(webSocket, event, authorization));
    webSocket.addEventListener('close', () => {
      clearTimeout(this.keepAliveTimer);
      if (this.webSocket !== webSocket || this.stopped) return;
      this.handlers.onStatus('disconnected', `reconnecting in ${Math.round(this.reconnectMs / 1000)} s`);
      this.reconnectTimer = setTimeout(() => void this.connect(), this.reconnectMs);
      this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MAX_MS);
    });
  }

  onMessage(webSocket, event, authorization) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    switch (message.type) {
      case 'connection_ack':
        this.connectionTimeoutMs = message.payload?.connectionTimeoutMs ?? 300_000;
        this.resetKeepAlive(webSocket);
        webSocket.send(JSON.stringify({
          id: this.id,
          type: 'start',
          payload: { data: JSON.stringify({ query: this.query, variables: {} }), extensions: { authorization } },
        }));
        return;
      case 'ka':
        this.resetKeepAlive(webSocket);
        return;
      case 'start_ack':
        this.reconnectMs = RECONNECT_MIN_MS;
        this.handlers.onStatus('connected');
        return;
      case 'data':
        if (message.id === this.id && message.payload?.data?.onDeviceUpdate) {
          this.handlers.onData(message.payload.data.onDeviceUpdate);
        }
        return;
      case 'complete':
      case 'connection_error':
      case 'error': {
        const errors = message.payload?.errors ?? [];
        this.handlers.onStatus('disconnected', errors.map((error) => error.message).join('; ') || message.type);
        // Closing triggers the reconnect, which also signs the new connection with a fresh token.
        webSocket.close();
        return;
      }
      default:
    }
  }

  /** Closes the connection when no `ka` arrives within connectionTimeoutMs, as AppSync clients must. */
  resetKeepAlive(webSocket) {
    clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = setTimeout(() => webSocket.close(), this.connectionTimeoutMs);
  }
}
