import { createHash } from 'node:crypto';
import { validateContract } from './contract-validation';
import { MAX_THING_NAME_LENGTH } from './identity';

// ---------------------------------------------------------------------------------------------
// Capability document (contract/schemas/capabilities.schema.json)
// ---------------------------------------------------------------------------------------------

/** A relay declared in a capability document. */
export interface RelayCapability {
  readonly id: string;
  readonly name?: string;
  /** Rated current of the relay contact in amperes. */
  readonly maxCurrentA?: number;
}

/** A sensor declared in a capability document. */
export interface SensorCapability {
  readonly id: string;
  readonly type: string;
  readonly name?: string;
  readonly unit?: string;
  readonly min?: number;
  readonly max?: number;
  /** True for running totals such as an energy meter in kWh. */
  readonly cumulative?: boolean;
}

/** A setting declared in a capability document. */
export interface SettingCapability {
  readonly id: string;
  readonly type: string;
  readonly name?: string;
  readonly unit?: string;
  readonly min?: number;
  readonly max?: number;
  readonly step?: number;
}

/** The document that a device publishes on `iot/capabilities/<thing>` after every connect. */
export interface CapabilityDocument {
  readonly schemaVersion: 1;
  readonly model: string;
  readonly firmwareVersion: string;
  /** Time of the announcement in epoch milliseconds. */
  readonly timestamp: number;
  readonly relays: readonly RelayCapability[];
  readonly sensors: readonly SensorCapability[];
  readonly settings?: readonly SettingCapability[];
  /** Short-lived auto-discovery claim token, issued by issueClaimToken in claim-token.ts. */
  readonly claimToken?: string;
}

// ---------------------------------------------------------------------------------------------
// UI document (contract/schemas/ui-config.schema.json)
// ---------------------------------------------------------------------------------------------

/** Version of the UI document format. */
export const UI_CONFIG_SCHEMA_VERSION = 1;

/** Sensor types that render as a `value` or `total` component. Other types render as `text`. */
export const KNOWN_SENSOR_TYPES = [
  'temperature',
  'humidity',
  'power',
  'voltage',
  'current',
  'energy',
  'illuminance',
  'motion',
  'contact',
] as const;

/** Setting types that render as a `slider` or `value` component. Other types render as `text`. */
export const KNOWN_SETTING_TYPES = ['number'] as const;

/** Fields that every UI component has. */
interface UiComponentBase {
  /** Unique within the document: `relay.<id>`, `sensor.<id>` or `setting.<id>`. */
  readonly id: string;
  readonly label: string;
  /** Section of the screen: `relays`, `sensors` or `settings`. */
  readonly group?: string;
}

/** A switch for one relay. */
export interface ToggleComponent extends UiComponentBase {
  readonly type: 'toggle';
  readonly relay: string;
  /** GraphQL mutation that switches the relay, called with the device id, this relay and the new state. */
  readonly command: { readonly field: 'controlRelay'; readonly relay: string };
}

/**
 * A slider for a number setting with a range.
 *
 * NOTE: The platform API has no mutation that changes a setting, so a slider has no command.
 */
export interface SliderComponent extends UiComponentBase {
  readonly type: 'slider';
  readonly setting: string;
  readonly min: number;
  readonly max: number;
  /** Distance between selectable values. Without a step the slider is continuous. */
  readonly step?: number;
  readonly unit?: string;
  /** Number of decimal places to display. */
  readonly precision: number;
}

/** A read-only reading of a sensor, or of a number setting without a range. */
export interface ValueComponent extends UiComponentBase {
  readonly type: 'value';
  readonly sensor?: string;
  readonly setting?: string;
  /** Display format. `boolean` shows 0 as off (no motion, closed) and any other value as on. */
  readonly format: 'number' | 'boolean';
  readonly unit?: string;
  /** Number of decimal places to display, present when `format` is `number`. */
  readonly precision?: number;
  readonly min?: number;
  readonly max?: number;
}

