#!/usr/bin/env node
// Generates test/data/telemetry-labelled.json: synthetic telemetry of several devices with
// injected anomalies, each reading labeled with its anomaly kind or null. The anomaly detector's
// quality test runs on this file, and a test fails when the file differs from this script's output.
//
// Run: node scripts/generate-telemetry-dataset.js [--seed N --output FILE]
// --seed and --output write a data set from another seed, for checking the detector on data
// that it was not tuned on. The committed file uses the default seed.
//
// Parameters (all in PARAMETERS below):
// - Seed 20251201 for a mulberry32 generator. The output depends on nothing else, so every run
//   writes the same bytes.
// - 8 devices, 14 days from 2025-12-01T00:00:00Z, one reading per sensor every 5 minutes
//   (4032 readings per sensor).
// - `temperature` (°C):
//   - base 19 to 23, and a daily cycle of amplitude 1.5 to 3.5 with a second harmonic;
//   - weather as an Ornstein-Uhlenbeck process (standard deviation 0.35, time constant 12 hours);
//   - white noise with a standard deviation of 0.04 to 0.12, and a resolution of 0.1 or 0.01;
//   - 7 unlabeled opened windows, which drop it by 1 to 3 °C and recover within 20 to 60 minutes.
// - `current` (A):
//   - a load that switches on for 15 minutes to 3 hours, more often from 6 to 9 and from 17 to
//     22 UTC;
//   - on at 30 to 60 % of the relay rating (`maxCurrentA`, 10 or 16 A) with 1.5 % noise, and in
//     10 % of the on periods at 1.25 to 1.5 times that level;
//   - 0.02 to 0.06 A standby when off, with a resolution of 0.01 A.
// - `power` (W): the same load at a 226 to 234 V supply and a power factor of 0.9 to 0.98, with a
//   resolution of 0.1 W.
// - 0.2 % of the readings are null (missing), never next to an anomaly.
// - Labeled anomalies per device, placed from day 3 on and apart from each other:
//   - temperature: 3 spikes of 0.5 to 5 °C for one reading;
//   - temperature: 2 drifts that ramp to ±0.75 to 4 °C over 12 to 48 hours and hold for 6 to 24
//     hours, after which the sensor is fixed;
//   - temperature: 1 stuck period of 30 minutes to 8 hours that repeats the last value;
//   - current: 2 over-current periods of 15 to 60 minutes at 1.02 to 1.6 times `maxCurrentA`,
//     which power follows unlabeled;
//   - current: 2 spikes of one reading at 1.15 to 1.8 times the on level (at least 1.4 times the
//     reading they replace) and at most 0.95 times `maxCurrentA`;
//   - current: 1 stuck period of 30 minutes to 4 hours that starts while the load is on;
//   - power: 2 spikes of one reading at 1.15 to 2.5 times the on level.
// A label covers every reading of an anomaly: the spike's one reading, the whole drift (ramp and
// hold), the repeated values of a stuck period and the readings above the rating.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const PARAMETERS = {
  seed: 20251201,
  deviceCount: 8,
  startTimestamp: Date.UTC(2025, 11, 1),
  intervalMs: 5 * 60 * 1000,
  days: 14,
  firstAnomalyDay: 3,
  missingFraction: 0.002,
  temperature: {
    baseC: [19, 23],
    dailyAmplitudeC: [1.5, 3.5],
    weatherSdC: 0.35,
    weatherTimeConstantHours: 12,
    noiseSdC: [0.04, 0.12],
    quantizationC: [0.1, 0.01],
    spikes: 3,
    spikeC: [0.5, 5],
    drifts: 2,
    driftC: [0.75, 4],
    driftRampHours: [12, 48],
    driftHoldHours: [6, 24],
    stuckPeriods: 1,
    stuckHours: [0.5, 8],
    ventilationEvents: 7,
    ventilationDropC: [1, 3],
    ventilationRecoveryMinutes: [20, 60],
  },
  load: {
    maxCurrentA: [10, 16],
    onLevelFractionOfMax: [0.3, 0.6],
    noiseFraction: 0.015,
    standbyA: [0.02, 0.06],
    onMinutes: [15, 180],
    boostFraction: 0.1,
    boostFactor: [1.25, 1.5],
    voltageV: [226, 234],
    powerFactor: [0.9, 0.98],
    overCurrentPeriods: 2,
    overCurrentMinutes: [15, 60],
    overCurrentFactor: [1.02, 1.6],
    currentSpikes: 2,
    currentSpikeFactor: [1.15, 1.8],
    currentStuckPeriods: 1,
    currentStuckHours: [0.5, 4],
    powerSpikes: 2,
    powerSpikeFactor: [1.15, 2.5],
  },
};

