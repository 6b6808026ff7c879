import { describeDriverConformance } from '../conformance/index.js';
import { openSqlite } from './index.js';

describeDriverConformance({
  name: 'sqlite',
  create: async () => {
    const driver = openSqlite({ path: ':memory:' });
    await driver.migrate();
    return driver;
  },
  skip: [],
});
