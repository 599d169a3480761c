/**
 * A local certificate authority for the sandbox: issues the broker's server certificate, claim
 * and test client certificates, and device certificates from CSRs (CreateCertificateFromCsr) or
 * with a generated key (CreateKeysAndCertificate). All keys are EC P-256.
 */
import './reflect-metadata-shim';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A certificate with its private key, both PEM. */
export interface IssuedCredentials {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** SHA-256 of the DER certificate in lower-case hex, the form of AWS IoT certificate ids. */
  readonly certificateId: string;
}

/** A certificate issued for a CSR; the private key stays with the requester. */
export interface IssuedCertificate {
  readonly certificatePem: string;
  readonly certificateId: string;
  /** Subject common name taken from the CSR. */
  readonly commonName: string | undefined;
}

export interface LocalCaOptions {
  /** Subject of the CA certificate. Default "CN=cdk-smart-home local CA". */
  readonly subject?: string;
  /** Validity of issued certificates in days. Default 30. */
  readonly validityDays?: number;
}

function toPem(label: string, der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${base64.trimEnd()}\n-----END ${label}-----\n`;
}

function certificateIdOf(certificate: x509.X509Certificate): string {
  return createHash('sha256').update(Buffer.from(certificate.rawData)).digest('hex');
}

async function exportPrivateKey(key: CryptoKey): Promise<string> {
  return toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey));
}

export class LocalCa {
  /** Creates a CA with a new self-signed root certificate. */
  public static async create(options: LocalCaOptions = {}): Promise<LocalCa> {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomBytes(8).toString('hex'),
      name: options.subject ?? 'CN=cdk-smart-home local CA',
      notBefore: new Date(now - DAY_MS),
      notAfter: new Date(now + 3650 * DAY_MS),
      keys,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        // eslint-disable-next-line no-bitwise -- key usage flags are a bit mask
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new LocalCa(certificate, keys, options.validityDays ?? 30);
  }

  /** PEM of the CA certificate, the trust anchor for the broker and for devices. */
  public readonly certificatePem: string;

  private constructor(
    private readonly certificate: x509.X509Certificate,
    private readonly keys: CryptoKeyPair,
    private readonly validityDays: number,
  ) {
    this.certificatePem = certificate.toString('pem') + '\n';
  }

  /** Issues a TLS server certificate for the given IP addresses and DNS names. */
  public async issueServerCertificate(hosts: readonly string[] = ['127.0.0.1', 'localhost']): Promise<IssuedCredentials> {
    const names = hosts.map((host) => (/^[0-9.]+$/.test(host) || host.includes(':') ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host }));
    return this.issueWithNewKey(`CN=${hosts[0]}`, [
      new x509.SubjectAlternativeNameExtension(names),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ]);
  }

  /** Issues a TLS client certificate, such as a claim certificate or a test client's. */
  public async issueClientCertificate(commonName: string): Promise<IssuedCredentials> {
    return this.issueWithNewKey(`CN=${commonName}`, [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])]);
  }

  /**
   * Issues a client certificate for the public key of a PEM CSR after checking the CSR's
   * signature. Throws when the CSR is malformed or its signature is invalid.
   */
  public async issueFromCsr(csrPem: string): Promise<IssuedCertificate> {
    const request = new x509.Pkcs10CertificateRequest(csrPem);
    if (!(await request.verify())) {
      throw new Error('CSR signature is invalid');
    }
    const commonName = request.subjectName.getField('CN')[0];
    const certificate = await this.sign(request.subject, await request.publicKey.export(), [
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ]);
    return { certificatePem: certificate.toString('pem') + '\n', certificateId: certificateIdOf(certificate), commonName };
  }

  /** Generates a key and a client certificate for it, as CreateKeysAndCertificate does. */
  public async createKeysAndCertificate(): Promise<IssuedCredentials> {
    return this.issueClientCertificate('AWS IoT Certificate');
  }

  private async issueWithNewKey(subject: string, extensions: x509.Extension[]): Promise<IssuedCredentials> {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
    const certificate = await this.sign(subject, keys.publicKey, extensions);
    return {
      certificatePem: certificate.toString('pem') + '\n',
      privateKeyPem: await exportPrivateKey(keys.privateKey),
      certificateId: certificateIdOf(certificate),
    };
  }

  private async sign(subject: string, publicKey: CryptoKey, extensions: x509.Extension[]): Promise<x509.X509Certificate> {
    const now = Date.now();
    return x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(8).toString('hex'),
      subject,
      issuer: this.certificate.subject,
      notBefore: new Date(now - DAY_MS),
      notAfter: new Date(now + this.validityDays * DAY_MS),
      publicKey,
      signingKey: this.keys.privateKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
        ...extensions,
      ],
    });
  }
}