const OUTPUT = path.resolve(__dirname, '..', 'test', 'data', 'telemetry-labelled.json');
const STEPS_PER_HOUR = 60 * 60 * 1000 / PARAMETERS.intervalMs;

/** mulberry32, a small seeded 32-bit generator. Returns a function that yields floats in [0, 1). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function createRandom(seed) {
  const next = mulberry32(seed);
  const random = {
    next,
    uniform: (min, max) => min + (max - min) * next(),
    integer: (min, max) => min + Math.floor((max - min + 1) * next()),
    pick: (items) => items[Math.floor(items.length * next())],
    sign: () => (next() < 0.5 ? -1 : 1),
    // Box-Muller transform; 1 - next() avoids log(0).
    normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
  };
  return random;
}

function quantize(value, step) {
  return Number((Math.round(value / step) * step).toFixed(2));
}

/** Reserves `[start, end)` of a timeline, with `gap` free steps on both sides, or returns false. */
function reserve(occupied, start, end, gap) {
  for (const [otherStart, otherEnd] of occupied) {
    if (start < otherEnd + gap && otherStart < end + gap) {
      return false;
    }
  }
  occupied.push([start, end]);
  return true;
}

/** Picks a free window of `length` steps from day `firstDay` on. */
function placeWindow(random, occupied, length, gap, pointCount, firstDay = PARAMETERS.firstAnomalyDay) {
  const earliest = Math.max(1, firstDay * 24 * STEPS_PER_HOUR);
  for (let attempt = 0; attempt < 10000; attempt++) {
    const start = random.integer(earliest, pointCount - length - 1);
    if (reserve(occupied, start, start + length, gap)) {
      return start;
    }
  }
  throw new Error(`No free window of ${length} steps left; lower the anomaly counts or lengths in PARAMETERS.`);
}

function generateTemperature(random, pointCount) {
  const p = PARAMETERS.temperature;
  const base = random.uniform(...p.baseC);
  const amplitude = random.uniform(...p.dailyAmplitudeC);
  const phaseHours = random.uniform(12, 17);
  const harmonicPhaseHours = random.uniform(0, 12);
  const noiseSd = random.uniform(...p.noiseSdC);
  const quantization = random.pick(p.quantizationC);
  const decay = Math.exp(-1 / (p.weatherTimeConstantHours * STEPS_PER_HOUR));
  const weatherStep = p.weatherSdC * Math.sqrt(1 - decay * decay);

  const clean = [];
  let weather = random.normal() * p.weatherSdC;
  for (let i = 0; i < pointCount; i++) {
    const hour = (i / STEPS_PER_HOUR) % 24;
    const daily = amplitude * (Math.cos(2 * Math.PI * (hour - phaseHours) / 24) + 0.3 * Math.cos(4 * Math.PI * (hour - harmonicPhaseHours) / 24));
    weather = weather * decay + weatherStep * random.normal();
    clean.push(base + daily + weather + noiseSd * random.normal());
  }

  const values = clean.slice();
  const labels = new Array(pointCount).fill(null);
  const occupied = [];
  const day = 24 * STEPS_PER_HOUR;

  for (let n = 0; n < p.drifts; n++) {
    const ramp = Math.round(random.uniform(...p.driftRampHours) * STEPS_PER_HOUR);
    const hold = Math.round(random.uniform(...p.driftHoldHours) * STEPS_PER_HOUR);
    const offset = random.sign() * random.uniform(...p.driftC);
    const start = placeWindow(random, occupied, ramp + hold, day, pointCount);
    for (let i = start; i < start + ramp + hold; i++) {
      values[i] += offset * Math.min(1, (i - start + 1) / ramp);
      labels[i] = 'DRIFT';
    }
  }
  const stuck = [];
  for (let n = 0; n < p.stuckPeriods; n++) {
    const length = Math.round(random.uniform(...p.stuckHours) * STEPS_PER_HOUR);
    stuck.push([placeWindow(random, occupied, length, 6 * STEPS_PER_HOUR, pointCount), length]);
  }
  for (let n = 0; n < p.spikes; n++) {
    const start = placeWindow(random, occupied, 1, 6 * STEPS_PER_HOUR, pointCount);
    values[start] += random.sign() * random.uniform(...p.spikeC);
    labels[start] = 'SPIKE';
  }

  // Unlabeled disturbances: an opened window drops the temperature at once, and it recovers
  // exponentially. They may fall in the warm-up days too.
  for (let n = 0; n < p.ventilationEvents; n++) {
    const recovery = random.uniform(...p.ventilationRecoveryMinutes) / 5;
    const length = Math.round(5 * recovery);
    const drop = random.uniform(...p.ventilationDropC);
    const start = placeWindow(random, occupied, length, 2 * STEPS_PER_HOUR, pointCount, 0);
    for (let i = start; i < start + length; i++) {
      values[i] -= drop * Math.exp(-(i - start) / recovery);
    }
  }

  const quantized = values.map((value) => quantize(value, quantization));
  for (const [start, length] of stuck) {
    for (let i = start; i < start + length; i++) {
      quantized[i] = quantized[start - 1];
      labels[i] = 'STUCK';
    }
  }
  return { values: quantized, labels };
}

