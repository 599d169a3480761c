import { join, resolve } from 'node:path';
import { parseOptions, readEndpoints } from '../cli';
import { SimulatedDevice } from '../devices/device-simulator';
import { deviceStorageDirectory, VirtualEsp32 } from '../devices/virtual-esp32';

const HELP = `Usage: smart-home-sandbox device [options]

Starts virtual devices against a sandbox that 'smart-home-sandbox up' runs, and prints their
log lines prefixed with the serial number until Ctrl-C. Serial numbers must be on the
provisioning allow-list (up --allow-serial) unless the hook allows them otherwise.

Options:
  --data-dir DIR          data folder of the running sandbox (default: ./.sandbox)
  --serial SERIAL         serial number of a device; repeatable
  --count N               start N devices named PREFIX0001..PREFIXN instead
  --serial-prefix PREFIX  prefix for --count (default: SIM-)
  --claim-token TOKEN     claim token that links the devices to its user when they announce themselves
  --telemetry-period-ms MS  telemetry period of virtual ESP32s (default: 60000)
  --simulator             use the TypeScript simulator instead of the firmware's host build`;

export async function device(argv: string[]): Promise<number> {
  const values = parseOptions(argv, {
    'data-dir': { type: 'string' },
    'serial': { type: 'string', multiple: true },
    'count': { type: 'string' },
    'serial-prefix': { type: 'string' },
    'claim-token': { type: 'string' },
    'telemetry-period-ms': { type: 'string' },
    'simulator': { type: 'boolean' },
  }, HELP);
  const dataDirectory = resolve(values['data-dir'] ?? '.sandbox');
  const endpoints = readEndpoints(dataDirectory);
  const serials = values.serial ?? [];
  if (values.count !== undefined) {
    const count = Number(values.count);
    if (!Number.isInteger(count) || count < 1 || count > 10_000) {
      throw new Error(`Invalid --count ${values.count}: expected an integer from 1 to 10000.`);
    }
    const prefix = values['serial-prefix'] ?? 'SIM-';
    for (let index = 1; index <= count; index += 1) serials.push(`${prefix}${String(index).padStart(4, '0')}`);
  }
  if (serials.length === 0) {
    throw new Error('No device to start: pass --serial SERIAL or --count N.');
  }

  const useSimulator = values.simulator === true || !VirtualEsp32.available();
  if (!values.simulator && useSimulator) {
    console.error('WARNING: firmware/build/virtual-esp32 is missing, so these devices are TypeScript simulators, not the firmware. Build it with `npm run firmware:test`.');
  }

  if (useSimulator) {
    const devices = serials.map((serial) => SimulatedDevice.fromFiles({
      serial,
      mqttHost: endpoints.mqtt.host,
      mqttPort: endpoints.mqtt.port,
      caFile: endpoints.caFile,
      claimCertFile: endpoints.claimCertFile,
      claimKeyFile: endpoints.claimKeyFile,
      thingNamePrefix: endpoints.thingNamePrefix,
      provisioningTemplateName: endpoints.provisioningTemplateName,
      claimToken: values['claim-token'],
    }));
    for (const simulated of devices) {
      await simulated.provision();
      await simulated.goOnline();
      simulated.onCommand((command) => console.log(`${simulated.options.serial} relay: ${command.relay} ${command.state} command=${command.commandId} result=${command.result}`));
      console.log(`${simulated.options.serial} online as ${simulated.thingName}`);
    }
    await waitForStop();
    await Promise.all(devices.map((simulated) => simulated.disconnect()));
    return 0;
  }

  const devices = serials.map((serial) => new VirtualEsp32({
    serial,
    storageDirectory: deviceStorageDirectory(dataDirectory, serial),
    mqttHost: endpoints.mqtt.host,
    mqttPort: endpoints.mqtt.port,
    caFile: endpoints.caFile,
    claimCertFile: endpoints.claimCertFile,
    claimKeyFile: endpoints.claimKeyFile,
    thingNamePrefix: endpoints.thingNamePrefix,
    provisioningTemplateName: endpoints.provisioningTemplateName,
    otaPublicKeyFile: endpoints.otaPublicKeyFile,
    claimToken: values['claim-token'],
    telemetryPeriodMs: telemetryPeriod(values['telemetry-period-ms']),
    onLine: (line) => console.log(`${serial} ${line}`),
  }));
  devices.forEach((virtual) => virtual.start());
  console.error(`Started ${devices.length} virtual ESP32(s); flash in ${join(dataDirectory, 'devices')}. Ctrl-C stops them.`);
  await waitForStop();
  await Promise.all(devices.map((virtual) => virtual.stop()));
  return 0;
}

function waitForStop(): Promise<void> {
  return new Promise((resolveStop) => {
    process.once('SIGINT', () => resolveStop());
    process.once('SIGTERM', () => resolveStop());
  });
}

function telemetryPeriod(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const period = Number(value);
  if (!Number.isInteger(period) || period < 1000) {
    throw new Error(`Invalid --telemetry-period-ms ${value}: expected an integer number of milliseconds, at least 1000.`);
  }
  return period;
}
