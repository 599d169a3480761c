import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { checkSigV4Signature, parseSigV4Authorization, signSigV4 } from '../../sandbox/src/appsync/sigv4';

const CREDENTIALS = { accessKeyId: 'AKIALOCALTEST000002', secretAccessKey: 'local-sigv4-secret' };
const SIGNED_AT = new Date('2026-12-05T00:00:00Z');

function toBytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') {
    return data;
  }
  if (data instanceof ArrayBuffer) {
    return new Uint8Array(data);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

class Sha256 {
  private readonly hash;

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

async function signedRequest(path: string, query: Record<string, string>, body: string) {
  const signer = new SignatureV4({ service: 'appsync', region: 'eu-central-1', credentials: CREDENTIALS, sha256: Sha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 4002,
    path,
    query,
    headers: { 'host': '127.0.0.1:4002', 'content-type': 'application/json' },
    body,
  }, { signingDate: SIGNED_AT });
  const headers = Object.fromEntries(Object.entries(signed.headers).map(([name, value]) => [name.toLowerCase(), String(value)]));
  const search = new URLSearchParams(query).toString();
  return { method: 'POST', url: search ? `${path}?${search}` : path, headers, body };
}

describe('checkSigV4Signature', () => {
  test('accepts a request that @smithy/signature-v4 signed', async () => {
    const request = await signedRequest('/graphql', { b: '2', a: 'x y' }, '{"query":"{ me { id } }"}');

    const authorization = parseSigV4Authorization(request.headers.authorization)!;

    expect(checkSigV4Signature(request, authorization, CREDENTIALS.secretAccessKey, SIGNED_AT.getTime())).toBeUndefined();
  });

  test('rejects a changed body', async () => {
    const request = await signedRequest('/graphql', {}, '{"query":"{ me { id } }"}');

    const headersWithoutHash = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name !== 'x-amz-content-sha256'));
    const authorization = parseSigV4Authorization(request.headers.authorization)!;

    const declaredFailure = checkSigV4Signature({ ...request, body: '{}' }, authorization, CREDENTIALS.secretAccessKey, SIGNED_AT.getTime());
    const signatureFailure = checkSigV4Signature({ ...request, headers: headersWithoutHash, body: '{}' }, authorization, CREDENTIALS.secretAccessKey, SIGNED_AT.getTime());

    expect(declaredFailure).toContain('is not the SHA-256 of the request body');
    expect(signatureFailure).toContain('does not match');
  });

  test('rejects a signature older than 15 minutes', async () => {
    const request = await signedRequest('/graphql', {}, '{}');

    const authorization = parseSigV4Authorization(request.headers.authorization)!;

    const failure = checkSigV4Signature(request, authorization, CREDENTIALS.secretAccessKey, SIGNED_AT.getTime() + 16 * 60 * 1000);

    expect(failure).toContain('Signature expired');
  });

  test('accepts a request that signSigV4 signed', () => {
    const request = { method: 'POST', url: '/graphql/connect', headers: { 'host': '127.0.0.1:4002', 'content-type': 'application/json' }, body: '{}' };

    const headers = signSigV4(request, { ...CREDENTIALS, sessionToken: 'session' }, 'eu-central-1', 'appsync', SIGNED_AT);
    const authorization = parseSigV4Authorization(headers.authorization)!;

    expect(headers['x-amz-date']).toBe('20261205T000000Z');
    expect(authorization.signedHeaders).toEqual(['content-type', 'host', 'x-amz-date', 'x-amz-security-token']);
    expect(checkSigV4Signature({ ...request, headers }, authorization, CREDENTIALS.secretAccessKey, SIGNED_AT.getTime())).toBeUndefined();
  });
});
