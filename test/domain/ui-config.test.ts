import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateContract } from '../../src/domain/contract-validation';
import {
  capabilitiesHash,
  CapabilityDocument,
  generateUiConfig,
  SliderComponent,
  TextComponent,
  TotalComponent,
  UiComponent,
  UiConfigInvalidArgumentError,
  UiConfigInvalidCapabilitiesError,
  ValueComponent,
} from '../../src/domain/ui-config';

const EXAMPLES_DIR = path.resolve(__dirname, '..', '..', 'contract', 'examples');
const THING = 'sh-SH-ESP32-000123';
const NOW = 1764892805000;

function readExample(relativePath: string): CapabilityDocument {
  return JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, relativePath), 'utf8'));
}

const twoRelays = readExample('capabilities/valid/two-relays.json');

function capabilities(overrides: Partial<CapabilityDocument> = {}): CapabilityDocument {
  return { schemaVersion: 1, model: 'esp32-test', firmwareVersion: '1.0.0', timestamp: 1764892800000, relays: [], sensors: [], ...overrides };
}

function componentById(components: readonly UiComponent[], id: string): UiComponent {
  const component = components.find((candidate) => candidate.id === id);
  if (component === undefined) {
    throw new Error(`no component '${id}' in ${components.map((candidate) => candidate.id).join(', ')}`);
  }
  return component;
}

