import type { Command } from 'commander';

const HELP_FLAGS = new Set(['--help', '-h']);

/**
 * Commander answers `--help` before it looks at the command name, so `presence pause --help` would print the
 * top-level help and exit 0. When a command name is unknown, the help flags are dropped: commander then reports
 * the unknown command itself (with its "did you mean" suggestion) and the CLI exits 2, with or without `--help`.
 */
export function helpOnlyForKnownCommands(program: Command, argv: readonly string[]): string[] {
  let command = program;
  for (const arg of argv) {
    // Only commands with subcommands are walked, and they take no option of their own besides --help.
    if (arg.startsWith('-')) continue;
    if (command.commands.length === 0 || arg === 'help') break;
    const known = command.commands.find((sub) => sub.name() === arg || sub.aliases().includes(arg));
    if (!known) return argv.filter((other) => !HELP_FLAGS.has(other));
    command = known;
  }
  return [...argv];
}
