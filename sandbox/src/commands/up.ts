import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assemblyFolder, parseOptions } from '../cli';
import { Sandbox, SandboxUser } from '../sandbox';

const HELP = `Usage: smart-home-sandbox up [options]

Starts the SmartHomePlatform stack of a cloud assembly on 127.0.0.1 and runs until Ctrl-C.

Options:
  --assembly DIR        cloud assembly folder to run (default: ./cdk.out)
  --app COMMAND         synthesize this CDK app first (for example 'npx ts-node bin/app.ts')
  --stage NAME          stage of the platform stack, when the assembly has several (for example dev)
  --stack NAME          stack name of the platform stack
  --data-dir DIR        certificates, endpoints.json and function logs (default: ./.sandbox)
  --mqtt-port PORT      MQTT (TLS) port (default: a free port)
  --api-port PORT       GraphQL HTTP and WebSocket port (default: a free port)
  --persist             keep DynamoDB data in DATA_DIR/dynamodb across runs
  --user NAME[:GROUP]   create a user with a random password; repeatable (default: alice, bob, operator:admins)
  --allow-serial SERIAL add a serial number to the provisioning allow-list; repeatable
  --wait-state-ms MS    make every Step Functions Wait state wait MS milliseconds
  --json                print one JSON line {"event":"ready",...} instead of the summary`;

export async function up(argv: string[]): Promise<number> {
  const values = parseOptions(argv, {
    'assembly': { type: 'string' },
    'app': { type: 'string' },
    'stage': { type: 'string' },
    'stack': { type: 'string' },
    'data-dir': { type: 'string' },
    'mqtt-port': { type: 'string' },
    'api-port': { type: 'string' },
    'persist': { type: 'boolean' },
    'user': { type: 'string', multiple: true },
    'allow-serial': { type: 'string', multiple: true },
    'wait-state-ms': { type: 'string' },
    'json': { type: 'boolean' },
  }, HELP);

  const dataDirectory = resolve(values['data-dir'] ?? '.sandbox');
  mkdirSync(dataDirectory, { recursive: true });
  const functionLogFile = join(dataDirectory, 'functions.log');
  const users = (values.user ?? ['alice', 'bob', 'operator:admins']).map(parseUser);
  const sandbox = await Sandbox.start({
    assembly: assemblyFolder(values, dataDirectory),
    stage: values.stage,
    stack: values.stack,
    dataDirectory,
    mqttPort: portOption('--mqtt-port', values['mqtt-port']),
    apiPort: portOption('--api-port', values['api-port']),
    persistDynamoDb: values.persist === true,
    users,
    allowedSerials: values['allow-serial'],
    waitStateMs: waitStateOption(values['wait-state-ms']),
    log: (line) => console.error(line),
    functionLog: (functionName, line) => appendFileSync(functionLogFile, `${functionName} ${line}\n`),
  });

  if (values.json) {
    console.log(JSON.stringify({ event: 'ready', ...sandbox.endpoints, users, functionLogFile }));
  } else {
    printSummary(sandbox, users, functionLogFile);
  }

  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', () => resolveStop());
    process.once('SIGTERM', () => resolveStop());
  });
  console.error('sandbox: stopping');
  writeFileSync(join(dataDirectory, 'statistics.json'), JSON.stringify({ workflows: sandbox.workflowStatistics() }, null, 2));
  await sandbox.stop();
  // `device` finds a running sandbox by this file, so it goes when the sandbox stops.
  rmSync(join(dataDirectory, 'endpoints.json'), { force: true });
  return 0;
}

function parseUser(value: string): SandboxUser {
  const [username, group] = value.split(':');
  if (!/^[A-Za-z0-9_.@-]{1,128}$/.test(username)) {
    throw new Error(`Invalid --user ${value}: expected NAME or NAME:GROUP with letters, digits, _ . @ or -.`);
  }
  return { username, password: `Local-${randomBytes(9).toString('base64url')}1!`, groups: group ? [group] : [] };
}

function portOption(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`Invalid ${flag} ${value}: expected a TCP port from 0 to 65535.`);
  }
  return port;
}

function printSummary(sandbox: Sandbox, users: readonly SandboxUser[], functionLogFile: string): void {
  const endpoints = sandbox.endpoints;
  const emulated = sandbox.inventory.filter((entry) => entry.treatment === 'emulated').length;
  const inert = sandbox.inventory.filter((entry) => entry.treatment === 'no-local-behaviour');
  const lines = [
    `Sandbox for ${endpoints.stackName}${endpoints.stage ? ` (stage ${endpoints.stage})` : ''} is running.`,
    '',
    `  MQTT (TLS)          ${endpoints.mqtt.host}:${endpoints.mqtt.port}`,
    `  GraphQL (HTTP)      ${endpoints.graphqlUrl}`,
    `  GraphQL (WebSocket) ${endpoints.realtimeUrl}`,
    `  Cognito API         ${endpoints.cognitoUrl} (user pool ${endpoints.userPoolId}, client ${endpoints.userPoolClientId})`,
    `  DynamoDB            ${endpoints.dynamodbUrl}`,
    `  CA certificate      ${endpoints.caFile}`,
    `  Claim certificate   ${endpoints.claimCertFile} (key ${endpoints.claimKeyFile})`,
    `  Provisioning        template ${endpoints.provisioningTemplateName}, thing names ${endpoints.thingNamePrefix}<serial>`,
    `  Function logs       ${functionLogFile}`,
    '',
    'Demo users (local only):',
    ...users.map((user) => `  ${user.username.padEnd(10)} ${user.password}${user.groups?.length ? `  groups: ${user.groups.join(', ')}` : ''}`),
    '',
    'SSM parameters of the stack, with their local values:',
    ...Object.entries(sandbox.parameters()).map(([name, value]) => `  ${name} = ${value}`),
    '',
    `${emulated} resources run locally. ${inert.length} have no local behaviour:`,
    ...summarizeInert(inert),
    '',
    'Ctrl-C stops the sandbox.',
  ];
  console.log(lines.join('\n'));
}

function summarizeInert(entries: { type: string; detail: string }[]): string[] {
  const byType = new Map<string, { count: number; detail: string }>();
  for (const entry of entries) {
    const current = byType.get(entry.type) ?? { count: 0, detail: entry.detail };
    current.count += 1;
    byType.set(entry.type, current);
  }
  return [...byType.entries()].map(([type, { count, detail }]) => `  ${String(count).padStart(3)} x ${type}: ${detail}`);
}

function waitStateOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const milliseconds = Number(value);
  if (!Number.isInteger(milliseconds) || milliseconds < 0) {
    throw new Error(`Invalid --wait-state-ms ${value}: expected a whole number of milliseconds, 0 or more.`);
  }
  return milliseconds;
}
