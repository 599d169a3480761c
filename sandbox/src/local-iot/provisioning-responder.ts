/**
 * A local stand-in for the AWS IoT fleet provisioning MQTT API. It replies to
 * CreateCertificateFromCsr, CreateKeysAndCertificate and RegisterThing (JSON payload format) with
 * the reply shapes of AWS IoT, and delivers each reply only to the client that sent the request.
 *
 * The status and error codes of rejections are this module's choice, modelled on AWS IoT's
 * HTTP-style codes; AWS does not publish a complete list.
 */
import { randomBytes } from 'node:crypto';
import type { LocalCa } from './local-ca';
import type { LocalMqttBroker, ReceivedMessage } from './mqtt-broker';
import { ProvisioningTemplateBody, ProvisioningTemplateError, RenderedProvisioning } from './provisioning-template';

/** Decision of the pre-provisioning hook. */
export interface ProvisioningHookResult {
  readonly allowProvisioning: boolean;
  /** Replaces template parameters, as a pre-provisioning hook Lambda can. */
  readonly parameterOverrides?: Record<string, string>;
}

/** Request fields that AWS IoT sends a pre-provisioning hook besides the parameters. */
export interface ProvisioningHookRequest {
  readonly certificateId: string;
  readonly certificatePem: string;
  readonly clientId: string;
  readonly templateArn?: string;
}

/** A thing registered by RegisterThing. */
export interface ThingRegisteredEvent {
  readonly thingName: string;
  readonly certificateId: string;
  readonly certificatePem: string;
  readonly parameters: Record<string, string>;
  readonly clientId: string;
  /** The rendered template, when the responder has one. */
  readonly provisioning?: RenderedProvisioning;
}

export interface ProvisioningResponderOptions {
  /** Name of the provisioning template in the RegisterThing topic. */
  readonly templateName: string;
  /** Thing name = prefix + SerialNumber, unless `template` is given. */
  readonly thingNamePrefix: string;
  /** Template body whose thing, groups, attributes and policies RegisterThing applies. */
  readonly template?: ProvisioningTemplateBody;
  /** ARN passed to the hook as `templateArn`. */
  readonly templateArn?: string;
  /** Pre-provisioning hook. Omitted: every request with a valid SerialNumber is allowed. */
  readonly hook?: (parameters: Record<string, string>, request: ProvisioningHookRequest) => Promise<ProvisioningHookResult>;
  readonly onThingRegistered?: (event: ThingRegisteredEvent) => void | Promise<void>;
  /** Lifetime of an ownership token in milliseconds. Default one hour, as in AWS IoT. */
  readonly ownershipTokenTtlMs?: number;
  /** Pattern a SerialNumber must match. Default ^[A-Za-z0-9_-]{1,64}$ (the device contract). */
  readonly serialPattern?: RegExp;
}

interface PendingCertificate {
  readonly certificateId: string;
  readonly certificatePem: string;
  readonly issuedAt: number;
}

const CSR_TOPIC = '$aws/certificates/create-from-csr/json';
const KEYS_TOPIC = '$aws/certificates/create/json';

export class ProvisioningResponder {
  private readonly tokens = new Map<string, PendingCertificate>();
  /** Tokens of RegisterThing requests in progress, so concurrent requests cannot both use one. */
  private readonly tokensInUse = new Set<string>();
  private readonly registerTopic: string;
  private unsubscribe: (() => void) | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  public constructor(
    private readonly broker: LocalMqttBroker,
    private readonly ca: LocalCa,
    private readonly options: ProvisioningResponderOptions,
  ) {
    if (!/^[A-Za-z0-9_-]{1,36}$/.test(options.templateName)) {
      throw new Error(`invalid templateName ${options.templateName}: expected ^[A-Za-z0-9_-]{1,36}$`);
    }
    this.registerTopic = `$aws/provisioning-templates/${options.templateName}/provision/json`;
  }

  /** Starts handling requests. */
  public start(): void {
    this.unsubscribe = this.broker.onPublish((message) => {
      const work = this.handle(message).catch((error: unknown) => {
        console.error(`provisioning-responder: failed to respond to ${message.topic}: ${String(error)}`);
      });
      this.inFlight.add(work);
      void work.finally(() => this.inFlight.delete(work));
    });
  }

  /** Stops handling requests and waits for replies in progress. */
  public async stop(): Promise<void> {
    this.unsubscribe?.();
    await Promise.all([...this.inFlight]);
  }

  private async handle(message: ReceivedMessage): Promise<void> {
    if (message.topic === CSR_TOPIC) {
      await this.createFromCsr(message);
    } else if (message.topic === KEYS_TOPIC) {
      await this.createKeysAndCertificate(message);
    } else if (message.topic === this.registerTopic) {
      await this.registerThing(message);
    }
  }

  private reply(message: ReceivedMessage, outcome: 'accepted' | 'rejected', body: object): Promise<void> {
    return this.broker.publishTo(message.clientId, `${message.topic}/${outcome}`, JSON.stringify(body));
  }

  private reject(message: ReceivedMessage, statusCode: number, errorCode: string, errorMessage: string): Promise<void> {
    return this.reply(message, 'rejected', { statusCode, errorCode, errorMessage });
  }

