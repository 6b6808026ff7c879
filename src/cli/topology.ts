/**
 * The topology file of `busbar start --config`: buses, subscriptions and API keys declared in JSON or
 * YAML. {@link loadTopology} checks the whole file with the validators behind the HTTP API's PUT
 * routes, so the file and the API accept the same shapes; {@link applyTopology} then creates or updates
 * what the file declares and leaves alone what it does not mention: a file never deletes data.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseDocument } from 'yaml';
import type { Busbar } from '../busbar.js';
import { BusError, describeValue } from '../core/errors.js';
import type { SubscriptionInput } from '../core/engine/engine.js';
import { checkName, resolveDeliveryPolicy, resolveRetention } from '../core/engine/policy.js';
import { validateTarget } from '../core/engine/targets.js';
import { validatePattern } from '../patterns/index.js';
import { isValidApiKey, isValidScope, type ApiKey } from '../server/auth.js';

/** A bus as the file declares it: the body of `PUT /v1/buses/{bus}`. */
export interface BusDeclaration {
  readonly name: string;
  /** Unset fields keep their current value (the defaults for a new bus), as with the API. */
  readonly retention?: { maxAgeMs?: number | null; maxBytes?: number | null } | null;
}

/** A subscription as the file declares it: the body of `PUT /v1/subscriptions/{name}`. */
export interface SubscriptionDeclaration {
  readonly name: string;
  readonly input: SubscriptionInput;
}

/** A validated topology file. */
export interface Topology {
  /** The file's path as given; every message names it. */
  readonly file: string;
  readonly buses: readonly BusDeclaration[];
  readonly subscriptions: readonly SubscriptionDeclaration[];
  readonly apiKeys: readonly ApiKey[];
}

/** What {@link applyTopology} did to the declared buses and subscriptions (together). */
export interface TopologyOutcome {
  readonly created: number;
  readonly updated: number;
  readonly unchanged: number;
}

type Env = Record<string, string | undefined>;
type Entry = Record<string, unknown>;

const SUBSCRIPTION_FIELDS = ['bus', 'pattern', 'target', 'delivery'];

function isEntry(value: unknown): value is Entry {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(file: string, path: string, message: string, cause?: unknown): BusError {
  return new BusError('INVALID_ARGUMENT', `${file}: ${message}`, { cause, details: { file, path } });
}

function expected(file: string, path: string, what: string, got: unknown): never {
  throw invalid(file, path, `Expected \`${path}\` to be ${what}, got ${describeValue(got)}`);
}

/**
 * Runs one of the API's validators on a part of the file. Their messages name a field relative to the
 * request body (`delivery.maxAttempts`); this puts the file and the full path in its place.
 */
function within<T>(file: string, path: string, check: () => T, label?: string): T {
  try {
    return check();
  } catch (err) {
    if (!(err instanceof BusError)) throw err;
    const field = err.details?.['field'];
    if (typeof field === 'string' && err.message.includes(`\`${field}\``)) {
      const message = err.message.replace(`\`${field}\``, label ?? `\`${path}.${field}\``);
      throw invalid(file, label === undefined ? `${path}.${field}` : path, message, err);
    }
    throw invalid(file, path, `${path}: ${err.message}`, err);
  }
}

function checkKeys(file: string, path: string, entry: Entry, known: readonly string[], what: string): void {
  const unknown = Object.keys(entry).find((key) => !known.includes(key));
  if (unknown === undefined) return;
  const at = path === '' ? unknown : `${path}.${unknown}`;
  const list = known.map((k) => `\`${k}\``).join(', ');
  throw invalid(file, at, `Unexpected key \`${at}\`; ${what} has ${list.replace(/, ([^,]*)$/, ' and $1')}`);
}

/** `${VAR}` from the environment, `$${VAR}` for the text `${VAR}`. */
const VARIABLE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Expands variables in every string value (never in keys), so a secret need not be written in the file. */
function expand(file: string, value: unknown, path: string, env: Env): unknown {
  if (typeof value === 'string') {
    return value.replace(VARIABLE, (_, escaped: string, name: string) => {
      if (escaped !== '') return `\${${name}}`;
      // An empty variable counts as unset, as in resolveStartSettings.
      const text = env[name];
      if (text === undefined || text === '') {
        throw invalid(file, path, `\`${path}\` refers to \${${name}}, which is not set in the environment`);
      }
      return text;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expand(file, v, `${path}[${i}]`, env));
  if (isEntry(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, expand(file, v, path === '' ? k : `${path}.${k}`, env)]),
    );
  }
  return value;
}

function parse(file: string, text: string): unknown {
  if (extname(file).toLowerCase() === '.json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      const message = (err as Error).message;
      const offset = / at position (\d+)/.exec(message)?.[1];
      const lines = offset === undefined ? undefined : text.slice(0, Number(offset)).split('\n');
      const where = lines === undefined ? '' : ` at line ${lines.length}, column ${lines.at(-1)!.length + 1}`;
      throw invalid(file, '', `Invalid JSON${where}: ${message.replace(/ in JSON at position \d+.*$/s, '')}`, err);
    }
  }
  const doc = parseDocument(text);
  // Warnings too (an unknown tag, for one): a topology is applied to live data, so nothing is guessed.
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    // The parser's first line names the line and column; the rest is a source excerpt.
    throw invalid(file, '', `Invalid YAML: ${problem.message.split('\n')[0]!.replace(/:$/, '')}`, problem);
  }
  return doc.toJS() as unknown;
}