/** Returns which steps the load is on: more switch-ons from 6 to 9 and from 17 to 22 UTC. */
function generateLoadSchedule(random, pointCount) {
  const p = PARAMETERS.load;
  const on = new Array(pointCount).fill(false);
  const level = new Array(pointCount).fill(1);
  let i = 0;
  while (i < pointCount) {
    const hour = (i / STEPS_PER_HOUR) % 24;
    const busy = (hour >= 6 && hour < 9) || (hour >= 17 && hour < 22);
    if (random.next() < (busy ? 0.05 : 0.008)) {
      const length = Math.round(random.uniform(...p.onMinutes) / 5);
      const boost = random.next() < p.boostFraction ? random.uniform(...p.boostFactor) : 1;
      const periodLevel = boost * random.uniform(0.92, 1.08);
      for (let j = i; j < Math.min(pointCount, i + length); j++) {
        on[j] = true;
        level[j] = periodLevel;
      }
      i += length + 1;
    } else {
      i++;
    }
  }
  return { on, level };
}

function generateLoad(random, pointCount) {
  const p = PARAMETERS.load;
  const maxCurrentA = random.pick(p.maxCurrentA);
  const onCurrentA = maxCurrentA * random.uniform(...p.onLevelFractionOfMax);
  const standbyA = random.uniform(...p.standbyA);
  const powerFactor = random.uniform(...p.powerFactor);
  const nominalVoltage = random.uniform(...p.voltageV);
  const { on, level } = generateLoadSchedule(random, pointCount);

  const currentLabels = new Array(pointCount).fill(null);
  const powerLabels = new Array(pointCount).fill(null);
  const currentOverride = new Array(pointCount).fill(null);
  const occupied = [];
  const gap = 6 * STEPS_PER_HOUR;

  for (let n = 0; n < p.overCurrentPeriods; n++) {
    const length = Math.round(random.uniform(...p.overCurrentMinutes) / 5);
    const start = placeWindow(random, occupied, length, gap, pointCount);
    const factor = random.uniform(...p.overCurrentFactor);
    for (let i = start; i < start + length; i++) {
      on[i] = true;
      currentOverride[i] = maxCurrentA * factor * (1 + p.noiseFraction * random.normal());
      currentLabels[i] = 'OVER_CURRENT';
    }
  }
  const stuck = [];
  for (let n = 0; n < p.currentStuckPeriods; n++) {
    const length = Math.round(random.uniform(...p.currentStuckHours) * STEPS_PER_HOUR);
    const start = placeWindow(random, occupied, length, gap, pointCount);
    for (let i = start - 3; i < start; i++) {
      on[i] = true;
    }
    stuck.push([start, length]);
  }
  const currentSpikes = [];
  for (let n = 0; n < p.currentSpikes; n++) {
    currentSpikes.push(placeWindow(random, occupied, 1, gap, pointCount));
  }
  const powerSpikes = [];
  for (let n = 0; n < p.powerSpikes; n++) {
    powerSpikes.push(placeWindow(random, occupied, 1, gap, pointCount));
  }

  const current = [];
  const power = [];
  for (let i = 0; i < pointCount; i++) {
    const hour = (i / STEPS_PER_HOUR) % 24;
    const voltage = nominalVoltage + 2 * Math.sin(2 * Math.PI * hour / 24) + 0.8 * random.normal();
    let amperes = on[i]
      ? onCurrentA * level[i] * (1 + p.noiseFraction * random.normal())
      : standbyA + Math.abs(0.005 * random.normal());
    if (currentOverride[i] !== null) {
      amperes = currentOverride[i];
    }
    current.push(amperes);
    power.push(voltage * amperes * powerFactor + 0.5 * random.normal());
  }

  for (const start of currentSpikes) {
    const spiked = onCurrentA * random.uniform(...p.currentSpikeFactor);
    current[start] = Math.min(Math.max(spiked, current[start] * 1.4), 0.95 * maxCurrentA);
    currentLabels[start] = 'SPIKE';
  }
  for (const start of powerSpikes) {
    const onPowerW = onCurrentA * nominalVoltage * powerFactor;
    power[start] = Math.max(power[start], onPowerW) * random.uniform(...p.powerSpikeFactor);
    powerLabels[start] = 'SPIKE';
  }

  const currentValues = current.map((value) => quantize(value, 0.01));
  for (const [start, length] of stuck) {
    for (let i = start; i < start + length; i++) {
      currentValues[i] = currentValues[start - 1];
      currentLabels[i] = 'STUCK';
    }
  }
  return {
    maxCurrentA,
    current: { values: currentValues, labels: currentLabels },
    power: { values: power.map((value) => quantize(value, 0.1)), labels: powerLabels },
  };
}

