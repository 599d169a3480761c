import type * as EventBridgeModule from '@aws-sdk/client-eventbridge';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { captureLogs, loadIsolated } from './isolated-module';
import type * as ForwarderModule from '../../src/iot/device-message-forwarder.lambda';

const EVENT_BUS_NAME = 'platform-bus';
const THING_NAME = 'sh-SH-ESP32-000123';

interface PutEventsRequest {
  readonly input: { Entries: { Source: string; DetailType: string; Detail: string; EventBusName: string }[] };
}

type SendMock = jest.Mock<Promise<unknown>, [PutEventsRequest]>;

interface LoadedForwarder {
  readonly handler: typeof ForwarderModule.handler;
  readonly eventBridge: typeof EventBridgeModule;
  readonly send: SendMock;
}

function loadForwarder(): LoadedForwarder {
  return loadIsolated({ EVENT_BUS_NAME }, () => {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const eventBridge = require('@aws-sdk/client-eventbridge') as typeof EventBridgeModule;
    const send = jest.spyOn(eventBridge.EventBridgeClient.prototype, 'send') as unknown as SendMock;
    const { handler } = require('../../src/iot/device-message-forwarder.lambda') as typeof ForwarderModule;
    /* eslint-enable @typescript-eslint/no-require-imports */
    return { handler, eventBridge, send };
  });
}

function telemetryBody(seq: number): string {
  const payload = JSON.stringify({ timestamp: 1764892860000, seq, readings: { temperature: 21.5 } });
  return JSON.stringify({ kind: 'telemetry', thingName: THING_NAME, receivedAt: 1764892860123, payload: Buffer.from(payload).toString('base64') });
}

function record(messageId: string, body: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `handle-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1764892860123',
      SenderId: 'AROAEXAMPLE',
      ApproximateFirstReceiveTimestamp: '1764892860200',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:device-events',
    awsRegion: 'eu-west-1',
  };
}

function eventOf(count: number, body: (index: number) => string = telemetryBody): SQSEvent {
  return { Records: Array.from({ length: count }, (_, index) => record(`m${index}`, body(index))) };
}

/** Returns the PutEvents output of EventBridge accepting every entry. */
function acceptAll(command: PutEventsRequest): Promise<unknown> {
  return Promise.resolve({ FailedEntryCount: 0, Entries: command.input.Entries.map((_, index) => ({ EventId: `event-${index}` })) });
}

const readLogs = captureLogs();

describe('device message forwarder', () => {
  const forwarder = loadForwarder();

  beforeEach(() => {
    forwarder.send.mockReset();
  });

  test('puts every record on the bus', async () => {
    forwarder.send.mockImplementation(acceptAll);

    const response = await forwarder.handler(eventOf(3));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(forwarder.send).toHaveBeenCalledTimes(1);
    const [command] = forwarder.send.mock.calls[0];
    expect(command).toBeInstanceOf(forwarder.eventBridge.PutEventsCommand);
    expect(command.input.Entries).toHaveLength(3);
  });

  test('sends entries to the configured bus', async () => {
    forwarder.send.mockImplementation(acceptAll);

    await forwarder.handler(eventOf(1));

    const [command] = forwarder.send.mock.calls[0];
    expect(command.input.Entries[0]).toMatchObject({ EventBusName: EVENT_BUS_NAME, Source: 'cdk-smart-home.device', DetailType: 'Telemetry Reported' });
  });

  test('reports entries that EventBridge rejects', async () => {
    forwarder.send.mockResolvedValue({
      FailedEntryCount: 1,
      Entries: [{ EventId: 'event-0' }, { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal failure' }, { EventId: 'event-2' }],
    });

    const response = await forwarder.handler(eventOf(3));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
  });

  test('fails the whole chunk when PutEvents throws', async () => {
    forwarder.send.mockRejectedValue(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    const response = await forwarder.handler(eventOf(3));

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }, { itemIdentifier: 'm1' }, { itemIdentifier: 'm2' }]);
  });

  test('logs a failed PutEvents call', async () => {
    forwarder.send.mockRejectedValue(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    await forwarder.handler(eventOf(3));

    expect(readLogs()).toContainEqual(expect.objectContaining({ level: 'ERROR', message: 'PutEvents failed', messages: 3 }));
  });

  test('splits more than 10 records into chunks of 10', async () => {
    forwarder.send.mockImplementation(acceptAll);

    const response = await forwarder.handler(eventOf(23));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(forwarder.send.mock.calls.map(([command]) => command.input.Entries.length)).toEqual([10, 10, 3]);
  });

  test('fails only the chunk whose call throws', async () => {
    forwarder.send
      .mockImplementationOnce(acceptAll)
      .mockRejectedValueOnce(new Error('socket hang up'))
      .mockImplementationOnce(acceptAll);

    const response = await forwarder.handler(eventOf(23));

    const failed = response.batchItemFailures.map((failure) => failure.itemIdentifier);
    expect(failed).toEqual(['m10', 'm11', 'm12', 'm13', 'm14', 'm15', 'm16', 'm17', 'm18', 'm19']);
  });

  test('maps rejected entries of a later chunk to their records', async () => {
    forwarder.send
      .mockImplementationOnce(acceptAll)
      .mockResolvedValueOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'a' }, { EventId: 'b' }, { ErrorCode: 'InternalFailure' }] });

    const response = await forwarder.handler(eventOf(13));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm12' }] });
  });

  test('reports malformed bodies as failures', async () => {
    forwarder.send.mockImplementation(acceptAll);
    const bodies = [telemetryBody(0), 'not json', telemetryBody(2), '{"kind":"telemetry"}'];

    const response = await forwarder.handler(eventOf(4, (index) => bodies[index]));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }, { itemIdentifier: 'm3' }] });
    const [command] = forwarder.send.mock.calls[0];
    expect(command.input.Entries).toHaveLength(2);
  });

  test('calls nothing for a batch of malformed bodies', async () => {
    const response = await forwarder.handler(eventOf(2, () => '{}'));

    expect(response.batchItemFailures).toHaveLength(2);
    expect(forwarder.send).not.toHaveBeenCalled();
  });

  test('forwards an invalid payload as an event', async () => {
    forwarder.send.mockImplementation(acceptAll);
    const invalid = JSON.stringify({ kind: 'telemetry', thingName: THING_NAME, receivedAt: 1, payload: Buffer.from('{"readings":{}}').toString('base64') });

    const response = await forwarder.handler(eventOf(1, () => invalid));

    expect(response).toEqual({ batchItemFailures: [] });
    const [command] = forwarder.send.mock.calls[0];
    expect(JSON.parse(command.input.Entries[0].Detail)).toMatchObject({ valid: false, message: null });
  });
});
