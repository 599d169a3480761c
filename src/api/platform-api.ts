import { Stack } from 'aws-cdk-lib';
import * as appsync from 'aws-cdk-lib/aws-appsync';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { PLATFORM_SCHEMA } from './private/schema';
import { acknowledgeKmsGrantWildcards, acknowledgeRules, skipCheckovChecks } from '../private/acknowledge';
import { DeviceRegistry } from '../registry/device-registry';

/**
 * Properties of a PlatformApi.
 */
export interface PlatformApiProps {
  /** User pool whose users call the API. */
  readonly userPool: cognito.IUserPool;

  /** Registry whose tables back the resolvers. */
  readonly registry: DeviceRegistry;

  /**
   * Name of the GraphQL API.
   * @default - the construct path
   */
  readonly name?: string;

  /**
   * ARN of an AWS WAF web ACL (scope REGIONAL) to associate with the API, for example with
   * rate-based and managed rule groups.
   * @default - no web ACL
   */
  readonly webAclArn?: string;

  /**
   * Key that encrypts the API's log group.
   * @default - AWS managed encryption
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long the API's logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The platform's AppSync GraphQL API: user pool sign-in for users, IAM for the backend, the
 * device schema, and data sources on the registry tables.
 *
 * @example
 * const api = new PlatformApi(this, 'Api', { userPool: auth.userPool, registry });
 */
export class PlatformApi extends Construct {
  public readonly api: appsync.GraphqlApi;
  /** Data source on the devices table. */
  public readonly devicesDataSource: appsync.DynamoDbDataSource;
  /** Data source on the links table. */
  public readonly linksDataSource: appsync.DynamoDbDataSource;
  /** Data source for resolvers that need no backend call, such as publishDeviceUpdate. */
  public readonly noneDataSource: appsync.NoneDataSource;

  constructor(scope: Construct, id: string, props: PlatformApiProps) {
    super(scope, id);

    // A role limited to the API's own log group, instead of the AWSAppSyncPushToCloudWatchLogs
    // managed policy that reaches every log group.
    const logsRole = new iam.Role(this, 'LogsRole', {
      assumedBy: new iam.ServicePrincipal('appsync.amazonaws.com'),
      description: 'Lets AppSync write the platform API\'s logs',
    });

    this.api = new appsync.GraphqlApi(this, 'Api', {
      name: props.name ?? this.node.path.replace(/\//g, '-'),
      definition: appsync.Definition.fromSchema(new InlineSchema(PLATFORM_SCHEMA)),
      authorizationConfig: {
        defaultAuthorization: {
          authorizationType: appsync.AuthorizationType.USER_POOL,
          userPoolConfig: { userPool: props.userPool },
        },
        additionalAuthorizationModes: [{ authorizationType: appsync.AuthorizationType.IAM }],
      },
      xrayEnabled: true,
      introspectionConfig: appsync.IntrospectionConfig.ENABLED,
      queryDepthLimit: 8,
    });

    // AppSync writes to a log group named after the API id. Creating it here sets its retention
    // without the log retention custom resource and its extra function.
    // The L2 logConfig always adds a log retention custom resource and its function, so the
    // logging settings go on the L1 resource and the log group is created here.
    (this.api.node.defaultChild as appsync.CfnGraphQLApi).logConfig = {
      cloudWatchLogsRoleArn: logsRole.roleArn,
      fieldLogLevel: appsync.FieldLogLevel.ERROR,
      excludeVerboseContent: true,
    };
    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/appsync/apis/${this.api.apiId}`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: props.encryptionKey,
    });
    logsRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn, `${logGroup.logGroupArn}:log-stream:*`],
    }));
    acknowledgeRules(this, [
      {
        id: 'AwsSolutions-ASC3',
        reason: 'Verbose request logs would write request headers and resolver context, which carry users\' tokens and device data; errors are logged without them.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup)}.Arn>:log-stream:*]`,
        reason: 'AppSync creates log streams with generated names inside the API\'s own log group.',
      },
    ]);

    if (props.webAclArn) {
      new wafv2.CfnWebACLAssociation(this, 'WebAcl', { resourceArn: this.api.arn, webAclArn: props.webAclArn });
    } else {
      skipCheckovChecks(this.api, [{
        id: 'CKV2_AWS_33',
        reason: 'A web ACL is billed monthly per API and is the webAclArn prop; without it, Cognito and IAM authorization still reject unauthenticated requests before any resolver runs.',
      }]);
    }

    this.devicesDataSource = this.api.addDynamoDbDataSource('Devices', props.registry.devicesTable);
    this.linksDataSource = this.api.addDynamoDbDataSource('Links', props.registry.linksTable);
    this.noneDataSource = this.api.addNoneDataSource('None');
    const tableDataSources = [
      [this.devicesDataSource, props.registry.devicesTable],
      [this.linksDataSource, props.registry.linksTable],
    ] as const;
    for (const [dataSource, table] of tableDataSources) {
      acknowledgeRules(dataSource, [{
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(table).getLogicalId(table.node.defaultChild as dynamodb.CfnTable)}.Arn>/index/*]`,
        reason: 'Resolvers query the table\'s secondary indexes, such as devices by owner.',
      }]);
      acknowledgeKmsGrantWildcards(dataSource);
    }
  }

  /** GraphQL endpoint URL. */
  public get graphqlUrl(): string {
    return this.api.graphqlUrl;
  }

  /**
   * Grants permission to call publishDeviceUpdate, the mutation that pushes device updates to
   * subscribers.
   */
  public grantPublishDeviceUpdate(grantee: iam.IGrantable): iam.Grant {
    return this.api.grantMutation(grantee, 'publishDeviceUpdate');
  }
}

/** A schema given as a string, so the library needs no schema file next to its compiled code. */
class InlineSchema implements appsync.ISchema {
  constructor(private readonly definition: string) {}

  public bind(api: Parameters<appsync.ISchema['bind']>[0]): appsync.ISchemaConfig {
    return { apiId: (api as unknown as appsync.IGraphqlApi).apiId, definition: this.definition };
  }
}
