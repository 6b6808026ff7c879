/**
 * `npm run bench -- patterns`: PatternIndex throughput on EventBridge-shaped events given as JSON text
 * (parsing counted), against growing rule sets.
 *
 * - mixed N: N rules of ten kinds round-robin (exact, prefix, suffix, equals-ignore-case, wildcard,
 *   anything-but, numeric, exists, cidr, $or), with parameters spread so that each event matches a
 *   few percent of them.
 * - anchored N: the same rules, each also requiring one of 100,000 account ids, so few match; this is
 *   the shape of per-tenant subscriptions and shows whether cost follows the rule count.
 *
 * The workload mirrors the event-ruler measurement in shared/spec/event-patterns.md §10.3.
 */
import { PatternIndex } from '../src/patterns/index.js';
import { measureRate, median, prng, type BenchOptions, type BenchResult } from './lib.js';

const EVENTS = 5_000;
const ACCOUNTS = 100_000;
const SOURCES = ['aws.ec2', 'aws.s3', 'orders', 'payments', 'inventory', 'aws.lambda', 'shipping', 'users'];
const TYPES = [
  'EC2 Instance State-change Notification',
  'Object Created',
  'order.placed',
  'payment.failed',
  'stock.low',
];
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-2', 'sa-east-1'];
const STATES = ['pending', 'running', 'stopping', 'stopped', 'terminated', 'RUNNING', 'Shutting-Down'];
const TAGS = ['blue', 'green', 'red', 'prod', 'staging', 'canary', 'gpu', 'spot'];
const EXTENSIONS = ['png', 'jpg', 'json', 'csv', 'txt', 'parquet'];

const accountId = (n: number): string => String(100_000_000_000 + n * 7919);

function makeEvents(rand: () => number): string[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const int = (max: number): number => Math.floor(rand() * max);
  return Array.from({ length: EVENTS }, (_, i) => {
    const event: Record<string, unknown> = {
      version: '0',
      id: `6a7e8feb-b491-4cf7-a9f1-${String(i).padStart(12, '0')}`,
      'detail-type': pick(TYPES),
      source: pick(SOURCES),
      account: accountId(int(ACCOUNTS)),
      time: `2026-11-27T01:${String(int(60)).padStart(2, '0')}:00Z`,
      region: pick(REGIONS),
      resources: [`arn:aws:ec2:us-east-1:123456789012:instance/i-${int(1e9).toString(16)}`],
      detail: {
        'instance-id': `i-${int(1e12).toString(16)}`,
        state: pick(STATES),
        'c-count': int(1000),
        'x-limit': Math.round(rand() * 1e6) / 100,
        'source-ip': `10.${int(4)}.${int(256)}.${int(256)}`,
        file: `bucket-${int(20)}/img-${int(1000)}.${pick(EXTENSIONS)}`,
        user: { name: `user-${int(5000)}`, role: pick(['admin', 'dev', 'ops', 'viewer']) },
        tags: [pick(TAGS), pick(TAGS)],
        items: Array.from({ length: 1 + int(3) }, () => ({
          sku: `sku-${int(200)}`,
          qty: int(10),
          price: int(10000) / 100,
        })),
        ...(rand() < 0.3 ? { error: null } : {}),
      },
    };
    return JSON.stringify(event);
  });
}

