/**
 * Minimal Reflect metadata API for @peculiar/x509, whose dependency tsyringe refuses to load
 * without one. It implements only the functions tsyringe calls (defineMetadata, getMetadata,
 * getOwnMetadata, hasMetadata, metadata). Import this module before '@peculiar/x509'.
 *
 * NOTE: the usual polyfill is the `reflect-metadata` package. It is not a dependency of this
 * repository yet, so this shim replaces it.
 */
type MetadataKey = unknown;
type PropertyKey = string | symbol | undefined;

const store = new WeakMap<object, Map<PropertyKey, Map<MetadataKey, unknown>>>();

function ownMap(target: object, property: PropertyKey, create: boolean): Map<MetadataKey, unknown> | undefined {
  let byProperty = store.get(target);
  if (!byProperty) {
    if (!create) return undefined;
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let byKey = byProperty.get(property);
  if (!byKey && create) {
    byKey = new Map();
    byProperty.set(property, byKey);
  }
  return byKey;
}

interface ReflectWithMetadata {
  defineMetadata?: (key: MetadataKey, value: unknown, target: object, property?: PropertyKey) => void;
  getOwnMetadata?: (key: MetadataKey, target: object, property?: PropertyKey) => unknown;
  getMetadata?: (key: MetadataKey, target: object, property?: PropertyKey) => unknown;
  hasMetadata?: (key: MetadataKey, target: object, property?: PropertyKey) => boolean;
  metadata?: (key: MetadataKey, value: unknown) => (target: object, property?: PropertyKey) => void;
}

const reflect = Reflect as unknown as ReflectWithMetadata;

if (typeof reflect.getMetadata !== 'function') {
  reflect.defineMetadata = (key, value, target, property) => {
    ownMap(target, property, true)!.set(key, value);
  };
  reflect.getOwnMetadata = (key, target, property) => ownMap(target, property, false)?.get(key);
  reflect.getMetadata = (key, target, property) => {
    for (let current: object | null = target; current; current = Object.getPrototypeOf(current)) {
      const map = ownMap(current, property, false);
      if (map?.has(key)) return map.get(key);
    }
    return undefined;
  };
  reflect.hasMetadata = (key, target, property) => reflect.getMetadata!(key, target, property) !== undefined;
  reflect.metadata = (key, value) => (target, property) => reflect.defineMetadata!(key, value, target, property);
}

export {};
