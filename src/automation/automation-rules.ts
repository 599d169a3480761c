import { CfnResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as appsync from 'aws-cdk-lib/aws-appsync';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AutomationRulesFunction } from './automation-rules-function';
import { PlatformApi } from '../api/platform-api';
import { INVOKE_RESOLVER_CODE } from '../api/private/resolver-code';
import { acknowledgeRules } from '../private/acknowledge';
import { DeviceRegistry } from '../registry/device-registry';
import { createWorkflowFunction } from '../workflows/private/workflow-resources';

/**
 * Properties of AutomationRules.
 */
export interface AutomationRulesProps {
  /** API that receives the automation rule fields' resolvers. */
  readonly api: PlatformApi;

  /** Registry whose links and devices tables show which devices a user owns. */
  readonly registry: DeviceRegistry;

  /**
   * Key that encrypts the rules table, the function's logs and its environment.
   * @default - the registry's key for the table, AWS managed keys for the logs and environment
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Removal policy of the rules table.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Turns on deletion protection for the rules table.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/**
 * Automation rules that switch a relay when a condition on a device holds, such as "switch the
 * heater off on an over-current anomaly". Owners create, list, update and delete their rules
 * through the GraphQL API (`listAutomationRules`, `createAutomationRule`, `updateAutomationRule`,
 * `deleteAutomationRule`). A rule may fire only inside a daily window in its time zone, and at
 * most once per cooldown (default 300 seconds, at least 60).
 *
 * Every device that a rule names must be linked to the rule's owner when the rule is saved, and
 * the AnomalyResponseWorkflow checks again each time the rule fires. Rules live in an on-demand,
 * encrypted table with point-in-time recovery, keyed by `ownerId` and `ruleId`. Its `byDevice`
 * index finds the rules whose condition names a device.
 *
 * The AnomalyResponseWorkflow fires ANOMALY rules on the detector's anomalies. READING rules
 * fire when a TelemetryPipeline evaluates them (`evaluateAutomationRules`) and the workflow
 * receives its Automation Rule Triggered events.
 *
 * @example
 * const rules = new AutomationRules(this, 'Rules', { api, registry });
 * new AnomalyResponseWorkflow(this, 'AnomalyResponse', { registry, eventBus: bus.eventBus, rules, api });
 * telemetry.evaluateAutomationRules(rules);
 */
export class AutomationRules extends Construct {
  /** Name of the rules table's index that lists rules by the device of their condition (`conditionDeviceId`) and owner. */
  public static readonly RULES_BY_DEVICE_INDEX = 'byDevice';

  /** Rules keyed by `ownerId` and `ruleId`. */
  public readonly rulesTable: dynamodb.Table;
  /** Resolves the automation rule fields of the API. */
  public readonly resolverFunction: lambda.IFunction;
  /** The API's data source for the resolver function. */
  public readonly dataSource: appsync.LambdaDataSource;

  constructor(scope: Construct, id: string, props: AutomationRulesProps) {
    super(scope, id);

    const registry = props.registry;
    this.rulesTable = new dynamodb.Table(this, 'Rules', {
      partitionKey: { name: 'ownerId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'ruleId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.encryptionKey ?? registry.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.rulesTable.addGlobalSecondaryIndex({
      indexName: AutomationRules.RULES_BY_DEVICE_INDEX,
      partitionKey: { name: 'conditionDeviceId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'ownerId', type: dynamodb.AttributeType.STRING },
    });

    const fn = createWorkflowFunction(this, 'Resolver', AutomationRulesFunction, {
      registry,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    }, {
      description: 'Resolves the platform API\'s automation rule fields with ownership checks',
      invokedSynchronously: true,
      timeout: Duration.seconds(25),
      environment: { AUTOMATION_RULES_TABLE: this.rulesTable.tableName },
    });
    this.rulesTable.grantReadWriteData(fn);
    registry.linksTable.grantReadData(fn);
    registry.devicesTable.grantReadData(fn);
    acknowledgeRules(fn.role!, [{
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(this.rulesTable)}.Arn>/index/*]`,
      reason: 'CDK table grants include the table\'s indexes; the function queries rules by owner on the table itself.',
    }]);
    this.resolverFunction = fn;

    this.dataSource = new appsync.LambdaDataSource(this, 'DataSource', {
      api: props.api.api,
      lambdaFunction: fn,
      name: 'AutomationRules',
      description: 'Automation rules of the signed-in user',
    });
    acknowledgeRules(this.dataSource, [{
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(fn)}.Arn>:*]`,
      reason: 'CDK grants AppSync invoke on every version and alias of the automation rules function.',
    }]);

    const fields: [string, string][] = [
      ['Query', 'listAutomationRules'],
      ['Mutation', 'createAutomationRule'],
      ['Mutation', 'updateAutomationRule'],
      ['Mutation', 'deleteAutomationRule'],
    ];
    for (const [typeName, fieldName] of fields) {
      new appsync.Resolver(this, `${typeName}${fieldName}`, {
        api: props.api.api,
        dataSource: this.dataSource,
        typeName,
        fieldName,
        runtime: appsync.FunctionRuntime.JS_1_0_0,
        code: appsync.Code.fromInline(INVOKE_RESOLVER_CODE),
      });
    }
  }
}

function logicalIdOf(construct: { node: { defaultChild?: unknown } }): string {
  const resource = construct.node.defaultChild as CfnResource;
  return Stack.of(resource).getLogicalId(resource);
}
