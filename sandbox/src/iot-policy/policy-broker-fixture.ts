/**
 * Runs the local TLS MQTT broker with IoT policy enforcement for tests, as a process. It loads
 * the IoT policies of a synthesized template and issues one certificate per identity:
 *
 * - `deviceA`, `deviceB`: things dev-a and dev-b with the device policy.
 * - `orphan`: the device policy but no attached thing (common name dev-c).
 * - `claim`: the claim policy and no thing.
 * - `wide`: thing dev-w with a policy that allows subscribing to the literal filter
 *   iot/control/+/relay but receiving only iot/control/dev-w/relay.
 *
 * It writes the CA and client certificates into --dir and prints one JSON line
 * {"event":"ready",...} with their paths and the port, then {"event":"denied",...} for every
 * denied request. Each JSON line {"command":"publish","topic":...,"payload":...} on stdin is
 * published as the cloud and acknowledged with {"event":"published","topic":...}. SIGTERM stops it.
 *
 * Run with: node -r ts-node/register/transpile-only sandbox/src/iot-policy/policy-broker-fixture.ts
 *   --dir DIR --template TEMPLATE.json --device-policy LOGICAL_ID --claim-policy LOGICAL_ID
 * (aedes is an ES module, which Jest before Node 24.9 cannot load, so tests run this as a child process.)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { IotPolicy, loadIotPoliciesFromTemplate } from './iot-policy';
import { CertificatePrincipal, createPolicyAuthorizer } from './policy-authorizer';
import { LocalCa } from '../local-iot/local-ca';
import { LocalMqttBroker } from '../local-iot/mqtt-broker';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../stepfunctions/definition';

interface FixtureArguments {
  readonly dir: string;
  readonly templateFile: string;
  readonly devicePolicy: string;
  readonly claimPolicy: string;
}

interface IdentitySpec {
  readonly commonName: string;
  readonly thingName?: string;
  readonly policy: 'device' | 'claim' | 'wide';
}

const IDENTITIES: Record<string, IdentitySpec> = {
  deviceA: { commonName: 'dev-a', thingName: 'dev-a', policy: 'device' },
  deviceB: { commonName: 'dev-b', thingName: 'dev-b', policy: 'device' },
  orphan: { commonName: 'dev-c', policy: 'device' },
  claim: { commonName: 'claim', policy: 'claim' },
  wide: { commonName: 'dev-w', thingName: 'dev-w', policy: 'wide' },
};

function parseArguments(argv: readonly string[]): FixtureArguments {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (!flag.startsWith('--') || value === undefined) {
      throw new Error(`invalid argument ${flag}: expected --flag value pairs (--dir, --template, --device-policy, --claim-policy)`);
    }
    values.set(flag, value);
  }
  const required = (flag: string, meaning: string): string => {
    const value = values.get(flag);
    if (!value) throw new Error(`missing ${flag}: ${meaning}`);
    return value;
  };
  return {
    dir: required('--dir', 'the directory for the generated certificates'),
    templateFile: required('--template', 'a synthesized CloudFormation template (JSON)'),
    devicePolicy: required('--device-policy', 'the logical id of the device AWS::IoT::Policy'),
    claimPolicy: required('--claim-policy', 'the logical id of the claim AWS::IoT::Policy'),
  };
}

function widePolicy(): IotPolicy {
  const arn = `arn:aws:iot:${LOCAL_REGION}:${LOCAL_ACCOUNT}`;
  return IotPolicy.parse('WideSubscribePolicy', {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'iot:Connect', Resource: `${arn}:client/\${iot:Connection.Thing.ThingName}` },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${arn}:topicfilter/iot/control/+/relay` },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: `${arn}:topic/iot/control/\${iot:Connection.Thing.ThingName}/relay` },
    ],
  });
}

function selectPolicies(args: FixtureArguments): Record<IdentitySpec['policy'], IotPolicy> {
  const template = JSON.parse(readFileSync(args.templateFile, 'utf8'));
  const policies = loadIotPoliciesFromTemplate(template);
  const find = (logicalId: string): IotPolicy => {
    const policy = policies.get(logicalId);
    if (!policy) {
      throw new Error(`AWS::IoT::Policy ${logicalId} not found in ${args.templateFile}; policies found: ${[...policies.keys()].join(', ')}`);
    }
    return policy;
  };
  return { device: find(args.devicePolicy), claim: find(args.claimPolicy), wide: widePolicy() };
}

function printEvent(event: Record<string, unknown>): void {
  console.log(JSON.stringify(event));
}

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  mkdirSync(args.dir, { recursive: true });
  const policies = selectPolicies(args);

  const ca = await LocalCa.create();
  const caFile = join(args.dir, 'ca.pem');
  writeFileSync(caFile, ca.certificatePem);
  const principals = new Map<string, CertificatePrincipal>();
  const files: Record<string, { certFile: string; keyFile: string }> = {};
  for (const [name, spec] of Object.entries(IDENTITIES)) {
    const issued = await ca.issueClientCertificate(spec.commonName);
    files[name] = { certFile: join(args.dir, `${name}-cert.pem`), keyFile: join(args.dir, `${name}-key.pem`) };
    writeFileSync(files[name].certFile, issued.certificatePem);
    writeFileSync(files[name].keyFile, issued.privateKeyPem, { mode: 0o600 });
    principals.set(issued.certificateId, { certificateId: issued.certificateId, policies: [policies[spec.policy]], thingName: spec.thingName });
  }

  const authorizer = createPolicyAuthorizer(
    { lookup: (certificateId) => principals.get(certificateId) },
    { region: LOCAL_REGION, account: LOCAL_ACCOUNT, onDenied: (event) => printEvent({ event: 'denied', ...event }) },
  );
  const broker = await LocalMqttBroker.start({ ca, authorizer });

  const commands = createInterface({ input: process.stdin });
  commands.on('line', (line) => {
    let command: { command?: unknown; topic?: unknown; payload?: unknown };
    try {
      command = JSON.parse(line);
    } catch (error) {
      console.error(`policy-broker-fixture: invalid command line ${JSON.stringify(line)}: ${(error as Error).message}`);
      return;
    }
    if (command.command !== 'publish' || typeof command.topic !== 'string' || typeof command.payload !== 'string') {
      console.error(`policy-broker-fixture: invalid command ${line}; expected {"command":"publish","topic":"...","payload":"..."}`);
      return;
    }
    const topic = command.topic;
    broker.publish(topic, command.payload).then(
      () => printEvent({ event: 'published', topic }),
      (error: Error) => console.error(`policy-broker-fixture: publish to ${topic} failed: ${error.message}`),
    );
  });

  const stop = async (): Promise<void> => {
    commands.close();
    await broker.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  printEvent({ event: 'ready', host: broker.host, port: broker.port, caFile, identities: files });
}

main().catch((error: unknown) => {
  console.error(`policy-broker-fixture: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
