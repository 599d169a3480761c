import { randomUUID } from 'node:crypto';
import { IotSqlStatement } from './iot-sql';
import type { CfnTemplate } from '../assembly/cloud-assembly';

/** Destinations of rule actions: queues and functions of the template. */
export interface RuleActionTargets {
  /** Sends a message to an SQS queue of the template, by logical id. */
  sendToQueue(queueLogicalId: string, body: string): Promise<void>;
  /** Invokes a Lambda function of the template asynchronously, by logical id. */
  invokeFunction(functionLogicalId: string, event: unknown): Promise<void>;
}

/** A message that the rules engine evaluates. */
export interface RuleMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly clientId?: string;
  /** Certificate id of the publishing client. */
  readonly principal?: string;
}

interface RuleAction {
  readonly kind: 'Sqs' | 'Lambda';
  readonly targetLogicalId: string;
  readonly useBase64: boolean;
}

interface LoadedRule {
  readonly logicalId: string;
  readonly ruleName: string;
  readonly statement: IotSqlStatement;
  readonly actions: readonly RuleAction[];
  readonly errorAction?: RuleAction;
}

/** Counts of what the engine did, for the sandbox's status output and tests. */
export interface RulesEngineStatistics {
  matched: number;
  actionsSucceeded: number;
  actionsFailed: number;
  errorActions: number;
  /** Failures of the error action itself; AWS IoT drops these messages. */
  dropped: number;
}

/**
 * The topic rules of a template, evaluated on every message that reaches the broker. The IoT SQL
 * decides whether a rule matches and what it sends, and then each action runs. A failed action
 * sends the AWS IoT error action payload to the rule's error action.
 */
export class LocalRulesEngine {
  public readonly statistics: RulesEngineStatistics = { matched: 0, actionsSucceeded: 0, actionsFailed: 0, errorActions: 0, dropped: 0 };
  private readonly rules: LoadedRule[];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    template: CfnTemplate,
    private readonly targets: RuleActionTargets,
    private readonly log: (line: string) => void = () => undefined,
    resolveSql: (value: unknown) => string = (value) => String(value),
  ) {
    this.rules = Object.entries(template.Resources)
      .filter(([, resource]) => resource.Type === 'AWS::IoT::TopicRule' && resource.Properties?.TopicRulePayload?.RuleDisabled !== true)
      .map(([logicalId, resource]) => {
        const payload = resource.Properties!.TopicRulePayload;
        let statement: IotSqlStatement;
        try {
          statement = IotSqlStatement.parse(resolveSql(payload.Sql));
        } catch (error) {
          throw new Error(`Topic rule ${logicalId} has SQL the sandbox cannot run: ${(error as Error).message}`);
        }
        return {
          logicalId,
          ruleName: String(resource.Properties!.RuleName ?? logicalId),
          statement,
          actions: (payload.Actions as unknown[]).map((action) => actionOf(logicalId, action)),
          errorAction: payload.ErrorAction ? actionOf(logicalId, payload.ErrorAction) : undefined,
        };
      });
  }

  /** Logical ids of the rules the engine evaluates. */
  public get ruleIds(): string[] {
    return this.rules.map((rule) => rule.logicalId);
  }

  /** Evaluates every rule for a message and starts the actions of those that match. */
  public publish(message: RuleMessage): void {
    for (const rule of this.rules) {
      if (!rule.statement.matchesTopic(message.topic)) continue;
      const result = rule.statement.evaluate({ ...message, timestamp: Date.now() });
      if (result === undefined) continue;
      this.statistics.matched += 1;
      for (const action of rule.actions) {
        this.track(this.runAction(rule, action, result, message));
      }
    }
  }

  /** Waits until the actions started so far have ended. */
  public async settle(): Promise<void> {
    while (this.inFlight.size > 0) {
      await Promise.all([...this.inFlight]);
    }
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async runAction(rule: LoadedRule, action: RuleAction, result: Record<string, unknown>, message: RuleMessage): Promise<void> {
    try {
      await this.dispatch(action, Buffer.from(JSON.stringify(result)));
      this.statistics.actionsSucceeded += 1;
    } catch (error) {
      this.statistics.actionsFailed += 1;
      this.log(`topic rule ${rule.ruleName}: ${action.kind} action to ${action.targetLogicalId} failed: ${(error as Error).message}`);
      await this.runErrorAction(rule, action, message, error as Error);
    }
  }

  private async runErrorAction(rule: LoadedRule, failed: RuleAction, message: RuleMessage, error: Error): Promise<void> {
    if (!rule.errorAction) {
      this.statistics.dropped += 1;
      return;
    }
    // The payload that AWS IoT sends to an error action.
    const payload = {
      ruleName: rule.ruleName,
      topic: message.topic,
      cloudwatchTraceId: randomUUID(),
      clientId: message.clientId ?? '',
      base64OriginalPayload: message.payload.toString('base64'),
      failures: [{ failedAction: actionName(failed.kind), failedResource: failed.targetLogicalId, errorMessage: error.message }],
    };
    try {
      await this.dispatch(rule.errorAction, Buffer.from(JSON.stringify(payload)));
      this.statistics.errorActions += 1;
    } catch (errorActionError) {
      this.statistics.dropped += 1;
      this.log(`topic rule ${rule.ruleName}: error action failed, message dropped: ${(errorActionError as Error).message}`);
    }
  }

  private async dispatch(action: RuleAction, body: Buffer): Promise<void> {
    if (action.kind === 'Sqs') {
      await this.targets.sendToQueue(action.targetLogicalId, action.useBase64 ? body.toString('base64') : body.toString('utf8'));
    } else {
      await this.targets.invokeFunction(action.targetLogicalId, JSON.parse(body.toString('utf8')));
    }
  }
}

function actionOf(ruleId: string, action: any): RuleAction {
  if (action.Sqs) {
    return { kind: 'Sqs', targetLogicalId: referencedId(ruleId, action.Sqs.QueueUrl), useBase64: action.Sqs.UseBase64 === true };
  }
  if (action.Lambda) {
    return { kind: 'Lambda', targetLogicalId: referencedId(ruleId, action.Lambda.FunctionArn), useBase64: false };
  }
  throw new Error(`Topic rule ${ruleId} has an action the sandbox cannot run: ${Object.keys(action).join(', ')}. Sqs and Lambda actions run locally.`);
}

function referencedId(ruleId: string, value: any): string {
  const id = value?.Ref ?? value?.['Fn::GetAtt']?.[0];
  if (typeof id !== 'string') {
    throw new Error(`Topic rule ${ruleId} targets ${JSON.stringify(value)}, which is not a resource of this template.`);
  }
  return id;
}

function actionName(kind: RuleAction['kind']): string {
  return kind === 'Sqs' ? 'SqsAction' : 'LambdaAction';
}
