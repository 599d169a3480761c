/**
 * A BrokerAuthorizer that enforces AWS IoT Core policies: the client certificate selects the
 * principal (its policies and attached thing), and every connect, publish, subscribe and
 * delivery is evaluated as iot:Connect, iot:Publish, iot:Subscribe and iot:Receive.
 */
import { AuthorizationRequest, evaluate, IotAction, IotPolicy, PolicyContext } from './iot-policy';
import type { BrokerAuthorizer, ClientIdentity } from '../local-iot/mqtt-broker';

/** The policies and thing attached to one certificate. */
export interface CertificatePrincipal {
  /** SHA-256 of the DER certificate in lower-case hex, the form of AWS IoT certificate ids. */
  readonly certificateId: string;
  readonly policies: readonly IotPolicy[];
  /** Thing attached to the certificate; undefined when none is attached. */
  readonly thingName?: string;
}

/** Registry of the certificates the broker accepts. */
export interface PrincipalDirectory {
  /**
   * Returns the principal of a certificate, or undefined when the certificate is not
   * registered (or not active).
   *
   * @param certificateId SHA-256 fingerprint of the DER certificate in lower-case hex without
   *   separators, which equals LocalCa's certificateId.
   */
  lookup(certificateId: string): CertificatePrincipal | undefined;
}

/** A request that the authorizer denied. */
export interface PolicyDeniedEvent {
  readonly action: IotAction;
  /** Client id, topic or topic filter. */
  readonly resource: string;
  readonly clientId: string;
  /** Undefined when the client presented no certificate. */
  readonly certificateId: string | undefined;
  readonly reason: string;
}

export interface PolicyAuthorizerOptions {
  readonly region: string;
  readonly account: string;
  /** Called for every denied request, for logging. */
  readonly onDenied?: (event: PolicyDeniedEvent) => void;
}

/** Converts a fingerprint as Node reports it (colon-separated upper-case hex) to a certificate id. */
export function certificateIdOf(fingerprint256: string): string {
  return fingerprint256.replace(/:/g, '').toLowerCase();
}

/**
 * Creates an authorizer that evaluates the policies of each client's certificate. Unknown
 * certificates cannot connect. The principal is looked up on every request, so a certificate
 * removed from the directory loses access on its next publish, subscribe or delivery.
 */
export function createPolicyAuthorizer(principals: PrincipalDirectory, options: PolicyAuthorizerOptions): BrokerAuthorizer {
  const authorize = (identity: ClientIdentity, request: AuthorizationRequest): boolean => {
    const certificateId = identity.certificateFingerprint256 ? certificateIdOf(identity.certificateFingerprint256) : undefined;
    const principal = certificateId === undefined ? undefined : principals.lookup(certificateId);
    let allowed = false;
    let reason: string;
    if (!principal) {
      reason = certificateId === undefined
        ? `${request.action} for client ${identity.clientId} denied: the client presented no certificate`
        : `${request.action} for client ${identity.clientId} denied: certificate ${certificateId} is not registered`;
    } else {
      const context: PolicyContext = {
        region: options.region,
        account: options.account,
        clientId: identity.clientId,
        thingName: principal.thingName,
        isAttached: principal.thingName !== undefined,
        certificateCommonName: identity.certificateCommonName,
      };
      ({ allowed, reason } = evaluate(principal.policies, request, context));
    }
    if (!allowed) {
      options.onDenied?.({ ...request, clientId: identity.clientId, certificateId, reason });
    }
    return allowed;
  };

  return {
    authenticate: (identity) => authorize(identity, { action: 'iot:Connect', resource: identity.clientId }),
    authorizePublish: (identity, topic) => authorize(identity, { action: 'iot:Publish', resource: topic }),
    authorizeSubscribe: (identity, topicFilter) => authorize(identity, { action: 'iot:Subscribe', resource: topicFilter }),
    authorizeReceive: (identity, topic) => authorize(identity, { action: 'iot:Receive', resource: topic }),
  };
}
