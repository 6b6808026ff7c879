/**
 * The EventBridge event-pattern language (aws/event-ruler 2.0.1 semantics; see docs/patterns.md).
 *
 * - {@link validatePattern} checks a pattern and throws `BusError` `INVALID_PATTERN` with the reason.
 * - {@link matchesPattern} tests one pattern against one event.
 * - {@link PatternIndex} matches an event against many patterns at once, at a cost that follows the
 *   event's size and the number of matches rather than the number of patterns.
 */
import { compilePattern, type PatternInput } from './compile.js';
import { flatten } from './flatten.js';
import { PathTrie, verify } from './verify.js';

export { PatternIndex } from './pattern-index.js';
export { MAX_FIELDS_PER_RULE, MAX_OR_EXPANSION, type PatternInput } from './compile.js';

/**
 * Checks that `pattern` (JSON text or a parsed object) is a valid event pattern.
 * @throws BusError `INVALID_PATTERN`: `Event pattern is not valid. Reason: ...`, naming the path.
 * @example
 * validatePattern('{"detail":{"state":[{"anything-but":"terminated"}]}}'); // ok
 * validatePattern({ source: 'aws.ec2' }); // throws: "source" must be an object or an array
 */
export function validatePattern(pattern: PatternInput): void {
  compilePattern(pattern);
}

/**
 * Whether `event` matches `pattern`. Pass the event as JSON text to keep number spellings exact
 * (`12345678901234567890` is then compared digit for digit); a parsed object works too.
 * @throws BusError `INVALID_PATTERN` for a bad pattern, `INVALID_JSON` / `INVALID_EVENT` for a bad event.
 * @example
 * matchesPattern({ n: [300] }, '{"n": 3.0e2}'); // true
 */
export function matchesPattern(pattern: PatternInput, event: string | object): boolean {
  const trie = new PathTrie((path) => ({ path, leaves: [], epoch: 0, inArrays: false }));
  const rules = compilePattern(pattern).map((rule) => trie.bind(rule));
  const f = flatten(event, trie.root);
  return rules.some((rule) => verify(rule, f));
}
