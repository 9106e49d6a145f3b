// The dashboard's only script, served by the dashboard itself: no framework, nothing fetched from elsewhere.
// It keeps the figures, the chart and the progress bars of running runs current; every page reads without it.
'use strict';

const refreshMs = Math.max(1, Number(document.body.dataset.refreshSeconds) || 10) * 1000;
const integer = new Intl.NumberFormat('en-US');
// This browser's own language and time zone: an instant is read where the reader is.
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dayAndClock = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** `12 s ago`, `4 min ago`, `3 h 5 min ago`, `2 days ago`; `in 4 min` for an instant to come. */
function ageText(ms) {
  const seconds = Math.round(Math.abs(ms) / 1000);
  const text =
    seconds < 60 ? `${seconds} s`
    : seconds < 3600 ? `${Math.floor(seconds / 60)} min`
    : seconds < 86_400 ? `${Math.floor(seconds / 3600)} h${Math.floor((seconds % 3600) / 60) ? ` ${Math.floor((seconds % 3600) / 60)} min` : ''}`
    : `${Math.floor(seconds / 86_400)} day${seconds < 172_800 ? '' : 's'}`;
  return ms < 0 ? `in ${text}` : `${text} ago`;
}

/** Every instant of the page as a person reads it: local time (with the day unless today) and age; ISO in the tooltip. */
function showInstants() {
  const now = new Date();
  for (const element of document.querySelectorAll('time[datetime]')) {
    const at = new Date(element.dateTime);
    if (Number.isNaN(at.getTime())) continue;
    const sameDay = at.toDateString() === now.toDateString();
    element.title = at.toISOString();
    element.textContent = `${(sameDay ? clock : dayAndClock).format(at)} (${ageText(now - at)})`;
  }
}

async function getJson(url) {
  const response = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** Polls `work` every `ms` until it returns false; a failed poll is shown, then retried. */
function every(ms, work) {
  const tick = async () => {
    let again = true;
    try {
      again = (await work()) !== false;
      document.body.classList.remove('stale');
    } catch (error) {
      document.body.classList.add('stale');
      console.warn(String(error));
    }
    if (again) setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
}

function showFigure(element, value) {
  element.dataset.value = value === null || value === undefined ? '' : String(value);
  element.textContent = value === null || value === undefined ? 'unknown' : integer.format(value);
  element.classList.toggle('unknown', value === null || value === undefined);
}

async function refreshFigures() {
  const status = await getJson('/api/status');
  for (const element of document.querySelectorAll('[data-figure]')) {
    const [part, name] = element.dataset.figure.includes('.') ? element.dataset.figure.split('.') : ['figures', element.dataset.figure];
    const source = part === 'connected' ? status.connected : status.figures;
    showFigure(element, source && name in source ? source[name] : null);
  }
  const measured = document.querySelector('[data-measured-at] time');
  // Relaxed EJSON, as `presence status --json` prints it: a date is {"$date": "…"}.
  if (measured) measured.dateTime = status.figures.measuredAt.$date ?? status.figures.measuredAt;
  showInstants();
}

let chart;
/** The range asked for, in seconds: the x axis spans it whole, however few samples fall in it. */
let span = [0, 0];

async function drawChart(element) {
  const samples = await getJson(`/api/samples?range=${encodeURIComponent(element.dataset.range)}`);
  span = [Date.parse(samples.since) / 1000, Date.parse(samples.until) / 1000];
  element.dataset.points = String(samples.at.length);
  document.querySelector('[data-chart-empty]').hidden = samples.at.length > 0;
  const columns = [samples.at, samples.online, samples.connected, samples.ghosts];
  if (chart) {
    chart.setData(columns);
    return;
  }
  const options = {
    width: Math.max(320, element.clientWidth),
    height: 280,
    spanGaps: false,
    scales: { x: { time: true, range: () => span }, y: { range: (_chart, min, max) => [0, Math.max(10, Math.ceil((max ?? 0) * 1.1))] } },
    axes: [{}, { label: 'users' }],
    series: [
      {},
      { label: 'online in the database', stroke: '#1d4ed8', width: 2 },
      { label: 'connected (Socket.IO)', stroke: '#15803d', width: 2 },
      { label: 'ghosts', stroke: '#b91c1c', width: 2 },
    ],
  };
  chart = new uPlot(options, columns, element);
  window.addEventListener('resize', () => chart.setSize({ width: Math.max(320, element.clientWidth), height: 280 }));
}

function watchRun(element) {
  const bar = element.querySelector('progress');
  const line = element.querySelector('[data-progress-line]');
  const status = element.closest('tr, main')?.querySelector('[data-status]');
  every(Math.min(refreshMs, 1000), async () => {
    const run = await getJson(`/api/runs/${encodeURIComponent(element.dataset.liveRun)}`);
    if (run.progress) {
      bar.max = Math.max(1, run.progress.planned);
      bar.value = run.progress.done;
      bar.textContent = `${run.progress.percent}%`;
      line.textContent = run.progress.line;
    }
    if (status) {
      status.textContent = run.status + (run.request ? ` (${run.request} asked)` : '');
      status.className = `status status-${run.status}`;
    }
    if (!run.active) {
      line.textContent = run.progress ? `${run.progress.line} · ${run.status}: ${run.result}` : run.result;
      element.removeAttribute('data-live-run');
    }
    return run.active;
  });
}

showInstants();
// Ages grow while the page stays open.
every(15_000, showInstants);

const chartElement = document.getElementById('presence-chart');
if (chartElement) {
  drawChart(chartElement).catch((error) => console.warn(String(error)));
  every(refreshMs, refreshFigures);
  // A sample is a minute: redrawing more often would only read the same samples again.
  every(Math.max(refreshMs, 60_000), () => drawChart(chartElement));
}
for (const element of document.querySelectorAll('[data-live-run]')) watchRun(element);
