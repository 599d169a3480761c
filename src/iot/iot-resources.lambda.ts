import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateKeysAndCertificateCommand, DeleteCertificateCommand, DescribeEndpointCommand, IoTClient, ResourceNotFoundException, UpdateCertificateCommand } from '@aws-sdk/client-iot';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { CLAIM_CERTIFICATE_TYPE, DATA_ENDPOINT_TYPE } from './private/resource-types';

const logger = new Logger();
const iot = new IoTClient({});
const secrets = new SecretsManagerClient({});

interface Outcome {
  readonly physicalResourceId: string;
  readonly data?: Record<string, string>;
}

/**
 * Custom resources of the platform's IoT setup, invoked by CloudFormation. The response goes to
 * CloudFormation's pre-signed URL and carries only ids and ARNs: the claim certificate's private
 * key leaves this function only in the PutSecretValue request.
 */
export async function handler(event: CloudFormationCustomResourceEvent): Promise<void> {
  logger.appendKeys({ requestType: event.RequestType, resourceType: event.ResourceType, logicalResourceId: event.LogicalResourceId });
  let status: 'SUCCESS' | 'FAILED' = 'SUCCESS';
  let reason = '';
  let outcome: Outcome = { physicalResourceId: 'PhysicalResourceId' in event ? event.PhysicalResourceId : event.RequestId };
  try {
    outcome = await dispatch(event);
    logger.info('Custom resource handled', { physicalResourceId: outcome.physicalResourceId });
  } catch (error) {
    logger.error('Custom resource failed', { error });
    status = 'FAILED';
    reason = `${(error as Error).name}: ${(error as Error).message}`.slice(0, 1000);
  }
  await respond(event, status, reason, outcome);
}

async function dispatch(event: CloudFormationCustomResourceEvent): Promise<Outcome> {
  switch (event.ResourceType) {
    case CLAIM_CERTIFICATE_TYPE:
      return claimCertificate(event);
    case DATA_ENDPOINT_TYPE:
      return dataEndpoint(event);
    default:
      throw new Error(`Unsupported resource type ${event.ResourceType}; this function handles ${CLAIM_CERTIFICATE_TYPE} and ${DATA_ENDPOINT_TYPE}.`);
  }
}

async function claimCertificate(event: CloudFormationCustomResourceEvent): Promise<Outcome> {
  if (event.RequestType === 'Delete') {
    await retireCertificate(event.PhysicalResourceId);
    return { physicalResourceId: event.PhysicalResourceId };
  }
  if (event.RequestType === 'Update' && !event.PhysicalResourceId.match(/^[0-9a-f]{64}$/)) {
    throw new Error(`Physical id '${event.PhysicalResourceId}' is not a certificate id.`);
  }

  // Create, and Update (a new rotation value): issue a new certificate. CloudFormation then
  // deletes the old physical resource, which retires the previous certificate.
  const secretArn = String(event.ResourceProperties.SecretArn);
  const created = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  try {
    await secrets.send(new PutSecretValueCommand({
      SecretId: secretArn,
      SecretString: JSON.stringify({
        certificateId: created.certificateId,
        certificatePem: created.certificatePem,
        privateKey: created.keyPair?.PrivateKey,
      }),
    }));
  } catch (error) {
    // The private key exists only in this response, so a certificate whose key was not stored
    // can never be used. The failed request's physical id is not the certificate id, so the
    // following Delete would not retire it either.
    logger.error('Storing the claim certificate failed, so the certificate is retired', { certificateId: created.certificateId, error });
    try {
      await retireCertificate(created.certificateId!);
    } catch (retireError) {
      logger.error('Retiring the unstored claim certificate failed', { certificateId: created.certificateId, error: retireError });
    }
    throw error;
  }
  return {
    physicalResourceId: created.certificateId!,
    data: { CertificateId: created.certificateId!, CertificateArn: created.certificateArn! },
  };
}

async function retireCertificate(certificateId: string): Promise<void> {
  if (!certificateId.match(/^[0-9a-f]{64}$/)) {
    // A create that failed before a certificate existed leaves a request id as physical id.
    return;
  }
  try {
    await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' }));
    await iot.send(new DeleteCertificateCommand({ certificateId, forceDelete: true }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) {
      throw error;
    }
  }
}

async function dataEndpoint(event: CloudFormationCustomResourceEvent): Promise<Outcome> {
  if (event.RequestType === 'Delete') {
    return { physicalResourceId: event.PhysicalResourceId };
  }
  const result = await iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' }));
  return { physicalResourceId: result.endpointAddress!, data: { EndpointAddress: result.endpointAddress! } };
}

async function respond(event: CloudFormationCustomResourceEvent, status: string, reason: string, outcome: Outcome): Promise<void> {
  const body = JSON.stringify({
    Status: status,
    Reason: reason || 'See the function\'s log group for details',
    PhysicalResourceId: outcome.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    NoEcho: true,
    Data: outcome.data,
  });
  // CloudFormation's pre-signed URL is https, and a plain http URL is accepted so that a local
  // server can receive the response.
  const request = new URL(event.ResponseURL).protocol === 'http:' ? httpRequest : httpsRequest;
  await new Promise<void>((resolve, reject) => {
    const req = request(event.ResponseURL, {
      method: 'PUT',
      headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end(body);
  });
}
