import { randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * The GetSecretValue call of the Secrets Manager API on 127.0.0.1, so handlers read their keys
 * through their real AWS SDK client (`AWS_ENDPOINT_URL_SECRETS_MANAGER`). Secrets are kept in
 * memory; a secret that is read before it is set gets a random 64-character value, as the
 * platform's generated secrets do.
 */
export class LocalSecretsEndpoint {
  public static async start(port = 0): Promise<LocalSecretsEndpoint> {
    const endpoint = new LocalSecretsEndpoint();
    await new Promise<void>((resolve, reject) => {
      endpoint.server.once('error', reject);
      endpoint.server.listen(port, '127.0.0.1', () => resolve());
    });
    return endpoint;
  }

  private readonly secrets = new Map<string, string>();
  private readonly server: Server;

  private constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        const target = String(request.headers['x-amz-target'] ?? '');
        response.setHeader('content-type', 'application/x-amz-json-1.1');
        if (!target.endsWith('.GetSecretValue')) {
          response.writeHead(400).end(JSON.stringify({ __type: 'UnknownOperationException', message: `The local endpoint does not support ${target}.` }));
          return;
        }
        const secretId = String(JSON.parse(Buffer.concat(chunks).toString('utf8')).SecretId);
        response.writeHead(200).end(JSON.stringify({ ARN: secretId, Name: secretId, SecretString: this.get(secretId) }));
      });
    });
  }

  /** Endpoint URL for AWS SDK clients. */
  public get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Sets a secret's value. */
  public set(secretId: string, value: string): void {
    this.secrets.set(secretId, value);
  }

  /** Returns a secret's value, generating one on first use. */
  public get(secretId: string): string {
    let value = this.secrets.get(secretId);
    if (value === undefined) {
      value = randomBytes(48).toString('base64url').slice(0, 64);
      this.secrets.set(secretId, value);
    }
    return value;
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
