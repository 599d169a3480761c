import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { CONTRACT_SCHEMAS, ContractSchemaName } from '../../src/domain/contract-schemas';
import { validateContract } from '../../src/domain/contract-validation';

const ROOT = path.resolve(__dirname, '..', '..');
const SCHEMA_DIR = path.join(ROOT, 'contract', 'schemas');
const EXAMPLES_DIR = path.join(ROOT, 'contract', 'examples');

interface Example {
  /** Path below contract/examples, such as `telemetry/valid/readings.json`. */
  readonly name: string;
  readonly schema: ContractSchemaName;
  readonly text: string;
}

interface Verdict {
  readonly valid: boolean;
  readonly errors: string[];
}

const schemaNames = fs.readdirSync(SCHEMA_DIR)
  .filter((file) => file.endsWith('.schema.json'))
  .map((file) => file.replace('.schema.json', ''))
  .sort();

function listExamples(outcome: 'valid' | 'invalid'): Example[] {
  return fs.readdirSync(EXAMPLES_DIR).sort().flatMap((schema) => {
    const dir = path.join(EXAMPLES_DIR, schema, outcome);
    if (!fs.existsSync(dir)) {
      return [];
    }
    return fs.readdirSync(dir).filter((file) => file.endsWith('.json')).sort().map((file) => ({
      name: `${schema}/${outcome}/${file}`,
      schema: schema as ContractSchemaName,
      text: fs.readFileSync(path.join(dir, file), 'utf8'),
    }));
  });
}

const validExamples = listExamples('valid');
const invalidExamples = listExamples('invalid');

/** Parses an example as the device message forwarder does, so text that is not JSON is an invalid message. */
function judge(text: string, validate: (payload: unknown) => Verdict): Verdict {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (error) {
    return { valid: false, errors: [`not JSON: ${(error as Error).message}`] };
  }
  return validate(payload);
}

/** Compiles the schema files with a new Ajv (draft-07), independent of the generated validators. */
function compileSchemaFiles(): Map<string, (payload: unknown) => Verdict> {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const validators = new Map<string, (payload: unknown) => Verdict>();
  for (const name of schemaNames) {
    const schema = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, `${name}.schema.json`), 'utf8'));
    const validate = ajv.compile(schema);
    validators.set(name, (payload) => {
      const valid = validate(payload);
      return { valid, errors: (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message}`) };
    });
  }
  return validators;
}

const freshValidators = compileSchemaFiles();

describe('contract schemas', () => {
  test('generated module lists every schema file', () => {
    expect(Object.keys(CONTRACT_SCHEMAS).sort()).toEqual(schemaNames);
  });

  test.each(schemaNames)('%s has a valid and an invalid example', (schema) => {
    const valid = validExamples.filter((example) => example.schema === schema);
    const invalid = invalidExamples.filter((example) => example.schema === schema);

    expect(valid.length).toBeGreaterThanOrEqual(1);
    expect(invalid.length).toBeGreaterThanOrEqual(1);
  });

  test('every example directory names a schema', () => {
    const directories = fs.readdirSync(EXAMPLES_DIR).sort();

    expect(directories.filter((directory) => !schemaNames.includes(directory))).toEqual([]);
  });

  test.each(schemaNames)('%s declares draft-07 and an $id named after its file', (name) => {
    const schema = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, `${name}.schema.json`), 'utf8'));

    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.$id).toBe(`https://cdk-smart-home.dev/contract/${name}.schema.json`);
  });
});

describe('valid contract examples', () => {
  test.each(validExamples.map((example) => [example.name, example] as const))('%s passes validateContract', (_name, example) => {
    const verdict = judge(example.text, (payload) => validateContract(example.schema, payload));

    expect(verdict).toEqual({ valid: true, errors: [] });
  });

  test.each(validExamples.map((example) => [example.name, example] as const))('%s passes the schema file', (_name, example) => {
    const verdict = judge(example.text, freshValidators.get(example.schema)!);

    expect(verdict).toEqual({ valid: true, errors: [] });
  });
});

describe('invalid contract examples', () => {
  test.each(invalidExamples.map((example) => [example.name, example] as const))('%s fails validateContract', (_name, example) => {
    const verdict = judge(example.text, (payload) => validateContract(example.schema, payload));

    expect(verdict.valid).toBe(false);
    expect(verdict.errors.length).toBeGreaterThan(0);
  });

  test.each(invalidExamples.map((example) => [example.name, example] as const))('%s fails the schema file', (_name, example) => {
    const verdict = judge(example.text, freshValidators.get(example.schema)!);

    expect(verdict.valid).toBe(false);
  });
});

describe('validateContract errors', () => {
  test('name the missing property', () => {
    const verdict = validateContract('relay-command', { relay: 'relay1', state: 'ON', expiresAt: 1 });

    expect(verdict.errors).toContain("payload must have required property 'commandId'");
  });

  test('name an additional property', () => {
    const verdict = validateContract('reset', { commandId: 'reset-0001', reason: 'UNLINKED', issuedAt: 1, ownerId: 'user-a' });

    expect(verdict.errors).toContain("payload must NOT have additional properties 'ownerId'");
  });

  test('give the path of a nested problem', () => {
    const verdict = validateContract('telemetry', { timestamp: 1, readings: { temperature: '21.5' } });

    expect(verdict.errors).toContain('/readings/temperature must be number,null');
  });

  test('report every problem at once', () => {
    const verdict = validateContract('relay-command', { state: 'TOGGLE' });

    expect(verdict.errors).toHaveLength(4);
  });
});

describe('generated contract modules', () => {
  // The script returns the content of each module keyed by its absolute path.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { render } = require('../../scripts/generate-contract-module.js') as { render: () => Record<string, string> };
  const rendered = Object.entries(render());

  test('cover the schemas and the validators', () => {
    const files = rendered.map(([file]) => path.relative(ROOT, file)).sort();

    expect(files).toEqual([path.join('src', 'domain', 'contract-schemas.ts'), path.join('src', 'domain', 'contract-validators.ts')]);
  });

  test.each(rendered.map(([file, content]) => [path.relative(ROOT, file), content] as const))('%s matches the schema files', (file, content) => {
    const committed = fs.readFileSync(path.join(ROOT, file), 'utf8');
    const stale = committed === content ? [] : [`${file} differs from contract/schemas; run node scripts/generate-contract-module.js and commit the result`];

    expect(stale).toEqual([]);
  });
});
