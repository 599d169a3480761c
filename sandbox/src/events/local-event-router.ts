import { matchesEventPattern, validateEventPattern } from './event-pattern';
import type { LocalEvent } from './local-events-endpoint';
import type { CfnTemplate } from '../assembly/cloud-assembly';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../stepfunctions/definition';

/** Actions that EventBridge targets take with a delivered event. */
export interface EventTargetInvokers {
  startExecution(stateMachineLogicalId: string, input: unknown): Promise<void>;
  sendToQueue(queueLogicalId: string, body: string): Promise<void>;
  invokeFunction(functionLogicalId: string, event: unknown): Promise<void>;
}

interface RuleTarget {
  readonly id: string;
  readonly kind: 'state-machine' | 'queue' | 'function';
  readonly logicalId: string;
  readonly inputPath?: string;
  readonly input?: string;
  readonly maximumRetryAttempts: number;
  readonly maximumEventAgeSeconds: number;
  readonly deadLetterQueueId?: string;
}

interface LoadedRule {
  readonly logicalId: string;
  readonly eventBusName: string;
  readonly pattern: Record<string, unknown>;
  readonly targets: readonly RuleTarget[];
}

export interface LocalEventRouterOptions {
  /** Resolves a rule's EventBusName to the name handlers use in PutEvents. */
  readonly resolve: (value: unknown) => string;
  /** Delay before the first retry; it doubles for each later one. Default 200 ms (EventBridge backs off from about a second). */
  readonly retryDelayMs?: number;
  readonly log?: (line: string) => void;
}

/** Counts of deliveries, for the sandbox's status output and tests. */
export interface EventRouterStatistics {
  delivered: number;
  retried: number;
  deadLettered: number;
  unmatched: number;
}

/**
 * The EventBridge rules of a template: every event put on a bus is matched against the rules
 * of that bus, and each matching rule's targets receive it (with InputPath or a constant Input
 * applied) under the target's retry policy. An event whose delivery still fails goes to the
 * target's dead-letter queue with the attributes EventBridge adds, or is dropped and logged
 * when the target has none.
 */
export class LocalEventRouter {
  public readonly statistics: EventRouterStatistics = { delivered: 0, retried: 0, deadLettered: 0, unmatched: 0 };
  private readonly rules: LoadedRule[];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(template: CfnTemplate, private readonly invokers: EventTargetInvokers, private readonly options: LocalEventRouterOptions) {
    this.rules = Object.entries(template.Resources)
      .filter(([, resource]) => resource.Type === 'AWS::Events::Rule' && resource.Properties?.State !== 'DISABLED' && resource.Properties?.EventPattern !== undefined)
      .map(([logicalId, resource]) => {
        const properties = resource.Properties!;
        try {
          validateEventPattern(properties.EventPattern);
        } catch (error) {
          throw new Error(`Event rule ${logicalId} has a pattern the sandbox cannot match: ${(error as Error).message}`);
        }
        return {
          logicalId,
          eventBusName: properties.EventBusName === undefined ? 'default' : options.resolve(properties.EventBusName),
          pattern: properties.EventPattern,
          targets: (properties.Targets ?? []).map((target: any) => targetOf(template, logicalId, target)),
        };
      });
  }

  /** Logical ids of the rules the router evaluates. */
  public get ruleIds(): string[] {
    return this.rules.map((rule) => rule.logicalId);
  }

  /** Matches an event against the rules of its bus and starts each delivery. */
  public route(event: LocalEvent): void {
    const envelope = {
      'version': '0',
      'id': event.eventId,
      'detail-type': event.detailType,
      'source': event.source,
      'account': LOCAL_ACCOUNT,
      'time': event.time ?? new Date().toISOString(),
      'region': LOCAL_REGION,
      'resources': event.resources ?? [],
      'detail': event.detail,
    };
    let matched = false;
    for (const rule of this.rules) {
      if (rule.eventBusName !== event.eventBusName || !matchesEventPattern(rule.pattern, envelope)) continue;
      matched = true;
      for (const target of rule.targets) {
        this.track(this.deliver(rule, target, envelope));
      }
    }
    if (!matched) this.statistics.unmatched += 1;
  }

