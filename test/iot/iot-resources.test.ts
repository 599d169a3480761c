import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as IotModule from '@aws-sdk/client-iot';
import type * as SecretsManagerModule from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { captureLogs, loadIsolated } from './isolated-module';
import type * as ResourcesModule from '../../src/iot/iot-resources.lambda';

const CERTIFICATE_ID = 'c0ffee'.padEnd(64, '0');
const OLD_CERTIFICATE_ID = 'dead'.padEnd(64, '1');
const CERTIFICATE_ARN = `arn:aws:iot:eu-west-1:123456789012:cert/${CERTIFICATE_ID}`;
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:claim-AbCdEf';
const CERTIFICATE_PEM = '-----BEGIN CERTIFICATE-----\nMIIDWTCCAkGgAwIBAgIU\n-----END CERTIFICATE-----\n';
const PRIVATE_KEY = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n';
/** Output of CreateKeysAndCertificate. */
const CREATED_CERTIFICATE = {
  certificateId: CERTIFICATE_ID,
  certificateArn: CERTIFICATE_ARN,
  certificatePem: CERTIFICATE_PEM,
  keyPair: { PublicKey: '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n', PrivateKey: PRIVATE_KEY },
};
const ENDPOINT = 'a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com';

interface SentCommand {
  readonly input: Record<string, unknown>;
}

type SendMock = jest.Mock<Promise<unknown>, [SentCommand]>;

interface LoadedResources {
  readonly handler: typeof ResourcesModule.handler;
  readonly iot: typeof IotModule;
  readonly secretsManager: typeof SecretsManagerModule;
  readonly iotSend: SendMock;
  readonly secretsSend: SendMock;
}

/** A request that the handler sent to the CloudFormation response URL. */
interface ResponseRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  readonly body: {
    Status: string;
    Reason: string;
    PhysicalResourceId: string;
    StackId: string;
    RequestId: string;
    LogicalResourceId: string;
    NoEcho: boolean;
    Data?: Record<string, string>;
  };
}

function loadResources(): LoadedResources {
  return loadIsolated({}, () => {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const iot = require('@aws-sdk/client-iot') as typeof IotModule;
    const secretsManager = require('@aws-sdk/client-secrets-manager') as typeof SecretsManagerModule;
    const iotSend = jest.spyOn(iot.IoTClient.prototype, 'send') as unknown as SendMock;
    const secretsSend = jest.spyOn(secretsManager.SecretsManagerClient.prototype, 'send') as unknown as SendMock;
    const { handler } = require('../../src/iot/iot-resources.lambda') as typeof ResourcesModule;
    /* eslint-enable @typescript-eslint/no-require-imports */
    return { handler, iot, secretsManager, iotSend, secretsSend };
  });
}

