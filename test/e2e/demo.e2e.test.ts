/**
 * Runs `smart-home-sandbox demo` as a user would and checks its report: every step of the story
 * passed, with the firmware's host build as the devices.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPOSITORY_ROOT } from '../../sandbox/src/sandbox-process';

jest.setTimeout(300_000);

const EXPECTED_STEPS = [
  'devices provision; an unknown serial is denied by the hook',
  'capabilities announced, devices onboarded, UI configs generated',
  'one device linked by claim token, one by pairing code',
  'each user sees only their own devices',
  'relay command acknowledged over the subscription; offline device times out',
  'telemetry flows; over-current triggers the automatic cut-off',
  'OTA rollout: one device updates, one fails its self-test and rolls back',
  'removeDevice resets the device and ends the subscription',
];

test('demo passes every step of the story', () => {
  const directory = mkdtempSync(join(tmpdir(), 'sandbox-demo-'));
  const report = join(directory, 'report.json');
  try {
    const run = spawnSync(process.execPath, [join(REPOSITORY_ROOT, 'sandbox', 'bin', 'smart-home-sandbox.js'), 'demo', '--data-dir', join(directory, 'data'), '--json', report], {
      encoding: 'utf8',
      timeout: 280_000,
    });
    const steps = JSON.parse(readFileSync(report, 'utf8')).steps as { name: string; passed: boolean; ms: number; detail: string }[];
    const failed = steps.filter((step) => !step.passed).map((step) => `${step.name}: ${step.detail}`);

    expect(failed).toEqual([]);
    expect(steps.map((step) => step.name)).toEqual(EXPECTED_STEPS);
    expect(run.status).toBe(0);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
