/**
 * AWS IoT Core of the sandbox: a local CA and claim certificate, the MQTT broker enforcing the
 * template's IoT policies, fleet provisioning with the template body and its pre-provisioning
 * hook, lifecycle events, the topic rules and the Jobs device API.
 */
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalIotJobsMqtt } from './iot/local-iot-jobs-mqtt';
import { IotPolicy, loadIotPoliciesFromTemplate } from './iot-policy/iot-policy';
import { createPolicyAuthorizer, PolicyDeniedEvent } from './iot-policy/policy-authorizer';
import { LocalRulesEngine } from './iot-rules/local-rules-engine';
import { LocalCa } from './local-iot/local-ca';
import { LocalMqttBroker } from './local-iot/mqtt-broker';
import { ProvisioningResponder } from './local-iot/provisioning-responder';
import { ProvisioningTemplateBody } from './local-iot/provisioning-template';
import type { Sandbox } from './sandbox';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './stepfunctions/definition';

export interface LocalIotCoreOptions {
  readonly sandbox: Sandbox;
  readonly dataDirectory: string;
  readonly mqttPort?: number;
  readonly log: (line: string) => void;
}

/** Files that devices need to reach the local broker. */
export interface LocalIotFiles {
  readonly caFile: string;
  readonly claimCertFile: string;
  readonly claimKeyFile: string;
  /** PEM public key of the OTA signing key, when the stack has one. */
  readonly otaPublicKeyFile?: string;
}


export class LocalIotCore {
  public static async start(options: LocalIotCoreOptions): Promise<LocalIotCore> {
    const core = new LocalIotCore(options);
    await core.startBroker();
    return core;
  }

  public ca!: LocalCa;
  public broker!: LocalMqttBroker;
  public files!: LocalIotFiles;
  public readonly policies: Map<string, IotPolicy>;
  public readonly provisioningTemplateName: string;
  public readonly thingNamePrefix: string;
  public readonly hookFunctionLogicalId: string | undefined;
  public rules!: LocalRulesEngine;
  /** Denied operations, newest last; the sandbox keeps the last 1,000. */
  public readonly denials: PolicyDeniedEvent[] = [];
  private responder!: ProvisioningResponder;
  private claimCertificateId!: string;
  /** Lifecycle event version per client id; AWS IoT increments it on every connect and disconnect. */
  private readonly lifecycleVersions = new Map<string, number>();
  private jobs!: LocalIotJobsMqtt;
  private readonly templateLogicalId: string;
  private readonly sandbox: Sandbox;

  private constructor(private readonly options: LocalIotCoreOptions) {
    this.sandbox = options.sandbox;
    const template = this.sandbox.template;
    const templates = this.sandbox.resourcesOfType('AWS::IoT::ProvisioningTemplate');
    if (templates.length !== 1) {
      throw new Error(`The stack has ${templates.length} provisioning templates; the sandbox runs exactly one.`);
    }
    this.templateLogicalId = templates[0];
    const properties = template.Resources[this.templateLogicalId].Properties ?? {};
    this.provisioningTemplateName = this.sandbox.resolve(properties.TemplateName ?? this.templateLogicalId);
    const hookArn = properties.PreProvisioningHook?.TargetArn;
    this.hookFunctionLogicalId = hookArn?.['Fn::GetAtt']?.[0] ?? hookArn?.Ref;
    const hookVariables = this.hookFunctionLogicalId ? template.Resources[this.hookFunctionLogicalId]?.Properties?.Environment?.Variables : undefined;
    this.thingNamePrefix = hookVariables?.THING_NAME_PREFIX ? this.sandbox.resolve(hookVariables.THING_NAME_PREFIX) : '';
    this.policies = loadIotPoliciesFromTemplate(template);
  }

  /** Publishes a message as the cloud (IoT data-plane Publish); the topic rules see it too. */
  public async publishFromCloud(topic: string, payload: Buffer, qos: number): Promise<void> {
    await this.broker.publish(topic, payload, qos >= 1 ? 1 : 0);
    this.rules.publish({ topic, payload });
  }

  /** Waits until the rule actions started so far have ended. */
  public async settle(): Promise<void> {
    await this.rules?.settle();
  }

