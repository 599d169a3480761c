import type { ErrorObject } from 'ajv';
import type { ContractSchemaName } from './contract-schemas';
import * as compiled from './contract-validators';

/** Outcome of validating a payload against a contract schema. */
export interface ContractValidationResult {
  readonly valid: boolean;
  /** One readable line per problem, empty when the payload is valid. */
  readonly errors: string[];
}

interface CompiledValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

const VALIDATORS: Record<ContractSchemaName, CompiledValidator> = {
  'automation-rule-triggered': compiled.automationRuleTriggered,
  'capabilities': compiled.capabilities,
  'energy-status': compiled.energyStatus,
  'ota-job': compiled.otaJob,
  'relay-command': compiled.relayCommand,
  'relay-status': compiled.relayStatus,
  'reset': compiled.reset,
  'telemetry': compiled.telemetry,
  'ui-config': compiled.uiConfig,
};

function describe(error: ErrorObject): string {
  const where = error.instancePath === '' ? 'payload' : error.instancePath;
  const extra = error.keyword === 'additionalProperties'
    ? ` '${(error.params as { additionalProperty: string }).additionalProperty}'`
    : '';
  return `${where} ${error.message ?? 'is invalid'}${extra}`;
}

/**
 * Validates a parsed payload against one of the device contract's schemas, with validators that
 * Ajv compiled from contract/schemas when the library was built.
 */
export function validateContract(name: ContractSchemaName, payload: unknown): ContractValidationResult {
  const validator = VALIDATORS[name];
  if (validator(payload)) {
    return { valid: true, errors: [] };
  }
  return { valid: false, errors: (validator.errors ?? []).map(describe) };
}
