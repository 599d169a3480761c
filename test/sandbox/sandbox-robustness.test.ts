import { request } from 'node:http';
import { join } from 'node:path';
import { LocalIotDataEndpoint } from '../../sandbox/src/iot/local-iot-data-endpoint';
import { LocalLambdaEndpoint } from '../../sandbox/src/lambda/local-lambda-endpoint';
import { LocalLambdaRuntime } from '../../sandbox/src/lambda/local-lambda-runtime';
import { LocalCa } from '../../sandbox/src/local-iot/local-ca';
import type { LocalMqttBroker, ReceivedMessage } from '../../sandbox/src/local-iot/mqtt-broker';
import { ProvisioningResponder } from '../../sandbox/src/local-iot/provisioning-responder';

/** Sends a raw POST, so the path reaches the server exactly as written. */
function post(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const outgoing = request({ host: target.hostname, port: target.port, path, method: 'POST' }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    outgoing.on('error', reject);
    outgoing.end('{}');
  });
}

describe('local endpoints', () => {
  test('IoT data endpoint rejects a malformed topic and keeps serving', async () => {
    const published: string[] = [];
    const endpoint = await LocalIotDataEndpoint.start((topic) => {
      published.push(topic);
    });
    try {
      expect(await post(endpoint.url, '/topics/%E0%A4%A')).toBe(400);
      expect(await post(endpoint.url, '/topics/iot%2Fcontrol%2Fdev-1%2Frelay?qos=1')).toBe(200);
      expect(published).toEqual(['iot/control/dev-1/relay']);
    } finally {
      await endpoint.stop();
    }
  });

  test('Lambda endpoint rejects a malformed function name and keeps serving', async () => {
    const runtime = new LocalLambdaRuntime({ baseEnvironment: {}, nodeModulesPath: join(__dirname, '..', '..', 'node_modules') });
    const endpoint = await LocalLambdaEndpoint.start(runtime);
    try {
      expect(await post(endpoint.url, '/2015-03-31/functions/%E0%A4%A/invocations')).toBe(400);
      expect(await post(endpoint.url, '/2015-03-31/functions/missing/invocations')).toBe(404);
    } finally {
      await endpoint.stop();
      await runtime.stop();
    }
  });
});

describe('ProvisioningResponder', () => {
  /** The two calls the responder makes on the broker, recorded in memory. */
  class RecordingBroker {
    public readonly replies: { clientId: string; topic: string; body: any }[] = [];
    private listener: ((message: ReceivedMessage) => void) | undefined;

    public onPublish(listener: (message: ReceivedMessage) => void): () => void {
      this.listener = listener;
      return () => undefined;
    }

    public async publishTo(clientId: string, topic: string, payload: string): Promise<void> {
      this.replies.push({ clientId, topic, body: JSON.parse(payload) });
    }

    public send(clientId: string, topic: string, body: unknown): void {
      this.listener!({ clientId, topic, payload: Buffer.from(JSON.stringify(body)), qos: 1 });
    }
  }

  test('rejects a second RegisterThing with a token in use', async () => {
    const ca = await LocalCa.create();
    const broker = new RecordingBroker();
    let releaseHook: () => void = () => undefined;
    const hookCalled = new Promise<void>((resolve) => {
      releaseHook = resolve;
    });
    const responder = new ProvisioningResponder(broker as unknown as LocalMqttBroker, ca, {
      templateName: 'Fleet',
      thingNamePrefix: 'dev-',
      hook: async () => {
        await hookCalled;
        return { allowProvisioning: true };
      },
    });
    responder.start();

    broker.send('dev-A', '$aws/certificates/create/json', {});
    await new Promise((resolve) => setTimeout(resolve, 200));
    const token = broker.replies[0].body.certificateOwnershipToken;
    broker.send('dev-A', '$aws/provisioning-templates/Fleet/provision/json', { certificateOwnershipToken: token, parameters: { SerialNumber: 'A' } });
    broker.send('dev-B', '$aws/provisioning-templates/Fleet/provision/json', { certificateOwnershipToken: token, parameters: { SerialNumber: 'B' } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    releaseHook();
    await responder.stop();

    const outcomes = broker.replies.slice(1).map((reply) => `${reply.clientId} ${reply.topic.split('/').pop()}`);
    expect(outcomes.sort()).toEqual(['dev-A accepted', 'dev-B rejected']);
  });
});
