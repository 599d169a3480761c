import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PlatformApi } from '../api/platform-api';
import { PlatformApiResolvers } from '../api/platform-api-resolvers';
import { PlatformAuth, PlatformAuthProps } from '../auth/platform-auth';
import { PlatformSigningKeys } from '../auth/platform-signing-keys';
import { AnomalyResponseWorkflow } from '../automation/anomaly-response-workflow';
import { AutomationRules } from '../automation/automation-rules';
import { PlatformParameters } from '../config/platform-parameters';
import { PlatformEventBus, PlatformEventBusProps } from '../events/platform-event-bus';
import { DashboardHosting, DashboardHostingOptions } from '../hosting/dashboard-hosting';
import { FleetProvisioning, FleetProvisioningProps } from '../iot/fleet-provisioning';
import { PlatformTopicRules } from '../iot/platform-topic-rules';
import { PlatformMonitoring } from '../monitoring/platform-monitoring';
import { OtaRolloutWorkflow } from '../ota/ota-rollout-workflow';
import { DeviceRegistry } from '../registry/device-registry';
import { PlatformStorage, PlatformStorageProps } from '../storage/platform-storage';
import { TelemetryPipeline } from '../telemetry/telemetry-pipeline';
import { DeviceLinkingWorkflow } from '../workflows/device-linking-workflow';
import { DeviceOnboardingWorkflow } from '../workflows/device-onboarding-workflow';
import { RelayCommandFlow } from '../workflows/relay-command-flow';


/**
 * Properties of a SmartHomePlatform.
 */
export interface SmartHomePlatformProps {
  /**
   * Deployment stage, such as `dev` or `prod`. It is part of every SSM parameter name.
   */
  readonly stage: string;

  /**
   * First part of every SSM parameter name.
   * @default 'smart-home'
   */
  readonly parameterPrefix?: string;

  /**
   * Settings of fleet provisioning: thing name prefix, serial pattern, allowlist, template name.
   * @default - FleetProvisioning defaults
   */
  readonly provisioning?: FleetProvisioningProps;

  /**
   * Settings of user sign-in.
   * @default - PlatformAuth defaults
   */
  readonly auth?: PlatformAuthProps;

  /**
   * Settings of the buckets.
   * @default - PlatformStorage defaults
   */
  readonly storage?: PlatformStorageProps;

  /**
   * Settings of the event bus.
   * @default - PlatformEventBus defaults
   */
  readonly eventBus?: PlatformEventBusProps;

  /**
   * How long a relay command waits for the device's acknowledgement before it ends TIMED_OUT.
   * @default Duration.seconds(10)
   */
  readonly relayAcknowledgementTimeout?: Duration;

  /**
   * Email address that the alarm topic notifies.
   * @default - no subscription
   */
  readonly alarmEmail?: string;

  /**
   * Turns on a daily AWS IoT Device Defender audit. Audit settings are per account and region,
   * so turn it on in one stack of an account only.
   * @default false
   */
  readonly deviceDefenderAudit?: boolean;

  /**
   * Removal policy of stateful resources (tables, buckets, user pool, key). Development stages
   * usually choose DESTROY.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * How long every log group of the platform keeps its logs.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Hosts the owners' web dashboard on AWS Amplify Hosting, built from your repository with the
   * platform's API URL, region and user pool ids as build-time environment variables.
   * @default - no dashboard hosting
   */
  readonly dashboard?: DashboardHostingOptions;
}

/**
 * The whole smart-home backend in one construct: SSM parameters, Cognito sign-in, fleet
 * provisioning, topic rules that feed the event bus, the device registry, the GraphQL API and
 * the buckets. One customer managed key encrypts the platform's data.
 *
 * @example
 * new SmartHomePlatform(this, 'Home', {
 *   stage: 'dev',
 *   provisioning: { thingNamePrefix: 'home-dev-', allowedSerials: ['SH-ESP32-000123'] },
 *   removalPolicy: RemovalPolicy.DESTROY,
 * });
 */
export class SmartHomePlatform extends Construct {
  /** Key that encrypts tables, queues, secrets, logs and buckets. */
  public readonly encryptionKey: kms.Key;
  public readonly auth: PlatformAuth;
  public readonly registry: DeviceRegistry;
  public readonly storage: PlatformStorage;
  public readonly events: PlatformEventBus;
  public readonly provisioning: FleetProvisioning;
  public readonly topicRules: PlatformTopicRules;
  public readonly api: PlatformApi;
  public readonly parameters: PlatformParameters;
  /** Switches relays and waits for the devices' acknowledgements. */
  public readonly relayCommands: RelayCommandFlow;
  /** Keys that sign claim tokens and pepper pairing code hashes. */
  public readonly signingKeys: PlatformSigningKeys;
  /** Registers devices from their capability documents and links them by claim token. */
  public readonly onboarding: DeviceOnboardingWorkflow;
  /** Links devices by pairing code and removes them. */
  public readonly linking: DeviceLinkingWorkflow;
  /** Resolvers of the GraphQL API. */
  public readonly apiResolvers: PlatformApiResolvers;
  /** Latest readings, recent readings, anomaly detection and the telemetry archive. */
  public readonly telemetry: TelemetryPipeline;
  /** Owners' automation rules and their GraphQL operations. */
  public readonly automationRules: AutomationRules;
  /** Records anomalies, notifies owners and applies their automation rules. */
  public readonly anomalyResponse: AnomalyResponseWorkflow;
  /** Rolls out signed firmware with AWS IoT Jobs. */
  public readonly otaRollout: OtaRolloutWorkflow;
  /** Dashboard, alarms and the alarm topic. */
  public readonly monitoring: PlatformMonitoring;
  /** Amplify Hosting of the owners' web dashboard, when `dashboard` is set. */
  public readonly dashboard?: DashboardHosting;

