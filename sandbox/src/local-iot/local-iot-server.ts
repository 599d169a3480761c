/**
 * Runs the local IoT endpoint as a process: a CA, a TLS MQTT broker and the fleet provisioning
 * responder on 127.0.0.1. It writes the CA certificate, a claim certificate and a cloud-side
 * client certificate into --dir, prints one JSON line {"event":"ready",...} with their paths and
 * the port, then one JSON line per registered thing. SIGTERM stops it.
 *
 * Run with: node -r ts-node/register/transpile-only sandbox/src/local-iot/local-iot-server.ts --dir DIR
 * (aedes is an ES module, which Jest before Node 24.9 cannot load, so tests run this as a child process.)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalCa } from './local-ca';
import { LocalMqttBroker } from './mqtt-broker';
import { ProvisioningResponder } from './provisioning-responder';

interface ServerArguments {
  readonly dir: string;
  readonly templateName: string;
  readonly thingNamePrefix: string;
  readonly port: number;
  readonly denySerials: readonly string[];
}

function parseArguments(argv: readonly string[]): ServerArguments {
  const values = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (!flag.startsWith('--') || value === undefined) {
      throw new Error(`invalid argument ${flag}: expected --flag value pairs (--dir, --template, --thing-prefix, --port, --deny-serial)`);
    }
    values.set(flag, [...(values.get(flag) ?? []), value]);
  }
  const dir = values.get('--dir')?.[0];
  if (!dir) throw new Error('missing --dir: the directory for the generated certificates');
  return {
    dir,
    templateName: values.get('--template')?.[0] ?? 'SmartHomeFleetProvisioning',
    thingNamePrefix: values.get('--thing-prefix')?.[0] ?? 'sh-',
    port: Number(values.get('--port')?.[0] ?? '0'),
    denySerials: values.get('--deny-serial') ?? [],
  };
}

function writeSecret(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
}

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  mkdirSync(args.dir, { recursive: true });

  const ca = await LocalCa.create();
  const claim = await ca.issueClientCertificate('claim');
  const cloud = await ca.issueClientCertificate('cloud');
  const files = {
    caFile: join(args.dir, 'ca.pem'),
    claimCertFile: join(args.dir, 'claim-cert.pem'),
    claimKeyFile: join(args.dir, 'claim-key.pem'),
    cloudCertFile: join(args.dir, 'cloud-cert.pem'),
    cloudKeyFile: join(args.dir, 'cloud-key.pem'),
  };
  writeFileSync(files.caFile, ca.certificatePem);
  writeFileSync(files.claimCertFile, claim.certificatePem);
  writeSecret(files.claimKeyFile, claim.privateKeyPem);
  writeFileSync(files.cloudCertFile, cloud.certificatePem);
  writeSecret(files.cloudKeyFile, cloud.privateKeyPem);

  const broker = await LocalMqttBroker.start({ ca, port: args.port });
  const responder = new ProvisioningResponder(broker, ca, {
    templateName: args.templateName,
    thingNamePrefix: args.thingNamePrefix,
    hook: async (parameters) => ({ allowProvisioning: !args.denySerials.includes(parameters.SerialNumber ?? '') }),
    onThingRegistered: (event) => {
      console.log(JSON.stringify({ event: 'thingRegistered', thingName: event.thingName, certificateId: event.certificateId, parameters: event.parameters }));
    },
  });
  responder.start();

  const stop = async (): Promise<void> => {
    await responder.stop();
    await broker.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  console.log(JSON.stringify({ event: 'ready', host: broker.host, port: broker.port, ...files }));
}

main().catch((error: unknown) => {
  console.error(`local-iot-server: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