const responses: ResponseRequest[] = [];
const server = http.createServer((request, reply) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    responses.push({ method: request.method!, url: request.url!, headers: request.headers, text, body: JSON.parse(text) });
    reply.writeHead(200).end();
  });
});
let responseUrl = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  responseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cloudformation-response?X-Amz-Signature=abc`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function eventFor(requestType: 'Create' | 'Update' | 'Delete', resourceType: string, physicalResourceId?: string): CloudFormationCustomResourceEvent {
  const common = {
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:iot-resources',
    ResponseURL: responseUrl,
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/SmartHome-dev/1234',
    RequestId: 'request-0001',
    LogicalResourceId: 'ProvisioningClaimCertificate',
    ResourceType: resourceType,
    ResourceProperties: { ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:iot-resources', SecretArn: SECRET_ARN, Rotation: '2' },
  };
  if (requestType === 'Create') {
    return { ...common, RequestType: 'Create' };
  }
  if (requestType === 'Update') {
    return { ...common, RequestType: 'Update', PhysicalResourceId: physicalResourceId!, OldResourceProperties: { SecretArn: SECRET_ARN, Rotation: '1' } };
  }
  return { ...common, RequestType: 'Delete', PhysicalResourceId: physicalResourceId! };
}

function lastResponse(): ResponseRequest {
  expect(responses).toHaveLength(1);
  return responses[0];
}

function commandNames(send: SendMock): string[] {
  return send.mock.calls.map(([command]) => command.constructor.name);
}

const readLogs = captureLogs();

describe('IoT resources handler', () => {
  const resources = loadResources();

  beforeEach(() => {
    responses.length = 0;
    resources.iotSend.mockReset();
    resources.secretsSend.mockReset();
  });

  describe('claim certificate create', () => {
    beforeEach(() => {
      resources.iotSend.mockResolvedValue(CREATED_CERTIFICATE);
      resources.secretsSend.mockResolvedValue({ ARN: SECRET_ARN });
    });

    test('creates an active certificate', async () => {
      await resources.handler(eventFor('Create', 'Custom::IotClaimCertificate'));

      expect(resources.iotSend).toHaveBeenCalledTimes(1);
      const [command] = resources.iotSend.mock.calls[0];
      expect(command).toBeInstanceOf(resources.iot.CreateKeysAndCertificateCommand);
      expect(command.input).toEqual({ setAsActive: true });
    });

    test('stores certificate and key in the secret', async () => {
      await resources.handler(eventFor('Create', 'Custom::IotClaimCertificate'));

      expect(resources.secretsSend).toHaveBeenCalledTimes(1);
      const [command] = resources.secretsSend.mock.calls[0];
      expect(command).toBeInstanceOf(resources.secretsManager.PutSecretValueCommand);
      expect(command.input.SecretId).toBe(SECRET_ARN);
      expect(JSON.parse(command.input.SecretString as string)).toEqual({
        certificateId: CERTIFICATE_ID,
        certificatePem: CERTIFICATE_PEM,
        privateKey: PRIVATE_KEY,
      });
    });

    test('responds with the certificate id and ARN', async () => {
      const event = eventFor('Create', 'Custom::IotClaimCertificate');

      await resources.handler(event);

      expect(lastResponse().body).toEqual({
        Status: 'SUCCESS',
        Reason: expect.any(String),
        PhysicalResourceId: CERTIFICATE_ID,
        StackId: event.StackId,
        RequestId: event.RequestId,
        LogicalResourceId: event.LogicalResourceId,
        NoEcho: true,
        Data: { CertificateId: CERTIFICATE_ID, CertificateArn: CERTIFICATE_ARN },
      });
    });

    test('sends no key or certificate to CloudFormation', async () => {
      await resources.handler(eventFor('Create', 'Custom::IotClaimCertificate'));

      const { text } = lastResponse();
      expect(text).not.toMatch(/PRIVATE KEY/);
      expect(text).not.toMatch(/BEGIN CERTIFICATE/);
    });

    test('logs no key or certificate', async () => {
      await resources.handler(eventFor('Create', 'Custom::IotClaimCertificate'));

      const logs = JSON.stringify(readLogs());
      expect(logs).not.toMatch(/PRIVATE KEY/);
      expect(logs).not.toMatch(/BEGIN CERTIFICATE/);
    });

    test('puts the response as CloudFormation expects', async () => {
      await resources.handler(eventFor('Create', 'Custom::IotClaimCertificate'));

      const response = lastResponse();
      expect(response.method).toBe('PUT');
      expect(response.url).toBe('/cloudformation-response?X-Amz-Signature=abc');
      expect(response.headers['content-type']).toBe('');
      expect(response.headers['content-length']).toBe(String(Buffer.byteLength(response.text)));
    });

    test('issues a new certificate on a rotation update', async () => {
      await resources.handler(eventFor('Update', 'Custom::IotClaimCertificate', OLD_CERTIFICATE_ID));

      expect(commandNames(resources.iotSend)).toEqual(['CreateKeysAndCertificateCommand']);
      expect(lastResponse().body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: CERTIFICATE_ID });
    });
  });

  describe('claim certificate failures', () => {
    test('fails an update of a non-certificate physical id', async () => {
      await resources.handler(eventFor('Update', 'Custom::IotClaimCertificate', 'request-0000'));

      expect(resources.iotSend).not.toHaveBeenCalled();
      expect(lastResponse().body).toMatchObject({ Status: 'FAILED', Reason: "Error: Physical id 'request-0000' is not a certificate id." });
    });

    test('fails a create when IoT rejects it', async () => {
      resources.iotSend.mockRejectedValue(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

      await resources.handler(eventFor('Create', 'Custom::IotClaimCertificate'));

      expect(lastResponse().body).toMatchObject({ Status: 'FAILED', Reason: 'ThrottlingException: Rate exceeded', PhysicalResourceId: 'request-0001' });
      expect(resources.secretsSend).not.toHaveBeenCalled();
    });

    test('retires the certificate when storing it fails', async () => {
      resources.iotSend.mockResolvedValueOnce(CREATED_CERTIFICATE);
      resources.iotSend.mockResolvedValue({});
      resources.secretsSend.mockRejectedValue(Object.assign(new Error('Access denied'), { name: 'AccessDeniedException' }));

      await resources.handler(eventFor('Create', 'Custom::IotClaimCertificate'));

      expect(commandNames(resources.iotSend)).toEqual(['CreateKeysAndCertificateCommand', 'UpdateCertificateCommand', 'DeleteCertificateCommand']);
      expect(resources.iotSend.mock.calls[2][0].input).toEqual({ certificateId: CERTIFICATE_ID, forceDelete: true });
      expect(lastResponse().body).toMatchObject({ Status: 'FAILED', Reason: 'AccessDeniedException: Access denied', PhysicalResourceId: 'request-0001' });
    });

    test('reports the storage error when retiring fails too', async () => {
      resources.iotSend.mockResolvedValueOnce(CREATED_CERTIFICATE);
      resources.iotSend.mockRejectedValue(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
      resources.secretsSend.mockRejectedValue(Object.assign(new Error('Access denied'), { name: 'AccessDeniedException' }));

      await resources.handler(eventFor('Create', 'Custom::IotClaimCertificate'));

      expect(lastResponse().body).toMatchObject({ Status: 'FAILED', Reason: 'AccessDeniedException: Access denied' });
      expect(readLogs()).toContainEqual(expect.objectContaining({ level: 'ERROR', message: 'Retiring the unstored claim certificate failed', certificateId: CERTIFICATE_ID }));
    });

    test('sends no key in a failure reason', async () => {
      resources.iotSend.mockResolvedValueOnce(CREATED_CERTIFICATE);
      resources.iotSend.mockResolvedValue({});
      resources.secretsSend.mockRejectedValue(new Error('Secret value is invalid'));

      await resources.handler(eventFor('Create', 'Custom::IotClaimCertificate'));

      expect(lastResponse().text).not.toMatch(/PRIVATE KEY/);
    });
  });

  describe('claim certificate delete', () => {
    test('deactivates then deletes the certificate', async () => {
      resources.iotSend.mockResolvedValue({});

      await resources.handler(eventFor('Delete', 'Custom::IotClaimCertificate', CERTIFICATE_ID));

      expect(commandNames(resources.iotSend)).toEqual(['UpdateCertificateCommand', 'DeleteCertificateCommand']);
      expect(resources.iotSend.mock.calls[0][0].input).toEqual({ certificateId: CERTIFICATE_ID, newStatus: 'INACTIVE' });
      expect(resources.iotSend.mock.calls[1][0].input).toEqual({ certificateId: CERTIFICATE_ID, forceDelete: true });
      expect(lastResponse().body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: CERTIFICATE_ID });
    });

    test('touches no secret', async () => {
      resources.iotSend.mockResolvedValue({});

      await resources.handler(eventFor('Delete', 'Custom::IotClaimCertificate', CERTIFICATE_ID));

      expect(resources.secretsSend).not.toHaveBeenCalled();
    });

    test('does nothing for a non-certificate physical id', async () => {
      await resources.handler(eventFor('Delete', 'Custom::IotClaimCertificate', 'request-0000'));

      expect(resources.iotSend).not.toHaveBeenCalled();
      expect(lastResponse().body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'request-0000' });
    });

    test('succeeds when the certificate is already gone', async () => {
      resources.iotSend.mockRejectedValue(new resources.iot.ResourceNotFoundException({ message: 'not found', $metadata: {} }));

      await resources.handler(eventFor('Delete', 'Custom::IotClaimCertificate', CERTIFICATE_ID));

      expect(commandNames(resources.iotSend)).toEqual(['UpdateCertificateCommand']);
      expect(lastResponse().body).toMatchObject({ Status: 'SUCCESS' });
    });

    test('fails when the delete fails', async () => {
      resources.iotSend
        .mockResolvedValueOnce({})
        .mockRejectedValueOnce(Object.assign(new Error('Certificate is attached'), { name: 'DeleteConflictException' }));

      await resources.handler(eventFor('Delete', 'Custom::IotClaimCertificate', CERTIFICATE_ID));

      expect(lastResponse().body).toMatchObject({ Status: 'FAILED', Reason: 'DeleteConflictException: Certificate is attached', PhysicalResourceId: CERTIFICATE_ID });
    });
  });

  describe('data endpoint', () => {
    test('looks up the ATS data endpoint', async () => {
      resources.iotSend.mockResolvedValue({ endpointAddress: ENDPOINT });

      await resources.handler(eventFor('Create', 'Custom::IotDataEndpoint'));

      const [command] = resources.iotSend.mock.calls[0];
      expect(command).toBeInstanceOf(resources.iot.DescribeEndpointCommand);
      expect(command.input).toEqual({ endpointType: 'iot:Data-ATS' });
    });

    test('returns EndpointAddress', async () => {
      resources.iotSend.mockResolvedValue({ endpointAddress: ENDPOINT });

      await resources.handler(eventFor('Create', 'Custom::IotDataEndpoint'));

      expect(lastResponse().body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: ENDPOINT, Data: { EndpointAddress: ENDPOINT } });
    });

    test('looks it up again on update', async () => {
      resources.iotSend.mockResolvedValue({ endpointAddress: ENDPOINT });

      await resources.handler(eventFor('Update', 'Custom::IotDataEndpoint', ENDPOINT));

      expect(commandNames(resources.iotSend)).toEqual(['DescribeEndpointCommand']);
      expect(lastResponse().body).toMatchObject({ Status: 'SUCCESS', Data: { EndpointAddress: ENDPOINT } });
    });

    test('does nothing on delete', async () => {
      await resources.handler(eventFor('Delete', 'Custom::IotDataEndpoint', ENDPOINT));

      expect(resources.iotSend).not.toHaveBeenCalled();
      expect(lastResponse().body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: ENDPOINT });
    });
  });

  describe('unsupported resource type', () => {
    test('fails with a reason', async () => {
      await resources.handler(eventFor('Create', 'Custom::Other'));

      expect(lastResponse().body).toMatchObject({
        Status: 'FAILED',
        Reason: expect.stringMatching(/^Error: Unsupported resource type Custom::Other; this function handles Custom::IotClaimCertificate and Custom::IotDataEndpoint\./),
        PhysicalResourceId: 'request-0001',
      });
    });

    test('calls no AWS API', async () => {
      await resources.handler(eventFor('Create', 'Custom::Other'));

      expect(resources.iotSend).not.toHaveBeenCalled();
      expect(resources.secretsSend).not.toHaveBeenCalled();
    });

    test('keeps the physical id on delete', async () => {
      await resources.handler(eventFor('Delete', 'Custom::Other', 'other-id'));

      expect(lastResponse().body).toMatchObject({ Status: 'FAILED', PhysicalResourceId: 'other-id' });
    });
  });

  test('rejects when the response cannot be sent', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const event = { ...eventFor('Delete', 'Custom::IotDataEndpoint', ENDPOINT), ResponseURL: `http://127.0.0.1:${port}/response` };

    await expect(resources.handler(event)).rejects.toThrow(/ECONNREFUSED/);
  });
});
