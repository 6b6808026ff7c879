import { describe, it } from 'vitest';
import { describeDriverConformance } from '../conformance/index.js';
import { openPostgres, type PostgresDriver } from './index.js';
import { dropSchema, freshSchema, postgresUnavailable, testUrl } from './testing.js';

const unavailable = await postgresUnavailable();

if (unavailable !== null) {
  describe('postgres', () => it.skip(`conformance (skipped: ${unavailable})`, () => undefined));
} else {
  describeDriverConformance({
    name: 'postgres',
    create: async () => {
      const driver = openPostgres({ url: testUrl(freshSchema()), poolSize: 4 });
      await driver.migrate();
      return driver;
    },
    destroy: async (driver) => {
      await driver.close();
      await dropSchema((driver as PostgresDriver).schema);
    },
    skip: [],
  });
}
