#!/usr/bin/env node
/**
 * The `busbar` command: the server (`start`), the client commands that talk to one through the SDK
 * (`publish`, `tail`, `buses`, `subs`, `dlq`, `replay`, `events`), and local tools (`pattern`,
 * `completion`). Exit codes: 0 success, 1 failure (the server or the connection, or an unexpected
 * error), 2 invalid input or usage, 130 interrupted while waiting.
 */
import { Command, CommanderError } from 'commander';
import { isBusError } from '../core/errors.js';
import { registerBusCommands } from './commands/buses.js';
import { registerCompletionCommand } from './commands/completion.js';
import { registerDeadLetterCommands } from './commands/dead-letters.js';
import { registerEventCommands } from './commands/events.js';
import { registerPatternCommands } from './commands/pattern.js';
import { registerPublishCommand } from './commands/publish.js';
import { registerReplayCommands } from './commands/replays.js';
import { registerStartCommand } from './commands/start.js';
import { registerSubscriptionCommands } from './commands/subscriptions.js';
import { registerTailCommand } from './commands/tail.js';
import { CliFailure } from './failure.js';
import { addGlobalOptions } from './session.js';
import { packageVersion } from '../version.js';

const EXIT_FAILURE = 1;
const EXIT_INVALID = 2;

const debug = process.argv.includes('--debug');

/** Prints `err` as one line on stderr, or with its stack and cause under `--debug`. */
function report(err: unknown): void {
  if (debug) {
    console.error(err);
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${message.replace(/\s*\n\s*/g, ' ')}\n`);
}

const program = new Command('busbar')
  .description('Busbar: a self-hosted event bus')
  .version(packageVersion(), '-V, --version', 'print the version')
  .option('--debug', 'print stack traces with errors')
  // Subcommands list the global options (--url, --api-key, --json) in their help too.
  .configureHelp({ showGlobalOptions: true })
  .showHelpAfterError('(run with --help for usage)')
  // Commander exits itself on usage errors; take the exit over so usage errors exit 2 like invalid input.
  .exitOverride();
addGlobalOptions(program);
program.addHelpText(
  'after',
  `
Client commands talk to the server at --url (env BUSBAR_URL, default http://127.0.0.1:4080) with
--api-key (env BUSBAR_API_KEY); --json prints the server's answer as JSON.

Exit codes:
  0    success
  1    the server could not be reached or answered with an error (4xx, 5xx), or a replay failed
  2    invalid input or usage: nothing was sent
  130  interrupted while waiting (replay start)`,
);

program.commandsGroup('Server:');
registerStartCommand(program);
program.commandsGroup('Client commands:');
registerPublishCommand(program);
registerTailCommand(program);
registerBusCommands(program);
registerSubscriptionCommands(program);
registerDeadLetterCommands(program);
registerReplayCommands(program);
registerEventCommands(program);
program.commandsGroup('Tools:');
registerPatternCommands(program, (err) => {
  if (debug) console.error(err);
});
registerCompletionCommand(program);
program.helpCommand(true);

// `busbar pattern check | head` closes stdout early: stop quietly, as other Unix tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version also arrive here (exit code 0); Commander has already printed its message.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_INVALID;
  } else {
    report(err);
    process.exitCode =
      err instanceof CliFailure
        ? err.exitCode
        : isBusError(err) && err.code !== 'STORAGE_UNAVAILABLE'
          ? EXIT_INVALID
          : EXIT_FAILURE;
  }
}
