import { InvalidArgumentError, Option, type Command } from 'commander';

export interface ShardKeyFlags {
  shardKey?: string[];
}

/**
 * A shard key's fields, comma-separated, each a field path: a shard key may
 * be on an embedded field (`user.region`), so dotted paths are taken, one
 * segment at a time checked as MongoDB checks a field name. A hashed key
 * (`{region: 'hashed'}`) is named by its field alone: mongos hashes the value.
 */
export function parseShardKey(raw: string): string[] {
  const fields = raw.split(',');
  for (const field of fields) {
    const segments = field.split('.');
    const bad = segments.find((segment) => segment.length === 0 || segment.startsWith('$') || /[\u0000-\u001f\u007f\s]/.test(segment));
    if (bad !== undefined) {
      throw new InvalidArgumentError(
        `--shard-key takes field paths separated by commas (e.g. region or user.region,userId), got "${raw.slice(0, 80)}"`,
      );
    }
  }
  for (const [index, field] of fields.entries()) {
    const clash = fields.find((other, at) => at !== index && (other === field || field.startsWith(`${other}.`)));
    // MongoDB refuses such a key: a field twice, or a field and a path inside it.
    if (clash !== undefined) throw new InvalidArgumentError(`--shard-key names "${clash}" and "${field}": a shard key holds each field once`);
  }
  return fields;
}

export function addShardKeyOption(command: Command): Command {
  return command.addOption(
    new Option(
      '--shard-key <fields>',
      "the target collection's shard key (e.g. region or user.region,userId), when it cannot be read from config.collections: every write then reaches one shard",
    ).argParser(parseShardKey),
  );
}
