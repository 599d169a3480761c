import { Token } from 'aws-cdk-lib';

/**
 * Throws when a synth-time string does not match its pattern. Tokens are not checked because
 * their value is known only at deploy time.
 */
export function requireMatch(name: string, value: string, pattern: RegExp, fix: string): void {
  if (Token.isUnresolved(value)) {
    return;
  }
  if (!pattern.test(value)) {
    throw new Error(`Invalid ${name} '${value}': it must match ${pattern.source}. ${fix}`);
  }
}

/** Throws when a number is outside an inclusive range. */
export function requireRange(name: string, value: number, min: number, max: number, unit: string): void {
  if (Token.isUnresolved(value)) {
    return;
  }
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`Invalid ${name} ${value}: it must be between ${min} and ${max} ${unit}.`);
  }
}
