import { createHash, createHmac, Hash, Hmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';

function toBytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') {
    return data;
  }
  if (data instanceof ArrayBuffer) {
    return new Uint8Array(data);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** SHA-256 (or HMAC-SHA256 with a secret) in the shape SignatureV4 expects, from node:crypto. */
class NodeSha256 {
  private readonly hash: Hash | Hmac;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }

  public update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(toBytes(data));
  }

  public async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

/** A change to a device that its owner's onDeviceUpdate subscription receives. */
export interface DeviceUpdate {
  readonly deviceId: string;
  readonly ownerId: string;
  /** Kind of change: `state`, `command`, `onboarded`, `linked`, `removed` or `alert`. */
  readonly kind: string;
  readonly state?: unknown;
  readonly command?: unknown;
  readonly removed?: boolean;
  readonly at: number;
}

// AppSync sends subscribers the fields this selection set names, so it names every field of
// DeviceUpdate.
const MUTATION = `mutation Publish($input: DeviceUpdateInput!) {
  publishDeviceUpdate(input: $input) {
    deviceId ownerId kind removed at
    state { deviceId online updatedAt relays { id name state updatedAt } readings { sensorId value unit timestamp } }
    command { commandId deviceId relay state status issuedAt expiresAt }
  }
}`;

/** Shapes a relay command as the RelayCommand GraphQL type, whose fields are non-null. */
function commandOf(deviceId: string, command: any): Record<string, unknown> {
  return {
    commandId: command.commandId,
    deviceId: command.deviceId ?? command.thingName ?? deviceId,
    relay: command.relay,
    state: command.state,
    status: command.status,
    issuedAt: command.issuedAt,
    expiresAt: command.expiresAt,
  };
}

/** Shapes a state change as the DeviceState GraphQL type, whose lists are non-null. */
function stateOf(deviceId: string, at: number, state: any): Record<string, unknown> {
  return {
    deviceId,
    online: state.online ?? null,
    updatedAt: state.updatedAt ?? at,
    relays: (state.relays ?? []).map((relay: any) => ({
      id: relay.id,
      name: relay.name ?? null,
      state: relay.state ?? null,
      updatedAt: relay.updatedAt ?? null,
    })),
    readings: state.readings ?? [],
  };
}

/**
 * Sends device updates to the GraphQL API's publishDeviceUpdate mutation, signed with the
 * function's IAM credentials, so subscribers receive them. Without a URL it sends nothing,
 * which suits stacks without an API.
 */
export class DeviceUpdatePublisher {
  private readonly signer: SignatureV4 | undefined;

  constructor(private readonly graphqlUrl: string | undefined, region = process.env.AWS_REGION ?? 'us-east-1') {
    this.signer = graphqlUrl
      ? new SignatureV4({ service: 'appsync', region, credentials: defaultProvider(), sha256: NodeSha256 })
      : undefined;
  }

  /** Sends one update; throws when the API rejects it, so the caller's retry policy applies. */
  public async publish(update: DeviceUpdate): Promise<boolean> {
    if (!this.graphqlUrl || !this.signer) {
      return false;
    }
    const url = new URL(this.graphqlUrl);
    const body = JSON.stringify({
      query: MUTATION,
      variables: {
        input: {
          ...update,
          state: update.state === undefined ? undefined : JSON.stringify(stateOf(update.deviceId, update.at, update.state)),
          command: update.command === undefined ? undefined : JSON.stringify(commandOf(update.deviceId, update.command)),
        },
      },
    });
    const signed = await this.signer.sign({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      headers: { 'content-type': 'application/json', 'host': url.host },
      body,
    });
    const response = await fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body });
    const result = await response.json() as { errors?: { message: string }[] };
    if (!response.ok || result.errors?.length) {
      throw new Error(`publishDeviceUpdate failed with HTTP ${response.status}: ${JSON.stringify(result.errors ?? result)}`);
    }
    return true;
  }
}
