import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * Properties of a DeviceRegistry.
 */
export interface DeviceRegistryProps {
  /**
   * Key that encrypts every table.
   * @default - a new customer managed key with rotation
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * Removal policy of the tables.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Turns on deletion protection for every table.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/**
 * The DynamoDB tables that record devices, their owners, pairing codes, relay commands and
 * idempotency records. Every table is on-demand, encrypted with a customer managed key and has
 * point-in-time recovery; records that expire carry a TTL attribute.
 *
 * @example
 * const registry = new DeviceRegistry(this, 'Registry', { removalPolicy: RemovalPolicy.DESTROY, deletionProtection: false });
 * registry.devicesTable.grantReadData(myFunction);
 */
export class DeviceRegistry extends Construct {
  /** Name of the devices table's index that lists devices by owner. */
  public static readonly DEVICES_BY_OWNER_INDEX = 'byOwner';
  /** Name of the links table's index that lists the users linked to a thing. */
  public static readonly LINKS_BY_THING_INDEX = 'byThing';
  /** Name of the commands table's index that lists a thing's commands by time. */
  public static readonly COMMANDS_BY_THING_INDEX = 'byThing';
  /** Attribute that contains the expiry, in epoch seconds, of records that expire. */
  public static readonly TTL_ATTRIBUTE = 'ttl';

  /** Devices keyed by `thingName`, with owner, capabilities, state and firmware version. */
  public readonly devicesTable: dynamodb.Table;
  /** Links between users and devices, keyed by `userId` and `thingName`. */
  public readonly linksTable: dynamodb.Table;
  /** Pairing codes keyed by the SHA-256 hash of the code (`codeHash`); they expire by TTL. */
  public readonly pairingCodesTable: dynamodb.Table;
  /** Relay commands keyed by `commandId`, with their status; they expire by TTL. */
  public readonly commandsTable: dynamodb.Table;
  /** Idempotency records of the handlers (Powertools layout: `id`, `expiration`). */
  public readonly idempotencyTable: dynamodb.Table;
  /** The key that encrypts the tables. */
  public readonly encryptionKey: kms.IKey;

  private readonly removalPolicy: RemovalPolicy;
  private readonly deletionProtection: boolean;

  constructor(scope: Construct, id: string, props: DeviceRegistryProps = {}) {
    super(scope, id);

    this.removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.deletionProtection = props.deletionProtection ?? true;
    this.encryptionKey = props.encryptionKey ?? new kms.Key(this, 'Key', {
      description: 'Encrypts the device registry tables',
      enableKeyRotation: true,
      removalPolicy: this.removalPolicy,
    });

    this.devicesTable = this.createTable('Devices', { name: 'thingName', type: dynamodb.AttributeType.STRING });
    this.devicesTable.addGlobalSecondaryIndex({
      indexName: DeviceRegistry.DEVICES_BY_OWNER_INDEX,
      partitionKey: { name: 'ownerId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'thingName', type: dynamodb.AttributeType.STRING },
    });

    this.linksTable = this.createTable('Links',
      { name: 'userId', type: dynamodb.AttributeType.STRING },
      { name: 'thingName', type: dynamodb.AttributeType.STRING });
    this.linksTable.addGlobalSecondaryIndex({
      indexName: DeviceRegistry.LINKS_BY_THING_INDEX,
      partitionKey: { name: 'thingName', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'userId', type: dynamodb.AttributeType.STRING },
    });

    this.pairingCodesTable = this.createTable('PairingCodes', { name: 'codeHash', type: dynamodb.AttributeType.STRING }, undefined, DeviceRegistry.TTL_ATTRIBUTE);

    this.commandsTable = this.createTable('Commands', { name: 'commandId', type: dynamodb.AttributeType.STRING }, undefined, DeviceRegistry.TTL_ATTRIBUTE);
    this.commandsTable.addGlobalSecondaryIndex({
      indexName: DeviceRegistry.COMMANDS_BY_THING_INDEX,
      partitionKey: { name: 'thingName', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'issuedAt', type: dynamodb.AttributeType.NUMBER },
    });

    this.idempotencyTable = this.createTable('Idempotency', { name: 'id', type: dynamodb.AttributeType.STRING }, undefined, 'expiration');
  }

  /**
   * Grants read and write access to every registry table and its indexes.
   */
  public grantReadWriteData(grantee: iam.IGrantable): void {
    for (const table of [this.devicesTable, this.linksTable, this.pairingCodesTable, this.commandsTable, this.idempotencyTable]) {
      table.grantReadWriteData(grantee);
    }
  }

  private createTable(id: string, partitionKey: dynamodb.Attribute, sortKey?: dynamodb.Attribute, timeToLiveAttribute?: string): dynamodb.Table {
    return new dynamodb.Table(this, id, {
      partitionKey,
      sortKey,
      timeToLiveAttribute,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: this.deletionProtection,
      removalPolicy: this.removalPolicy,
    });
  }
}
