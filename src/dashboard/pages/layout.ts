import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export const Page = { presence: 'presence', runs: 'runs', tasks: 'tasks' } as const;
export type Page = (typeof Page)[keyof typeof Page];

const NAV: ReadonlyArray<[Page, string, string]> = [
  [Page.presence, '/', 'Presence'],
  [Page.runs, '/runs', 'Runs'],
  [Page.tasks, '/tasks', 'Tasks'],
];

export interface LayoutInput {
  title: string;
  page?: Page;
  target: { uri: string; database: string };
  /** Seconds between the page's own refreshes (figures, live runs). */
  refreshSeconds: number;
  /** The chart's library, only on the page that draws one. */
  chart?: boolean;
  body: Html;
}

/** Every page: the target it reads (URI already redacted), the three pages, and the dashboard's own assets only. */
export function layout(input: LayoutInput): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${input.title} · presence dashboard</title>
<link rel="stylesheet" href="/assets/dashboard.css">
${input.chart ? html`<link rel="stylesheet" href="/assets/uPlot.min.css"><script src="/assets/uPlot.iife.min.js" defer></script>` : ''}
<script src="/assets/dashboard.js" defer></script>
</head>
<body data-refresh-seconds="${input.refreshSeconds}">
<header>
<nav>${NAV.map(([page, href, label]) => html`<a href="${href}"${page === input.page ? html` aria-current="page"` : ''}>${label}</a>`)}</nav>
<p class="target">read-only · <span data-target>${input.target.uri}</span> · database <strong>${input.target.database}</strong></p>
</header>
<main>
<h1>${input.title}</h1>
${input.body}
</main>
</body>
</html>`;
}

/**
 * An instant as the markup keeps it: ISO, exact, also in the tooltip. The page's script shows it as a person reads
 * it (local time and age, `dashboard.js`); without the script, the ISO text stays.
 */
export function instant(date: Date): Html {
  const iso = date.toISOString();
  return html`<time datetime="${iso}" title="${iso}">${iso}</time>`;
}

/** A definition list of label → value, the values already formatted. */
export function facts(rows: ReadonlyArray<[string, Html | string | number | null | undefined]>): Html {
  return html`<dl class="facts">${rows
    .filter(([, value]) => value !== undefined && value !== null && value !== '')
    .map(([label, value]) => html`<dt>${label}</dt><dd>${value}</dd>`)}</dl>`;
}

/** A plain table; cells are escaped unless they are html already. */
export function table(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<Html | string | number>>, attributes = ''): Html {
  return html`<table${attributes ? html` class="${attributes}"` : ''}><thead><tr>${header.map((title) => html`<th>${title}</th>`)}</tr></thead><tbody>${rows.map(
    (row) => html`<tr>${row.map((cell) => html`<td>${cell}</td>`)}</tr>`,
  )}</tbody></table>`;
}
