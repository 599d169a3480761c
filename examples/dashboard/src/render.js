/**
 * Renders a device from its UI document (contract/schemas/ui-config.schema.json, schemaVersion 1).
 * Every string from a device or the API reaches the DOM through textContent or setAttribute,
 * never through innerHTML.
 */

export const SUPPORTED_SCHEMA_VERSION = 1;
const MISSING = '—';

/** Creates an element with attributes and children; strings become text nodes. */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') element.className = value;
    else if (name in PROPERTY_ATTRIBUTES) element[PROPERTY_ATTRIBUTES[name]] = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const PROPERTY_ATTRIBUTES = { checked: 'checked', disabled: 'disabled', value: 'value' };

/** Formats a number with `precision` decimal places (0 to 6) and an optional unit. */
export function formatNumber(value, precision, unit) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return MISSING;
  const places = Number.isInteger(precision) ? Math.min(Math.max(precision, 0), 6) : 2;
  const text = value.toFixed(places);
  return unit ? `${text} ${unit}` : text;
}

/**
 * Builds UI components from the relays and sensors of a Device, for a device whose UI document
 * the platform has not generated yet.
 */
export function componentsFromDevice(device) {
  const relays = (device.relays ?? []).map((relay) => ({
    id: `relay.${relay.id}`, type: 'toggle', label: relay.name || relay.id, group: 'relays', relay: relay.id, command: { field: 'controlRelay', relay: relay.id },
  }));
  const sensors = (device.sensors ?? []).map((sensor) => ({
    id: `sensor.${sensor.id}`, type: 'text', label: sensor.name || sensor.id, group: 'sensors', sensor: sensor.id, sourceType: sensor.type, unit: sensor.unit ?? undefined,
  }));
  return [...relays, ...sensors];
}

/**
 * Renders the components of a UI document, grouped by `group` in the order of first appearance.
 * `view` has the device's live values: `relays` (Map relay id to 'ON' or 'OFF'), `readings`
 * (Map sensor id to number or null), `pending` (Map relay id to the requested state) and
 * `commandStatus` (Map relay id to the last command's status). `actions.onToggle(relay, state)`
 * runs when the user switches a relay.
 */
export function renderComponents(components, view, actions) {
  const container = el('div', { class: 'components' });
  const groups = new Map();
  for (const component of Array.isArray(components) ? components : []) {
    const group = typeof component?.group === 'string' && component.group ? component.group : 'other';
    if (!groups.has(group)) {
      const section = el('section', { class: 'group', 'data-group': group }, el('h4', {}, group));
      groups.set(group, section);
      container.append(section);
    }
    groups.get(group).append(renderComponent(component, view, actions));
  }
  return container;
}

function renderComponent(component, view, actions) {
  const type = typeof component?.type === 'string' ? component.type : String(component?.type);
  const renderer = Object.hasOwn(RENDERERS, type) ? RENDERERS[type] : renderUnsupported;
  const label = typeof component?.label === 'string' && component.label ? component.label : String(component?.id ?? type);
  return el('div', { 'class': `component component-${Object.hasOwn(RENDERERS, type) ? type : 'unsupported'}`, 'data-component-id': component?.id, 'data-type': type },
    el('span', { class: 'label' }, label),
    renderer(component, view, actions, label));
}

const RENDERERS = {
  toggle: renderToggle,
  slider: renderSlider,
  value: renderValue,
  total: renderTotal,
  text: renderText,
};

function renderToggle(component, view, actions, label) {
  const relay = component.command?.relay ?? component.relay;
  const state = view.relays.get(relay);
  const pending = view.pending.get(relay);
  const status = view.commandStatus.get(relay);
  const input = el('input', {
    'type': 'checkbox',
    'role': 'switch',
    'aria-label': label,
    'data-relay': relay,
    'checked': (pending ?? state) === 'ON',
    'disabled': pending !== undefined || !actions.onToggle,
    'aria-busy': pending !== undefined ? 'true' : undefined,
  });
  input.addEventListener('change', () => actions.onToggle(relay, input.checked ? 'ON' : 'OFF'));
  let statusText = '';
  if (pending) statusText = `Switching ${pending.toLowerCase()}…`;
  else if (status && status !== 'SUCCEEDED' && status !== 'PENDING') statusText = `Last command ${status.toLowerCase().replace('_', ' ')}`;
  return el('span', { 'class': 'control', 'data-state': state ?? 'UNKNOWN', 'data-command-status': status },
    el('label', { class: 'switch' }, input, el('span', { 'class': 'track', 'aria-hidden': 'true' })),
    el('span', { class: 'command-status' }, statusText));
}

function renderSlider(component) {
  // The API has no mutation that changes a setting, so the slider shows the range read-only.
  const input = el('input', {
    'type': 'range',
    'min': component.min,
    'max': component.max,
    'step': component.step ?? 'any',
    'disabled': true,
    'aria-label': component.label,
  });
  const range = `${formatNumber(component.min, component.precision)} to ${formatNumber(component.max, component.precision, component.unit)}`;
  return el('span', { class: 'control' }, input, el('span', { class: 'reading', title: 'The platform API cannot change settings yet.' }, range));
}

function renderValue(component, view) {
  const value = component.sensor !== undefined ? view.readings.get(component.sensor) : undefined;
  let text;
  if (component.format === 'boolean') text = typeof value === 'number' ? (value !== 0 ? 'On' : 'Off') : MISSING;
  else text = formatNumber(value, component.precision, component.unit);
  return el('span', { class: 'reading', 'data-sensor': component.sensor, 'data-setting': component.setting }, text);
}

function renderTotal(component, view) {
  const value = view.readings.get(component.sensor);
  return el('span', { 'class': 'reading', 'data-sensor': component.sensor },
    formatNumber(value, component.precision, component.unit),
    el('span', { class: 'hint' }, ' total'));
}

function renderText(component, view) {
  const value = component.sensor !== undefined ? view.readings.get(component.sensor) : undefined;
  const text = value === undefined || value === null ? MISSING : `${String(value)}${component.unit ? ` ${component.unit}` : ''}`;
  return el('span', { 'class': 'reading', 'data-sensor': component.sensor, 'data-setting': component.setting, 'title': component.sourceType ? `Type ${component.sourceType}` : undefined }, text);
}

/** Fallback for a component type from a later schema version: the label and a note, no control. */
function renderUnsupported(component) {
  return el('span', { class: 'reading hint' }, `Not supported by this dashboard (type ${String(component?.type)})`);
}
