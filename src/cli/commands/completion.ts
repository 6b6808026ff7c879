/**
 * `busbar completion bash|zsh`: a shell completion script generated from the command tree itself, so
 * it never drifts from the commands. Works with bash 3.2 (macOS) and later; zsh runs it through
 * bashcompinit.
 */
import type { Command } from 'commander';
import { BusError } from '../../core/errors.js';
import { print } from '../session.js';

/** Every command path (`''`, `'subs'`, `'subs put'`) with the words that may follow it. */
export function completionWords(program: Command): Map<string, string[]> {
  const globals = program.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => f !== undefined);
  const out = new Map<string, string[]>();
  const walk = (command: Command, path: string): void => {
    const options =
      command === program
        ? []
        : command.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => f !== undefined);
    const subcommands = command.commands.map((c) => c.name());
    out.set(path, [...subcommands, ...options, ...globals, '--help']);
    for (const sub of command.commands) walk(sub, path === '' ? sub.name() : `${path} ${sub.name()}`);
  };
  walk(program, '');
  return out;
}

/** The bash completion script for `program`. */
export function bashScript(program: Command): string {
  const cases = [...completionWords(program)]
    .map(([path, words]) => `    ${JSON.stringify(path)}) echo ${JSON.stringify(words.join(' '))} ;;`)
    .join('\n');
  return `# busbar completion for bash. Load it with: source <(busbar completion bash)
# or save it: busbar completion bash > /etc/bash_completion.d/busbar
_busbar_words() {
  case "$1" in
${cases}
    *) return 1 ;;
  esac
}
_busbar() {
  local cur=\${COMP_WORDS[COMP_CWORD]} path= word next i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    [[ $word == -* ]] && continue
    next=\${path:+$path }$word
    if _busbar_words "$next" >/dev/null; then path=$next; fi
  done
  COMPREPLY=($(compgen -W "$(_busbar_words "$path")" -- "$cur"))
}
complete -o default -F _busbar busbar
`;
}

/** The zsh completion script: the bash one through zsh's bashcompinit. */
export function zshScript(program: Command): string {
  return `#compdef busbar
# busbar completion for zsh. Load it with: source <(busbar completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashScript(program)}`;
}

/** Registers `completion` on `program`. @example `source <(busbar completion bash)` */
export function registerCompletionCommand(program: Command): void {
  program
    .command('completion <shell>')
    .description('print a shell completion script for bash or zsh, e.g. source <(busbar completion bash)')
    .action((shell: string) => {
      if (shell === 'bash') return print(bashScript(program));
      if (shell === 'zsh') return print(zshScript(program));
      throw new BusError('INVALID_ARGUMENT', `Expected <shell> to be bash or zsh, got "${shell}"`);
    });
}