  public async stop(): Promise<void> {
    await this.jobs?.stop();
    await this.responder?.stop();
    await this.broker?.stop();
  }

  private async startBroker(): Promise<void> {
    const directory = this.options.dataDirectory;
    this.ca = await LocalCa.create();
    const claim = await this.ca.issueClientCertificate('claim');
    this.claimCertificateId = certificateIdOfPem(claim.certificatePem);
    this.registry.addCertificate(this.claimCertificateId, claim.certificatePem, this.claimPolicies());
    // Topic rules can name the claim certificate (the presence rules leave its sessions out), so
    // they are parsed once references to it resolve to the local one.
    this.sandbox.useClaimCertificate(this.claimCertificateId);
    this.rules = new LocalRulesEngine(this.sandbox.template, {
      sendToQueue: async (queue, body) => {
        this.sandbox.sqs.send(queue, body);
      },
      invokeFunction: (functionLogicalId, event) => this.sandbox.invokeAsync(functionLogicalId, event),
    }, this.options.log, (value) => this.sandbox.resolve(value));

    this.files = {
      caFile: join(directory, 'ca.pem'),
      claimCertFile: join(directory, 'claim-cert.pem'),
      claimKeyFile: join(directory, 'claim-key.pem'),
      otaPublicKeyFile: this.writeOtaPublicKey(directory),
    };
    writeFileSync(this.files.caFile, this.ca.certificatePem);
    writeFileSync(this.files.claimCertFile, claim.certificatePem);
    writeFileSync(this.files.claimKeyFile, claim.privateKeyPem, { mode: 0o600 });

    const authorizer = createPolicyAuthorizer(this.registry, {
      region: LOCAL_REGION,
      account: LOCAL_ACCOUNT,
      onDenied: (denial) => {
        this.denials.push(denial);
        if (this.denials.length > 1000) this.denials.shift();
        this.options.log(`iot: denied ${denial.action} on ${denial.resource} for client ${denial.clientId}: ${denial.reason}`);
      },
    });
    this.broker = await LocalMqttBroker.start({ ca: this.ca, port: this.options.mqttPort, authorizer });
    this.broker.onPublish((message) => {
      const principal = message.certificateId;
      this.rules.publish({ topic: message.topic, payload: message.payload, clientId: message.clientId, principal });
    });
    this.broker.onClientConnected((client) => this.publishLifecycle('connected', client.clientId, client.certificateId));
    this.broker.onClientDisconnected((client) => this.publishLifecycle('disconnected', client.clientId, client.certificateId, client.reason));

    this.sandbox.iotJobs.describeThing = (thingName) => {
      const thing = this.registry.thing(thingName);
      return thing && {
        thingName: thing.thingName,
        thingArn: thing.thingArn,
        thingId: createHash('sha256').update(thing.thingArn).digest('hex').slice(0, 36),
        thingTypeName: thing.thingTypeName,
        attributes: thing.attributes,
        version: thing.version,
        defaultClientId: thing.thingName,
      };
    };
    this.startProvisioning();
    this.jobs = new LocalIotJobsMqtt({
      endpoint: this.sandbox.iotJobs,
      publisher: this.broker,
      resolvePresignedUrl: (bucket, key) => `${this.sandbox.s3.url}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
      onError: (error) => this.options.log(`iot jobs: ${error.message}`),
    });
    this.jobs.start();
  }

  private get registry() {
    return this.sandbox.registry;
  }

  private claimPolicies(): IotPolicy[] {
    const attached: IotPolicy[] = [];
    for (const logicalId of this.sandbox.resourcesOfType('AWS::IoT::PolicyPrincipalAttachment')) {
      const properties = this.sandbox.template.Resources[logicalId].Properties ?? {};
      const principal = JSON.stringify(properties.Principal);
      const claimResource = this.sandbox.resourcesOfType('Custom::IotClaimCertificate').find((id) => principal.includes(`"${id}"`));
      if (!claimResource) {
        throw new Error(`Policy attachment ${logicalId} targets ${principal}, which is not the claim certificate; the sandbox cannot attach it.`);
      }
      attached.push(this.policy(this.sandbox.resolve(properties.PolicyName)));
    }
    return attached;
  }

  private policy(name: string): IotPolicy {
    const policy = this.policies.get(name);
    if (!policy) {
      throw new Error(`IoT policy ${name} is not defined in the template; known policies: ${[...this.policies.keys()].join(', ')}.`);
    }
    return policy;
  }

  private writeOtaPublicKey(directory: string): string | undefined {
    const key = this.sandbox.resourcesOfType('AWS::KMS::Key').find((id) => this.sandbox.template.Resources[id].Properties?.KeySpec === 'ECC_NIST_P256');
    if (!key) return undefined;
    const file = join(directory, 'ota-public-key.pem');
    writeFileSync(file, this.sandbox.kms.publicKeyPem(this.sandbox.resolve({ 'Fn::GetAtt': [key, 'Arn'] })));
    return file;
  }

  private startProvisioning(): void {
    const properties = this.sandbox.template.Resources[this.templateLogicalId].Properties ?? {};
    const body = ProvisioningTemplateBody.parse(this.sandbox.resolve(properties.TemplateBody));
    this.responder = new ProvisioningResponder(this.broker, this.ca, {
      templateName: this.provisioningTemplateName,
      templateArn: `arn:aws:iot:${LOCAL_REGION}:${LOCAL_ACCOUNT}:provisioningtemplate/${this.provisioningTemplateName}`,
      thingNamePrefix: this.thingNamePrefix,
      template: body,
      hook: this.hookFunctionLogicalId ? async (parameters, request) => {
        const response = await this.sandbox.runtime.invoke(this.hookFunctionLogicalId!, {
          claimCertificateId: this.claimCertificateId,
          certificateId: request.certificateId,
          certificatePem: request.certificatePem,
          templateArn: request.templateArn,
          clientId: request.clientId,
          parameters,
        }) as { allowProvisioning?: boolean; parameterOverrides?: Record<string, string> };
        return { allowProvisioning: response?.allowProvisioning === true, parameterOverrides: response?.parameterOverrides };
      } : undefined,
      onThingRegistered: (event) => {
        const provisioning = event.provisioning!;
        this.registry.addCertificate(event.certificateId, event.certificatePem, provisioning.policyNames.map((name) => this.policy(name)),
          provisioning.certificateStatus === 'ACTIVE' ? 'ACTIVE' : 'INACTIVE');
        this.registry.registerThing({
          thingName: provisioning.thingName,
          thingTypeName: provisioning.thingTypeName,
          attributes: { ...provisioning.attributes },
          thingGroups: provisioning.thingGroups,
          certificateId: event.certificateId,
        });
        for (const group of provisioning.thingGroups) {
          this.sandbox.iotJobs.setThingGroup(group, this.registry.thingsInGroup(group));
        }
        this.options.log(`iot: registered thing ${provisioning.thingName} (certificate ${event.certificateId.slice(0, 12)}...)`);
      },
    });
    this.responder.start();
  }

  private nextLifecycleVersion(clientId: string): number {
    const version = (this.lifecycleVersions.get(clientId) ?? -1) + 1;
    this.lifecycleVersions.set(clientId, version);
    return version;
  }

  private publishLifecycle(eventType: 'connected' | 'disconnected', clientId: string, certificateId: string | undefined, reason?: string): void {
    // The lifecycle event that AWS IoT publishes on $aws/events/presence/<eventType>/<clientId>.
    const payload = {
      clientId,
      timestamp: Date.now(),
      eventType,
      sessionIdentifier: randomUUID(),
      principalIdentifier: certificateId ?? '',
      versionNumber: this.nextLifecycleVersion(clientId),
      ...(eventType === 'disconnected' ? { clientInitiatedDisconnect: reason === 'CLIENT_INITIATED_DISCONNECT', disconnectReason: reason ?? 'CONNECTION_LOST' } : { ipAddress: '127.0.0.1' }),
    };
    const topic = `$aws/events/presence/${eventType}/${clientId}`;
    this.options.log(`iot: ${clientId} ${eventType}`);
    this.rules.publish({ topic, payload: Buffer.from(JSON.stringify(payload)) });
  }
}

function certificateIdOfPem(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}
