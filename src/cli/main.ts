#!/usr/bin/env node
/**
 * The `busbar` command. Exit codes: 0 success, 1 unexpected failure, 2 invalid input or usage.
 */
import { Command, CommanderError } from 'commander';
import { isBusError } from '../core/errors.js';
import { registerPatternCommands } from './commands/pattern.js';
import { registerStartCommand } from './commands/start.js';
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
  .showHelpAfterError('(run with --help for usage)')
  // Commander exits itself on usage errors; take the exit over so usage errors exit 2 like invalid input.
  .exitOverride();

registerPatternCommands(program, (err) => {
  if (debug) console.error(err);
});
registerStartCommand(program);

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
    process.exitCode = isBusError(err) ? EXIT_INVALID : EXIT_FAILURE;
  }
}
