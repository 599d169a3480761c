import { Anomaly, ANOMALY_KINDS, AnomalyKind, createDetectorState, detect, DetectorState } from './anomaly-detector';

/** One sensor's readings in a labeled data set, one entry per interval. */
export interface LabeledSeries {
  readonly sensorId: string;
  readonly sensorType: string;
  readonly unit?: string;
  /** Reading per interval, null where the sensor produced none. */
  readonly values: readonly (number | null)[];
  /** Anomaly kind of each reading, or null for a normal reading. */
  readonly labels: readonly (AnomalyKind | null)[];
}

/** One device in a labeled data set. */
export interface LabeledDevice {
  readonly deviceId: string;
  /** Rated current of the device's relay in amperes. */
  readonly maxCurrentA?: number;
  readonly series: readonly LabeledSeries[];
}

/** Labeled telemetry, as scripts/generate-telemetry-dataset.js writes it. */
export interface LabeledDataset {
  /** Time of the first reading in epoch milliseconds. */
  readonly startTimestamp: number;
  readonly intervalMs: number;
  readonly pointCount: number;
  readonly devices: readonly LabeledDevice[];
}

/** Precision, recall and F1 of one anomaly kind, or of all kinds together. */
export interface DetectionScore {
  /** Labeled anomaly events: runs of consecutive readings with the same label in one sensor. */
  readonly events: number;
  /** Events with at least one detection of their kind inside their window. */
  readonly detectedEvents: number;
  /** Anomalies the detector reported. */
  readonly detections: number;
  /** Detections inside a labeled window of their kind, sensor and device. */
  readonly truePositives: number;
  /** truePositives / detections, 0 when there are no detections. */
  readonly precision: number;
  /** detectedEvents / events, 0 when there are no events. */
  readonly recall: number;
  /** Harmonic mean of precision and recall, 0 when both are 0. */
  readonly f1: number;
}

/** Output of {@link evaluateDetector}. */
export interface DetectorEvaluation {
  readonly kinds: Readonly<Record<AnomalyKind, DetectionScore>>;
  /** All kinds together: sums of events, detections and matches, then the same ratios. */
  readonly overall: DetectionScore;
  /** Readings fed to the detector, including dropped ones. */
  readonly readings: number;
  /** Readings the detector dropped, per reason. */
  readonly dropped: Readonly<Record<string, number>>;
}

interface LabeledWindow {
  readonly kind: AnomalyKind;
  readonly start: number;
  readonly end: number;
}

interface CountsByKind {
  events: number;
  detectedEvents: number;
  detections: number;
  truePositives: number;
}

/**
 * Runs the detector over a labeled data set and scores each anomaly kind.
 *
 * Each device gets one detector state, fed reading by reading in time order (all sensors at one
 * interval, then the next interval), with the device's `maxCurrentA` and with `now` set to the
 * reading's own time. Matching:
 * - an event is a run of consecutive readings of one sensor with the same label, and its window
 *   runs from the first to the last of those readings;
 * - an event is detected when a detection of the same kind and sensor has a timestamp inside
 *   the window, which gives recall = detected events / events;
 * - a detection is a true positive when it falls inside a window of its kind in the same sensor,
 *   and a false positive otherwise, which gives precision = true positives / detections.
 */
