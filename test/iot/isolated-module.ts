/**
 * Runs `load` in a fresh module registry with extra environment variables, then restores the
 * environment. Handlers read their configuration when their module loads, so each configuration
 * needs its own registry, and SDK clients must be mocked on the classes of that registry.
 */
export function loadIsolated<T>(env: Record<string, string | undefined>, load: () => T): T {
  const saved = { ...process.env };
  const settings: Record<string, string | undefined> = {
    AWS_REGION: 'eu-west-1',
    POWERTOOLS_DEV: 'true',
    ...env,
  };
  for (const [name, value] of Object.entries(settings)) {
    if (value === undefined) {
      delete process.env[name];
    } else {
      process.env[name] = value;
    }
  }

  try {
    let loaded: T | undefined;
    jest.isolateModules(() => {
      loaded = load();
    });
    return loaded!;
  } finally {
    process.env = saved;
  }
}

/** A structured log line that Powertools Logger wrote to the console in dev mode. */
export interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly [key: string]: unknown;
}

/**
 * Silences the console methods that Powertools Logger writes to when POWERTOOLS_DEV is set, and
 * returns a function that parses what was written since.
 */
export function captureLogs(): () => LogLine[] {
  const spies = (['info', 'warn', 'error', 'debug'] as const).map((method) =>
    jest.spyOn(console, method).mockImplementation(() => undefined));
  return () => {
    const written = spies.flatMap((spy) => spy.mock.calls.map((call, index) => ({
      order: spy.mock.invocationCallOrder[index],
      text: String(call[0]),
    })));
    written.sort((a, b) => a.order - b.order);
    return written.map((entry) => JSON.parse(entry.text) as LogLine);
  };
}
