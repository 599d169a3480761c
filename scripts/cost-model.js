#!/usr/bin/env node
// Estimates the monthly AWS bill of the platform from a synthesized template. It reads the topic
// rules and their actions, the queues' batch sizes, each function's MemorySize and architecture,
// and the Step Functions definitions. It then counts the billable units that one device causes in
// a month and multiplies them by list prices. docs/cost.md explains every assumption.
//
// Run: node scripts/cost-model.js [--readings-per-minute N] [--commands-per-day N] [--template PATH]
//      [--sensors-per-reading N] [--energy-meter-share X] [--reconnects-per-day N]
//      [--rollouts-per-month N] [--devices N,N,...] [--json]
//
// The output is an estimate. Handler durations and DynamoDB item sizes are estimates stated in
// ESTIMATES below, prices are the first tier of us-east-1 list prices without free tiers, and
// the sources of the prices are in PRICES.

const fs = require('node:fs');
const path = require('node:path');

const DEFAULT_TEMPLATE_DIRECTORY = path.join(__dirname, '..', 'examples', 'app', 'cdk.out', 'assembly-dev');
const MINUTES_PER_MONTH = 30 * 24 * 60;
const DAYS_PER_MONTH = 30;
const KB = 1024;
const GB = 1024 * 1024 * 1024;

/** Date on which the prices below were looked up. */
const PRICES_TAKEN_ON = '2026-12-05';

/**
 * us-east-1 list prices as published by AWS, first tier, without free tiers. `source` records
 * how far each price was confirmed on PRICES_TAKEN_ON.
 */
const PRICES = {
  iotMessage: { usd: 1.0 / 1e6, unit: 'message (5 KB)', source: 'aws.amazon.com/iot-core/pricing (worked example; the US East table did not render)' },
  iotConnectionMinute: { usd: 0.08 / 1e6, unit: 'connection minute', source: 'aws.amazon.com/iot-core/pricing (worked example; the US East table did not render)' },
  iotRuleTriggered: { usd: 0.15 / 1e6, unit: 'rule triggered', source: 'not confirmed' },
  iotRuleAction: { usd: 0.15 / 1e6, unit: 'action executed', source: 'not confirmed' },
  iotJobRemoteAction: { usd: 0.003, unit: 'job execution (remote action), first 250,000', source: 'aws.amazon.com/iot-device-management/pricing (worked example)' },
  lambdaRequest: { usd: 0.2 / 1e6, unit: 'invocation', source: 'not confirmed' },
  lambdaArmGbSecond: { usd: 0.0000133334, unit: 'GB-second, arm64', source: 'third-party page quoting aws.amazon.com/lambda/pricing' },
  lambdaX86GbSecond: { usd: 0.0000166667, unit: 'GB-second, x86_64', source: 'third-party page quoting aws.amazon.com/lambda/pricing' },
  sfnStateTransition: { usd: 0.025 / 1000, unit: 'Standard state transition', source: 'third-party page quoting aws.amazon.com/step-functions/pricing' },
  sfnExpressRequest: { usd: 1.0 / 1e6, unit: 'Express request', source: 'third-party page quoting aws.amazon.com/step-functions/pricing' },
  sfnExpressGbSecond: { usd: 0.00001667, unit: 'Express GB-second', source: 'third-party page quoting aws.amazon.com/step-functions/pricing' },
  dynamoDbWriteUnit: { usd: 0.625 / 1e6, unit: 'write request unit (on-demand)', source: 'third-party page quoting aws.amazon.com/dynamodb/pricing' },
  dynamoDbReadUnit: { usd: 0.125 / 1e6, unit: 'read request unit (on-demand)', source: 'third-party page quoting aws.amazon.com/dynamodb/pricing' },
  sqsRequest: { usd: 0.4 / 1e6, unit: 'request (64 KB)', source: 'third-party page quoting aws.amazon.com/sqs/pricing' },
  eventBridgeCustomEvent: { usd: 1.0 / 1e6, unit: 'custom event (64 KB)', source: 'third-party page quoting aws.amazon.com/eventbridge/pricing' },
  eventBridgeArchiveGb: { usd: 0.1, unit: 'GB archived', source: 'third-party page quoting aws.amazon.com/eventbridge/pricing' },
  eventBridgeArchiveStorageGbMonth: { usd: 0.023, unit: 'GB-month of archive', source: 'third-party page quoting aws.amazon.com/eventbridge/pricing' },
  firehoseGb: { usd: 0.029, unit: 'GB ingested, each record rounded up to 5 KB', source: 'price not confirmed; the 5 KB rounding is on aws.amazon.com/kinesis/data-firehose/pricing' },
  s3StandardGbMonth: { usd: 0.023, unit: 'GB-month, S3 Standard', source: 'not confirmed' },
  s3PutRequest: { usd: 0.005 / 1000, unit: 'PUT request', source: 'not confirmed' },
  appSyncRequest: { usd: 4.0 / 1e6, unit: 'query or mutation', source: 'third-party page quoting aws.amazon.com/appsync/pricing' },
  appSyncRealTimeUpdate: { usd: 2.0 / 1e6, unit: 'real-time update', source: 'aws.amazon.com/appsync/pricing' },
  appSyncConnectionMinute: { usd: 0.08 / 1e6, unit: 'real-time connection minute', source: 'aws.amazon.com/appsync/pricing' },
  kmsKeyMonth: { usd: 1.0, unit: 'customer managed key-month', source: 'not confirmed' },
  secretMonth: { usd: 0.4, unit: 'secret-month', source: 'not confirmed' },
  alarmMonth: { usd: 0.1, unit: 'standard alarm-month', source: 'not confirmed' },
  dashboardMonth: { usd: 3.0, unit: 'dashboard-month', source: 'not confirmed' },
};