describe('generateUiConfig components', () => {
  test('relays become toggles', () => {
    const document = generateUiConfig(THING, twoRelays, NOW);

    expect(componentById(document.components, 'relay.relay1')).toEqual({
      id: 'relay.relay1',
      type: 'toggle',
      label: 'Heater',
      group: 'relays',
      relay: 'relay1',
      command: { field: 'controlRelay', relay: 'relay1' },
    });
    expect(componentById(document.components, 'relay.relay2')).toMatchObject({ type: 'toggle', label: 'Lamp', relay: 'relay2' });
  });

  test('relay without name uses its id', () => {
    const document = generateUiConfig(THING, capabilities({ relays: [{ id: 'pump' }] }), NOW);

    expect(document.components[0].label).toBe('pump');
  });

  test('number setting with range becomes slider', () => {
    const document = generateUiConfig(THING, twoRelays, NOW);

    expect(componentById(document.components, 'setting.brightness')).toEqual({
      id: 'setting.brightness',
      type: 'slider',
      label: 'brightness',
      group: 'settings',
      setting: 'brightness',
      min: 0,
      max: 100,
      step: 5,
      unit: '%',
      precision: 0,
    });
  });

  test('slider precision follows fractional step', () => {
    const document = generateUiConfig(THING, capabilities({
      settings: [{ id: 'target', type: 'number', min: 5, max: 30, step: 0.5, unit: '°C' }],
    }), NOW);
    const slider = document.components[0] as SliderComponent;

    expect(slider.type).toBe('slider');
    expect(slider.precision).toBe(1);
  });

  test('slider without step is continuous', () => {
    const document = generateUiConfig(THING, capabilities({ settings: [{ id: 'gain', type: 'number', min: 0, max: 1 }] }), NOW);
    const slider = document.components[0] as SliderComponent;

    expect(slider.type).toBe('slider');
    expect(slider).not.toHaveProperty('step');
    expect(slider.precision).toBe(1);
  });

  test.each([
    ['no min or max', {}],
    ['only min', { min: 0 }],
    ['only max', { max: 10 }],
    ['min equal to max', { min: 3, max: 3 }],
    ['min above max', { min: 10, max: 0 }],
  ])('number setting with %s becomes read-only value', (_case, range) => {
    const document = generateUiConfig(THING, capabilities({ settings: [{ id: 'offset', type: 'number', unit: 'W', ...range }] }), NOW);
    const value = document.components[0] as ValueComponent;

    expect(value.type).toBe('value');
    expect(value.setting).toBe('offset');
    expect(value.format).toBe('number');
    expect(value.unit).toBe('W');
    expect(value.precision).toBe(2);
  });

  test('sensors become values with units', () => {
    const document = generateUiConfig(THING, twoRelays, NOW);

    expect(componentById(document.components, 'sensor.temperature')).toEqual({
      id: 'sensor.temperature',
      type: 'value',
      label: 'temperature',
      group: 'sensors',
      sensor: 'temperature',
      format: 'number',
      unit: '°C',
      precision: 1,
      min: -40,
      max: 125,
    });
    expect(componentById(document.components, 'sensor.current')).toMatchObject({ type: 'value', unit: 'A', precision: 2 });
  });

  test.each([
    ['temperature', '°C', 1],
    ['humidity', '%', 0],
    ['power', 'W', 1],
    ['voltage', 'V', 1],
    ['current', 'A', 2],
    ['illuminance', 'lx', 0],
  ])('%s sensor without unit gets default unit', (type, unit, precision) => {
    const document = generateUiConfig(THING, capabilities({ sensors: [{ id: 's1', type }] }), NOW);
    const value = document.components[0] as ValueComponent;

    expect(value.type).toBe('value');
    expect(value.unit).toBe(unit);
    expect(value.precision).toBe(precision);
  });

  test('declared unit wins over default', () => {
    const document = generateUiConfig(THING, capabilities({ sensors: [{ id: 't', type: 'temperature', unit: '°F' }] }), NOW);

    expect((document.components[0] as ValueComponent).unit).toBe('°F');
  });

  test.each(['motion', 'contact'])('%s sensor renders as boolean value', (type) => {
    const document = generateUiConfig(THING, capabilities({ sensors: [{ id: 'b', type, unit: 'x', min: 0, max: 1, cumulative: true }] }), NOW);

    expect(document.components[0]).toEqual({ id: 'sensor.b', type: 'value', label: 'b', group: 'sensors', sensor: 'b', format: 'boolean' });
  });

  test('cumulative energy becomes total', () => {
    const document = generateUiConfig(THING, twoRelays, NOW);

    expect(componentById(document.components, 'sensor.energy')).toEqual({
      id: 'sensor.energy',
      type: 'total',
      label: 'energy',
      group: 'sensors',
      sensor: 'energy',
      unit: 'kWh',
      precision: 3,
      resetsAreNewConsumption: true,
    });
  });

  test('energy without cumulative flag is total', () => {
    const document = generateUiConfig(THING, capabilities({ sensors: [{ id: 'meter', type: 'energy' }] }), NOW);
    const total = document.components[0] as TotalComponent;

    expect(total.type).toBe('total');
    expect(total.unit).toBe('kWh');
  });

  test('energy with cumulative false is value', () => {
    const document = generateUiConfig(THING, capabilities({ sensors: [{ id: 'meter', type: 'energy', cumulative: false }] }), NOW);

    expect(document.components[0].type).toBe('value');
  });

  test('unknown sensor type becomes text', () => {
    const document = generateUiConfig(THING, readExample('capabilities/valid/unknown-sensor-type.json'), NOW);

    expect(document.components).toEqual([
      { id: 'sensor.co2', type: 'text', label: 'co2', group: 'sensors', sensor: 'co2', sourceType: 'air_quality_index', unit: 'ppm' },
    ]);
  });

  test('unknown types leave other components intact', () => {
    const mixed = capabilities({
      relays: [{ id: 'relay1', name: 'Heater' }],
      sensors: [
        { id: 'temperature', type: 'temperature' },
        { id: 'pm25', type: 'particulate_matter', unit: 'µg/m³' },
      ],
      settings: [
        { id: 'mode', type: 'enum' },
        { id: 'brightness', type: 'number', min: 0, max: 100, step: 1 },
      ],
    });
    const document = generateUiConfig(THING, mixed, NOW);

    expect(document.components.map((component) => [component.id, component.type])).toEqual([
      ['relay.relay1', 'toggle'],
      ['sensor.temperature', 'value'],
      ['sensor.pm25', 'text'],
      ['setting.mode', 'text'],
      ['setting.brightness', 'slider'],
    ]);
    expect((componentById(document.components, 'setting.mode') as TextComponent).sourceType).toBe('enum');
    expect((componentById(document.components, 'setting.mode') as TextComponent).setting).toBe('mode');
    expect(validateContract('ui-config', document)).toEqual({ valid: true, errors: [] });
  });

  test('empty unit counts as no unit', () => {
    const document = generateUiConfig(THING, capabilities({
      sensors: [{ id: 'temperature', type: 'temperature', unit: '' }, { id: 'x', type: 'mystery', unit: '' }],
    }), NOW);

    expect((document.components[0] as ValueComponent).unit).toBe('°C');
    expect(document.components[1]).not.toHaveProperty('unit');
    expect(validateContract('ui-config', document).valid).toBe(true);
  });

  test('same id in two kinds gives distinct components', () => {
    const document = generateUiConfig(THING, capabilities({
      relays: [{ id: 'heater' }],
      sensors: [{ id: 'heater', type: 'power' }],
      settings: [{ id: 'heater', type: 'number', min: 0, max: 3 }],
    }), NOW);

    expect(document.components.map((component) => component.id)).toEqual(['relay.heater', 'sensor.heater', 'setting.heater']);
  });
});