  /** Waits until the deliveries started so far have ended, including their retries. */
  public async settle(): Promise<void> {
    while (this.inFlight.size > 0) {
      await Promise.all([...this.inFlight]);
    }
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async deliver(rule: LoadedRule, target: RuleTarget, envelope: Record<string, unknown>): Promise<void> {
    const input = target.input !== undefined ? JSON.parse(target.input) : applyInputPath(envelope, target.inputPath);
    const started = Date.now();
    let delay = this.options.retryDelayMs ?? 200;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt <= target.maximumRetryAttempts; attempt += 1) {
      if (attempt > 0) {
        if (Date.now() - started + delay > target.maximumEventAgeSeconds * 1000) break;
        this.statistics.retried += 1;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay *= 2;
      }
      try {
        await this.invoke(target, input);
        this.statistics.delivered += 1;
        return;
      } catch (error) {
        lastError = error as Error;
      }
    }
    await this.deadLetter(rule, target, envelope, lastError);
  }

  private invoke(target: RuleTarget, input: unknown): Promise<void> {
    switch (target.kind) {
      case 'state-machine':
        return this.invokers.startExecution(target.logicalId, input);
      case 'queue':
        return this.invokers.sendToQueue(target.logicalId, typeof input === 'string' ? input : JSON.stringify(input));
      case 'function':
        return this.invokers.invokeFunction(target.logicalId, input);
    }
  }

  private async deadLetter(rule: LoadedRule, target: RuleTarget, envelope: Record<string, unknown>, error: Error | undefined): Promise<void> {
    const log = this.options.log ?? (() => undefined);
    if (!target.deadLetterQueueId) {
      log(`event rule ${rule.logicalId}: delivery to ${target.logicalId} failed and the target has no dead-letter queue, event ${String(envelope.id)} dropped: ${error?.message}`);
      return;
    }
    // EventBridge sends the original event as the body and describes the failure in message
    // attributes. The local queue keeps only the body, so the error is logged here.
    log(`event rule ${rule.logicalId}: delivery to ${target.logicalId} failed, event ${String(envelope.id)} sent to ${target.deadLetterQueueId}: ${error?.message}`);
    this.statistics.deadLettered += 1;
    await this.invokers.sendToQueue(target.deadLetterQueueId, JSON.stringify(envelope));
  }
}

function targetOf(template: CfnTemplate, ruleId: string, target: any): RuleTarget {
  const arn = target.Arn;
  const logicalId: unknown = arn?.Ref ?? arn?.['Fn::GetAtt']?.[0];
  const type = typeof logicalId === 'string' ? template.Resources[logicalId]?.Type : undefined;
  const kinds: Record<string, RuleTarget['kind']> = {
    'AWS::StepFunctions::StateMachine': 'state-machine',
    'AWS::SQS::Queue': 'queue',
    'AWS::Lambda::Function': 'function',
  };
  const kind = type ? kinds[type] : undefined;
  if (!kind || typeof logicalId !== 'string') {
    throw new Error(`Event rule ${ruleId} target ${target.Id} (${JSON.stringify(arn)}) is not a state machine, queue or function of this template.`);
  }
  if (target.InputTransformer !== undefined) {
    throw new Error(`Event rule ${ruleId} target ${target.Id} uses an input transformer, which the sandbox does not apply.`);
  }
  const deadLetterArn = target.DeadLetterConfig?.Arn;
  return {
    id: String(target.Id),
    kind,
    logicalId,
    inputPath: target.InputPath,
    input: target.Input,
    maximumRetryAttempts: target.RetryPolicy?.MaximumRetryAttempts ?? 185,
    maximumEventAgeSeconds: target.RetryPolicy?.MaximumEventAgeInSeconds ?? 86_400,
    deadLetterQueueId: deadLetterArn ? (deadLetterArn.Ref ?? deadLetterArn['Fn::GetAtt']?.[0]) : undefined,
  };
}

function applyInputPath(envelope: Record<string, unknown>, inputPath: string | undefined): unknown {
  if (inputPath === undefined || inputPath === '$') {
    return envelope;
  }
  if (!/^\$(\.[A-Za-z0-9_-]+)+$/.test(inputPath)) {
    throw new Error(`InputPath ${inputPath} is not supported locally; use $ or a dotted path such as $.detail.`);
  }
  return inputPath.slice(2).split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], envelope);
}
