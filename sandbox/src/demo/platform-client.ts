import { AppSyncClient } from '../appsync/appsync-client';

/** Signs a user in with the Cognito InitiateAuth call (USER_PASSWORD_AUTH) and returns the ID token. */
export async function signIn(cognitoUrl: string, clientId: string, username: string, password: string): Promise<string> {
  const response = await fetch(cognitoUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AWSCognitoIdentityProviderService.InitiateAuth',
    },
    body: JSON.stringify({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: clientId, AuthParameters: { USERNAME: username, PASSWORD: password } }),
  });
  const body = await response.json() as { AuthenticationResult?: { IdToken?: string }; __type?: string; message?: string };
  if (!response.ok || !body.AuthenticationResult?.IdToken) {
    throw new Error(`Sign-in of ${username} failed: ${body.__type ?? response.status} ${body.message ?? ''}`);
  }
  return body.AuthenticationResult.IdToken;
}

export const DEVICE_FIELDS = 'id name model firmwareVersion online relays { id state } sensors { id type unit }';
export const UPDATE_FIELDS = `deviceId ownerId kind removed at
  state { deviceId online relays { id state } readings { sensorId value unit timestamp } }
  command { commandId deviceId relay state status }`;

/** The platform's GraphQL operations that the demo and the end-to-end tests use. */
export class PlatformClient {
  constructor(public readonly username: string, public readonly api: AppSyncClient) {}

  public async myDeviceIds(): Promise<string[]> {
    const result = await this.api.request<{ getMyDevices: { items: { id: string }[] } }>(`query { getMyDevices(limit: 50) { items { ${DEVICE_FIELDS} } } }`);
    return result.getMyDevices.items.map((device) => device.id).sort();
  }

  /** Counts the user's devices, reading every page of getMyDevices. */
  public async countMyDevices(): Promise<number> {
    let count = 0;
    let nextToken: string | null = null;
    do {
      const page: { getMyDevices: { items: { id: string }[]; nextToken: string | null } } = await this.api.request(
        'query ($nextToken: String) { getMyDevices(limit: 100, nextToken: $nextToken) { items { id } nextToken } }',
        { nextToken },
      );
      count += page.getMyDevices.items.length;
      nextToken = page.getMyDevices.nextToken;
    } while (nextToken);
    return count;
  }

  public async deviceState(deviceId: string): Promise<any> {
    const result = await this.api.request<{ getDeviceState: any }>(
      'query ($deviceId: ID!) { getDeviceState(deviceId: $deviceId) { deviceId online relays { id state } readings { sensorId value unit timestamp } updatedAt } }',
      { deviceId },
    );
    return result.getDeviceState;
  }

  public async deviceUi(deviceId: string): Promise<any> {
    const result = await this.api.request<{ getDeviceUi: { document: string } | null }>(
      'query ($deviceId: ID!) { getDeviceUi(deviceId: $deviceId) { deviceId schemaVersion document } }',
      { deviceId },
    );
    return result.getDeviceUi;
  }

  public async controlRelay(deviceId: string, relay: string, state: 'ON' | 'OFF'): Promise<{ commandId: string; status: string }> {
    const result = await this.api.request<{ controlRelay: { commandId: string; status: string } }>(
      'mutation ($deviceId: ID!, $relay: ID!, $state: RelayState!) { controlRelay(deviceId: $deviceId, relay: $relay, state: $state) { commandId deviceId relay state status issuedAt expiresAt } }',
      { deviceId, relay, state },
    );
    return result.controlRelay;
  }

  public async createClaimToken(): Promise<string> {
    const result = await this.api.request<{ createClaimToken: { token: string } }>('mutation { createClaimToken { token expiresAt } }');
    return result.createClaimToken.token;
  }

  public async createPairingCode(deviceId: string): Promise<string> {
    const result = await this.api.request<{ createPairingCode: { code: string } }>(
      'mutation ($deviceId: ID!) { createPairingCode(deviceId: $deviceId) { deviceId code expiresAt } }',
      { deviceId },
    );
    return result.createPairingCode.code;
  }

  public async addDevice(code: string): Promise<string> {
    const result = await this.api.request<{ addDevice: { id: string } }>(`mutation ($code: String!) { addDevice(code: $code) { ${DEVICE_FIELDS} } }`, { code });
    return result.addDevice.id;
  }

  public async removeDevice(deviceId: string): Promise<string> {
    const result = await this.api.request<{ removeDevice: string }>('mutation ($deviceId: ID!) { removeDevice(deviceId: $deviceId) }', { deviceId });
    return result.removeDevice;
  }

  public async createAutomationRule(input: Record<string, unknown>): Promise<string> {
    const result = await this.api.request<{ createAutomationRule: { ruleId: string } }>(
      'mutation ($input: AutomationRuleInput!) { createAutomationRule(input: $input) { ruleId name enabled cooldownSeconds } }',
      { input },
    );
    return result.createAutomationRule.ruleId;
  }

  public async startFirmwareRollout(input: Record<string, unknown>): Promise<{ rolloutId: string; status: string }> {
    const result = await this.api.request<{ startFirmwareRollout: { rolloutId: string; status: string } }>(
      'mutation ($input: FirmwareRolloutInput!) { startFirmwareRollout(input: $input) { rolloutId version status startedAt } }',
      { input },
    );
    return result.startFirmwareRollout;
  }

  /** Subscribes to onDeviceUpdate and collects every update until closed. */
  public async watchUpdates(deviceId?: string): Promise<UpdateWatch> {
    const watch = new UpdateWatch();
    const subscription = await this.api.subscribe(
      `subscription ($deviceId: ID) { onDeviceUpdate(deviceId: $deviceId) { ${UPDATE_FIELDS} } }`,
      deviceId ? { deviceId } : {},
      (payload: any) => {
        const update = payload?.data?.onDeviceUpdate;
        if (update) watch.add(update);
      },
      () => watch.end(),
    );
    watch.close = () => subscription.close();
    return watch;
  }
}

/** Updates received on one subscription, with a way to wait for a matching one. */
export class UpdateWatch {
  public readonly updates: any[] = [];
  public ended = false;
  private waiters: (() => void)[] = [];

  /** Ends the subscription; set by the client that opened it. */
  public close: () => void = () => undefined;

  public add(update: any): void {
    this.updates.push(update);
    this.wake();
  }

  public end(): void {
    this.ended = true;
    this.wake();
  }

  public waitFor(predicate: (update: any) => boolean, timeoutMs: number, what: string): Promise<any> {
    return waitUntil(() => this.updates.find(predicate), timeoutMs, this.waiters, () => `no onDeviceUpdate ${what} within ${timeoutMs} ms (received ${this.updates.length}: ${JSON.stringify(this.updates.slice(-3))})`);
  }

  public waitForEnd(timeoutMs: number): Promise<true> {
    return waitUntil(() => (this.ended ? true : undefined), timeoutMs, this.waiters, () => `the subscription did not end within ${timeoutMs} ms`);
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

function waitUntil<T>(find: () => T | undefined, timeoutMs: number, waiters: (() => void)[], describe: () => string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(describe())), timeoutMs);
    const check = () => {
      const found = find();
      if (found !== undefined) {
        clearTimeout(timer);
        resolve(found);
      } else {
        waiters.push(check);
      }
    };
    check();
  });
}

/** Polls `probe` every 250 ms until it returns a value other than undefined. */
export async function poll<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}
