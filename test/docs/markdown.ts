import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../support/cli.ts';

/** The pages whose commands and links are held true: the README and every page of docs/. */
export function docPages(): string[] {
  const docs = readdirSync(join(REPO, 'docs')).filter((file) => file.endsWith('.md'));
  return ['README.md', ...docs.sort().map((file) => `docs/${file}`)];
}

export function readPage(page: string): string {
  return readFileSync(join(REPO, page), 'utf8');
}

/** A fenced code block and what its info string says about it (see docs/contributing.md). */
export interface FencedBlock {
  page: string;
  /** 1-based lines of the opening and the closing fence. */
  line: number;
  endLine: number;
  language: string;
  runnable: boolean;
  /** The exit code its last command must give; 0 unless the info string says `exit=N`. */
  exit: number;
  /** `file=PATH`: the block is that file of the repository, verbatim. */
  file: string | undefined;
  body: string;
}

const fence = /^( *)(`{3,}|~{3,})(.*)$/;

export function fencedBlocks(page: string, text: string): FencedBlock[] {
  const lines = text.split('\n');
  const blocks: FencedBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const open = fence.exec(lines[index]!);
    if (!open) continue;
    const [, indent, marks, info] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let end = index + 1;
    // A fence closes on the same character, at least as long, with nothing after it.
    while (end < lines.length && !new RegExp(`^ *${marks[0]}{${marks.length},}\\s*$`).test(lines[end]!)) {
      // Inside a list item the block is indented with it; the indent is not part of the command.
      body.push(lines[end]!.startsWith(indent) ? lines[end]!.slice(indent.length) : lines[end]!);
      end++;
    }
    const words = info.trim().split(/\s+/);
    const option = (name: string) => words.find((word) => word.startsWith(`${name}=`))?.slice(name.length + 1);
    blocks.push({
      page,
      line: index + 1,
      endLine: end + 1,
      language: words[0] ?? '',
      runnable: words.includes('runnable'),
      exit: Number(option('exit') ?? 0),
      file: option('file'),
      body: body.join('\n'),
    });
    index = end;
  }
  return blocks;
}

/** The commands of a shell block, one per entry: continuation lines joined, blank and comment lines left out. */
export function shellCommands(body: string): string[] {
  return body
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** The lines of a page outside its fenced blocks, with their 1-based numbers. */
function proseLines(text: string): { line: string; number: number }[] {
  const code = new Set<number>();
  for (const block of fencedBlocks('', text)) for (let number = block.line; number <= block.endLine; number++) code.add(number);
  return text
    .split('\n')
    .map((line, index) => ({ line, number: index + 1 }))
    .filter(({ number }) => !code.has(number));
}

/** Every Markdown link and image target of a page outside its code blocks, with its line. */
export function links(text: string): { target: string; line: number }[] {
  const found: { target: string; line: number }[] = [];
  proseLines(text).forEach(({ line, number }) => {
    const prose = line.replace(/`[^`]*`/g, '');
    for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) found.push({ target: match[1]!, line: number });
  });
  return found;
}

/** GitHub's anchor for each heading of a page: lower case, punctuation dropped, spaces as dashes, repeats numbered. */
export function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}
