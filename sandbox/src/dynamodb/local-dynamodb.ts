import { AddressInfo } from 'node:net';
import { CreateTableCommand, CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: Record<string, unknown>) => import('node:http').Server;

/** A dynalite server on 127.0.0.1 with the tables of a synthesized template. */
export class LocalDynamoDb {
  /**
   * Starts dynalite in memory, or persisted in `path`, on a free port of 127.0.0.1.
   */
  public static async start(options: { path?: string; port?: number } = {}): Promise<LocalDynamoDb> {
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path: options.path });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    return new LocalDynamoDb(server);
  }

  /** Endpoint URL for AWS SDK clients (`AWS_ENDPOINT_URL_DYNAMODB`). */
  public readonly endpoint: string;
  public readonly client: DynamoDBClient;
  /** TTL attribute of each table that has one, by table name. */
  public readonly ttlAttributes = new Map<string, string>();

  private constructor(private readonly server: import('node:http').Server) {
    const address = server.address() as AddressInfo;
    this.endpoint = `http://127.0.0.1:${address.port}`;
    this.client = new DynamoDBClient({ endpoint: this.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  }

  /**
   * Creates every AWS::DynamoDB::Table of a template, named after its logical id, with its keys,
   * indexes and TTL attribute. Returns the names of the tables created.
   */
  public async createTablesFromTemplate(
    template: { Resources: Record<string, { Type: string; Properties?: any }> },
    options: { ignoreExisting?: boolean } = {},
  ): Promise<string[]> {
    const created: string[] = [];
    for (const [logicalId, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::DynamoDB::Table') {
        continue;
      }
      try {
        await this.client.send(new CreateTableCommand(tableInput(logicalId, resource.Properties)));
      } catch (error) {
        // A persisted folder keeps the tables of an earlier run.
        if (!(options.ignoreExisting && (error as Error).name === 'ResourceInUseException')) throw error;
      }
      // dynalite has no UpdateTimeToLive, so the TTL attribute is only recorded here.
      // NOTE: expired items stay in dynalite; handlers must compare expiry times themselves,
      // which they do because DynamoDB also deletes expired items only eventually.
      const ttl = resource.Properties.TimeToLiveSpecification;
      if (ttl?.Enabled) {
        this.ttlAttributes.set(logicalId, ttl.AttributeName);
      }
      created.push(logicalId);
    }
    return created;
  }

  public async stop(): Promise<void> {
    this.client.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function tableInput(name: string, properties: any): CreateTableCommandInput {
  // dynalite expects provisioned throughput; on-demand tables get a nominal value locally.
  const throughput = { ReadCapacityUnits: 1000, WriteCapacityUnits: 1000 };
  return {
    TableName: name,
    KeySchema: properties.KeySchema,
    AttributeDefinitions: properties.AttributeDefinitions,
    ProvisionedThroughput: throughput,
    GlobalSecondaryIndexes: properties.GlobalSecondaryIndexes?.map((index: any) => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: index.Projection,
      ProvisionedThroughput: throughput,
    })),
  };
}