/** The entries of `buses` or `subscriptions`: an object by name, or nothing. */
function section(file: string, root: Entry, name: string): Array<[string, unknown]> {
  const value = root[name];
  if (value === undefined || value === null) return [];
  if (!isEntry(value)) expected(file, name, 'an object of entries by name', value);
  return Object.entries(value);
}

function loadBus(file: string, name: string, spec: unknown): BusDeclaration {
  const path = `buses.${name}`;
  within(file, path, () => checkName('bus', name), `the name of \`${path}\``);
  // YAML `orders:` with nothing after it declares a bus with default retention.
  if (spec === null) return { name };
  if (!isEntry(spec)) expected(file, path, 'an object with `retention`, or nothing', spec);
  checkKeys(file, path, spec, ['retention'], 'a bus');
  within(file, path, () => resolveRetention(spec['retention']));
  return spec['retention'] === undefined ? { name } : { name, retention: spec['retention'] };
}

function loadSubscription(file: string, name: string, spec: unknown): SubscriptionDeclaration {
  const path = `subscriptions.${name}`;
  within(file, path, () => checkName('subscription', name), `the name of \`${path}\``);
  if (!isEntry(spec)) expected(file, path, 'an object with `bus` and `pattern`', spec);
  checkKeys(file, path, spec, SUBSCRIPTION_FIELDS, 'a subscription');
  const bus = within(file, path, () => checkName('bus', spec['bus']));
  const pattern = spec['pattern'];
  if (pattern === undefined) expected(file, `${path}.pattern`, 'an event pattern', pattern);
  within(file, `${path}.pattern`, () => validatePattern(pattern as object));
  // As over HTTP: no in-process handler runs in `busbar start`, so a subscription without a target is pulled.
  const target = (spec['target'] ?? { type: 'pull' }) as Record<string, unknown>;
  within(file, path, () => validateTarget(target));
  // Against the defaults here; applyTopology checks again against the subscription's current policy.
  within(file, path, () => resolveDeliveryPolicy(spec['delivery']));
  const input: SubscriptionInput = { bus, pattern: pattern as object, target };
  if (spec['delivery'] !== undefined) input.delivery = spec['delivery'] as SubscriptionInput['delivery'];
  return { name, input };
}

function loadApiKey(file: string, index: number, spec: unknown): ApiKey {
  const path = `apiKeys[${index}]`;
  if (!isEntry(spec)) expected(file, path, 'an object with `key` and `scopes`', spec);
  checkKeys(file, path, spec, ['key', 'scopes'], 'an API key');
  const { key, scopes } = spec;
  if (typeof key !== 'string') expected(file, `${path}.key`, 'a string', key);
  if (!isValidApiKey(key)) {
    // The key itself stays out of the message: it is a secret even when it is too short.
    throw invalid(
      file,
      `${path}.key`,
      `Expected \`${path}.key\` to be at least 16 characters without spaces, got one of ${key.length}`,
    );
  }
  if (!Array.isArray(scopes) || scopes.length === 0) expected(file, `${path}.scopes`, 'a non-empty list', scopes);
  scopes.forEach((scope: unknown, i) => {
    if (typeof scope !== 'string' || !isValidScope(scope)) {
      expected(file, `${path}.scopes[${i}]`, 'admin, publish:<bus> or consume:<subscription>', scope);
    }
  });
  return { key, scopes: scopes as string[] };
}

/**
 * Reads and validates a topology file (`.json`, `.yaml` or `.yml`), expanding `${VAR}` in string
 * values from `env`. Nothing is applied here; every problem is reported before anything is.
 * @throws BusError `INVALID_ARGUMENT` naming the file, the path inside it, what was expected and what came.
 * @example
 * ```ts
 * const topology = loadTopology('busbar.config.yaml');
 * await applyTopology(bus, topology);
 * ```
 */
