import { GraphQlError, PlatformApi } from './api.js';
import { Auth, AuthError } from './auth.js';
import { resolveConfig } from './config.js';
import { componentsFromDevice, el, renderComponents, SUPPORTED_SCHEMA_VERSION } from './render.js';

/** Time after a command's expiry to wait for its outcome before reading the device state, in milliseconds. */
const PENDING_GRACE_MS = 30_000;

const $ = (id) => document.getElementById(id);

/** Devices by id: the Device, its UI document and the live values that renderComponents reads. */
const devices = new Map();
let auth;
let api;
let subscription;

async function start() {
  let config;
  try {
    const response = await fetch('config.json', { cache: 'no-store' });
    if (!response.ok) throw new Error(`GET config.json returned HTTP ${response.status}.`);
    config = resolveConfig(await response.json());
  } catch (error) {
    showMessage(`The dashboard has no usable configuration: ${error.message} See examples/dashboard/README.md.`);
    return;
  }
  auth = new Auth(config);
  api = new PlatformApi(config, () => auth.idToken());

  $('sign-in').addEventListener('submit', (event) => {
    event.preventDefault();
    void signIn(new FormData(event.target));
  });
  $('sign-out').addEventListener('click', () => signOut());
  $('reload').addEventListener('click', () => void run(loadDevices));
  $('pair').addEventListener('submit', (event) => {
    event.preventDefault();
    void run(() => pairDevice(event.target));
  });
  $('create-claim-token').addEventListener('click', () => void run(createClaimToken));

  if (auth.signedIn) await enterHome();
  else showSignIn();
}

async function signIn(form) {
  try {
    await auth.signIn(String(form.get('username')).trim(), String(form.get('password')));
  } catch (error) {
    showMessage(`Sign-in failed: ${error.message}`);
    return;
  }
  $('sign-in').reset();
  await enterHome();
}

function signOut() {
  subscription?.stop();
  subscription = undefined;
  auth.signOut();
  devices.clear();
  $('devices').replaceChildren();
  showSignIn();
}

function showSignIn() {
  $('session').hidden = true;
  $('home').hidden = true;
  $('sign-in').hidden = false;
}

async function enterHome() {
  hideMessage();
  $('sign-in').hidden = true;
  $('home').hidden = false;
  $('session').hidden = false;
  $('signed-in-user').textContent = `Signed in as ${auth.username}`;
  subscription = api.watchDeviceUpdates({ onData: onDeviceUpdate, onStatus: showRealtimeStatus });
  await run(loadDevices);
}

/** Runs an action and shows its error. Signs out when the session cannot be renewed. */
async function run(action) {
  try {
    hideMessage();
    await action();
  } catch (error) {
    if (error instanceof AuthError || (error instanceof GraphQlError && error.status === 401)) {
      signOut();
      showMessage(`${error.message} Sign in again.`);
      return;
    }
    showMessage(error.message);
  }
}

async function loadDevices() {
  $('devices').setAttribute('aria-busy', 'true');
  try {
    const list = await api.myDevices();
    const ids = new Set(list.map((device) => device.id));
    for (const id of [...devices.keys()]) {
      if (!ids.has(id)) dropDevice(id);
    }
    await Promise.all(list.map((device) => loadDevice(device)));
    $('no-devices').hidden = devices.size > 0;
  } finally {
    $('devices').removeAttribute('aria-busy');
  }
}

async function loadDevice(device) {
  const [state, ui] = await Promise.all([api.deviceState(device.id), api.deviceUi(device.id)]);
  const entry = devices.get(device.id) ?? { pending: new Map(), commandStatus: new Map(), outcomes: new Set(), relays: new Map(), readings: new Map() };
  entry.device = device;
  entry.ui = ui;
  entry.online = device.online ?? entry.online;
  for (const relay of device.relays ?? []) if (relay.state) entry.relays.set(relay.id, relay.state);
  applyState(entry, state);
  devices.set(device.id, entry);
  renderDevice(device.id);
}

function applyState(entry, state) {
  if (!state) return;
  if (typeof state.online === 'boolean') entry.online = state.online;
  for (const relay of state.relays ?? []) if (relay.state) entry.relays.set(relay.id, relay.state);
  for (const reading of state.readings ?? []) entry.readings.set(reading.sensorId, reading.value);
}

function onDeviceUpdate(update) {
  const entry = devices.get(update.deviceId);
  if (update.removed || update.kind === 'removed') {
    dropDevice(update.deviceId);
    return;
  }
  if (!entry || update.kind === 'linked') {
    void run(loadDevices);
    return;
  }
  applyState(entry, update.state);
  const command = update.command;
  if (command && command.status !== 'PENDING') {
    entry.commandStatus.set(command.relay, command.status);
    entry.outcomes.add(command.commandId);
    if (entry.pending.get(command.relay)?.commandId === command.commandId) entry.pending.delete(command.relay);
  }
  renderDevice(update.deviceId);
}

