import { randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/** An event that a handler put on a bus, with its detail parsed. */
export interface LocalEvent {
  readonly eventId: string;
  readonly eventBusName: string;
  readonly source: string;
  readonly detailType: string;
  readonly detail: any;
  /** ISO 8601 time of the entry, or of its arrival when the entry has none. */
  readonly time?: string;
  readonly resources?: string[];
}

/** Largest number of entries in one PutEvents request, as EventBridge allows. */
const MAX_ENTRIES = 10;

/**
 * The PutEvents call of the EventBridge API on 127.0.0.1, so handlers send events through their
 * real AWS SDK client (`AWS_ENDPOINT_URL_EVENTBRIDGE`). Events are recorded in memory and go to
 * no rule. `failNextEntries` makes the next requests report failed entries, as EventBridge does
 * when it throttles.
 */
export class LocalEventsEndpoint {
  public static async start(port = 0): Promise<LocalEventsEndpoint> {
    const endpoint = new LocalEventsEndpoint();
    await new Promise<void>((resolve, reject) => {
      endpoint.server.once('error', reject);
      endpoint.server.listen(port, '127.0.0.1', () => resolve());
    });
    return endpoint;
  }

  /** Events that PutEvents accepted, in order. */
  public readonly events: LocalEvent[] = [];
  /** Whether accepted events are kept in `events`; long sandbox runs turn this off. */
  public recordEvents = true;
  private failingRequests = 0;
  private readonly server: Server;


  private constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        const target = String(request.headers['x-amz-target'] ?? '');
        response.setHeader('content-type', 'application/x-amz-json-1.1');
        if (target !== 'AWSEvents.PutEvents') {
          response.writeHead(400).end(JSON.stringify({ __type: 'UnknownOperationException', message: `The local endpoint does not support ${target || 'requests without X-Amz-Target'}.` }));
          return;
        }
        const result = this.putEvents(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        response.writeHead(result.status).end(JSON.stringify(result.body));
      });
    });
  }

  /** Called for each accepted event, after it is recorded; the sandbox routes events to rules here. */
  public onEvent: (event: LocalEvent) => void = () => undefined;

  /** Endpoint URL for AWS SDK clients. */
  public get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Makes the next `requests` PutEvents calls fail every entry with ThrottlingException. */
  public failNextEntries(requests: number): void {
    this.failingRequests = requests;
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private putEvents(request: { Entries?: any[] }): { status: number; body: unknown } {
    const entries = request.Entries ?? [];
    if (entries.length === 0 || entries.length > MAX_ENTRIES) {
      return { status: 400, body: { __type: 'ValidationException', message: `PutEvents takes 1 to ${MAX_ENTRIES} entries, got ${entries.length}.` } };
    }
    if (this.failingRequests > 0) {
      this.failingRequests -= 1;
      return {
        status: 200,
        body: {
          FailedEntryCount: entries.length,
          Entries: entries.map(() => ({ ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' })),
        },
      };
    }

    const results = entries.map((entry) => {
      if (!entry.Source || !entry.DetailType || typeof entry.Detail !== 'string') {
        return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Source, DetailType and Detail are required.' };
      }
      let detail: unknown;
      try {
        detail = JSON.parse(entry.Detail);
      } catch {
        return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is not valid JSON.' };
      }
      const eventId = randomUUID();
      const event: LocalEvent = {
        eventId,
        eventBusName: entry.EventBusName ?? 'default',
        source: entry.Source,
        detailType: entry.DetailType,
        detail,
        time: eventTime(entry.Time),
        resources: entry.Resources ?? [],
      };
      if (this.recordEvents) this.events.push(event);
      this.onEvent(event);
      return { EventId: eventId };
    });
    const failed = results.filter((result) => 'ErrorCode' in result).length;
    return { status: 200, body: { FailedEntryCount: failed, Entries: results } };
  }
}

/** Returns an entry's Time (epoch seconds or a date string) in ISO 8601, or now when it has none. */
function eventTime(time: unknown): string {
  if (time === undefined || time === null || time === '') {
    return new Date().toISOString();
  }
  return new Date(typeof time === 'number' ? time * 1000 : String(time)).toISOString();
}
