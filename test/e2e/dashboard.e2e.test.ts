/**
 * Drives the web dashboard (examples/dashboard) in headless Chromium against the sandbox: sign-in,
 * a device that links itself with the user's setup token, a relay switched through the live
 * update, and removal. Needs Debian's chromium at /usr/bin/chromium and playwright-core.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { hkdfSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { poll, PlatformClient } from '../../sandbox/src/demo/platform-client';
import { SimulatedDevice } from '../../sandbox/src/devices/device-simulator';
import { REPOSITORY_ROOT, RunningSandbox, startSandbox } from '../../sandbox/src/sandbox-process';

jest.setTimeout(180_000);

const CHROMIUM = '/usr/bin/chromium';
const SERIAL = 'DASH-0001';
const PAIRED_SERIAL = 'DASH-0002';
const SERVE = join(REPOSITORY_ROOT, 'examples', 'dashboard', 'serve.js');
const SCREENSHOT = join(REPOSITORY_ROOT, 'test', 'e2e', 'artifacts', 'dashboard.png');
const UI_EXAMPLES = join(REPOSITORY_ROOT, 'contract', 'examples', 'ui-config', 'valid');

let sandbox: RunningSandbox;
let alice: PlatformClient;
let server: ChildProcess;
let dashboardUrl: string;
let browser: Browser;
let page: Page;
let device: SimulatedDevice | undefined;
let pairedDevice: SimulatedDevice | undefined;
let workDirectory: string;
const serverLog: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium).`);
  }
  sandbox = await startSandbox({ allowSerials: [SERIAL, PAIRED_SERIAL], users: ['alice', 'operator:admins'] });
  alice = await sandbox.signIn('alice');

  workDirectory = mkdtempSync(join(tmpdir(), 'dashboard-e2e-'));
  const configFile = join(workDirectory, 'config.json');
  const { graphqlUrl, realtimeUrl, cognitoUrl, region, userPoolId, userPoolClientId } = sandbox.endpoints;
  writeFileSync(configFile, JSON.stringify({ graphqlUrl, realtimeUrl, cognitoUrl, region, userPoolId, userPoolClientId }));
  ({ server, url: dashboardUrl } = await startServer(configFile));

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (error) => pageErrors.push(error.message));
});

afterAll(async () => {
  await browser?.close();
  await device?.disconnect().catch(() => undefined);
  await pairedDevice?.disconnect().catch(() => undefined);
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  await sandbox?.stop();
  if (workDirectory) rmSync(workDirectory, { recursive: true, force: true });
});

/** Starts serve.js on a free port and resolves with the URL it prints. */
function startServer(configFile: string): Promise<{ server: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [SERVE, '--config', configFile, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (chunk: Buffer) => serverLog.push(chunk.toString('utf8')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve.js printed no URL within 10 s: ${serverLog.join('')}`)), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(chunk.toString('utf8'));
      if (match) {
        clearTimeout(timer);
        resolve({ server: child, url: match[0] });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve.js exited with status ${code}: ${serverLog.join('')}`));
    });
  });
}

test('sign-in rejects a wrong password', async () => {
  await page.goto(dashboardUrl);
  await page.fill('#sign-in input[name=username]', 'alice');
  await page.fill('#sign-in input[name=password]', 'not-the-password');
  await page.click('#sign-in button[type=submit]');

  await page.locator('#message').waitFor({ state: 'visible' });
  expect(await page.textContent('#message')).toMatch(/^Sign-in failed: /);
  expect(await page.isVisible('#home')).toBe(false);
});