function dropDevice(deviceId) {
  devices.delete(deviceId);
  document.querySelector(`[data-device-id="${CSS.escape(deviceId)}"]`)?.remove();
  $('no-devices').hidden = devices.size > 0;
}

async function switchRelay(deviceId, relay, state) {
  const entry = devices.get(deviceId);
  const pending = { state, commandId: undefined };
  entry.pending.set(relay, pending);
  renderDevice(deviceId);
  let command;
  try {
    command = await api.controlRelay(deviceId, relay, state);
  } catch (error) {
    entry.pending.delete(relay);
    entry.commandStatus.set(relay, 'FAILED');
    renderDevice(deviceId);
    throw error;
  }
  // The outcome can arrive on the subscription before the mutation's response.
  if (entry.outcomes.has(command.commandId)) entry.pending.delete(relay);
  else pending.commandId = command.commandId;
  renderDevice(deviceId);
  // Without a connected subscription no outcome arrives, so the stored state is read instead.
  setTimeout(() => {
    if (entry.pending.get(relay) === pending) {
      entry.pending.delete(relay);
      void run(() => loadDevice(entry.device));
    }
  }, Math.max(epochMs(command.expiresAt) - Date.now(), 0) + PENDING_GRACE_MS);
}

async function removeDevice(deviceId) {
  const name = devices.get(deviceId)?.device.name || deviceId;
  if (!window.confirm(`Remove ${name}? The device is reset and must be set up again.`)) return;
  await api.removeDevice(deviceId);
  dropDevice(deviceId);
}

async function pairDevice(form) {
  const code = String(new FormData(form).get('code')).trim();
  const device = await api.addDevice(code);
  form.reset();
  await loadDevice(device);
  $('no-devices').hidden = true;
}

async function createClaimToken() {
  const claim = await api.createClaimToken();
  $('claim-token-value').textContent = claim.token;
  $('claim-token-expiry').textContent = `valid until ${new Date(epochMs(claim.expiresAt)).toLocaleTimeString()}`;
  $('claim-token').hidden = false;
}

function renderDevice(deviceId) {
  const entry = devices.get(deviceId);
  if (!entry) return;
  const { device, ui } = entry;
  const view = {
    relays: entry.relays,
    readings: entry.readings,
    pending: new Map([...entry.pending].map(([relay, pending]) => [relay, pending.state])),
    commandStatus: entry.commandStatus,
  };
  const actions = { onToggle: (relay, state) => void run(() => switchRelay(deviceId, relay, state)) };
  const notes = [];
  if (!ui) notes.push('The platform has not generated this device\'s UI document yet, so it shows relays and sensors only.');
  else if (ui.schemaVersion !== SUPPORTED_SCHEMA_VERSION) notes.push(`This device uses UI document version ${String(ui.schemaVersion)}; this dashboard knows version ${SUPPORTED_SCHEMA_VERSION}.`);
  const removeButton = el('button', { type: 'button', class: 'remove' }, 'Remove');
  removeButton.addEventListener('click', () => void run(() => removeDevice(deviceId)));

  // online is null until the platform has seen a connect or disconnect of the device.
  const presence = typeof entry.online === 'boolean' ? (entry.online ? 'online' : 'offline') : 'unknown';
  const card = el('article', { 'class': 'device', 'data-device-id': deviceId, 'data-online': presence },
    el('header', {},
      el('h3', {}, device.name || deviceId),
      presence !== 'unknown' && el('span', { class: `badge ${presence}` }, presence),
      removeButton),
    el('p', { class: 'meta' }, [device.room, device.model, device.firmwareVersion && `firmware ${device.firmwareVersion}`, device.name ? deviceId : undefined].filter(Boolean).join(' · ')),
    notes.map((note) => el('p', { class: 'hint' }, note)),
    renderComponents(ui ? ui.components : componentsFromDevice(device), view, actions));

  const existing = document.querySelector(`[data-device-id="${CSS.escape(deviceId)}"]`);
  if (existing) existing.replaceWith(card);
  else $('devices').append(card);
}

/** Accepts epoch seconds (AppSync's AWSTimestamp) or epoch milliseconds, which this platform sends. */
function epochMs(timestamp) {
  return timestamp < 1e12 ? timestamp * 1000 : timestamp;
}

function showRealtimeStatus(status, detail) {
  const labels = { connecting: 'Connecting live updates…', connected: 'Live updates on', disconnected: 'Live updates off' };
  const element = $('realtime-status');
  element.dataset.status = status;
  element.textContent = detail ? `${labels[status]} (${detail})` : labels[status];
}

function showMessage(text) {
  $('message').textContent = text;
  $('message').hidden = false;
}

function hideMessage() {
  $('message').hidden = true;
}

void start();
