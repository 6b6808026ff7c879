/**
 * The in-memory storage driver: nothing persisted, one process, the reference every other driver's
 * conformance is read against.
 */
export { MemoryDriver, openMemory } from './memory-driver.js';