/** A running total of a cumulative sensor such as an energy meter. */
export interface TotalComponent extends UiComponentBase {
  readonly type: 'total';
  readonly sensor: string;
  readonly unit: string;
  readonly precision: number;
  /** A reading lower than the previous one is a meter reset, so consumption continues from it. */
  readonly resetsAreNewConsumption: true;
}

/** A read-only fallback for a sensor or setting type that the UI format does not know. */
export interface TextComponent extends UiComponentBase {
  readonly type: 'text';
  readonly sensor?: string;
  readonly setting?: string;
  /** The type that the capability document declared. */
  readonly sourceType: string;
  readonly unit?: string;
}

/** One renderable element of a UI document. */
export type UiComponent = ToggleComponent | SliderComponent | ValueComponent | TotalComponent | TextComponent;

/** The UI document of one device, rendered by an app with no device-specific code. */
export interface UiConfigDocument {
  readonly schemaVersion: typeof UI_CONFIG_SCHEMA_VERSION;
  /** The device id, which is its AWS IoT thing name. */
  readonly deviceId: string;
  readonly model: string;
  readonly firmwareVersion: string;
  /** Time the document was generated, in epoch milliseconds. */
  readonly generatedAt: number;
  /** Hash of the capability document that produced this document, computed by {@link capabilitiesHash}. */
  readonly capabilitiesHash: string;
  readonly components: readonly UiComponent[];
}

/** Thrown when a capability document fails the contract schema or repeats an id. */
export class UiConfigInvalidCapabilitiesError extends Error {
  public override readonly name = 'UiConfigInvalidCapabilitiesError';

  constructor(public readonly errors: readonly string[]) {
    super(`Invalid capability document: ${errors.join('; ')}`);
  }
}

/** Thrown when the thing name or the generation time passed to generateUiConfig is invalid. */
export class UiConfigInvalidArgumentError extends Error {
  public override readonly name = 'UiConfigInvalidArgumentError';
}

// ---------------------------------------------------------------------------------------------
// Capabilities hash
// ---------------------------------------------------------------------------------------------

