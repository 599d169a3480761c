import { generateKeyPairSync, KeyObject, randomBytes, sign } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/** A P-256 signing key that the endpoint keeps in memory. */
interface LocalSigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The private scalar d, for signing digests. */
  readonly scalar: bigint;
}

/** Message type of a Sign request, as in the KMS API: RAW is hashed before signing, DIGEST is signed as given. */
export type MessageType = 'RAW' | 'DIGEST';

/**
 * The GetPublicKey and Sign calls of the AWS KMS API on 127.0.0.1, for asymmetric
 * ECC_NIST_P256 keys with the ECDSA_SHA_256 algorithm, so handlers reach it through
 * `AWS_ENDPOINT_URL_KMS`. Keys are generated in memory by `createKey` and addressed by the key
 * id or ARN string they were created with; other key ids get NotFoundException. Sign with
 * MessageType RAW hashes the message with SHA-256; DIGEST signs the given 32-byte digest as it
 * is, as KMS does. Signatures are DER-encoded.
 */
export class LocalKmsEndpoint {
  public static async start(port = 0): Promise<LocalKmsEndpoint> {
    const endpoint = new LocalKmsEndpoint();
    await new Promise<void>((resolve, reject) => {
      endpoint.server.once('error', reject);
      endpoint.server.listen(port, '127.0.0.1', () => resolve());
    });
    return endpoint;
  }

  /** Operations of the requests received, in order, such as `GetPublicKey`. */
  public readonly requests: string[] = [];
  private readonly keys = new Map<string, LocalSigningKey>();
  private readonly server: Server;

  private constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        const operation = String(request.headers['x-amz-target'] ?? '').replace(/^TrentService\./, '');
        this.requests.push(operation);
        const result = this.handle(operation, Buffer.concat(chunks).toString('utf8'));
        response.writeHead(result.status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(result.body));
      });
    });
  }

  /** Endpoint URL for AWS SDK clients. */
  public get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Generates a P-256 key under a key id or ARN, replacing any key with that id, and returns its public key as PEM. */
  public createKey(keyId: string): string {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const scalar = BigInt(`0x${Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url').toString('hex')}`);
    this.keys.set(keyId, { privateKey, publicKey, scalar });
    return this.publicKeyPem(keyId);
  }

  /** Returns a key's public key as PEM. */
  public publicKeyPem(keyId: string): string {
    return this.key(keyId).publicKey.export({ format: 'pem', type: 'spki' }).toString();
  }

  /** Signs as the Sign call does and returns the DER signature. */
  public sign(keyId: string, message: Buffer, messageType: MessageType): Buffer {
    const key = this.key(keyId);
    if (messageType === 'RAW') {
      return sign('sha256', message, { key: key.privateKey, dsaEncoding: 'der' });
    }
    if (message.length !== 32) {
      throw new Error(`A DIGEST message for ECDSA_SHA_256 has 32 bytes, not ${message.length}.`);
    }
    return signDigest(key.scalar, message);
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private key(keyId: string): LocalSigningKey {
    const key = this.keys.get(keyId);
    if (!key) {
      throw new KmsError('NotFoundException', `Key '${keyId}' does not exist on the local endpoint; create it with createKey.`);
    }
    return key;
  }

  private handle(operation: string, text: string): { status: number; body: unknown } {
    try {
      const input = JSON.parse(text || '{}') as Record<string, any>;
      if (operation === 'GetPublicKey') {
        const key = this.key(String(input.KeyId));
        return {
          status: 200,
          body: {
            KeyId: input.KeyId,
            PublicKey: key.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
            KeySpec: 'ECC_NIST_P256',
            KeyUsage: 'SIGN_VERIFY',
            SigningAlgorithms: ['ECDSA_SHA_256'],
          },
        };
      }
      if (operation === 'Sign') {
        if (input.SigningAlgorithm !== 'ECDSA_SHA_256') {
          throw new KmsError('ValidationException', `SigningAlgorithm ${input.SigningAlgorithm} is not supported; the local endpoint signs with ECDSA_SHA_256.`);
        }
        const messageType: MessageType = input.MessageType === 'DIGEST' ? 'DIGEST' : 'RAW';
        const signature = this.sign(String(input.KeyId), Buffer.from(String(input.Message ?? ''), 'base64'), messageType);
        return { status: 200, body: { KeyId: input.KeyId, Signature: signature.toString('base64'), SigningAlgorithm: 'ECDSA_SHA_256' } };
      }
      throw new KmsError('UnsupportedOperationException', `The local endpoint does not support ${operation || 'requests without X-Amz-Target'}.`);
    } catch (error) {
      if (error instanceof KmsError) {
        return { status: 400, body: { __type: error.type, message: error.message } };
      }
      return { status: 400, body: { __type: 'ValidationException', message: (error as Error).message } };
    }
  }
}

