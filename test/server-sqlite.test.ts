/** The HTTP API route suite on SQLite (in memory): the same requests, the same answers as on the memory driver. */
import { describe } from 'vitest';
import { describeServer } from './support/server-suite.js';

describe('HTTP API (sqlite)', () => {
  describeServer('sqlite::memory:');
});