/** Replaces a fraction of unlabeled readings, away from any anomaly, with null. */
function dropReadings(random, series) {
  const count = Math.round(PARAMETERS.missingFraction * series.values.length);
  let dropped = 0;
  while (dropped < count) {
    const i = random.integer(1, series.values.length - 2);
    if (series.labels[i - 1] === null && series.labels[i] === null && series.labels[i + 1] === null && series.values[i] !== null) {
      series.values[i] = null;
      dropped++;
    }
  }
}

function generate(seed = PARAMETERS.seed) {
  const pointCount = PARAMETERS.days * 24 * STEPS_PER_HOUR;
  const devices = [];
  for (let d = 0; d < PARAMETERS.deviceCount; d++) {
    const random = createRandom(seed + 7919 * d);
    const temperature = generateTemperature(random, pointCount);
    const load = generateLoad(random, pointCount);
    const series = [
      { sensorId: 'temperature', sensorType: 'temperature', unit: '°C', values: temperature.values, labels: temperature.labels },
      { sensorId: 'current', sensorType: 'current', unit: 'A', values: load.current.values, labels: load.current.labels },
      { sensorId: 'power', sensorType: 'power', unit: 'W', values: load.power.values, labels: load.power.labels },
    ];
    for (const entry of series) {
      dropReadings(random, entry);
    }
    devices.push({ deviceId: `sim-${String(d + 1).padStart(2, '0')}`, maxCurrentA: load.maxCurrentA, series });
  }
  return {
    description: 'Synthetic labeled telemetry for the anomaly detector. Generated by scripts/generate-telemetry-dataset.js; do not edit.',
    parameters: { ...PARAMETERS, seed },
    startTimestamp: PARAMETERS.startTimestamp,
    intervalMs: PARAMETERS.intervalMs,
    pointCount,
    devices,
  };
}

/** Serializes like JSON.stringify with two-space indentation, but writes arrays of numbers, strings and nulls on one line. */
function formatJson(value, indent = '') {
  if (Array.isArray(value) && value.every((item) => item === null || typeof item !== 'object')) {
    return JSON.stringify(value);
  }
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value);
  }
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    return `[\n${value.map((item) => inner + formatJson(item, inner)).join(',\n')}\n${indent}]`;
  }
  const fields = Object.entries(value).map(([key, item]) => `${inner}${JSON.stringify(key)}: ${formatJson(item, inner)}`);
  return `{\n${fields.join(',\n')}\n${indent}}`;
}

/** Returns the file content that the script writes. */
function render(seed = PARAMETERS.seed) {
  return `${formatJson(generate(seed))}\n`;
}

function parseArguments(argv) {
  const options = { seed: PARAMETERS.seed, output: OUTPUT };
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (name === '--seed' && /^[0-9]+$/.test(value ?? '')) {
      options.seed = Number(value);
    } else if (name === '--output' && value !== undefined) {
      options.output = path.resolve(value);
    } else {
      throw new Error(`Invalid argument ${JSON.stringify(name)}: expected --seed <non-negative integer> or --output <file>.`);
    }
  }
  return options;
}

module.exports = { OUTPUT, PARAMETERS, createRandom, generate, render };

if (require.main === module) {
  const { seed, output } = parseArguments(process.argv.slice(2));
  fs.mkdirSync(path.dirname(output), { recursive: true });
  fs.writeFileSync(output, render(seed));
  console.log(`wrote ${path.relative(process.cwd(), output)} from seed ${seed}`);
}