test('dashboard controls a self-linked device', async () => {
  const password = sandbox.users.find((user) => user.username === 'alice')!.password;
  await page.goto(dashboardUrl);
  await page.fill('#sign-in input[name=username]', 'alice');
  await page.fill('#sign-in input[name=password]', password);
  await page.click('#sign-in button[type=submit]');
  await page.locator('#realtime-status[data-status="connected"]').waitFor();
  expect(await page.textContent('#signed-in-user')).toBe('Signed in as alice');
  await page.locator('#devices:not([aria-busy])').waitFor({ state: 'attached' });
  expect(await page.isVisible('#no-devices')).toBe(true);

  // The device links itself with the setup token that the dashboard shows.
  await page.click('#create-claim-token');
  await page.locator('#claim-token').waitFor({ state: 'visible' });
  const claimToken = (await page.textContent('#claim-token-value'))!.trim();
  expect(claimToken.length).toBeGreaterThan(0);
  device = sandbox.device(SERIAL, claimToken);
  await device.provision();
  await device.goOnline();

  const card = page.locator(`article[data-device-id="${device.thingName}"]`);
  await card.waitFor({ timeout: 60_000 });
  const relay1 = card.locator('.component[data-component-id="relay.relay1"]');
  // The device announced its relays but has not reported their states yet.
  expect(await relay1.locator('.control').getAttribute('data-state')).toBe('UNKNOWN');
  expect(await relay1.locator('input[role=switch]').isChecked()).toBe(false);
  expect(await card.locator('.component[data-component-id="sensor.temperature"] .reading').textContent()).toBe('—');
  expect(await page.isVisible('#no-devices')).toBe(false);

  // The stored state changes only when the device's acknowledgement arrives on onDeviceUpdate.
  await relay1.locator('input[role=switch]').click();
  await relay1.locator('.control[data-state="ON"][data-command-status="SUCCEEDED"]').waitFor({ timeout: 60_000 });
  expect(await relay1.locator('input[role=switch]').isChecked()).toBe(true);
  expect(await relay1.locator('input[role=switch]').getAttribute('aria-busy')).toBeNull();
  expect(device.relayStates.get('relay1')).toBe('ON');
  expect(device.applied.map((command) => command.result)).toEqual(['APPLIED']);

  mkdirSync(join(REPOSITORY_ROOT, 'test', 'e2e', 'artifacts'), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // A device name is owner-provided text and must stay text.
  const markupName = '<img src=x onerror="window.injected=1">Hall <b>lamp</b>';
  await alice.api.request('mutation ($input: RegisterDeviceInput!) { registerDevice(input: $input) { id name } }', { input: { deviceId: device.thingName, name: markupName } });
  await page.click('#reload');
  await card.locator('h3', { hasText: 'Hall <b>lamp</b>' }).waitFor();
  expect(await card.locator('h3').textContent()).toBe(markupName);
  expect(await card.locator('h3 img, h3 b').count()).toBe(0);
  expect(await page.evaluate(() => (globalThis as any).injected)).toBeUndefined();

  page.once('dialog', (dialog) => void dialog.accept());
  await card.locator('button.remove').click();
  await card.waitFor({ state: 'detached' });
  expect(await page.isVisible('#no-devices')).toBe(true);
  await poll(async () => (device!.resets > 0 ? true : undefined), 30_000, 'reset of the removed device');
  expect(await alice.myDeviceIds()).toEqual([]);
  expect(pageErrors).toEqual([]);
});

test('dashboard pairs a device by code', async () => {
  pairedDevice = sandbox.device(PAIRED_SERIAL);
  await pairedDevice.provision();
  await pairedDevice.goOnline();
  const operator = await sandbox.signIn('operator');
  const code = await poll(() => operator.createPairingCode(pairedDevice!.thingName), 30_000, 'pairing code for the onboarded device');

  await page.goto(dashboardUrl);
  await page.locator('#realtime-status[data-status="connected"]').waitFor();
  await page.fill('#pair input[name=code]', code);
  await page.click('#pair button[type=submit]');

  const card = page.locator(`article[data-device-id="${pairedDevice.thingName}"]`);
  await card.waitFor();
  expect(await card.locator('input[role=switch]').count()).toBe(2);
  expect(await page.inputValue('#pair input[name=code]')).toBe('');
  expect(await page.isVisible('#message')).toBe(false);
  expect(await alice.myDeviceIds()).toEqual([pairedDevice.thingName]);
});

test('pairing rejects an unknown code', async () => {
  await page.goto(dashboardUrl);
  await page.fill('#pair input[name=code]', 'NOT-A-CODE');
  await page.click('#pair button[type=submit]');

  await page.locator('#message').waitFor({ state: 'visible' });
  expect((await page.textContent('#message'))!.length).toBeGreaterThan(0);
  expect(await page.inputValue('#pair input[name=code]')).toBe('NOT-A-CODE');
});

test('renderer draws every component type', async () => {
  await page.goto(dashboardUrl);
  const documents = ['two-relays.json', 'boolean-sensors-and-fallbacks.json', 'unknown-sensor-type.json']
    .map((file) => JSON.parse(readFileSync(join(UI_EXAMPLES, file), 'utf8')));
  const laterType = { id: 'sensor.hue', type: 'colour-wheel', label: '<b>Hue</b>', group: 'sensors' };
  const components = [...documents.flatMap((document) => document.components), laterType];

  const rendered = await page.evaluate(async (input) => {
    const { renderComponents } = await import(new URL('render.js', (globalThis as any).location.href).href);
    const view = {
      relays: new Map([['relay1', 'ON'], ['relay2', 'OFF']]),
      readings: new Map<string, number | null>([['temperature', 21.54], ['energy', 12.3456], ['current', null], ['hall', 1], ['door', 0], ['co2', 415]]),
      pending: new Map([['relay2', 'ON']]),
      commandStatus: new Map(),
    };
    const element = renderComponents(input, view, { onToggle: () => undefined });
    (globalThis as any).document.body.append(element);
    return {
      groups: [...element.querySelectorAll('section.group')].map((section: any) => section.dataset.group),
      rows: Object.fromEntries([...element.querySelectorAll('.component')].map((row: any) => [row.dataset.componentId, {
        className: row.className,
        label: row.querySelector('.label').textContent,
        reading: row.querySelector('.reading')?.textContent ?? null,
        checked: row.querySelector('input[role=switch]')?.checked ?? null,
        disabled: row.querySelector('input')?.disabled ?? null,
        range: row.querySelector('input[type=range]') ? [row.querySelector('input[type=range]').min, row.querySelector('input[type=range]').max, row.querySelector('input[type=range]').step] : null,
        elements: row.querySelector('.label').children.length,
      }])),
    };
  }, components);

  expect(rendered.groups).toEqual(['relays', 'sensors', 'settings']);
  expect(rendered.rows['relay.relay1']).toMatchObject({ className: 'component component-toggle', label: 'Heater', checked: true, disabled: false });
  expect(rendered.rows['relay.relay2']).toMatchObject({ label: 'Lamp', checked: true, disabled: true });
  expect(rendered.rows['sensor.temperature'].reading).toBe('21.5 °C');
  expect(rendered.rows['sensor.current'].reading).toBe('—');
  expect(rendered.rows['sensor.energy']).toMatchObject({ className: 'component component-total', reading: '12.346 kWh total' });
  expect(rendered.rows['setting.brightness']).toMatchObject({ className: 'component component-slider', disabled: true, range: ['0', '100', '5'], reading: '0 to 100 %' });
  expect(rendered.rows['sensor.hall'].reading).toBe('On');
  expect(rendered.rows['sensor.door'].reading).toBe('Off');
  expect(rendered.rows['setting.threshold'].reading).toBe('—');
  expect(rendered.rows['setting.mode']).toMatchObject({ className: 'component component-text', reading: '—' });
  expect(rendered.rows['sensor.co2']).toMatchObject({ className: 'component component-text', reading: '415 ppm' });
  expect(rendered.rows['sensor.hue']).toMatchObject({ className: 'component component-unsupported', label: '<b>Hue</b>', elements: 0, reading: 'Not supported by this dashboard (type colour-wheel)' });
});

test('config derives AWS endpoints', async () => {
  await page.goto(dashboardUrl);
  const resolved = await page.evaluate(async () => {
    const { resolveConfig } = await import(new URL('config.js', (globalThis as any).location.href).href);
    const aws = resolveConfig({
      graphqlUrl: 'https://abcdefghijklmnopqrstuvwxyz.appsync-api.eu-central-1.amazonaws.com/graphql',
      region: 'eu-central-1',
      userPoolId: 'eu-central-1_AbCdEf123',
      userPoolClientId: 'client',
      password: 'dropped',
    });
    const customDomain = resolveConfig({ graphqlUrl: 'https://api.example.com/graphql', region: 'us-east-1', userPoolId: 'us-east-1_X1', userPoolClientId: 'client' });
    const errors = [{ region: 'eu-central-1', userPoolClientId: 'c' }, { graphqlUrl: 'https://api.example.com/graphql', userPoolClientId: 'c', region: 'eu-central-1' }]
      .map((raw) => {
        try {
          resolveConfig(raw);
          return 'accepted';
        } catch (error) {
          return (error as Error).message;
        }
      });
    return { aws, customDomain, errors };
  });

  expect(resolved.aws).toEqual({
    graphqlUrl: 'https://abcdefghijklmnopqrstuvwxyz.appsync-api.eu-central-1.amazonaws.com/graphql',
    realtimeUrl: 'wss://abcdefghijklmnopqrstuvwxyz.appsync-realtime-api.eu-central-1.amazonaws.com/graphql',
    cognitoUrl: 'https://cognito-idp.eu-central-1.amazonaws.com/',
    region: 'eu-central-1',
    userPoolId: 'eu-central-1_AbCdEf123',
    userPoolClientId: 'client',
    authFlow: 'USER_SRP_AUTH',
  });
  expect(resolved.customDomain.realtimeUrl).toBe('wss://api.example.com/graphql/realtime');
  expect(resolved.errors[0]).toMatch(/graphqlUrl is missing/);
  expect(resolved.errors[1]).toMatch(/USER_SRP_AUTH needs userPoolId/);
});

test('SRP client agrees with a verifier', async () => {
  await page.goto(dashboardUrl);
  const inputKey = '0b'.repeat(22);
  const salt = '000102030405060708090a0b0c';
  const info = 'f0f1f2f3f4f5f6f7f8f9';
  const result = await page.evaluate(async ({ inputKeyHex, saltHex, infoHex }) => {
    const srp = await import(new URL('srp.js', (globalThis as any).location.href).href);
    const toHex = (bytes: Uint8Array) => [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
    const okm = toHex(await srp.hkdf(srp.hexToBytes(inputKeyHex), srp.hexToBytes(saltHex), srp.hexToBytes(infoHex), 42));

    // A server that stores the verifier v = g^x computes S = (A * v^u)^b, which must equal the client's S.
    const passwordSalt = 0x5a17c0ffeen;
    const x = await srp.privateValue('AbCdEf123', 'alice-id', 'Correct-Horse-1!', passwordSalt);
    const verifier = srp.modPow(srp.g, x, srp.N);
    const b = 0x1234567890abcdef1234567890abcdefn;
    const k = await srp.multiplier();
    const B = (k * verifier + srp.modPow(srp.g, b, srp.N)) % srp.N;
    const { a, A } = srp.createEphemeral();
    const client = await srp.clientSecret({ a, A, B, x });
    const serverS = srp.modPow(A * srp.modPow(verifier, client.u, srp.N), b, srp.N);
    const wrongX = await srp.privateValue('AbCdEf123', 'alice-id', 'wrong', passwordSalt);
    const wrong = await srp.clientSecret({ a, A, B, x: wrongX });
    return {
      okm,
      agrees: client.S === serverS,
      wrongPasswordAgrees: wrong.S === serverS,
      timestamp: srp.cognitoTimestamp(new Date(Date.UTC(2026, 11, 5, 0, 4, 9))),
      padded: [srp.padHex(0x7fn), srp.padHex(0x80n), srp.padHex(0xabcn)],
    };
  }, { inputKeyHex: inputKey, saltHex: salt, infoHex: info });

  const expected = hkdfSync('sha256', Buffer.from(inputKey, 'hex'), Buffer.from(salt, 'hex'), Buffer.from(info, 'hex'), 42);
  expect(result.okm).toBe(Buffer.from(expected).toString('hex'));
  expect(result.agrees).toBe(true);
  expect(result.wrongPasswordAgrees).toBe(false);
  expect(result.timestamp).toBe('Sat Dec 5 00:04:09 UTC 2026');
  expect(result.padded).toEqual(['7f', '0080', '0abc']);
});
