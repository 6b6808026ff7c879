import { describeDriverConformance } from '../conformance/index.js';
import { openMemory } from './index.js';

describeDriverConformance({
  name: 'memory',
  create: async () => {
    const driver = openMemory();
    await driver.migrate();
    return driver;
  },
});
