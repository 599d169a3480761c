import { CfnResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { AnomalyResponseFunction } from './anomaly-response-function';
import { AutomationRules } from './automation-rules';
import { PlatformApi } from '../api/platform-api';
import { PlatformEventSource, PlatformEventType } from '../events/event-contracts';
import { acknowledgeRules } from '../private/acknowledge';
import { DeviceRegistry } from '../registry/device-registry';
import { createEventDeadLetterQueue, createWorkflowFunction, createWorkflowStateMachine, invokeStep, WorkflowEnvironment } from '../workflows/private/workflow-resources';

/**
 * Properties of an AnomalyResponseWorkflow.
 */
export interface AnomalyResponseWorkflowProps {
  /** Registry with the devices and links tables, which show who owns a device. */
  readonly registry: DeviceRegistry;

  /**
   * Bus with the Telemetry Anomaly Detected and Automation Rule Triggered events, which also
   * receives Relay Command Requested.
   */
  readonly eventBus: events.IEventBus;

  /** The automation rules that the workflow fires. */
  readonly rules: AutomationRules;

  /**
   * API whose onDeviceUpdate subscribers receive an update of kind `alert`.
   * @default - owners are not notified through the API
   */
  readonly api?: PlatformApi;

  /**
   * Topic that receives every alert as a JSON message, with `severity`, `kind` and `thingName`
   * message attributes for subscription filter policies.
   * @default - no topic
   */
  readonly alertTopic?: sns.ITopic;

  /**
   * How long alerts are kept before DynamoDB deletes them by TTL.
   * @default Duration.days(90)
   */
  readonly alertRetention?: Duration;

  /**
   * Key that encrypts the alerts table, the logs, the dead-letter queue and the function's environment.
   * @default - the registry's key for the table, AWS managed keys for the rest
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Removal policy of the alerts table.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Turns on deletion protection for the alerts table.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/**
 * Responds to Telemetry Anomaly Detected events: it records an alert, notifies the device's
 * owner and fires the owner's automation rules for the device. It also fires READING rules on
 * the Automation Rule Triggered events of a TelemetryPipeline that evaluates the same rules.
 * Each event starts one execution. An anomaly goes through these steps:
 *
 * 1. "Classify severity": OVER_CURRENT is always HIGH; other kinds start at the detector's
 *    severity and rise one level for every two earlier alerts of the same kind on the same
 *    sensor in the hour before.
 * 2. "Record alert": the alerts table keeps the alert, keyed by `thingName` and `alertId`, until
 *    its TTL (`alertRetention`).
 * 3. "Notify owner": an onDeviceUpdate update of kind `alert`, then "Publish alert to topic"
 *    when `alertTopic` is set. A failed notification is recorded on the alert and the workflow
 *    goes on, so that a failing API does not hold back a rule that switches a load off.
 * 4. "Find matching rules": the owner's enabled ANOMALY rules for the device whose kind and
 *    sensor match and whose schedule window contains the anomaly's time, in the rule's time zone.
 *    Matching rules outside their window are recorded on the alert as skipped.
 * 5. For each rule, "Check device ownership" reads the rule again and checks that every device
 *    it names is still linked to and owned by its owner. "Claim cooldown" then sets the rule's
 *    `lastFiredAt` with a conditional update, so only one of several events within the cooldown
 *    fires the rule, also when they run concurrently. "Request relay command" puts a Relay
 *    Command Requested event on the bus for the RelayCommandFlow, on behalf of the rule's owner
 *    with source `automation`, and "Record rule action" adds `{ ruleId, commandId }` to the
 *    alert's `actions`. A rule that does not pass a check is recorded in the alert's `skips`
 *    with the reason.
 *
 * An Automation Rule Triggered event, whose detail has a `reading`, takes another path.
 * "Record rule trigger" keeps the trigger in the alerts table as an item of kind
 * `READING_THRESHOLD`, and its rule goes through the steps of point 5, which check the reading
 * against the rule as it is now. "Notify rule owner" then sends an onDeviceUpdate update of kind
 * `alert` when the rule requested a relay command. Triggers do not go to the alert topic.
 *
 * It is an Express workflow, because anomalies are short bursts that need a response within
 * seconds. Express workflows run at least once, so every step is idempotent per step, event
 * (`dedupKey`) and rule. Results are cached for an hour in the registry's idempotency table and
 * the writes are conditional. The relay command id is derived from the event and the rule, so the
 * RelayCommandFlow runs a repeated command once. A repeated event may publish to the alert topic
 * again, so subscribers drop repeats by `alertId`. Every task retries transient errors, and a
 * failure that remains is recorded in the alert's `failures`. A failed notification or rule does
 * not stop the steps and rules after it. Any other failed step ends the execution in "Anomaly
 * response failed".
 *
 * @example
 * const rules = new AutomationRules(this, 'Rules', { api, registry });
 * new AnomalyResponseWorkflow(this, 'AnomalyResponse', {
 *   registry,
 *   eventBus: bus.eventBus,
 *   rules,
 *   api,
 *   alertTopic: new sns.Topic(this, 'Alerts', { enforceSSL: true }),
 * });
 */
export class AnomalyResponseWorkflow extends Construct {
  /** The Express state machine. */
  public readonly stateMachine: sfn.StateMachine;
  /** Runs the workflow's steps. */
  public readonly stepsFunction: lambda.IFunction;
  /** Alerts keyed by `thingName` and `alertId`; they expire by TTL (`ttl`, epoch seconds). */
  public readonly alertsTable: dynamodb.Table;
  /** Rule that starts an execution for each Telemetry Anomaly Detected event. */
  public readonly anomalyRule: events.Rule;
  /** Rule that starts an execution for each Automation Rule Triggered event. */
  public readonly ruleTriggerRule: events.Rule;
  /** Receives the events that the rule could not deliver to the state machine. */
  public readonly deadLetterQueue: sqs.IQueue;

  constructor(scope: Construct, id: string, props: AnomalyResponseWorkflowProps) {
    super(scope, id);

    const alertRetention = props.alertRetention ?? Duration.days(90);
    if (!alertRetention.isUnresolved() && alertRetention.toSeconds() < 3600) {
      throw new Error(`Invalid alertRetention of ${alertRetention.toHumanString()}: it must be at least 1 hour, because alerts of the last hour raise the severity of repeated anomalies.`);
    }

    this.alertsTable = new dynamodb.Table(this, 'Alerts', {
      partitionKey: { name: 'thingName', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'alertId', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: DeviceRegistry.TTL_ATTRIBUTE,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.encryptionKey ?? props.registry.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    const environment: WorkflowEnvironment = {
      registry: props.registry,
      api: props.api,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    };
    const steps = createWorkflowFunction(this, 'Steps', AnomalyResponseFunction, environment, {
      description: 'Anomaly response workflow steps: record alerts, notify owners and fire automation rules',
      invokedSynchronously: true,
      environment: {
        ALERTS_TABLE: this.alertsTable.tableName,
        AUTOMATION_RULES_TABLE: props.rules.rulesTable.tableName,
        AUTOMATION_RULES_BY_DEVICE_INDEX: AutomationRules.RULES_BY_DEVICE_INDEX,
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        ALERT_RETENTION_SECONDS: String(alertRetention.toSeconds()),
      },
    });
    this.alertsTable.grantReadWriteData(steps);
    props.rules.rulesTable.grantReadWriteData(steps);
    props.registry.linksTable.grantReadData(steps);
    props.registry.devicesTable.grantReadData(steps);
    props.eventBus.grantPutEventsTo(steps);
    acknowledgeRules(steps.role!, [{
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.rules.rulesTable)}.Arn>/index/*]`,
      reason: 'The workflow queries the rules table\'s byDevice index to find the rules of the anomaly\'s device.',
    }]);
    this.stepsFunction = steps;

    this.stateMachine = createWorkflowStateMachine(this, 'StateMachine', {
      definition: this.buildDefinition(steps, props.alertTopic),
      type: sfn.StateMachineType.EXPRESS,
      // Five minutes is the maximum duration of an Express workflow. Each step has a 20-second
      // function timeout and up to five attempts.
      timeout: Duration.minutes(5),
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    });
    props.alertTopic?.masterKey?.grant(this.stateMachine, 'kms:Decrypt', 'kms:GenerateDataKey');
    acknowledgeRules(this.stateMachine.role, [{
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(steps)}.Arn>:*]`,
      reason: 'CDK grants the workflow every version and alias of its own steps function.',
    }]);

    this.deadLetterQueue = createEventDeadLetterQueue(this, 'EventsDlq', props.encryptionKey);
    this.anomalyRule = new events.Rule(this, 'Anomalies', {
      eventBus: props.eventBus,
      description: 'Telemetry Anomaly Detected events start an anomaly response workflow',
      eventPattern: { source: [PlatformEventSource.WORKFLOW], detailType: [PlatformEventType.TELEMETRY_ANOMALY_DETECTED] },
      targets: [new targets.SfnStateMachine(this.stateMachine, {
        input: events.RuleTargetInput.fromEventPath('$.detail'),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(1),
      })],
    });
    this.ruleTriggerRule = new events.Rule(this, 'RuleTriggers', {
      eventBus: props.eventBus,
      description: 'Automation Rule Triggered events start an anomaly response workflow that fires the rule',
      eventPattern: { source: [PlatformEventSource.WORKFLOW], detailType: [PlatformEventType.AUTOMATION_RULE_TRIGGERED] },
      targets: [new targets.SfnStateMachine(this.stateMachine, {
        input: events.RuleTargetInput.fromEventPath('$.detail'),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(1),
      })],
    });
  }

  /** Builds the state machine's states; the class documentation describes the steps. */
  private buildDefinition(steps: lambda.IFunction, alertTopic?: sns.ITopic): sfn.IChainable {
    const event = {
      thingName: sfn.JsonPath.stringAt('$.thingName'),
      dedupKey: sfn.JsonPath.stringAt('$.dedupKey'),
      anomaly: sfn.JsonPath.objectAt('$.anomaly'),
    };
    const classified = { ...event, classification: sfn.JsonPath.objectAt('$.classification') };

    const classify = invokeStep(this, 'Classify severity', steps, { action: 'classify', event: sfn.JsonPath.entirePayload }, {
      resultSelector: {
        'alertId.$': '$.Payload.alertId',
        'severity.$': '$.Payload.severity',
        'repeats.$': '$.Payload.repeats',
        'ownerId.$': '$.Payload.ownerId',
      },
      resultPath: '$.classification',
    });
    const recordAlert = invokeStep(this, 'Record alert', steps, { action: 'recordAlert', ...classified }, {
      resultSelector: { 'duplicate.$': '$.Payload.duplicate' },
      resultPath: '$.alert',
    });
    const notify = invokeStep(this, 'Notify owner', steps, { action: 'notify', ...classified }, {
      resultSelector: { 'notified.$': '$.Payload.notified', 'subject.$': '$.Payload.subject', 'message.$': '$.Payload.message' },
      resultPath: '$.notification',
    });
    const findRules = invokeStep(this, 'Find matching rules', steps, { action: 'findRules', ...classified }, {
      resultSelector: { 'rules.$': '$.Payload.rules', 'count.$': '$.Payload.count', 'outsideSchedule.$': '$.Payload.outsideSchedule' },
      resultPath: '$.matched',
    });
    const recordNotificationFailure = invokeStep(this, 'Record notification failure', steps, {
      action: 'recordFailure', failedStep: 'notify', input: sfn.JsonPath.entirePayload,
    }, { resultSelector: { 'error.$': '$.Payload.error' }, resultPath: '$.notificationFailure' });
    const recordFailure = invokeStep(this, 'Record failure', steps, { action: 'recordFailure', input: sfn.JsonPath.entirePayload }, {
      resultSelector: { 'error.$': '$.Payload.error' },
      resultPath: '$.failureRecord',
    });

    const recordTrigger = invokeStep(this, 'Record rule trigger', steps, { action: 'recordTrigger', event: sfn.JsonPath.entirePayload }, {
      resultSelector: { 'alertId.$': '$.Payload.alertId', 'rules.$': '$.Payload.rules', 'count.$': '$.Payload.count' },
      resultPath: '$.matched',
    });
    const notifyTrigger = invokeStep(this, 'Notify rule owner', steps, {
      action: 'notifyTrigger',
      thingName: sfn.JsonPath.stringAt('$.thingName'),
      dedupKey: sfn.JsonPath.stringAt('$.dedupKey'),
      ownerId: sfn.JsonPath.stringAt('$.ownerId'),
      alertId: sfn.JsonPath.stringAt('$.matched.alertId'),
    }, { resultSelector: { 'fired.$': '$.Payload.fired', 'notified.$': '$.Payload.notified' }, resultPath: '$.notification' });

    // Both paths fire their rules here: each item names the rule, the record that receives its
    // outcome, and the anomaly or reading that the rule steps check the rule against.
    const fireRules = new sfn.Map(this, 'Fire matching rules', {
      itemsPath: '$.matched.rules',
      itemSelector: {
        thingName: sfn.JsonPath.stringAt('$.thingName'),
        dedupKey: sfn.JsonPath.stringAt('$.dedupKey'),
        alertId: sfn.JsonPath.stringAt('$$.Map.Item.Value.alertId'),
        observation: sfn.JsonPath.objectAt('$$.Map.Item.Value.observation'),
        ruleId: sfn.JsonPath.stringAt('$$.Map.Item.Value.rule.ruleId'),
        rule: sfn.JsonPath.objectAt('$$.Map.Item.Value.rule'),
      },
      maxConcurrency: 5,
      resultSelector: { 'rules.$': '$[*].ruleId' },
      resultPath: '$.fired',
    });
    fireRules.itemProcessor(this.buildRuleSteps(steps));
    fireRules.next(new sfn.Choice(this, 'Triggered by a reading?')
      .when(sfn.Condition.isPresent('$.reading'), notifyTrigger.next(new sfn.Succeed(this, 'Rule trigger handled')))
      .otherwise(new sfn.Succeed(this, 'Rules handled')));

    // Notification: the owner through the API, then the alert topic. Its failure is recorded and the rules still run.
    const ownerChoice = new sfn.Choice(this, 'Device has an owner?')
      .when(sfn.Condition.isString('$.classification.ownerId'), findRules.next(new sfn.Choice(this, 'Any matching rule?')
        .when(sfn.Condition.numberGreaterThan('$.matched.count', 0), fireRules)
        .otherwise(new sfn.Succeed(this, 'No matching rule'))))
      .otherwise(new sfn.Succeed(this, 'Device has no owner'));
    const notificationTasks: sfn.TaskStateBase[] = [notify];
    let notification: sfn.INextable & sfn.IChainable = notify;
    if (alertTopic) {
      const publish = new tasks.SnsPublish(this, 'Publish alert to topic', {
        topic: alertTopic,
        subject: sfn.JsonPath.stringAt('$.notification.subject'),
        message: sfn.TaskInput.fromJsonPathAt('$.notification.message'),
        messageAttributes: {
          severity: { value: sfn.JsonPath.stringAt('$.classification.severity') },
          kind: { value: sfn.JsonPath.stringAt('$.anomaly.kind') },
          thingName: { value: sfn.JsonPath.stringAt('$.thingName') },
        },
        resultPath: sfn.JsonPath.DISCARD,
      });
      // States.ALL retries every error of the publish, permanent ones such as a denied key included,
      // at most three times.
      publish.addRetry({ errors: ['States.ALL'], interval: Duration.seconds(1), backoffRate: 2, maxAttempts: 3, jitterStrategy: sfn.JitterType.FULL });
      notify.next(publish);
      notificationTasks.push(publish);
      notification = publish;
    }
    notification.next(ownerChoice);
    for (const task of notificationTasks) {
      task.addCatch(recordNotificationFailure, { errors: ['States.ALL'], resultPath: '$.failure' });
    }
    recordNotificationFailure.addCatch(ownerChoice, { errors: ['States.ALL'], resultPath: '$.notificationFailureRecordError' });
    recordNotificationFailure.next(ownerChoice);

    // Every other failure is recorded on the alert and fails the execution.
    const lambdaTasks = [classify, recordAlert, notify, findRules, recordTrigger, notifyTrigger, recordNotificationFailure, recordFailure];
    for (const task of lambdaTasks) {
      retryInProgress(task);
    }
    for (const state of [classify, recordAlert, findRules, recordTrigger, fireRules, notifyTrigger]) {
      state.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.failure' });
    }
    recordFailure.addCatch(new sfn.Fail(this, 'Failure not recorded', { error: 'AnomalyResponseFailureNotRecorded', causePath: '$.failure.Cause' }), {
      errors: ['States.ALL'],
      resultPath: '$.failureRecordError',
    });
    recordFailure.next(new sfn.Fail(this, 'Anomaly response failed', { errorPath: '$.failure.Error', causePath: '$.failure.Cause' }));

    // Automation Rule Triggered details have a reading, anomaly details never do.
    recordTrigger.next(fireRules);
    classify.next(recordAlert).next(notify);
    return new sfn.Choice(this, 'Event has a reading?')
      .when(sfn.Condition.isPresent('$.reading'), recordTrigger)
      .otherwise(classify);
  }

  /** Builds the states that handle one matching rule, inside the Map state. */
  private buildRuleSteps(steps: lambda.IFunction): sfn.IChainable {
    const ruleInput = {
      thingName: sfn.JsonPath.stringAt('$.thingName'),
      dedupKey: sfn.JsonPath.stringAt('$.dedupKey'),
      alertId: sfn.JsonPath.stringAt('$.alertId'),
      observation: sfn.JsonPath.objectAt('$.observation'),
      ruleId: sfn.JsonPath.stringAt('$.ruleId'),
    };
    const check = { 'passed.$': '$.Payload.passed', 'skip.$': '$.Payload.skip', 'rule.$': '$.Payload.rule' };

    const checkOwnership = invokeStep(this, 'Check device ownership', steps, {
      action: 'checkOwnership', ...ruleInput, rule: sfn.JsonPath.objectAt('$.rule'),
    }, { resultSelector: check, resultPath: '$.check' });
    const claimCooldown = invokeStep(this, 'Claim cooldown', steps, {
      action: 'claimCooldown', ...ruleInput, rule: sfn.JsonPath.objectAt('$.check.rule'),
    }, { resultSelector: check, resultPath: '$.check' });
    const requestCommand = invokeStep(this, 'Request relay command', steps, {
      action: 'requestCommand', ...ruleInput, rule: sfn.JsonPath.objectAt('$.check.rule'),
    }, { resultSelector: { 'commandId.$': '$.Payload.commandId' }, resultPath: '$.command' });
    const recordAction = invokeStep(this, 'Record rule action', steps, {
      action: 'recordAction', ...ruleInput, rule: sfn.JsonPath.objectAt('$.check.rule'), commandId: sfn.JsonPath.stringAt('$.command.commandId'),
    }, { resultSelector: { 'recorded.$': '$.Payload.recorded' }, resultPath: '$.actionRecord' });
    const recordSkip = invokeStep(this, 'Record rule skip', steps, {
      action: 'recordSkip', ...ruleInput, skip: sfn.JsonPath.objectAt('$.check.skip'),
    }, { resultSelector: { 'reason.$': '$.Payload.reason' }, resultPath: '$.skipRecord' });
    const recordRuleFailure = invokeStep(this, 'Record rule failure', steps, { action: 'recordFailure', input: sfn.JsonPath.entirePayload }, {
      resultSelector: { 'error.$': '$.Payload.error' },
      resultPath: '$.failureRecord',
    });

    const ruleTasks = [checkOwnership, claimCooldown, requestCommand, recordAction, recordSkip, recordRuleFailure];
    for (const task of ruleTasks) {
      retryInProgress(task);
    }
    for (const task of ruleTasks.filter((item) => item !== recordRuleFailure)) {
      task.addCatch(recordRuleFailure, { errors: ['States.ALL'], resultPath: '$.failure' });
    }
    // A rule's failure is recorded and the other rules go on; a failure that cannot be recorded fails the Map state.
    recordRuleFailure.addCatch(new sfn.Fail(this, 'Rule failure not recorded', { error: 'AnomalyResponseFailureNotRecorded', causePath: '$.failure.Cause' }), {
      errors: ['States.ALL'],
      resultPath: '$.failureRecordError',
    });
    recordRuleFailure.next(new sfn.Succeed(this, 'Rule failure recorded'));
    recordSkip.next(new sfn.Succeed(this, 'Rule skipped'));

    const fire = requestCommand.next(recordAction).next(new sfn.Succeed(this, 'Rule fired'));
    const cooldownClaimed = new sfn.Choice(this, 'Cooldown claimed?')
      .when(sfn.Condition.booleanEquals('$.check.passed', true), fire)
      .otherwise(recordSkip);
    return checkOwnership.next(new sfn.Choice(this, 'Devices still owned?')
      .when(sfn.Condition.booleanEquals('$.check.passed', true), claimCooldown.next(cooldownClaimed))
      .otherwise(recordSkip));
  }
}

/** Retries a step while a concurrent copy of the same event holds the step's idempotency record in progress. */
function retryInProgress(task: tasks.LambdaInvoke): void {
  task.addRetry({ errors: ['IdempotencyAlreadyInProgressError'], interval: Duration.seconds(2), backoffRate: 2, maxAttempts: 3 });
}

function logicalIdOf(construct: { node: { defaultChild?: unknown } }): string {
  const resource = construct.node.defaultChild as CfnResource;
  return Stack.of(resource).getLogicalId(resource);
}
