/**
 * The registration surface the conformance areas are written against (see ./index.ts).
 */
import type { StorageDriver } from '../driver.js';

/** A test body: it gets a fresh, migrated driver of its own. */
export type ConformanceTest = (driver: StorageDriver) => Promise<void> | void;

/**
 * Where an area registers its tests. A test's stable name is `<area> > <title>`: the name a skip
 * entry lists, and what Vitest prints under the driver's name.
 */
export interface ConformanceSuite {
  /** Groups the tests `register` adds under `name`. */
  area(name: string, register: () => void): void;
  /** Registers one test; titles are unique within their area. */
  test(title: string, body: ConformanceTest): void;
}