/**
 * Estimates that no template states. Durations are per invocation or per message as named;
 * item sizes are in KB.
 */
const ESTIMATES = {
  forwarderBaseMs: 30,
  forwarderPerMessageMs: 2,
  processorBaseMs: 30,
  processorPerMessageMs: 30,
  relayStepMs: 60,
  acknowledgementMs: 50,
  resolverMs: 80,
  onboardingStepMs: 60,
  otaStepMs: 200,
  onboardingExpressSeconds: 0.3,
  // Lambda pollers fill batches only when the queue has messages waiting; half full is a guess.
  batchFill: 0.5,
  deviceItemKb: 2,
  // Measured with src/domain/anomaly-detector.ts: the JSON of a state item after 1,440 readings
  // of 3 sensors has 3,399 bytes.
  telemetryStateItemKb: 3.4,
  commandItemKb: 0.6,
  commandItemWithTokenKb: 1.6,
  eventBytes: 600,
  lambdaPollersPerQueue: 5,
  emptyPollsPerPollerMinute: 3,
  appQueriesPerDeviceDay: 5,
  appConnectedMinutesPerDeviceDay: 60,
  subscribersPerDevice: 1,
  messagesPerReconnect: 7,
  jobMessagesPerDevice: 7,
  rolloutHours: 24,
};

/** Page size of the OTA workflow's Record device outcomes step (DEVICE_PAGE_SIZE in src/ota/ota-rollout.lambda.ts). */
const OTA_DEVICE_PAGE_SIZE = 100;

/** States that a successful relay command enters. */
const RELAY_COMMAND_SUCCESS_PATH = ['Record command', 'Already recorded?', 'Publish and wait for acknowledgement', 'Record outcome', 'Command finished'];

const OPTIONS = {
  '--readings-per-minute': { key: 'readingsPerMinute', default: 1, help: 'telemetry messages each device publishes per minute' },
  '--commands-per-day': { key: 'commandsPerDay', default: 10, help: 'relay commands per device per day' },
  '--sensors-per-reading': { key: 'sensorsPerReading', default: 2, help: 'readings in one telemetry message' },
  '--energy-meter-share': { key: 'energyMeterShare', default: 1, help: 'share of devices with an energy meter, 0 to 1; each sends an energy status with every telemetry message' },
  '--reconnects-per-day': { key: 'reconnectsPerDay', default: 1, help: 'MQTT reconnects per device per day' },
  '--rollouts-per-month': { key: 'rolloutsPerMonth', default: 1, help: 'OTA rollouts to the whole fleet per month' },
};

const USAGE = 'Usage: node scripts/cost-model.js [--readings-per-minute N] [--commands-per-day N] [--template PATH] '
  + '[--sensors-per-reading N] [--energy-meter-share X] [--reconnects-per-day N] [--rollouts-per-month N] [--devices N,N,...] [--json]';

/** Parses command-line arguments. Throws for an unknown option or an invalid value, naming it. */
function parseArguments(argv) {
  const options = { template: undefined, devices: [100, 10000, 1000000], json: false };
  for (const spec of Object.values(OPTIONS)) {
    options[spec.key] = spec.default;
  }
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    if (name === '--json') {
      options.json = true;
      continue;
    }
    if (name === '--help') {
      options.help = true;
      continue;
    }
    const value = argv[i + 1];
    if (name === '--template' || name === '--devices' || OPTIONS[name]) {
      if (value === undefined || value.startsWith('--')) {
        throw new Error(`Option ${name} needs a value. ${USAGE}`);
      }
      i++;
    }
    if (name === '--template') {
      options.template = path.resolve(value);
    } else if (name === '--devices') {
      options.devices = value.split(',').map((count) => {
        if (!/^[1-9][0-9]*$/.test(count)) {
          throw new Error(`Invalid --devices value '${value}': give positive integers separated by commas, for example 100,10000.`);
        }
        return Number(count);
      });
    } else if (OPTIONS[name]) {
      const number = Number(value);
      if (!Number.isFinite(number) || number < 0 || value.trim() === '') {
        throw new Error(`Invalid ${name} value '${value}': give a number of 0 or more.`);
      }
      if (name === '--energy-meter-share' && number > 1) {
        throw new Error(`Invalid --energy-meter-share value '${value}': give a share from 0 to 1.`);
      }
      options[OPTIONS[name].key] = number;
    } else {
      throw new Error(`Unknown option '${name}'. ${USAGE}`);
    }
  }
  return options;
}

/**
 * Returns the path of the one template in an assembly folder, such as a stage's
 * `cdk.out/assembly-dev`, or throws with the command that creates it.
 */
function findTemplate(directory) {
  const files = fs.existsSync(directory)
    ? fs.readdirSync(directory).filter((file) => file.endsWith('.template.json'))
    : [];
  if (files.length !== 1) {
    throw new Error(`Expected one template in ${directory}, found ${files.length}; `
      + 'run `npx projen bundle && npm run synth:example`, or pass --template PATH.');
  }
  return path.join(directory, files[0]);
}

function loadTemplate(templatePath) {
  if (!fs.existsSync(templatePath)) {
    throw new Error(`Template ${templatePath} not found; run \`npx projen bundle && npm run synth:example\`, or pass --template PATH.`);
  }
  return JSON.parse(fs.readFileSync(templatePath, 'utf8'));
}