/** Rule `i` of the mixed set; kind `i % 10`, parameters drawn from `rand`. */
function mixedRule(i: number, rand: () => number): Record<string, unknown> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const int = (max: number): number => Math.floor(rand() * max);
  switch (i % 10) {
    case 0:
      return { source: [pick(SOURCES)], 'detail-type': [pick(TYPES)] };
    case 1:
      return { region: [{ prefix: pick(REGIONS).slice(0, 4 + int(5)) }], detail: { 'c-count': [int(1000)] } };
    case 2:
      return { detail: { file: [{ suffix: `${int(1000)}.${pick(EXTENSIONS)}` }] } };
    case 3:
      return { source: [pick(SOURCES)], detail: { state: [{ 'equals-ignore-case': pick(STATES).toUpperCase() }] } };
    case 4:
      return { detail: { file: [{ wildcard: `bucket-${int(20)}/img-${int(10)}*.${pick(EXTENSIONS)}` }] } };
    case 5:
      return { 'detail-type': [pick(TYPES)], detail: { state: [{ 'anything-but': [pick(STATES), pick(STATES)] }] } };
    case 6: {
      const lo = int(1000);
      return {
        detail: { 'c-count': [{ numeric: ['>', lo, '<=', lo + 20] }], 'x-limit': [{ numeric: ['>=', int(10000)] }] },
      };
    }
    case 7:
      return { source: [pick(SOURCES)], detail: { error: [{ exists: false }], tags: [pick(TAGS)] } };
    case 8:
      return { detail: { 'source-ip': [{ cidr: `10.${int(4)}.${int(256)}.0/${24 + int(4)}` }] } };
    default:
      return {
        $or: [
          { detail: { items: { sku: [`sku-${int(200)}`], qty: [{ numeric: ['>', 5] }] } } },
          { 'detail-type': [pick(TYPES)], region: [pick(REGIONS)] },
        ],
      };
  }
}

function buildIndex(
  kind: 'mixed' | 'anchored',
  rules: number,
  seed: number,
): { index: PatternIndex; compileMs: number } {
  const rand = prng(seed);
  const patterns = Array.from({ length: rules }, (_, i) => {
    const rule = mixedRule(i, rand);
    return kind === 'anchored' ? { ...rule, account: [accountId(Math.floor(rand() * ACCOUNTS))] } : rule;
  });
  const start = performance.now();
  const index = new PatternIndex();
  patterns.forEach((p, i) => index.add(`rule-${i}`, p));
  return { index, compileMs: performance.now() - start };
}

/** Runs every scenario; `--scenario mixed-100` narrows to one. */
export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const events = makeEvents(prng(42));
  const bytes = events.reduce((sum, e) => sum + Buffer.byteLength(e), 0) / events.length;
  opts.log(`# ${EVENTS} events, ${Math.round(bytes)} bytes on average, JSON text (parsing counted)`);
  const only = typeof opts.args.scenario === 'string' ? opts.args.scenario : undefined;
  const results: BenchResult[] = [];
  const scenarios: Array<['mixed' | 'anchored', number]> = [
    ['mixed', 1],
    ['mixed', 100],
    ['mixed', 1_000],
    ['mixed', 10_000],
    ['anchored', 1],
    ['anchored', 100],
    ['anchored', 1_000],
    ['anchored', 10_000],
  ];
  for (const [kind, rules] of scenarios) {
    const scenario = `${kind}-${rules}`;
    if (only !== undefined && only !== scenario) continue;
    const { index, compileMs } = buildIndex(kind, rules, 7);
    let matches = 0;
    for (const e of events) matches += index.match(e).length;
    const rates = measureRate(
      () => {
        for (let i = 0; i < events.length; i++) index.match(events[i]!);
      },
      events.length,
      opts,
    );
    const rate = median(rates);
    opts.log(
      `${scenario.padEnd(16)} ${Math.round(rate).toLocaleString('en-US').padStart(10)} events/s ` +
        `(min ${Math.round(Math.min(...rates)).toLocaleString('en-US')}, max ${Math.round(Math.max(...rates)).toLocaleString('en-US')}), ` +
        `${(matches / events.length).toFixed(3)} matches/event, compile ${compileMs.toFixed(0)} ms`,
    );
    results.push(
      { suite: 'patterns', scenario, metric: 'throughput', value: rate, unit: 'events/s' },
      { suite: 'patterns', scenario, metric: 'throughput_min', value: Math.min(...rates), unit: 'events/s' },
      { suite: 'patterns', scenario, metric: 'throughput_max', value: Math.max(...rates), unit: 'events/s' },
      { suite: 'patterns', scenario, metric: 'time_per_event', value: 1e6 / rate, unit: 'us' },
      { suite: 'patterns', scenario, metric: 'matches_per_event', value: matches / events.length, unit: 'matches' },
      { suite: 'patterns', scenario, metric: 'compile_time', value: compileMs, unit: 'ms' },
    );
    await new Promise((resolve) => setImmediate(resolve));
  }
  return results;
}
