/**
 * `npm run bench -- <suite> [--json] [--samples N] [--seconds S] [--key value ...]`
 *
 * Runs one benchmark suite (a file in bench/) and prints a table, or with `--json` a JSON array of
 * `{"suite","scenario","metric","value","unit"}` on stdout. Progress goes to stderr.
 */
import type { BenchOptions, BenchResult, Suite } from './lib.js';
import { machine } from './lib.js';

const SUITES: Record<string, () => Promise<{ run: Suite }>> = {
  patterns: () => import('./patterns.js'),
  engine: () => import('./engine.js'),
  http: () => import('./http.js'),
  pgboss: () => import('./pgboss.js'),
};

function parseArgs(argv: string[]): { suite: string | undefined; json: boolean; args: Record<string, string | true> } {
  const args: Record<string, string | true> = {};
  let suite: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        args[a.slice(2)] = next;
        i++;
      } else {
        args[a.slice(2)] = true;
      }
    } else if (suite === undefined) {
      suite = a;
    } else {
      throw new Error(`Unexpected argument ${JSON.stringify(a)}`);
    }
  }
  const json = args.json === true;
  delete args.json;
  return { suite, json, args };
}

function positive(value: string | true | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value === true || !Number.isFinite(n) || n <= 0) {
    throw new Error(`Expected --${name} to be a positive number, got ${String(value)}`);
  }
  return n;
}

async function main(): Promise<void> {
  const { suite, json, args } = parseArgs(process.argv.slice(2));
  const load = suite === undefined ? undefined : SUITES[suite];
  if (load === undefined) {
    process.stderr.write(
      `usage: npm run bench -- <${Object.keys(SUITES).join('|')}> [--json] [--samples N] [--seconds S]\n`,
    );
    process.exitCode = 2;
    return;
  }
  const opts: BenchOptions = {
    samples: positive(args.samples, 'samples', 5),
    sampleSeconds: positive(args.seconds, 'seconds', 1),
    args,
    log: (line) => process.stderr.write(`${line}\n`),
  };
  delete args.samples;
  delete args.seconds;
  opts.log(`# ${suite} on ${machine()}`);
  const results: BenchResult[] = await (await load()).run(opts);
  if (json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const rows = results.map((r) => [r.scenario, r.metric, formatValue(r.value), r.unit]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((row) => row[c]!.length), 6));
  for (const row of rows)
    process.stdout.write(
      `${row.map((cell, c) => (c === 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')}\n`,
    );
}

function formatValue(v: number): string {
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(3);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