  private newToken(certificateId: string, certificatePem: string): string {
    const token = randomBytes(48).toString('base64url');
    this.tokens.set(token, { certificateId, certificatePem, issuedAt: Date.now() });
    return token;
  }

  private parse(message: ReceivedMessage): Record<string, unknown> | undefined {
    try {
      const value: unknown = JSON.parse(message.payload.toString('utf8'));
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  private async createFromCsr(message: ReceivedMessage): Promise<void> {
    const request = this.parse(message);
    const csr = request?.certificateSigningRequest;
    if (typeof csr !== 'string') {
      return this.reject(message, 400, 'InvalidPayload', 'certificateSigningRequest is missing');
    }
    let issued;
    try {
      issued = await this.ca.issueFromCsr(csr);
    } catch (error) {
      return this.reject(message, 400, 'InvalidCsr', `CSR is invalid: ${String(error)}`);
    }
    await this.reply(message, 'accepted', {
      certificateId: issued.certificateId,
      certificatePem: issued.certificatePem,
      certificateOwnershipToken: this.newToken(issued.certificateId, issued.certificatePem),
    });
  }

  private async createKeysAndCertificate(message: ReceivedMessage): Promise<void> {
    if (!this.parse(message)) {
      return this.reject(message, 400, 'InvalidPayload', 'request is not a JSON object');
    }
    const issued = await this.ca.createKeysAndCertificate();
    await this.reply(message, 'accepted', {
      certificateId: issued.certificateId,
      certificatePem: issued.certificatePem,
      privateKey: issued.privateKeyPem,
      certificateOwnershipToken: this.newToken(issued.certificateId, issued.certificatePem),
    });
  }

  private async registerThing(message: ReceivedMessage): Promise<void> {
    const token = this.parse(message)?.certificateOwnershipToken;
    if (typeof token !== 'string') {
      return this.registerThingWithToken(message);
    }
    if (this.tokensInUse.has(token)) {
      return this.reject(message, 400, 'InvalidCertificateOwnershipToken', 'certificateOwnershipToken is already used by a RegisterThing request in progress');
    }
    this.tokensInUse.add(token);
    try {
      await this.registerThingWithToken(message);
    } finally {
      this.tokensInUse.delete(token);
    }
  }

  private async registerThingWithToken(message: ReceivedMessage): Promise<void> {
    const request = this.parse(message);
    const token = request?.certificateOwnershipToken;
    const rawParameters = request?.parameters ?? {};
    if (typeof token !== 'string' || typeof rawParameters !== 'object' || rawParameters === null) {
      return this.reject(message, 400, 'InvalidPayload', 'certificateOwnershipToken or parameters is missing');
    }
    const pending = this.tokens.get(token);
    const ttl = this.options.ownershipTokenTtlMs ?? 60 * 60 * 1000;
    if (!pending || Date.now() - pending.issuedAt > ttl) {
      this.tokens.delete(token);
      return this.reject(message, 400, 'InvalidCertificateOwnershipToken', 'certificateOwnershipToken is unknown, used or expired');
    }

    const parameters: Record<string, string> = {};
    for (const [key, value] of Object.entries(rawParameters as Record<string, unknown>)) {
      if (typeof value === 'string') parameters[key] = value;
    }
    const hookRequest: ProvisioningHookRequest = {
      certificateId: pending.certificateId,
      certificatePem: pending.certificatePem,
      clientId: message.clientId,
      templateArn: this.options.templateArn,
    };
    let decision: ProvisioningHookResult;
    try {
      decision = this.options.hook ? await this.options.hook({ ...parameters }, hookRequest) : { allowProvisioning: true };
    } catch (error) {
      // AWS IoT rejects the request when the hook fails or times out.
      return this.reject(message, 500, 'InternalFailure', `the pre-provisioning hook failed: ${(error as Error).message}`);
    }
    if (!decision.allowProvisioning) {
      return this.reject(message, 403, 'AccessDenied', 'the pre-provisioning hook denied this device');
    }
    const finalParameters = { ...parameters, ...(decision.parameterOverrides ?? {}) };
    const serial = finalParameters.SerialNumber;
    const serialPattern = this.options.serialPattern ?? /^[A-Za-z0-9_-]{1,64}$/;
    if (typeof serial !== 'string' || !serialPattern.test(serial)) {
      return this.reject(message, 400, 'InvalidParameters', `SerialNumber ${String(serial)} does not match ${serialPattern}`);
    }

    let provisioning: RenderedProvisioning | undefined;
    try {
      provisioning = this.options.template?.render(finalParameters, pending.certificateId);
    } catch (error) {
      if (error instanceof ProvisioningTemplateError) {
        return this.reject(message, 400, 'InvalidParameters', error.message);
      }
      throw error;
    }

    this.tokens.delete(token); /* an ownership token is single-use */
    const thingName = provisioning?.thingName ?? `${this.options.thingNamePrefix}${serial}`;
    // The thing is registered before the device hears about it, so its first connect finds it.
    await this.options.onThingRegistered?.({
      thingName,
      certificateId: pending.certificateId,
      certificatePem: pending.certificatePem,
      parameters: finalParameters,
      clientId: message.clientId,
      provisioning,
    });
    await this.reply(message, 'accepted', { deviceConfiguration: provisioning?.deviceConfiguration ?? {}, thingName });
  }
}