  constructor(scope: Construct, id: string, props: SmartHomePlatformProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;

    this.encryptionKey = new kms.Key(this, 'Key', {
      description: `Encrypts the smart-home platform's data (${props.stage})`,
      enableKeyRotation: true,
      removalPolicy,
    });
    this.encryptionKey.grantEncryptDecrypt(new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`));

    this.auth = new PlatformAuth(this, 'Auth', { removalPolicy, ...props.auth });
    this.registry = new DeviceRegistry(this, 'Registry', {
      encryptionKey: this.encryptionKey,
      removalPolicy,
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
    });
    this.storage = new PlatformStorage(this, 'Storage', { encryptionKey: this.encryptionKey, removalPolicy, ...props.storage });
    this.events = new PlatformEventBus(this, 'Events', { removalPolicy, ...props.eventBus });

    this.provisioning = new FleetProvisioning(this, 'Provisioning', {
      encryptionKey: this.encryptionKey,
      removalPolicy,
      logRetention,
      ...props.provisioning,
    });
    this.topicRules = new PlatformTopicRules(this, 'TopicRules', {
      eventBus: this.events.eventBus,
      thingNamePrefix: this.provisioning.thingNamePrefix,
      claimCertificateId: this.provisioning.claimCertificateId,
      encryptionKey: this.encryptionKey,
      logRetention,
    });

    this.api = new PlatformApi(this, 'Api', { userPool: this.auth.userPool, registry: this.registry, encryptionKey: this.encryptionKey, logRetention });

    this.relayCommands = new RelayCommandFlow(this, 'RelayCommands', {
      registry: this.registry,
      eventBus: this.events.eventBus,
      iotDataEndpoint: this.provisioning.dataEndpointAddress,
      api: this.api,
      acknowledgementTimeout: props.relayAcknowledgementTimeout,
      encryptionKey: this.encryptionKey,
      logRetention,
    });

    this.signingKeys = new PlatformSigningKeys(this, 'SigningKeys', { encryptionKey: this.encryptionKey, removalPolicy });
    const workflowProps = {
      registry: this.registry,
      eventBus: this.events.eventBus,
      api: this.api,
      encryptionKey: this.encryptionKey,
      logRetention,
    };
    this.onboarding = new DeviceOnboardingWorkflow(this, 'Onboarding', {
      ...workflowProps,
      uiConfigBucket: this.storage.uiConfigBucket,
      claimTokenKey: this.signingKeys.claimTokenKey,
    });
    this.linking = new DeviceLinkingWorkflow(this, 'Linking', {
      ...workflowProps,
      pairingCodePepper: this.signingKeys.pairingCodePepper,
      iotDataEndpoint: this.provisioning.dataEndpointAddress,
    });
    const fleetThingGroupArn = stack.formatArn({ service: 'iot', resource: 'thinggroup', resourceName: this.provisioning.fleetThingGroup.thingGroupName! });
    this.otaRollout = new OtaRolloutWorkflow(this, 'OtaRollout', {
      firmwareBucket: this.storage.firmwareBucket,
      eventBus: this.events.eventBus,
      thingGroupArns: [fleetThingGroupArn],
      encryptionKey: this.encryptionKey,
      logRetention,
      removalPolicy,
    });
    this.apiResolvers = new PlatformApiResolvers(this, 'ApiResolvers', {
      api: this.api,
      registry: this.registry,
      uiConfigBucket: this.storage.uiConfigBucket,
      relayCommands: this.relayCommands,
      linkStateMachine: this.linking.linkStateMachine,
      unlinkStateMachine: this.linking.unlinkStateMachine,
      pairingFunction: this.linking.pairingFunction,
      claimTokenKey: this.signingKeys.claimTokenKey,
      otaRolloutStateMachine: this.otaRollout.stateMachine,
      fleetThingGroupArn: fleetThingGroupArn,
      encryptionKey: this.encryptionKey,
      logRetention,
    });

    this.telemetry = new TelemetryPipeline(this, 'Telemetry', {
      registry: this.registry,
      eventBus: this.events.eventBus,
      archiveBucket: this.storage.archiveBucket,
      encryptionKey: this.encryptionKey,
      logRetention,
      removalPolicy,
    });

    const statefulProps = { removalPolicy, deletionProtection: removalPolicy === RemovalPolicy.RETAIN };
    this.automationRules = new AutomationRules(this, 'AutomationRules', {
      api: this.api,
      registry: this.registry,
      encryptionKey: this.encryptionKey,
      logRetention,
      ...statefulProps,
    });
    this.anomalyResponse = new AnomalyResponseWorkflow(this, 'AnomalyResponse', {
      ...workflowProps,
      rules: this.automationRules,
      ...statefulProps,
    });
    this.telemetry.evaluateAutomationRules(this.automationRules);

    this.monitoring = new PlatformMonitoring(this, 'Monitoring', {
      encryptionKey: this.encryptionKey,
      alarmEmail: props.alarmEmail,
      deviceDefenderAudit: props.deviceDefenderAudit,
      stateMachines: [
        { name: 'RelayCommands', stateMachine: this.relayCommands.stateMachine },
        { name: 'Onboarding', stateMachine: this.onboarding.stateMachine },
        { name: 'LinkDevice', stateMachine: this.linking.linkStateMachine },
        { name: 'UnlinkDevice', stateMachine: this.linking.unlinkStateMachine },
        { name: 'AnomalyResponse', stateMachine: this.anomalyResponse.stateMachine },
        { name: 'OtaRollout', stateMachine: this.otaRollout.stateMachine },
      ],
      functions: [
        { name: 'ProvisioningHook', function: this.provisioning.hookFunction },
        { name: 'MessageForwarder', function: this.topicRules.forwarderFunction },
        { name: 'RelayCommandSteps', function: this.relayCommands.stepsFunction },
        { name: 'RelayAcknowledgements', function: this.relayCommands.acknowledgementFunction },
        { name: 'OnboardingSteps', function: this.onboarding.stepsFunction },
        { name: 'LinkingSteps', function: this.linking.stepsFunction },
        { name: 'PairingCodes', function: this.linking.pairingFunction },
        { name: 'ApiResolver', function: this.apiResolvers.resolverFunction },
        { name: 'TelemetryProcessor', function: this.telemetry.processorFunction },
        { name: 'AutomationRules', function: this.automationRules.resolverFunction },
        { name: 'AnomalyResponseSteps', function: this.anomalyResponse.stepsFunction },
        { name: 'OtaRolloutSteps', function: this.otaRollout.stepsFunction },
      ],
      failureQueues: [
        { name: 'RuleErrors', queue: this.topicRules.ruleErrorsQueue },
        { name: 'DeviceEventsDlq', queue: this.topicRules.deadLetterQueues[0] },
        { name: 'TelemetryDlq', queue: this.topicRules.deadLetterQueues[1] },
        { name: 'OnboardingEventsDlq', queue: this.onboarding.deadLetterQueue },
        { name: 'RelayEventsDlq', queue: this.relayCommands.deadLetterQueue },
        { name: 'TelemetryEventsDlq', queue: this.telemetry.deadLetterQueue },
        { name: 'AnomalyEventsDlq', queue: this.anomalyResponse.deadLetterQueue },
        { name: 'OtaEventsDlq', queue: this.otaRollout.deadLetterQueue },
        ...deadLetterQueuesOf([this.relayCommands.acknowledgementFunction]),
      ],
      provisioningHookLogGroup: (this.provisioning.hookFunction as lambda.Function).logGroup,
      relayCommandLogGroup: (this.relayCommands.stepsFunction as lambda.Function).logGroup,
    });

    this.parameters = new PlatformParameters(this, 'Parameters', {
      prefix: props.parameterPrefix ?? 'smart-home',
      stage: props.stage,
      values: {
        iotDataEndpoint: this.provisioning.dataEndpointAddress,
        graphqlApiUrl: this.api.graphqlUrl,
        userPoolId: this.auth.userPool.userPoolId,
        userPoolClientId: this.auth.userPoolClient.userPoolClientId,
        identityPoolId: this.auth.identityPool.ref,
        firmwareBucketName: this.storage.firmwareBucket.bucketName,
        uiConfigBucketName: this.storage.uiConfigBucket.bucketName,
        archiveBucketName: this.storage.archiveBucket.bucketName,
        provisioningTemplateName: this.provisioning.templateName,
      },
    });

    if (props.dashboard) {
      this.dashboard = new DashboardHosting(this, 'Dashboard', {
        ...props.dashboard,
        graphqlUrl: this.api.graphqlUrl,
        userPool: this.auth.userPool,
        userPoolClient: this.auth.userPoolClient,
      });
    }
  }
}

/** Returns the dead-letter queues of functions invoked asynchronously. */
function deadLetterQueuesOf(functions: lambda.IFunction[]): { name: string; queue: sqs.IQueue }[] {
  return functions
    .filter((fn): fn is lambda.Function => fn instanceof lambda.Function && fn.deadLetterQueue !== undefined)
    .map((fn) => ({ name: `${fn.node.id}Dlq`, queue: fn.deadLetterQueue! }));
}