/** Turns Fn::Join, Ref and Fn::GetAtt into text, so that SQL and definitions can be read. */
function flatten(value) {
  if (typeof value === 'string') {
    return value;
  }
  if (value && value['Fn::Join']) {
    const [separator, parts] = value['Fn::Join'];
    return parts.map(flatten).join(separator);
  }
  if (value && value.Ref) {
    return `\${${value.Ref}}`;
  }
  if (value && value['Fn::GetAtt']) {
    return `\${${value['Fn::GetAtt'].join('.')}}`;
  }
  return JSON.stringify(value);
}

/** Logical id without the 8-character hash that CDK appends. */
function baseId(logicalId) {
  return logicalId.replace(/[0-9A-F]{8}$/, '');
}

function referencedId(value) {
  if (value && value.Ref) {
    return value.Ref;
  }
  if (value && value['Fn::GetAtt']) {
    return value['Fn::GetAtt'][0];
  }
  return undefined;
}

function resourcesOfType(template, type) {
  return Object.entries(template.Resources ?? {})
    .filter(([, resource]) => resource.Type === type)
    .map(([logicalId, resource]) => ({ logicalId, properties: resource.Properties ?? {} }));
}

/** Finds the one resource of a type whose logical id, without its hash, ends with `suffix`. */
function findResource(template, type, suffix) {
  const matches = resourcesOfType(template, type).filter((resource) => baseId(resource.logicalId).endsWith(suffix));
  if (matches.length !== 1) {
    throw new Error(`Expected one ${type} whose logical id ends with '${suffix}', found ${matches.length}; is this a template of SmartHomePlatform?`);
  }
  return matches[0];
}

/**
 * Counts the state transitions of one execution path, checking that the path starts at StartAt,
 * that each state can move to the next one, and that the last state ends the execution.
 */
function countTransitions(definition, statePath) {
  if (statePath[0] !== definition.StartAt) {
    throw new Error(`Path starts at '${statePath[0]}', but the definition starts at '${definition.StartAt}'.`);
  }
  for (let i = 0; i < statePath.length; i++) {
    const state = definition.States[statePath[i]];
    if (!state) {
      throw new Error(`State '${statePath[i]}' is not in the definition; its states are: ${Object.keys(definition.States).join(', ')}.`);
    }
    const next = statePath[i + 1];
    if (next === undefined) {
      if (!(state.End || state.Type === 'Succeed' || state.Type === 'Fail')) {
        throw new Error(`Path ends at '${statePath[i]}', which does not end an execution.`);
      }
      continue;
    }
    const targets = [state.Next, state.Default, ...(state.Choices ?? []).map((choice) => choice.Next), ...(state.Catch ?? []).map((caught) => caught.Next)];
    if (!targets.includes(next)) {
      throw new Error(`State '${statePath[i]}' cannot move to '${next}'.`);
    }
  }
  return statePath.length;
}

function otaPath(waitLoops, pages) {
  const statePath = ['Start rollout', 'Verify firmware image', 'Create job'];
  for (let i = 0; i < waitLoops; i++) {
    statePath.push('Wait for devices', 'Check job progress', 'Rollout finished?');
  }
  statePath.push('Start device records');
  for (let i = 0; i < pages; i++) {
    statePath.push('Record device outcomes', 'More devices?');
  }
  statePath.push('Record rollout outcome', 'Rollout aborted?', 'Rollout completed');
  return statePath;
}

