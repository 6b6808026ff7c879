/**
 * `busbar start`: the Busbar server on the embedded SQLite default, with webhook delivery, until SIGINT
 * or SIGTERM, then a graceful shutdown (stop accepting, finish attempts in flight, close storage).
 */
import type { Command } from 'commander';
import { Busbar } from '../../busbar.js';
import { buildServer } from '../../server/index.js';
import { WebhookRunner } from '../../server/webhooks/index.js';
import { startTracing } from '../../server/tracing.js';
import { resolveStartSettings, type StartFlags } from '../start-options.js';
import { applyTopology, describeTopology } from '../topology.js';

/** How long requests in flight may take to finish once a shutdown begins. */
const SHUTDOWN_REQUESTS_MS = 3_000;

/** The storage as the start-up line shows it: a PostgreSQL URL without its password. */
export function describeStorage(storage: string, durability: string): string {
  if (!/^postgres(ql)?:\/\//.test(storage)) return `${storage}, durability ${durability}`;
  try {
    const url = new URL(storage);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return 'postgres (unparseable URL)';
  }
}

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run the Busbar server (HTTP API under /v1, health at /healthz)')
    .option('--port <port>', 'port to listen on (env BUSBAR_PORT)', undefined)
    .option('--host <host>', 'address to listen on (env BUSBAR_HOST)', undefined)
    .option(
      '--storage <storage>',
      'SQLite file path, "memory", or postgres://user@host:5432/db[?schema=busbar&pool=10] (env BUSBAR_STORAGE; default ./.busbar/busbar.db)',
    )
    .option('--data <dir>', 'directory for the SQLite file (busbar.db)')
    .option(
      '--durability <mode>',
      'full: fsync every commit before acknowledging; normal: at checkpoints (env BUSBAR_DURABILITY)',
    )
    .option(
      '--config <file>',
      'topology file (.json, .yaml, .yml): buses, subscriptions and API keys, created or updated at start (env BUSBAR_CONFIG)',
    )
    .action(async (flags: StartFlags) => {
      const settings = resolveStartSettings(flags, process.env);
      // Before storage opens: a bad OTEL_* setting stops the start with nothing to close.
      const tracing = startTracing(process.env, {
        onError: (error) => process.stderr.write(`busbar: tracing: ${error.message} (those spans are dropped)\n`),
      });
      const bus = await Busbar.open({ storage: settings.storage, durability: settings.durability }).catch(
        async (err: unknown) => {
          await tracing?.shutdown();
          throw err;
        },
      );
      const app = buildServer(bus, { apiKeys: settings.apiKeys, processMetrics: true, tracing });
      try {
        if (settings.topology !== null) {
          const outcome = await applyTopology(bus, settings.topology);
          process.stdout.write(`busbar: ${describeTopology(settings.topology, outcome)}\n`);
        }
        await app.listen({ port: settings.port, host: settings.host });
      } catch (err) {
        await bus.close();
        await tracing?.shutdown();
        throw err;
      }
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : settings.port;
      // Webhook delivery starts once the API is up and stops before storage closes.
      const webhooks = new WebhookRunner(bus, { handler: { allowPrivateTargets: settings.allowPrivateTargets } });
      webhooks.start();
      if (tracing !== null)
        process.stdout.write(`busbar: tracing: spans to ${tracing.endpoint} (OTLP/HTTP, protobuf)\n`);
      process.stdout.write(
        `busbar listening on http://${settings.host}:${port} (storage ${describeStorage(settings.storage, settings.durability)}, ` +
          `${settings.apiKeys.length === 0 ? 'no API keys: open to local clients' : `${settings.apiKeys.length} API keys`})\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          process.stdout.write(`busbar: ${signal}, shutting down\n`);
          resolve();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      // Requests still running get a few seconds; then the connections left (keep-alive ones a client
      // opened but never used among them) are closed, so a shutdown never waits on clients.
      const deadline = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_REQUESTS_MS);
      await app.close();
      clearTimeout(deadline);
      await webhooks.stop();
      await bus.close();
      await tracing?.shutdown();
      process.stdout.write('busbar: stopped\n');
    });
}
