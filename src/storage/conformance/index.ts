/**
 * One conformance suite for every storage driver (hono's `runTest`, drizzle's `tests()`/`skipTests`):
 * each driver's test file calls {@link describeDriverConformance} with a factory, and names what it
 * skips and why.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StorageDriver } from '../driver.js';
import { appendTests } from './append.js';
import { archiveTests } from './archive.js';
import { busTests } from './buses.js';
import { claimTests } from './claim.js';
import { completeTests } from './complete.js';
import { deadLetterTests } from './dead-letters.js';
import { owedTests } from './owed.js';
import { retentionTests } from './retention.js';
import { scheduleTests } from './schedule.js';
import type { ConformanceSuite, ConformanceTest } from './suite.js';

export type { ConformanceSuite, ConformanceTest } from './suite.js';
export * from './fixtures.js';

/** Tests a driver does not run, with the reason printed in each skipped test's title. */
export interface ConformanceSkip {
  /** Why, in a few words (for example "single process: no cross-process leases"). */
  readonly reason: string;
  /** Stable test names, `<area> > <title>`, as Vitest prints them under the driver's name. */
  readonly tests: readonly string[];
}

/** Options of {@link describeDriverConformance}. */
export interface DriverConformanceOptions {
  /** The `describe` block's name, usually the driver's. */
  readonly name: string;
  /** A fresh, migrated driver with no data; called before every test. */
  readonly create: () => Promise<StorageDriver>;
  /**
   * Releases a driver after its test (it may already be closed).
   * @default driver.close()
   */
  readonly destroy?: (driver: StorageDriver) => Promise<void>;
  /** Tests to skip, each group with its reason. @default [] */
  readonly skip?: ReadonlyArray<ConformanceSkip>;
}

const AREAS: ReadonlyArray<(suite: ConformanceSuite) => void> = [
  busTests,
  appendTests,
  claimTests,
  completeTests,
  scheduleTests,
  deadLetterTests,
  archiveTests,
  retentionTests,
  owedTests,
];

/**
 * Registers the storage conformance suite for one driver: a Vitest `describe(name)` with one
 * test per behaviour of the `StorageDriver` contract, each on a fresh driver from `create`.
 *
 * @example
 * ```ts
 * describeDriverConformance({
 *   name: 'sqlite',
 *   create: async () => { const d = openSqlite(':memory:'); await d.migrate(); return d; },
 *   skip: [{ reason: 'no foreign keys', tests: ['subscriptions > putSubscription rejects a subscription of an unknown bus'] }],
 * });
 * ```
 */
export function describeDriverConformance(options: DriverConformanceOptions): void {
  const skipped = new Map<string, string>();
  for (const entry of options.skip ?? []) for (const name of entry.tests) skipped.set(name, entry.reason);
  const registered = new Set<string>();

  describe(options.name, () => {
    let current: StorageDriver | undefined;
    beforeEach(async () => {
      current = await options.create();
    });
    afterEach(async () => {
      const driver = current;
      current = undefined;
      if (driver !== undefined) await (options.destroy ?? ((d: StorageDriver) => d.close()))(driver);
    });

    let area: string | undefined;
    const suite: ConformanceSuite = {
      area(name, register) {
        describe(name, () => {
          area = name;
          register();
          area = undefined;
        });
      },
      test(title: string, body: ConformanceTest) {
        if (area === undefined) throw new Error(`conformance test "${title}" registered outside an area`);
        const name = `${area} > ${title}`;
        if (registered.has(name)) throw new Error(`conformance test "${name}" registered twice`);
        registered.add(name);
        const reason = skipped.get(name);
        if (reason !== undefined) {
          it.skip(`${title} (skipped: ${reason})`, () => undefined);
          return;
        }
        it(title, async () => {
          if (current === undefined) throw new Error('no driver: create() did not run');
          await body(current);
        });
      },
    };
    for (const register of AREAS) register(suite);

    // A skip that names no test is a typo or a renamed test: either way the driver would silently
    // run something it meant to skip, or skip nothing it meant to.
    it('skip entries name existing tests', () => {
      expect([...skipped.keys()].filter((name) => !registered.has(name))).toEqual([]);
    });
  });
}
