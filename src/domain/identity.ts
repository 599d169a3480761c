/** Default pattern of a device serial: letters, digits, `_` and `-`, 1 to 64 characters. */
export const DEFAULT_SERIAL_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

/** Pattern of a thing name prefix. AWS IoT thing names allow `[a-zA-Z0-9:_-]`. */
export const THING_NAME_PREFIX_PATTERN = /^[A-Za-z0-9:_-]{0,63}$/;

/** Maximum length of an AWS IoT thing name. */
export const MAX_THING_NAME_LENGTH = 128;

/** Pattern of relay, sensor and setting ids in capability documents and commands. */
export const COMPONENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** Returns the thing name of a device: the platform's prefix followed by the serial. */
export function thingNameFor(prefix: string, serial: string): string {
  return `${prefix}${serial}`;
}

/**
 * Returns the serial of a thing name with the given prefix, or undefined when the name does not
 * start with the prefix.
 */
export function serialOf(prefix: string, thingName: string): string | undefined {
  if (!thingName.startsWith(prefix) || thingName.length === prefix.length) {
    return undefined;
  }
  return thingName.slice(prefix.length);
}
