import type { IotPolicy } from '../iot-policy/iot-policy';

/** A thing of the local registry. */
export interface LocalThing {
  readonly thingName: string;
  readonly thingArn: string;
  thingTypeName?: string;
  attributes: Record<string, string>;
  readonly thingGroups: Set<string>;
  readonly certificateIds: Set<string>;
  version: number;
}

/** A certificate that the local CA issued, with what is attached to it. */
export interface LocalCertificate {
  readonly certificateId: string;
  readonly certificatePem: string;
  status: 'ACTIVE' | 'INACTIVE' | 'REVOKED';
  readonly policies: IotPolicy[];
  thingName?: string;
}

/** Thing and certificate that RegisterThing creates or replaces for one device. */
export interface ThingRegistration {
  readonly thingName: string;
  readonly thingTypeName?: string;
  readonly attributes: Record<string, string>;
  readonly thingGroups: readonly string[];
  readonly certificateId: string;
}

/**
 * Things, thing groups and certificates of the local IoT registry. The MQTT broker looks
 * certificates up here to find their policies and attached thing, and the IoT control-plane
 * stand-in serves DescribeThing and ListThingsInThingGroup from it.
 */
export class LocalThingRegistry {
  private readonly things = new Map<string, LocalThing>();
  private readonly certificates = new Map<string, LocalCertificate>();

  constructor(private readonly arnPrefix: string) {}

  /** Records a certificate; `certificateId` is the SHA-256 of its DER encoding in hex, as AWS IoT uses. */
  public addCertificate(certificateId: string, certificatePem: string, policies: IotPolicy[], status: LocalCertificate['status'] = 'ACTIVE'): LocalCertificate {
    const certificate: LocalCertificate = { certificateId, certificatePem, status, policies };
    this.certificates.set(certificateId, certificate);
    return certificate;
  }

  /** Creates or replaces a thing and attaches a certificate to it, as RegisterThing does. */
  public registerThing(options: ThingRegistration): LocalThing {
    const existing = this.things.get(options.thingName);
    const thing: LocalThing = existing ?? {
      thingName: options.thingName,
      thingArn: `${this.arnPrefix}:thing/${options.thingName}`,
      attributes: {},
      thingGroups: new Set(),
      certificateIds: new Set(),
      version: 0,
    };
    thing.thingTypeName = options.thingTypeName;
    thing.attributes = { ...options.attributes };
    thing.version += 1;
    options.thingGroups.forEach((group) => thing.thingGroups.add(group));
    thing.certificateIds.add(options.certificateId);
    this.things.set(thing.thingName, thing);

    const certificate = this.certificates.get(options.certificateId);
    if (!certificate) {
      throw new Error(`Certificate ${options.certificateId} is not in the local registry; add it before registering thing ${options.thingName}.`);
    }
    certificate.thingName = thing.thingName;
    return thing;
  }

  public thing(thingName: string): LocalThing | undefined {
    return this.things.get(thingName);
  }

  public allThings(): LocalThing[] {
    return [...this.things.values()];
  }

  public thingsInGroup(groupName: string): string[] {
    return this.allThings().filter((thing) => thing.thingGroups.has(groupName)).map((thing) => thing.thingName);
  }

  public certificate(certificateId: string): LocalCertificate | undefined {
    return this.certificates.get(certificateId);
  }

  /** Looks up an active certificate with its policies and attached thing, for the policy authorizer. */
  public lookup(certificateId: string): { certificateId: string; policies: readonly IotPolicy[]; thingName?: string } | undefined {
    const certificate = this.certificates.get(certificateId);
    if (!certificate || certificate.status !== 'ACTIVE') {
      return undefined;
    }
    return { certificateId: certificate.certificateId, policies: certificate.policies, thingName: certificate.thingName };
  }
}