describe('generateUiConfig document', () => {
  test('carries device fields and time', () => {
    const document = generateUiConfig(THING, twoRelays, NOW);

    expect(document.schemaVersion).toBe(1);
    expect(document.deviceId).toBe(THING);
    expect(document.model).toBe('esp32-relay-2');
    expect(document.firmwareVersion).toBe('1.0.0');
    expect(document.generatedAt).toBe(NOW);
    expect(document.capabilitiesHash).toBe(capabilitiesHash(twoRelays));
  });

  test('output is valid against schema', () => {
    const document = generateUiConfig(THING, twoRelays, NOW);

    expect(validateContract('ui-config', document)).toEqual({ valid: true, errors: [] });
  });

  const validCapabilityExamples = fs.readdirSync(path.join(EXAMPLES_DIR, 'capabilities', 'valid')).filter((file) => file.endsWith('.json')).sort();

  test.each(validCapabilityExamples)('capability example %s yields valid document', (file) => {
    const document = generateUiConfig(THING, readExample(`capabilities/valid/${file}`), NOW);

    expect(validateContract('ui-config', document)).toEqual({ valid: true, errors: [] });
  });

  test('re-announcement is byte-identical apart from generatedAt', () => {
    const reannounced = { ...twoRelays, timestamp: twoRelays.timestamp + 60_000, claimToken: 'another-claim-token-0123456789' };

    const first = JSON.stringify(generateUiConfig(THING, twoRelays, NOW));
    const second = JSON.stringify(generateUiConfig(THING, reannounced, NOW + 60_000));

    expect(second.replace(`"generatedAt":${NOW + 60_000}`, `"generatedAt":${NOW}`)).toBe(first);
  });

  test('rejects capabilities failing schema', () => {
    const invalid = { ...twoRelays, ownerId: 'user-a' } as unknown as CapabilityDocument;

    expect(() => generateUiConfig(THING, invalid, NOW)).toThrow(UiConfigInvalidCapabilitiesError);
    expect(() => generateUiConfig(THING, invalid, NOW)).toThrow("must NOT have additional properties 'ownerId'");
  });

  test.each([
    ['relay', { relays: [{ id: 'r1' }, { id: 'r1' }] }],
    ['sensor', { sensors: [{ id: 's1', type: 'power' }, { id: 's1', type: 'voltage' }] }],
    ['setting', { settings: [{ id: 'x', type: 'number' }, { id: 'x', type: 'number' }] }],
  ])('rejects repeated %s id', (kind, overrides) => {
    let caught: unknown;
    try {
      generateUiConfig(THING, capabilities(overrides), NOW);
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(UiConfigInvalidCapabilitiesError);
    expect((caught as UiConfigInvalidCapabilitiesError).name).toBe('UiConfigInvalidCapabilitiesError');
    expect((caught as UiConfigInvalidCapabilitiesError).errors).toHaveLength(1);
    expect((caught as UiConfigInvalidCapabilitiesError).errors[0]).toContain(`${kind} id`);
  });

  test.each([
    ['empty', ''],
    ['slash', 'sh-a/b'],
    ['too long', 'a'.repeat(129)],
  ])('rejects %s thing name', (_case, thingName) => {
    expect(() => generateUiConfig(thingName, twoRelays, NOW)).toThrow(UiConfigInvalidArgumentError);
  });

  test.each([
    ['fraction', 1.5],
    ['negative', -1],
    ['NaN', Number.NaN],
  ])('rejects %s generation time', (_case, now) => {
    expect(() => generateUiConfig(THING, twoRelays, now)).toThrow(UiConfigInvalidArgumentError);
  });

  test('error names are stable', () => {
    expect(new UiConfigInvalidArgumentError('x').name).toBe('UiConfigInvalidArgumentError');
    expect(new UiConfigInvalidCapabilitiesError(['x']).name).toBe('UiConfigInvalidCapabilitiesError');
  });
});

describe('capabilitiesHash', () => {
  test('is lowercase SHA-256 hex', () => {
    expect(capabilitiesHash(twoRelays)).toMatch(/^[0-9a-f]{64}$/);
  });

  test('ignores timestamp and claim token', () => {
    const later = { ...twoRelays, timestamp: twoRelays.timestamp + 3_600_000 };
    const claimed = readExample('capabilities/valid/with-claim-token.json');
    const otherClaim = { ...claimed, claimToken: 'a-different-claim-token.abc' };

    expect(capabilitiesHash(later)).toBe(capabilitiesHash(twoRelays));
    expect(capabilitiesHash(claimed)).toBe(capabilitiesHash(twoRelays));
    expect(capabilitiesHash(otherClaim)).toBe(capabilitiesHash(twoRelays));
  });

  test('ignores key order', () => {
    const reordered: CapabilityDocument = {
      sensors: twoRelays.sensors.map((sensor) => Object.fromEntries(Object.entries(sensor).reverse()) as typeof sensor),
      relays: twoRelays.relays,
      timestamp: twoRelays.timestamp,
      firmwareVersion: twoRelays.firmwareVersion,
      model: twoRelays.model,
      schemaVersion: 1,
      settings: twoRelays.settings,
    };

    expect(capabilitiesHash(reordered)).toBe(capabilitiesHash(twoRelays));
  });

  test('changes when a relay changes', () => {
    const renamed = { ...twoRelays, relays: [{ id: 'relay1', name: 'Boiler', maxCurrentA: 10 }, twoRelays.relays[1]] };
    const removed = { ...twoRelays, relays: [twoRelays.relays[0]] };

    expect(capabilitiesHash(renamed)).not.toBe(capabilitiesHash(twoRelays));
    expect(capabilitiesHash(removed)).not.toBe(capabilitiesHash(twoRelays));
  });

  test('changes with firmware version', () => {
    expect(capabilitiesHash({ ...twoRelays, firmwareVersion: '1.0.1' })).not.toBe(capabilitiesHash(twoRelays));
  });

  test('changes with component order', () => {
    const swapped = { ...twoRelays, relays: [...twoRelays.relays].reverse() };

    expect(capabilitiesHash(swapped)).not.toBe(capabilitiesHash(twoRelays));
  });
});