/**
 * Serializes a JSON value with object keys sorted by UTF-16 code units, no whitespace, and
 * strings and numbers as JSON.stringify writes them. Properties whose value is undefined are
 * left out, as JSON.stringify does.
 */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new TypeError(`Cannot hash the non-finite number ${value} because JSON has no representation for it.`);
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (typeof value === 'object') {
    const members = Object.keys(value)
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${members.join(',')}}`;
  }
  throw new TypeError(`Cannot hash a value of type ${typeof value}. Only JSON values are allowed.`);
}

/**
 * Computes the SHA-256 (lowercase hex) of the canonical JSON of a capability document without
 * `timestamp` and `claimToken`. Those two fields change on every announcement, so an unchanged
 * device keeps its hash and the cloud can skip regenerating its UI document.
 */
export function capabilitiesHash(capabilities: CapabilityDocument): string {
  const { timestamp: _timestamp, claimToken: _claimToken, ...stable } = capabilities;
  return createHash('sha256').update(canonicalJson(stable), 'utf8').digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Component mapping
// ---------------------------------------------------------------------------------------------

interface SensorPresentation {
  readonly format: 'number' | 'boolean';
  readonly unit?: string;
  readonly precision?: number;
}

/** Default unit and precision of each known sensor type, used when the device declares no unit. */
const SENSOR_PRESENTATION: Record<(typeof KNOWN_SENSOR_TYPES)[number], SensorPresentation> = {
  temperature: { format: 'number', unit: '°C', precision: 1 },
  humidity: { format: 'number', unit: '%', precision: 0 },
  power: { format: 'number', unit: 'W', precision: 1 },
  voltage: { format: 'number', unit: 'V', precision: 1 },
  current: { format: 'number', unit: 'A', precision: 2 },
  energy: { format: 'number', unit: 'kWh', precision: 3 },
  illuminance: { format: 'number', unit: 'lx', precision: 0 },
  motion: { format: 'boolean' },
  contact: { format: 'boolean' },
};

/** Decimal places of a number setting without a step. */
const DEFAULT_SETTING_PRECISION = 2;

/** Largest precision that the UI schema allows. */
const MAX_PRECISION = 6;

const THING_NAME_PATTERN = new RegExp(`^[A-Za-z0-9:_-]{1,${MAX_THING_NAME_LENGTH}}$`);

/** Largest epoch millisecond value that the contract schemas accept (year 9999). */
const MAX_EPOCH_MS = 253402300799999;

function isKnownSensorType(type: string): type is (typeof KNOWN_SENSOR_TYPES)[number] {
  return (KNOWN_SENSOR_TYPES as readonly string[]).includes(type);
}

/** Returns the declared unit, treating the empty string that the capability schema allows as absent. */
function declaredUnit(unit: string | undefined): string | undefined {
  return unit === undefined || unit === '' ? undefined : unit;
}

/** Counts the decimal places of a number, including numbers that String() writes with an exponent. */
function decimalPlaces(value: number): number {
  const [mantissa, exponent] = String(value).toLowerCase().split('e');
  const fraction = mantissa.split('.')[1] ?? '';
  const places = fraction.length - Number(exponent ?? 0);
  return Math.min(MAX_PRECISION, Math.max(0, places));
}

/**
 * Returns the fields that lead every component, in the order that the JSON output keeps. The id
 * carries the capability kind because relays, sensors and settings may share an id.
 */
function componentHeader<T extends UiComponent['type']>(
  type: T,
  kind: 'relay' | 'sensor' | 'setting',
  capability: { readonly id: string; readonly name?: string },
) {
  return { id: `${kind}.${capability.id}`, type, label: capability.name ?? capability.id, group: `${kind}s` };
}

function relayComponent(relay: RelayCapability): ToggleComponent {
  return {
    ...componentHeader('toggle', 'relay', relay),
    relay: relay.id,
    command: { field: 'controlRelay', relay: relay.id },
  };
}

function sensorComponent(sensor: SensorCapability): ValueComponent | TotalComponent | TextComponent {
  const unit = declaredUnit(sensor.unit);

  if (!isKnownSensorType(sensor.type)) {
    return { ...componentHeader('text', 'sensor', sensor), sensor: sensor.id, sourceType: sensor.type, ...(unit !== undefined && { unit }) };
  }

  const presentation = SENSOR_PRESENTATION[sensor.type];
  if (presentation.format === 'boolean') {
    // Motion and contact are states, so min, max, unit and the cumulative flag do not apply.
    return { ...componentHeader('value', 'sensor', sensor), sensor: sensor.id, format: 'boolean' };
  }

  // An energy meter is a running total unless the capability document sets `cumulative: false`.
  const cumulative = sensor.cumulative ?? sensor.type === 'energy';
  const displayUnit = unit ?? presentation.unit!;
  if (cumulative) {
    return {
      ...componentHeader('total', 'sensor', sensor),
      sensor: sensor.id,
      unit: displayUnit,
      precision: presentation.precision!,
      resetsAreNewConsumption: true,
    };
  }

  return {
    ...componentHeader('value', 'sensor', sensor),
    sensor: sensor.id,
    format: 'number',
    unit: displayUnit,
    precision: presentation.precision!,
    ...(sensor.min !== undefined && { min: sensor.min }),
    ...(sensor.max !== undefined && { max: sensor.max }),
  };
}

/**
 * Maps a setting. A number setting needs a finite range with min below max to become a slider,
 * because a slider cannot be drawn without both ends. Without one it renders as a read-only
 * number value.
 */
function settingComponent(setting: SettingCapability): SliderComponent | ValueComponent | TextComponent {
  const unit = declaredUnit(setting.unit);
  const unitField = unit !== undefined ? { unit } : {};

  if (setting.type !== 'number') {
    return { ...componentHeader('text', 'setting', setting), setting: setting.id, sourceType: setting.type, ...unitField };
  }

  const { min, max, step } = setting;
  if (min === undefined || max === undefined || min >= max) {
    const precision = step !== undefined ? decimalPlaces(step) : DEFAULT_SETTING_PRECISION;
    return {
      ...componentHeader('value', 'setting', setting),
      setting: setting.id,
      format: 'number',
      ...unitField,
      precision,
      ...(min !== undefined && { min }),
      ...(max !== undefined && { max }),
    };
  }

  // A continuous slider shows at least one decimal so that moving it visibly changes the label.
  const precision = step !== undefined
    ? Math.max(decimalPlaces(step), decimalPlaces(min), decimalPlaces(max))
    : Math.max(1, decimalPlaces(min), decimalPlaces(max));
  return {
    ...componentHeader('slider', 'setting', setting),
    setting: setting.id,
    min,
    max,
    ...(step !== undefined && { step }),
    ...unitField,
    precision,
  };
}

function findDuplicateIds(kind: string, items: readonly { id: string }[]): string[] {
  const seen = new Set<string>();
  const errors: string[] = [];
  for (const item of items) {
    if (seen.has(item.id)) {
      errors.push(`${kind} id '${item.id}' is declared more than once`);
    }
    seen.add(item.id);
  }
  return errors;
}

function assertValidInput(thingName: string, capabilities: CapabilityDocument, now: number): void {
  if (typeof thingName !== 'string' || !THING_NAME_PATTERN.test(thingName)) {
    throw new UiConfigInvalidArgumentError(
      `Invalid thing name '${String(thingName)}': expected 1 to ${MAX_THING_NAME_LENGTH} letters, digits, ':', '_' or '-'.`,
    );
  }
  if (!Number.isSafeInteger(now) || now < 0 || now > MAX_EPOCH_MS) {
    throw new UiConfigInvalidArgumentError(`Invalid generation time ${now}: expected an integer epoch time in milliseconds.`);
  }

  const schemaResult = validateContract('capabilities', capabilities);
  if (!schemaResult.valid) {
    throw new UiConfigInvalidCapabilitiesError(schemaResult.errors);
  }

  // Commands and readings address a capability by its id, so a repeated id would be ambiguous.
  const duplicates = [
    ...findDuplicateIds('relay', capabilities.relays),
    ...findDuplicateIds('sensor', capabilities.sensors),
    ...findDuplicateIds('setting', capabilities.settings ?? []),
  ];
  if (duplicates.length > 0) {
    throw new UiConfigInvalidCapabilitiesError(duplicates);
  }
}

/**
 * Generates the UI document of a device from its capability document. Components follow the
 * capability document's order: relays, then sensors, then settings. Equal capability documents
 * produce byte-identical JSON apart from `generatedAt`.
 *
 * @param thingName the device id, which is its AWS IoT thing name
 * @param capabilities the device's capability document
 * @param now generation time in epoch milliseconds
 * @throws UiConfigInvalidArgumentError for an invalid thing name or time
 * @throws UiConfigInvalidCapabilitiesError when the capability document fails its schema or repeats an id
 */
export function generateUiConfig(thingName: string, capabilities: CapabilityDocument, now: number): UiConfigDocument {
  assertValidInput(thingName, capabilities, now);

  const components: UiComponent[] = [
    ...capabilities.relays.map(relayComponent),
    ...capabilities.sensors.map(sensorComponent),
    ...(capabilities.settings ?? []).map(settingComponent),
  ];

  return {
    schemaVersion: UI_CONFIG_SCHEMA_VERSION,
    deviceId: thingName,
    model: capabilities.model,
    firmwareVersion: capabilities.firmwareVersion,
    generatedAt: now,
    capabilitiesHash: capabilitiesHash(capabilities),
    components,
  };
}