export function evaluateDetector(dataset: LabeledDataset): DetectorEvaluation {
  const counts = new Map<AnomalyKind, CountsByKind>(
    ANOMALY_KINDS.map((kind) => [kind, { events: 0, detectedEvents: 0, detections: 0, truePositives: 0 }]),
  );
  const dropped: Record<string, number> = {};
  let readings = 0;

  for (const device of dataset.devices) {
    const detections = runDevice(dataset, device, dropped);
    readings += dataset.pointCount * device.series.length;

    for (const series of device.series) {
      const windows = labeledWindows(dataset, series);
      const sensorDetections = detections.filter((anomaly) => anomaly.sensorId === series.sensorId);
      for (const window of windows) {
        const kindCounts = counts.get(window.kind)!;
        kindCounts.events++;
        if (sensorDetections.some((anomaly) => anomaly.kind === window.kind && isInside(anomaly, window))) {
          kindCounts.detectedEvents++;
        }
      }
      for (const anomaly of sensorDetections) {
        const kindCounts = counts.get(anomaly.kind)!;
        kindCounts.detections++;
        if (windows.some((window) => window.kind === anomaly.kind && isInside(anomaly, window))) {
          kindCounts.truePositives++;
        }
      }
    }
  }

  const kinds = Object.fromEntries(ANOMALY_KINDS.map((kind) => [kind, score(counts.get(kind)!)])) as Record<AnomalyKind, DetectionScore>;
  const total: CountsByKind = { events: 0, detectedEvents: 0, detections: 0, truePositives: 0 };
  for (const kindCounts of counts.values()) {
    total.events += kindCounts.events;
    total.detectedEvents += kindCounts.detectedEvents;
    total.detections += kindCounts.detections;
    total.truePositives += kindCounts.truePositives;
  }
  return { kinds, overall: score(total), readings, dropped };
}

/** Formats an evaluation as a Markdown table, for a benchmark command or a docs page. */
export function formatEvaluation(evaluation: DetectorEvaluation): string {
  const rows = [
    '| kind | events | detected | detections | true positives | precision | recall | F1 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const entries: [string, DetectionScore][] = [...ANOMALY_KINDS.map((kind) => [kind, evaluation.kinds[kind]] as [string, DetectionScore]), ['all', evaluation.overall]];
  for (const [name, s] of entries) {
    rows.push(`| ${name} | ${s.events} | ${s.detectedEvents} | ${s.detections} | ${s.truePositives} | ${s.precision.toFixed(3)} | ${s.recall.toFixed(3)} | ${s.f1.toFixed(3)} |`);
  }
  return rows.join('\n');
}

function runDevice(dataset: LabeledDataset, device: LabeledDevice, dropped: Record<string, number>): Anomaly[] {
  const detections: Anomaly[] = [];
  let state: DetectorState = createDetectorState();
  for (let i = 0; i < dataset.pointCount; i++) {
    const timestamp = dataset.startTimestamp + i * dataset.intervalMs;
    for (const series of device.series) {
      const result = detect(
        state,
        { sensorId: series.sensorId, sensorType: series.sensorType, value: series.values[i], timestamp },
        { maxCurrentA: device.maxCurrentA, now: timestamp },
      );
      state = result.state;
      detections.push(...result.anomalies);
      if (result.dropped !== undefined) {
        dropped[result.dropped] = (dropped[result.dropped] ?? 0) + 1;
      }
    }
  }
  return detections;
}

function labeledWindows(dataset: LabeledDataset, series: LabeledSeries): LabeledWindow[] {
  const windows: LabeledWindow[] = [];
  let start = -1;
  for (let i = 0; i <= series.labels.length; i++) {
    const label = i < series.labels.length ? series.labels[i] : null;
    const previous = i > 0 ? series.labels[i - 1] : null;
    if (label === previous) {
      continue;
    }
    if (previous !== null && start >= 0) {
      windows.push({
        kind: previous,
        start: dataset.startTimestamp + start * dataset.intervalMs,
        end: dataset.startTimestamp + (i - 1) * dataset.intervalMs,
      });
    }
    start = label === null ? -1 : i;
  }
  return windows;
}

function isInside(anomaly: Anomaly, window: LabeledWindow): boolean {
  return anomaly.timestamp >= window.start && anomaly.timestamp <= window.end;
}

function score(counts: CountsByKind): DetectionScore {
  const precision = counts.detections === 0 ? 0 : counts.truePositives / counts.detections;
  const recall = counts.events === 0 ? 0 : counts.detectedEvents / counts.events;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { ...counts, precision, recall, f1 };
}
