import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../package-root.ts';

export interface Asset {
  body: Buffer;
  type: string;
}

/**
 * Everything a page loads, read once at start from the package itself: the
 * dashboard's own script and style, and uPlot from its npm package. A page
 * fetches nothing from anywhere else (the content security policy says so too).
 */
export function loadAssets(): ReadonlyMap<string, Asset> {
  const own = join(packageRoot(), 'src', 'dashboard', 'assets');
  const uplot = (file: string) => createRequire(import.meta.url).resolve(`uplot/dist/${file}`);
  const javascript = 'text/javascript; charset=utf-8';
  const css = 'text/css; charset=utf-8';
  return new Map<string, Asset>([
    ['dashboard.js', { body: readFileSync(join(own, 'dashboard.js')), type: javascript }],
    ['dashboard.css', { body: readFileSync(join(own, 'dashboard.css')), type: css }],
    ['uPlot.iife.min.js', { body: readFileSync(uplot('uPlot.iife.min.js')), type: javascript }],
    ['uPlot.min.css', { body: readFileSync(uplot('uPlot.min.css')), type: css }],
  ]);
}
