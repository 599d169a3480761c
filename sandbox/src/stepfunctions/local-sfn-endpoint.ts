import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { TaskFailedError, TaskTokens } from './task-tokens';

/**
 * The task token calls of the Step Functions API (SendTaskSuccess, SendTaskFailure,
 * SendTaskHeartbeat) on 127.0.0.1, so handlers that resume a waiting workflow use their real
 * AWS SDK client through `AWS_ENDPOINT_URL_SFN`.
 */
export class LocalStepFunctionsEndpoint {
  public static async start(taskTokens: TaskTokens, port = 0): Promise<LocalStepFunctionsEndpoint> {
    const endpoint = new LocalStepFunctionsEndpoint(taskTokens);
    await new Promise<void>((resolve, reject) => {
      endpoint.server.once('error', reject);
      endpoint.server.listen(port, '127.0.0.1', () => resolve());
    });
    return endpoint;
  }

  private readonly server: Server;

  private constructor(private readonly taskTokens: TaskTokens) {
    this.server = createServer((request, response) => {
      void this.handle(request, response);
    });
  }

  /** Endpoint URL for AWS SDK clients. */
  public get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) {
      chunks.push(chunk as Buffer);
    }
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.split('.').pop();
    let body: any;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      switch (operation) {
        case 'SendTaskSuccess':
          this.taskTokens.sendSuccess(body.taskToken, JSON.parse(body.output));
          break;
        case 'SendTaskFailure':
          this.taskTokens.sendFailure(body.taskToken, body.error ?? 'States.TaskFailed', body.cause ?? '');
          break;
        case 'SendTaskHeartbeat':
          break;
        default:
          return reply(response, 400, { __type: 'UnknownOperationException', message: `The local endpoint does not support ${target}.` });
      }
      return reply(response, 200, {});
    } catch (error) {
      const name = error instanceof TaskFailedError ? error.name : 'InvalidToken';
      return reply(response, 400, { __type: name, message: (error as Error).message });
    }
  }
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
  response.end(JSON.stringify(body));
}
