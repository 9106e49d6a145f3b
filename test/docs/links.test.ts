import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/cli.ts';
import { docPages, fencedBlocks, headingAnchors, links, readPage } from './markdown.ts';

describe.each(docPages())('%s', (page) => {
  const text = readPage(page);

  it('links only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const { target, line } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const file = path === '' ? join(REPO, page) : join(REPO, dirname(page), decodeURIComponent(path));
      if (!existsSync(file)) broken.push(`${page}:${line}: ${target} (no file ${relative(REPO, file)})`);
      else if (anchor && file.endsWith('.md') && !headingAnchors(readFileSync(file, 'utf8')).has(anchor))
        broken.push(`${page}:${line}: ${target} (no heading #${anchor})`);
    }
    expect(broken).toEqual([]);
  });

  it('shows repository files verbatim where a block says file=PATH', () => {
    for (const block of fencedBlocks(page, text).filter((candidate) => candidate.file)) {
      const file = readFileSync(join(REPO, block.file!), 'utf8');
      expect(`${block.body}\n`, `${page}:${block.line} against ${block.file}`).toBe(file);
    }
  });

  it('shows JSON that parses', () => {
    for (const block of fencedBlocks(page, text).filter((candidate) => candidate.language === 'json'))
      expect(() => JSON.parse(block.body), `${page}:${block.line}`).not.toThrow();
  });
});

it('every docs page is linked from the README', () => {
  const readme = links(readPage('README.md')).map(({ target }) => target.split('#')[0]);
  const unlinked = docPages().filter((page) => page !== 'README.md' && !readme.includes(page));
  expect(unlinked).toEqual([]);
});