/** Reads from the template everything the model uses. */
function analyzeTemplate(template) {
  const functions = {};
  for (const fn of resourcesOfType(template, 'AWS::Lambda::Function')) {
    functions[fn.logicalId] = {
      memoryMb: fn.properties.MemorySize ?? 128,
      architecture: (fn.properties.Architectures ?? ['x86_64'])[0],
      environment: Object.keys(fn.properties.Environment?.Variables ?? {}),
    };
  }
  const functionBySuffix = (suffix) => {
    const found = findResource(template, 'AWS::Lambda::Function', suffix);
    return { logicalId: found.logicalId, ...functions[found.logicalId] };
  };

  const batchSizeByQueue = {};
  for (const mapping of resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')) {
    batchSizeByQueue[referencedId(mapping.properties.EventSourceArn)] = mapping.properties.BatchSize ?? 10;
  }

  const rules = resourcesOfType(template, 'AWS::IoT::TopicRule').map((rule) => {
    const payload = rule.properties.TopicRulePayload;
    const sql = flatten(payload.Sql);
    const topicFilter = /FROM '([^']+)'/.exec(sql)?.[1];
    const queues = payload.Actions.filter((action) => action.Sqs).map((action) => referencedId(action.Sqs.QueueUrl));
    return { logicalId: rule.logicalId, topicFilter, actionCount: payload.Actions.length, queue: queues[0] };
  });
  const ruleFor = (topicFilter) => {
    const rule = rules.find((candidate) => candidate.topicFilter === topicFilter);
    if (!rule) {
      throw new Error(`No topic rule reads '${topicFilter}'; the rules read: ${rules.map((candidate) => candidate.topicFilter).join(', ')}.`);
    }
    return { ...rule, batchSize: batchSizeByQueue[rule.queue] };
  };

  const definitions = {};
  for (const machine of resourcesOfType(template, 'AWS::StepFunctions::StateMachine')) {
    definitions[baseId(machine.logicalId)] = { type: machine.properties.StateMachineType ?? 'STANDARD', definition: JSON.parse(flatten(machine.properties.DefinitionString)) };
  }
  const machineBySuffix = (suffix) => {
    const found = findResource(template, 'AWS::StepFunctions::StateMachine', suffix);
    return definitions[baseId(found.logicalId)];
  };

  const relayMachine = machineBySuffix('RelayCommandsStateMachine');
  const otaMachine = machineBySuffix('OtaRolloutStateMachine');
  const onboardingMachine = machineBySuffix('OnboardingStateMachine');
  const waitSeconds = otaMachine.definition.States['Wait for devices']?.Seconds;
  if (!waitSeconds) {
    throw new Error('The OTA rollout definition has no Wait for devices state with Seconds.');
  }
  const waitLoops = Math.ceil((ESTIMATES.rolloutHours * 3600) / waitSeconds);
  const otaOnePage = countTransitions(otaMachine.definition, otaPath(waitLoops, 1));
  const otaTwoPages = countTransitions(otaMachine.definition, otaPath(waitLoops, 2));

  const telemetryQueue = findResource(template, 'AWS::SQS::Queue', 'TelemetryQueue');
  const archive = resourcesOfType(template, 'AWS::KinesisFirehose::DeliveryStream')[0];

  return {
    rules: {
      telemetry: ruleFor('iot/telemetry/+'),
      energy: ruleFor('iot/status/+/energy'),
      relayStatus: ruleFor('iot/status/+/relay'),
      capabilities: ruleFor('iot/capabilities/+'),
      connected: ruleFor('$aws/events/presence/connected/+'),
      disconnected: ruleFor('$aws/events/presence/disconnected/+'),
    },
    ruleCount: rules.length,
    functions: {
      forwarder: functionBySuffix('TopicRulesForwarder'),
      processor: functionBySuffix('TelemetryProcessor'),
      relaySteps: functionBySuffix('RelayCommandsSteps'),
      acknowledgements: functionBySuffix('RelayCommandsAcknowledgements'),
      resolver: functionBySuffix('ApiResolversResolver'),
      onboardingSteps: functionBySuffix('OnboardingSteps'),
      otaSteps: functionBySuffix('OtaRolloutSteps'),
    },
    processorBatchSize: batchSizeByQueue[telemetryQueue.logicalId],
    // The processor evaluates READING automation rules only when the construct passes it the rules table.
    processorQueriesRules: functionBySuffix('TelemetryProcessor').environment.includes('AUTOMATION_RULES_TABLE'),
    relayCommand: { type: relayMachine.type, transitions: countTransitions(relayMachine.definition, RELAY_COMMAND_SUCCESS_PATH) },
    onboarding: { type: onboardingMachine.type },
    ota: {
      type: otaMachine.type,
      waitSeconds,
      waitLoops,
      fixedTransitions: otaOnePage - (otaTwoPages - otaOnePage),
      transitionsPerPage: otaTwoPages - otaOnePage,
    },
    eventSourceMappings: Object.keys(batchSizeByQueue).length,
    firehoseBufferSeconds: archive?.properties.ExtendedS3DestinationConfiguration?.BufferingHints?.IntervalInSeconds ?? 300,
    counts: {
      kmsKeys: resourcesOfType(template, 'AWS::KMS::Key').length,
      secrets: resourcesOfType(template, 'AWS::SecretsManager::Secret').length,
      alarms: resourcesOfType(template, 'AWS::CloudWatch::Alarm').length,
      dashboards: resourcesOfType(template, 'AWS::CloudWatch::Dashboard').length,
    },
  };
}

function gbSecondPriceKey(fn) {
  return fn.architecture === 'arm64' ? 'lambdaArmGbSecond' : 'lambdaX86GbSecond';
}

function gbSeconds(fn, milliseconds) {
  return (fn.memoryMb / 1024) * (milliseconds / 1000);
}

/** Bytes of one archive record as the processor writes it, for a message with `sensors` readings. */
function archiveRecordBytes(kind, sensors) {
  const base = { thingName: 'sh-SH-ESP32-000123', kind, timestamp: 1764892860000, receivedAt: 1764892860412 };
  const record = kind === 'telemetry'
    ? { ...base, readings: Object.fromEntries(Array.from({ length: sensors }, (_, i) => [`sensor${i + 1}`, 21.5])) }
    : { ...base, energyKwh: 1520.4, powerW: 230.1, voltageV: 229.8, currentA: 1.02, relay: 'relay1' };
  return Buffer.byteLength(`${JSON.stringify(record)}\n`);
}

function writeUnits(kb) {
  return Math.ceil(kb);
}

function readUnits(kb, stronglyConsistent) {
  const units = Math.ceil(kb / 4);
  return stronglyConsistent ? units : units / 2;
}

/**
 * Builds the cost lines: `perDevice` lines give quantities per device-month, `fixed` lines give
 * quantities per month whatever the fleet size.
 */
