import {
  AutomationRule,
  AutomationRuleTriggeredDetail,
  ComparisonOperator,
  readingTriggerDedupKey,
  rulesFiredByReading,
} from '../../domain/automation-rules';
import type { SensorReading } from '../../domain/telemetry';

/**
 * How long the rules of a device stay cached, in milliseconds. A new or changed rule applies to
 * readings within this time. A stale entry never fires a deleted, disabled or changed rule,
 * because the workflow reads the rule again before it fires.
 */
export const RULES_CACHE_TTL_MS = 30_000;

/** Returns every rule of one owner whose condition names one device, enabled or not. */
export type RulesQuery = (thingName: string, ownerId: string) => Promise<AutomationRule[]>;

/** A rule that a reading fired, with the event detail to emit. */
export interface ReadingTrigger {
  readonly detail: AutomationRuleTriggeredDetail;
}

interface CacheEntry {
  readonly rules: AutomationRule[];
  readonly expiresAt: number;
}

/**
 * Evaluates telemetry readings against the READING rules of their device. Rules are cached per
 * device and owner for {@link RULES_CACHE_TTL_MS}, so a batch with many messages of one device
 * queries once. A rule that fires is marked as fired in memory, so later readings in its
 * cooldown emit no further event. The workflow's conditional cooldown claim still decides
 * whether the rule fires.
 */
export class ReadingRuleEvaluator {
  private readonly cache = new Map<string, CacheEntry>();
  /**
   * Time each rule fired in this instance, by `ownerId|ruleId`, kept until its cooldown ends.
   * It overrides an older cached `lastFiredAt`.
   */
  private readonly fired = new Map<string, { readonly at: number; readonly until: number }>();

  constructor(private readonly queryRules: RulesQuery, private readonly ttlMs: number = RULES_CACHE_TTL_MS) {}

  /** Returns a trigger for every rule that one of the readings fires at processing time `now`. */
  public async evaluate(thingName: string, ownerId: string | undefined, readings: readonly SensorReading[], now: number): Promise<ReadingTrigger[]> {
    if (!ownerId || readings.length === 0) {
      return [];
    }
    for (const [key, entry] of this.fired) {
      if (entry.until <= now) {
        this.fired.delete(key);
      }
    }
    const rules = (await this.rulesOf(thingName, ownerId, now)).map((rule) => {
      const fired = this.fired.get(ruleKey(rule));
      return fired && fired.at > (rule.lastFiredAt ?? 0) ? { ...rule, lastFiredAt: fired.at } : rule;
    });
    if (rules.length === 0) {
      return [];
    }

    const triggers: ReadingTrigger[] = [];
    for (const reading of readings) {
      if (reading.value === null) {
        continue;
      }
      const observed = { deviceId: thingName, sensorId: reading.sensorId, value: reading.value, timestamp: reading.timestamp };
      const fired = rulesFiredByReading(rules, observed, now);
      for (const rule of fired) {
        if (triggers.some((trigger) => trigger.detail.ruleId === rule.ruleId)) {
          continue;
        }
        this.fired.set(ruleKey(rule), { at: now, until: now + rule.cooldownSeconds * 1000 });
        triggers.push({
          detail: {
            thingName,
            ownerId: rule.ownerId,
            ruleId: rule.ruleId,
            reading: { sensorId: reading.sensorId, value: reading.value, timestamp: reading.timestamp },
            condition: { operator: rule.condition.operator as ComparisonOperator, threshold: rule.condition.threshold as number },
            dedupKey: readingTriggerDedupKey(thingName, rule.ruleId, reading.sensorId, reading.timestamp),
          },
        });
      }
    }
    return triggers;
  }

  /** Forgets that the triggers fired, after their events could not be emitted, so a retried message fires them again. */
  public release(triggers: readonly ReadingTrigger[]): void {
    for (const trigger of triggers) {
      this.fired.delete(ruleKey(trigger.detail));
    }
  }

  private async rulesOf(thingName: string, ownerId: string, now: number): Promise<AutomationRule[]> {
    const key = `${thingName}|${ownerId}`;
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt > now) {
      return cached.rules;
    }
    const rules = (await this.queryRules(thingName, ownerId)).filter((rule) => rule.enabled && rule.condition.source === 'READING');
    this.cache.set(key, { rules, expiresAt: now + this.ttlMs });
    for (const [entryKey, entry] of this.cache) {
      if (entry.expiresAt <= now) {
        this.cache.delete(entryKey);
      }
    }
    return rules;
  }
}

function ruleKey(rule: Pick<AutomationRule, 'ownerId' | 'ruleId'>): string {
  return `${rule.ownerId}|${rule.ruleId}`;
}
