import { createHash, createHmac, createPublicKey, Hash, Hmac, KeyObject } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { TransientDependencyError } from '../../workflows/private/errors';

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

/** Error that AWS KMS returned, with its error type as the name. */
export class KmsRequestError extends Error {
  constructor(public readonly errorType: string, message: string, public readonly statusCode: number) {
    super(`KMS GetPublicKey failed with HTTP ${statusCode}: ${errorType}: ${message}`);
    this.name = errorType;
  }
}

const publicKeys = new Map<string, KeyObject>();

/**
 * Returns the public key of an asymmetric KMS key, checked to be an ECC_NIST_P256 signing key.
 * The result is cached for the life of the function instance, because a KMS key's key material
 * never changes. Throttling and server errors become TransientDependencyError.
 *
 * The library has no dependency on @aws-sdk/client-kms, so this sends the one KMS request it
 * needs, GetPublicKey, as a SigV4-signed JSON request, as the AWS SDK would.
 */
export async function kmsPublicKey(keyId: string, region = process.env.AWS_REGION ?? 'us-east-1'): Promise<KeyObject> {
  const cached = publicKeys.get(keyId);
  if (cached) {
    return cached;
  }
  const result = await callKms(region, 'GetPublicKey', { KeyId: keyId }) as { PublicKey?: string; KeySpec?: string; KeyUsage?: string };
  if (result.KeySpec !== 'ECC_NIST_P256' || result.KeyUsage !== 'SIGN_VERIFY' || !result.PublicKey) {
    throw new Error(`KMS key ${keyId} is a ${result.KeySpec} key for ${result.KeyUsage}; firmware signing needs an ECC_NIST_P256 key for SIGN_VERIFY.`);
  }
  const publicKey = createPublicKey({ key: Buffer.from(result.PublicKey, 'base64'), format: 'der', type: 'spki' });
  publicKeys.set(keyId, publicKey);
  return publicKey;
}

async function callKms(region: string, operation: string, input: Record<string, unknown>): Promise<unknown> {
  const endpoint = new URL(process.env.AWS_ENDPOINT_URL_KMS ?? process.env.AWS_ENDPOINT_URL ?? `https://kms.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`);
  const body = JSON.stringify(input);
  const signer = new SignatureV4({ service: 'kms', region, credentials: defaultProvider(), sha256: NodeSha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    port: endpoint.port ? Number(endpoint.port) : undefined,
    path: endpoint.pathname,
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `TrentService.${operation}`,
      'host': endpoint.host,
    },
    body,
  });

  let response: Response;
  try {
    response = await fetch(endpoint, { method: 'POST', headers: signed.headers as Record<string, string>, body });
  } catch (error) {
    throw new TransientDependencyError(`KMS ${operation} failed: ${(error as Error).message}`);
  }
  const parsed = parseJson(await response.text());
  if (response.ok) {
    return parsed;
  }
  const errorType = String(parsed.__type ?? response.headers.get('x-amzn-errortype') ?? 'UnknownError').split('#').pop()!;
  const failure = new KmsRequestError(errorType, String(parsed.message ?? parsed.Message ?? ''), response.status);
  if (response.status >= 500 || errorType === 'ThrottlingException' || errorType === 'KMSInternalException') {
    const transient = new TransientDependencyError(failure.message);
    transient.cause = failure;
    throw transient;
  }
  throw failure;
}

function parseJson(text: string): Record<string, any> {
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    return { message: text.slice(0, 200) };
  }
}