export function loadTopology(file: string, env: Env = process.env): Topology {
  if (!['.json', '.yaml', '.yml'].includes(extname(file).toLowerCase())) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected the topology file to end in .json, .yaml or .yml, got ${describeValue(file)}`,
    );
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BusError('INVALID_ARGUMENT', `Cannot read the topology file ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const root = expand(file, parse(file, text), '', env);
  if (!isEntry(root)) {
    throw invalid(
      file,
      '',
      `Expected an object with \`buses\`, \`subscriptions\` and \`apiKeys\`, got ${describeValue(root)}`,
    );
  }
  checkKeys(file, '', root, ['buses', 'subscriptions', 'apiKeys'], 'the file');
  const keys = root['apiKeys'] ?? [];
  if (!Array.isArray(keys)) expected(file, 'apiKeys', 'a list of `{ key, scopes }`', keys);
  return Object.freeze({
    file,
    buses: section(file, root, 'buses').map(([name, spec]) => loadBus(file, name, spec)),
    subscriptions: section(file, root, 'subscriptions').map(([name, spec]) => loadSubscription(file, name, spec)),
    apiKeys: keys.map((spec: unknown, i) => loadApiKey(file, i, spec)),
  });
}

/**
 * Creates or updates the declared buses, then the declared subscriptions, each with the meaning of the
 * same PUT request (retention and delivery fields left out keep their current values; `target` is
 * replaced). Entries already as declared are not written, so their `updatedAt` stays; buses and
 * subscriptions the file does not mention are kept. Everything is checked against the current state
 * (bus references, a subscription's bus) before the first write.
 * @throws BusError `INVALID_ARGUMENT` naming the file and the path, with nothing applied.
 */
export async function applyTopology(bus: Busbar, topology: Topology): Promise<TopologyOutcome> {
  const { file } = topology;
  const buses = new Map(bus.listBuses().map((b) => [b.name, b]));
  const subscriptions = new Map(bus.listSubscriptions().map((s) => [s.name, s]));
  const busWrites: BusDeclaration[] = [];
  const subscriptionWrites: SubscriptionDeclaration[] = [];
  let created = 0;
  for (const declaration of topology.buses) {
    const existing = buses.get(declaration.name);
    if (existing === undefined) {
      created++;
    } else {
      const path = `buses.${declaration.name}`;
      const retention = within(file, path, () => resolveRetention(declaration.retention, existing.retention));
      if (isDeepStrictEqual(retention, existing.retention)) continue;
    }
    busWrites.push(declaration);
  }
  const declared = new Set(topology.buses.map((b) => b.name));
  for (const declaration of topology.subscriptions) {
    const { name, input } = declaration;
    const path = `subscriptions.${name}`;
    if (!declared.has(input.bus) && !buses.has(input.bus)) {
      expected(file, `${path}.bus`, 'a bus declared under `buses` or one that exists', input.bus);
    }
    const existing = subscriptions.get(name);
    if (existing === undefined) {
      created++;
    } else {
      if (existing.bus !== input.bus) {
        const what = `"${existing.bus}", the bus the subscription belongs to (delete it to move it)`;
        expected(file, `${path}.bus`, what, input.bus);
      }
      // The pattern as the engine stores it, so that an unchanged pattern compares equal.
      const pattern = typeof input.pattern === 'string' ? input.pattern : JSON.stringify(input.pattern);
      const target = within(file, path, () => validateTarget(input.target));
      const delivery = within(file, path, () => resolveDeliveryPolicy(input.delivery, existing.delivery));
      if (
        pattern === existing.pattern &&
        isDeepStrictEqual(target, existing.target) &&
        isDeepStrictEqual(delivery, existing.delivery)
      ) {
        continue;
      }
    }
    subscriptionWrites.push(declaration);
  }
  for (const { name, retention } of busWrites) {
    await bus.putBus(name, retention === undefined || retention === null ? {} : { retention });
  }
  for (const { name, input } of subscriptionWrites) await bus.putSubscription(name, input);
  const writes = busWrites.length + subscriptionWrites.length;
  return {
    created,
    updated: writes - created,
    unchanged: topology.buses.length + topology.subscriptions.length - writes,
  };
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The start-up line for an applied topology.
 * @example `topology busbar.config.yaml: 1 bus, 3 subscriptions applied (1 created, 0 updated, 3 unchanged; nothing else is changed or deleted), 1 API key`
 */
export function describeTopology(topology: Topology, outcome: TopologyOutcome): string {
  return (
    `topology ${topology.file}: ${count(topology.buses.length, 'bus', 'buses')}, ` +
    `${count(topology.subscriptions.length, 'subscription')} applied (${outcome.created} created, ` +
    `${outcome.updated} updated, ${outcome.unchanged} unchanged; nothing else is changed or deleted), ` +
    count(topology.apiKeys.length, 'API key')
  );
}