function buildCostModel(analysis, options) {
  const perDevice = [];
  const fixed = [];
  const add = (list, group, item, quantity, priceKey, basis) => {
    list.push({ group, item, quantity, price: priceKey, usd: quantity * PRICES[priceKey].usd, basis });
  };
  const { functions, rules } = analysis;
  const fill = ESTIMATES.batchFill;

  // Telemetry and energy status: one message of each per reading.
  const telemetryMessages = options.readingsPerMinute * MINUTES_PER_MONTH;
  const energyMessages = telemetryMessages * options.energyMeterShare;
  const readingMessages = telemetryMessages + energyMessages;
  const forwarderBatch = rules.telemetry.batchSize * fill;
  const processorBatch = analysis.processorBatchSize * fill;
  add(perDevice, 'telemetry', 'MQTT messages: telemetry and energy status', readingMessages, 'iotMessage', 'one 5 KB block per message');
  add(perDevice, 'telemetry', 'rules triggered: Telemetry, EnergyStatus', readingMessages, 'iotRuleTriggered', 'one rule per topic');
  add(perDevice, 'telemetry', 'rule actions (SQS)', telemetryMessages * rules.telemetry.actionCount + energyMessages * rules.energy.actionCount, 'iotRuleAction', 'actions per rule, from the template');
  add(perDevice, 'telemetry', 'SQS requests: rule queue and telemetry queue', readingMessages * (2 + 2 / forwarderBatch + 2 / processorBatch), 'sqsRequest',
    `a send into each queue, a receive and a delete batch per ${forwarderBatch}-message forwarder batch and per ${processorBatch}-message processor batch`);
  add(perDevice, 'telemetry', 'Lambda invocations: forwarder and processor', readingMessages * (1 / forwarderBatch + 1 / processorBatch), 'lambdaRequest', 'one per batch');
  const forwarderMs = ESTIMATES.forwarderBaseMs + ESTIMATES.forwarderPerMessageMs * forwarderBatch;
  const processorMs = ESTIMATES.processorBaseMs + ESTIMATES.processorPerMessageMs * processorBatch;
  add(perDevice, 'telemetry', `Lambda GB-seconds: forwarder (${functions.forwarder.memoryMb} MB)`, (readingMessages / forwarderBatch) * gbSeconds(functions.forwarder, forwarderMs),
    gbSecondPriceKey(functions.forwarder), `${forwarderMs} ms per batch`);
  add(perDevice, 'telemetry', `Lambda GB-seconds: processor (${functions.processor.memoryMb} MB)`, (readingMessages / processorBatch) * gbSeconds(functions.processor, processorMs),
    gbSecondPriceKey(functions.processor), `${processorMs} ms per batch`);
  add(perDevice, 'telemetry', 'EventBridge custom events: Telemetry Reported, Energy Status Reported', readingMessages, 'eventBridgeCustomEvent', 'one PutEvents entry per message');
  add(perDevice, 'telemetry', 'EventBridge archive: events archived', (readingMessages * ESTIMATES.eventBytes) / GB, 'eventBridgeArchiveGb', `${ESTIMATES.eventBytes} bytes per event`);
  add(perDevice, 'telemetry', 'EventBridge archive: storage (30-day retention)', (readingMessages * ESTIMATES.eventBytes) / GB, 'eventBridgeArchiveStorageGbMonth', 'one month of events held');
  const stateReads = readUnits(ESTIMATES.telemetryStateItemKb, true) + readUnits(ESTIMATES.deviceItemKb, false);
  add(perDevice, 'telemetry', 'DynamoDB reads: state (consistent) and device per message', readingMessages * stateReads, 'dynamoDbReadUnit', `${stateReads} RRU per message`);
  if (analysis.processorQueriesRules) {
    // The processor caches a device's rules for 30 s per instance; at one reading a minute or less
    // the cache rarely hits, so one query per telemetry message is the upper bound used here.
    add(perDevice, 'telemetry', 'DynamoDB reads: automation rules of the device (byDevice index)', telemetryMessages * readUnits(1, false), 'dynamoDbReadUnit',
      'one Query per telemetry message, upper bound');
  }
  const telemetryWrites = writeUnits(ESTIMATES.deviceItemKb) + options.sensorsPerReading + writeUnits(ESTIMATES.telemetryStateItemKb);
  const energyWrites = writeUnits(ESTIMATES.deviceItemKb) + writeUnits(ESTIMATES.telemetryStateItemKb);
  add(perDevice, 'telemetry', 'DynamoDB writes: latest readings, recent readings, state', telemetryMessages * telemetryWrites + energyMessages * energyWrites, 'dynamoDbWriteUnit',
    `${telemetryWrites} WRU per telemetry message, ${energyWrites} per energy status`);
  add(perDevice, 'telemetry', 'Firehose ingestion', (readingMessages * 5 * KB) / GB, 'firehoseGb', 'one record per message, rounded up to 5 KB');
  const archiveBytes = telemetryMessages * archiveRecordBytes('telemetry', options.sensorsPerReading) + energyMessages * archiveRecordBytes('energy', 0);
  add(perDevice, 'telemetry', 'S3 archive: one month of records in Standard', archiveBytes / GB, 's3StandardGbMonth', 'uncompressed JSON lines');
  add(perDevice, 'telemetry', 'S3 PUT requests above the buffer interval', archiveBytes / (64 * 1024 * 1024), 's3PutRequest', 'one object per 64 MB');

  // Relay commands: controlRelay, the Standard workflow, the device and its acknowledgement.
  const commands = options.commandsPerDay * DAYS_PER_MONTH;
  const idempotencyWrites = 2;
  add(perDevice, 'commands', 'AppSync requests: controlRelay, publishDeviceUpdate', commands * 2, 'appSyncRequest', 'one mutation by the app, one by the workflow');
  add(perDevice, 'commands', 'AppSync real-time updates: command outcome', commands * ESTIMATES.subscribersPerDevice, 'appSyncRealTimeUpdate', `${ESTIMATES.subscribersPerDevice} subscriber per device`);
  add(perDevice, 'commands', `Step Functions ${analysis.relayCommand.type} transitions`, commands * analysis.relayCommand.transitions, 'sfnStateTransition',
    `${analysis.relayCommand.transitions} states on the success path`);
  add(perDevice, 'commands', 'IoT messages: command, PUBACK, acknowledgement', commands * 4, 'iotMessage', 'HTTP Publish, its delivery, PUBACK from the device, relay status');
  add(perDevice, 'commands', 'rules triggered: RelayStatus', commands, 'iotRuleTriggered', 'one per acknowledgement');
  add(perDevice, 'commands', 'rule actions (SQS)', commands * rules.relayStatus.actionCount, 'iotRuleAction', 'actions per rule, from the template');
  add(perDevice, 'commands', 'SQS requests: device events queue', commands * (1 + 2 / (rules.relayStatus.batchSize * fill)), 'sqsRequest', 'send, receive and delete batch');
  add(perDevice, 'commands', 'EventBridge custom events: Relay State Reported', commands, 'eventBridgeCustomEvent', 'one per acknowledgement');
  add(perDevice, 'commands', 'Lambda invocations: resolver, 3 steps, acknowledgement, forwarder share', commands * (5 + 1 / (rules.relayStatus.batchSize * fill)), 'lambdaRequest', 'one per call');
  const commandGbSeconds = gbSeconds(functions.resolver, ESTIMATES.resolverMs)
    + 3 * gbSeconds(functions.relaySteps, ESTIMATES.relayStepMs)
    + gbSeconds(functions.acknowledgements, ESTIMATES.acknowledgementMs);
  add(perDevice, 'commands', 'Lambda GB-seconds: resolver, steps, acknowledgement', commands * commandGbSeconds, gbSecondPriceKey(functions.relaySteps),
    `${ESTIMATES.resolverMs} ms, 3 x ${ESTIMATES.relayStepMs} ms, ${ESTIMATES.acknowledgementMs} ms`);
  const commandReads = 2 * (readUnits(1, false) + readUnits(ESTIMATES.deviceItemKb, false));
  add(perDevice, 'commands', 'DynamoDB reads: ownership checks in the resolver and the workflow', commands * commandReads, 'dynamoDbReadUnit', `${commandReads} RRU per command`);
  const commandWrites = 4 * idempotencyWrites + writeUnits(ESTIMATES.commandItemKb) + 3 * writeUnits(ESTIMATES.commandItemWithTokenKb) + writeUnits(ESTIMATES.deviceItemKb);
  add(perDevice, 'commands', 'DynamoDB writes: command record, relay state, idempotency records', commands * commandWrites, 'dynamoDbWriteUnit', `${commandWrites} WRU per command`);

  // Reconnects: presence events, the capability document and the Express onboarding workflow.
  const reconnects = options.reconnectsPerDay * DAYS_PER_MONTH;
  add(perDevice, 'connections', 'IoT connection minutes', MINUTES_PER_MONTH, 'iotConnectionMinute', 'always connected');
  add(perDevice, 'connections', 'MQTT messages per reconnect', reconnects * ESTIMATES.messagesPerReconnect, 'iotMessage', 'CONNECT, SUBSCRIBEs, capabilities, job query');
  add(perDevice, 'connections', 'rules triggered: Capabilities, Connected, Disconnected', reconnects * 3, 'iotRuleTriggered', 'three rules per reconnect');
  add(perDevice, 'connections', 'rule actions (SQS)', reconnects * (rules.capabilities.actionCount + rules.connected.actionCount + rules.disconnected.actionCount), 'iotRuleAction',
    'actions per rule, from the template');
  add(perDevice, 'connections', 'SQS requests: device events queue', reconnects * 3 * (1 + 2 / (rules.capabilities.batchSize * fill)), 'sqsRequest', 'three messages per reconnect');
  add(perDevice, 'connections', 'EventBridge custom events: Connected, Disconnected, Capabilities Reported', reconnects * 3, 'eventBridgeCustomEvent', 'no rule consumes the presence events');
  add(perDevice, 'connections', `Step Functions ${analysis.onboarding.type} requests: onboarding`, reconnects, 'sfnExpressRequest', 'one execution per capability document');
  add(perDevice, 'connections', 'Step Functions Express GB-seconds: onboarding', reconnects * (64 / 1024) * ESTIMATES.onboardingExpressSeconds, 'sfnExpressGbSecond',
    `${ESTIMATES.onboardingExpressSeconds} s at the 64 MB minimum`);
  add(perDevice, 'connections', 'Lambda invocations: onboarding step and forwarder share', reconnects * (1 + 3 / (rules.capabilities.batchSize * fill)), 'lambdaRequest', 'register only: unchanged capabilities');
  add(perDevice, 'connections', 'Lambda GB-seconds: onboarding step', reconnects * gbSeconds(functions.onboardingSteps, ESTIMATES.onboardingStepMs), gbSecondPriceKey(functions.onboardingSteps),
    `${ESTIMATES.onboardingStepMs} ms`);
  add(perDevice, 'connections', 'DynamoDB reads: registration check', reconnects * readUnits(ESTIMATES.deviceItemKb, true), 'dynamoDbReadUnit', 'one consistent read of the device');
  add(perDevice, 'connections', 'DynamoDB writes: last seen, idempotency record', reconnects * (writeUnits(ESTIMATES.deviceItemKb) + idempotencyWrites), 'dynamoDbWriteUnit', 'UpdateItem and two idempotency writes');

  // The app: queries and the real-time connection.
  const appQueries = ESTIMATES.appQueriesPerDeviceDay * DAYS_PER_MONTH;
  add(perDevice, 'app', 'AppSync requests: getDeviceState and other queries', appQueries, 'appSyncRequest', `${ESTIMATES.appQueriesPerDeviceDay} per device-day`);
  add(perDevice, 'app', 'Lambda invocations: resolver', appQueries, 'lambdaRequest', 'one per query');
  add(perDevice, 'app', 'Lambda GB-seconds: resolver', appQueries * gbSeconds(functions.resolver, ESTIMATES.resolverMs), gbSecondPriceKey(functions.resolver), `${ESTIMATES.resolverMs} ms`);
  add(perDevice, 'app', 'DynamoDB reads: ownership check', appQueries * (readUnits(1, false) + readUnits(ESTIMATES.deviceItemKb, false)), 'dynamoDbReadUnit', 'link and device');
  add(perDevice, 'app', 'AppSync real-time connection minutes', ESTIMATES.appConnectedMinutesPerDeviceDay * DAYS_PER_MONTH, 'appSyncConnectionMinute',
    `${ESTIMATES.appConnectedMinutesPerDeviceDay} minutes per device-day`);

  // OTA rollouts: per-device parts, then the fixed part of each rollout below.
  const rollouts = options.rolloutsPerMonth;
  add(perDevice, 'ota', 'IoT job executions', rollouts, 'iotJobRemoteAction', 'one per device per rollout');
  add(perDevice, 'ota', 'MQTT messages: job topics', rollouts * ESTIMATES.jobMessagesPerDevice, 'iotMessage', 'notify, start-next, status updates and replies');
  add(perDevice, 'ota', `Step Functions ${analysis.ota.type} transitions: device pages`, rollouts * (analysis.ota.transitionsPerPage / OTA_DEVICE_PAGE_SIZE), 'sfnStateTransition',
    `${analysis.ota.transitionsPerPage} per page of ${OTA_DEVICE_PAGE_SIZE} devices`);
  add(perDevice, 'ota', 'DynamoDB writes: rollout record per device', rollouts * 1, 'dynamoDbWriteUnit', 'one item per device');

  // Fixed monthly costs.
  add(fixed, 'ota', `Step Functions ${analysis.ota.type} transitions per rollout`, rollouts * analysis.ota.fixedTransitions, 'sfnStateTransition',
    `${analysis.ota.waitLoops.toLocaleString('en-US')} checks ${analysis.ota.waitSeconds} s apart over ${ESTIMATES.rolloutHours} h`);
  // Verify, Create job, one Check job progress per wait, and Record rollout outcome.
  const otaInvocations = analysis.ota.waitLoops + 3;
  add(fixed, 'ota', 'Lambda invocations: OTA steps', rollouts * otaInvocations, 'lambdaRequest', 'device pages not counted');
  add(fixed, 'ota', 'Lambda GB-seconds: OTA steps', rollouts * otaInvocations * gbSeconds(functions.otaSteps, ESTIMATES.otaStepMs), gbSecondPriceKey(functions.otaSteps),
    `${ESTIMATES.otaStepMs} ms per step`);
  const pollRequests = analysis.eventSourceMappings * ESTIMATES.lambdaPollersPerQueue * ESTIMATES.emptyPollsPerPollerMinute * MINUTES_PER_MONTH;
  add(fixed, 'platform', 'SQS empty receives of Lambda pollers', pollRequests, 'sqsRequest',
    `${analysis.eventSourceMappings} queues x ${ESTIMATES.lambdaPollersPerQueue} pollers x ${ESTIMATES.emptyPollsPerPollerMinute} long polls a minute`);
  add(fixed, 'platform', 'S3 PUT requests: one object per Firehose buffer interval', MINUTES_PER_MONTH * 60 / analysis.firehoseBufferSeconds, 's3PutRequest',
    `${analysis.firehoseBufferSeconds} s buffer`);
  add(fixed, 'platform', 'KMS customer managed keys', analysis.counts.kmsKeys, 'kmsKeyMonth', 'from the template');
  add(fixed, 'platform', 'Secrets Manager secrets', analysis.counts.secrets, 'secretMonth', 'from the template');
  add(fixed, 'platform', 'CloudWatch alarms', analysis.counts.alarms, 'alarmMonth', 'from the template');
  add(fixed, 'platform', 'CloudWatch dashboards', analysis.counts.dashboards, 'dashboardMonth', 'from the template');

  return { perDevice, fixed };
}