class KmsError extends Error {
  constructor(public readonly type: string, message: string) {
    super(message);
  }
}

// P-256 domain parameters (SEC 2, section 2.4.2). Node.js signs only messages that it hashes
// itself, so signing a given digest, as KMS does for MessageType DIGEST, is done here.
const P = BigInt('0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff');
const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const A = P - 3n;
const G: Point = {
  x: BigInt('0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296'),
  y: BigInt('0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5'),
};

interface Point { readonly x: bigint; readonly y: bigint }

function mod(value: bigint, modulus: bigint): bigint {
  const result = value % modulus;
  return result < 0n ? result + modulus : result;
}

function inverse(value: bigint, modulus: bigint): bigint {
  // Fermat's little theorem: value^(m-2) mod m, because both moduli are prime.
  let result = 1n;
  let base = mod(value, modulus);
  // eslint-disable-next-line no-bitwise -- square-and-multiply walks the exponent's bits
  for (let exponent = modulus - 2n; exponent > 0n; exponent >>= 1n) {
    // eslint-disable-next-line no-bitwise -- square-and-multiply walks the exponent's bits
    if (exponent & 1n) {
      result = (result * base) % modulus;
    }
    base = (base * base) % modulus;
  }
  return result;
}

function add(first: Point | null, second: Point | null): Point | null {
  if (!first) return second;
  if (!second) return first;
  if (first.x === second.x && mod(first.y + second.y, P) === 0n) {
    return null;
  }
  const slope = first.x === second.x && first.y === second.y
    ? mod((3n * first.x * first.x + A) * inverse(2n * first.y, P), P)
    : mod((second.y - first.y) * inverse(second.x - first.x, P), P);
  const x = mod(slope * slope - first.x - second.x, P);
  return { x, y: mod(slope * (first.x - x) - first.y, P) };
}

function multiply(scalar: bigint, point: Point): Point | null {
  let result: Point | null = null;
  let addend: Point | null = point;
  // eslint-disable-next-line no-bitwise -- double-and-add walks the scalar's bits
  for (let rest = scalar; rest > 0n; rest >>= 1n) {
    // eslint-disable-next-line no-bitwise -- double-and-add walks the scalar's bits
    if (rest & 1n) {
      result = add(result, addend);
    }
    addend = add(addend, addend);
  }
  return result;
}

/** Signs a SHA-256 digest with ECDSA P-256 and a random nonce, and returns the DER signature. */
function signDigest(scalar: bigint, digest: Buffer): Buffer {
  const z = BigInt(`0x${digest.toString('hex')}`);
  for (;;) {
    const k = mod(BigInt(`0x${randomBytes(40).toString('hex')}`), N - 1n) + 1n;
    const r = mod(multiply(k, G)!.x, N);
    const s = mod(inverse(k, N) * (z + r * scalar), N);
    if (r !== 0n && s !== 0n) {
      return derSequence(derInteger(r), derInteger(s));
    }
  }
}

function derInteger(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  // eslint-disable-next-line no-bitwise -- DER integers with the top bit set need a leading zero byte
  if (bytes[0] & 0x80) {
    bytes = Buffer.concat([Buffer.from([0]), bytes]);
  }
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

/** Encodes a DER SEQUENCE; its contents are shorter than 128 bytes, so the length takes one byte. */
function derSequence(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}