function sum(lines) {
  return lines.reduce((total, line) => total + line.usd, 0);
}

/** Monthly totals for each fleet size: per-device lines times the count, plus the fixed lines. */
function totalsFor(model, deviceCounts) {
  const perDeviceUsd = sum(model.perDevice);
  const fixedUsd = sum(model.fixed);
  return deviceCounts.map((devices) => {
    const variableUsd = perDeviceUsd * devices;
    const totalUsd = variableUsd + fixedUsd;
    return { devices, variableUsd, fixedUsd, totalUsd, perDeviceUsd: totalUsd / devices };
  });
}

function groupTotals(lines) {
  const totals = {};
  for (const line of lines) {
    totals[line.group] = (totals[line.group] ?? 0) + line.usd;
  }
  return totals;
}

/** Runs the model for parsed options and returns the report that --json prints. */
function createReport(options) {
  const templatePath = options.template ?? findTemplate(DEFAULT_TEMPLATE_DIRECTORY);
  const analysis = analyzeTemplate(loadTemplate(templatePath));
  const model = buildCostModel(analysis, options);
  return {
    template: path.relative(process.cwd(), templatePath),
    inputs: Object.fromEntries(Object.values(OPTIONS).map((spec) => [spec.key, options[spec.key]])),
    estimates: ESTIMATES,
    pricesTakenOn: PRICES_TAKEN_ON,
    prices: PRICES,
    analysis,
    perDevice: model.perDevice,
    perDeviceByGroup: groupTotals(model.perDevice),
    fixed: model.fixed,
    totals: totalsFor(model, options.devices),
  };
}

function formatNumber(value) {
  if (value === 0) {
    return '0';
  }
  if (Math.abs(value) >= 1000) {
    return Math.round(value).toLocaleString('en-US');
  }
  if (Math.abs(value) >= 1) {
    return value.toFixed(2).replace(/\.?0+$/, '');
  }
  return value.toPrecision(3).replace(/\.?0+$/, '');
}

function formatUsd(value) {
  if (value >= 100) {
    return `$${Math.round(value).toLocaleString('en-US')}`;
  }
  if (value >= 0.01) {
    return `$${value.toFixed(2)}`;
  }
  return `$${value.toPrecision(2)}`;
}

function formatPrice(key) {
  const price = PRICES[key];
  const perMillion = price.usd * 1e6;
  return price.usd < 0.001 ? `$${formatNumber(perMillion)} per million` : `$${formatNumber(price.usd)}`;
}

/** Renders a report as markdown tables. */
function renderMarkdown(report) {
  const lines = [];
  const inputs = report.inputs;
  lines.push(`Template: \`${report.template}\``);
  lines.push(`Inputs: ${inputs.readingsPerMinute} reading(s) a minute with ${inputs.sensorsPerReading} sensors, energy meter share ${inputs.energyMeterShare}, `
    + `${inputs.commandsPerDay} commands a day, ${inputs.reconnectsPerDay} reconnect(s) a day, ${inputs.rolloutsPerMonth} OTA rollout(s) a month.`);
  lines.push('');

  lines.push('Per device-month:');
  lines.push('');
  lines.push('| group | item | quantity | unit price | USD | basis |');
  lines.push('| --- | --- | ---: | ---: | ---: | --- |');
  for (const line of report.perDevice) {
    lines.push(`| ${line.group} | ${line.item} | ${formatNumber(line.quantity)} | ${formatPrice(line.price)} | ${formatUsd(line.usd)} | ${line.basis} |`);
  }
  lines.push('');

  lines.push('| group | USD per device-month |');
  lines.push('| --- | ---: |');
  for (const [group, usd] of Object.entries(report.perDeviceByGroup)) {
    lines.push(`| ${group} | ${formatUsd(usd)} |`);
  }
  lines.push('');

  lines.push('Fixed per month, whatever the fleet size:');
  lines.push('');
  lines.push('| group | item | quantity | unit price | USD | basis |');
  lines.push('| --- | --- | ---: | ---: | ---: | --- |');
  for (const line of report.fixed) {
    lines.push(`| ${line.group} | ${line.item} | ${formatNumber(line.quantity)} | ${formatPrice(line.price)} | ${formatUsd(line.usd)} | ${line.basis} |`);
  }
  lines.push('');

  lines.push('| devices | per-device costs | fixed costs | total per month | per device-month |');
  lines.push('| ---: | ---: | ---: | ---: | ---: |');
  for (const total of report.totals) {
    lines.push(`| ${total.devices.toLocaleString('en-US')} | ${formatUsd(total.variableUsd)} | ${formatUsd(total.fixedUsd)} | ${formatUsd(total.totalUsd)} | ${formatUsd(total.perDeviceUsd)} |`);
  }
  lines.push('');

  lines.push(`Prices: us-east-1 list prices as published by AWS, first tier, no free tier, looked up on ${report.pricesTakenOn}.`);
  lines.push('');
  lines.push('| price | USD | unit | source |');
  lines.push('| --- | ---: | --- | --- |');
  for (const [key, price] of Object.entries(report.prices)) {
    lines.push(`| ${key} | ${price.usd < 0.001 ? `${formatNumber(price.usd * 1e6)} per million` : formatNumber(price.usd)} | ${price.unit} | ${price.source} |`);
  }
  return `${lines.join('\n')}\n`;
}

function main(argv) {
  const options = parseArguments(argv);
  if (options.help) {
    const help = Object.entries(OPTIONS).map(([name, spec]) => `  ${name} N  ${spec.help} (default ${spec.default})`);
    return [USAGE, ...help, '  --template PATH  synthesized platform template (default: the example app\'s dev stage)',
      '  --devices N,N,...  fleet sizes of the totals table (default 100,10000,1000000)', '  --json  print the report as JSON', ''].join('\n');
  }
  const report = createReport(options);
  return options.json ? `${JSON.stringify(report, null, 2)}\n` : renderMarkdown(report);
}

module.exports = {
  ESTIMATES,
  PRICES,
  PRICES_TAKEN_ON,
  RELAY_COMMAND_SUCCESS_PATH,
  analyzeTemplate,
  buildCostModel,
  countTransitions,
  createReport,
  findTemplate,
  loadTemplate,
  main,
  parseArguments,
  renderMarkdown,
  totalsFor,
};

if (require.main === module) {
  try {
    process.stdout.write(main(process.argv.slice(2)));
  } catch (error) {
    process.stderr.write(`cost-model: ${error.message}\n`);
    process.exit(2);
  }
}
