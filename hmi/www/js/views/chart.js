// Charts of a server's metrics over time, drawn as SVG: the 15-minute window as a line, 1-minute
// and 1-hour rollups as a min..max band with the mean as a line. Time axis below, value axis on
// the left with the metric's unit; the time span is the chosen range, not only what has data,
// so a gap in the data shows as a gap.

const SVG = 'http://www.w3.org/2000/svg';

export function svgEl(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// The unit a metric's name implies (by its suffix or a word in it); '' when it says none.
const UNITS = [
  [/(^|[_\-/])temp|_c$|_celsius$|temperature/, '°C'],
  [/percent|_pct$/, '%'],
  [/_volts?$|_v$|voltage/, 'V'],
  [/_amps?$|_a$|current/, 'A'],
  [/_watts?$|_w$|power/, 'W'],
  [/_rpm$|fan/, 'rpm'],
  [/_bytes$|octets|bytes/, 'B'],
  [/_util$|_ratio$|_rate$/, 'fraction'],
  [/_ms$/, 'ms'],
  [/_seconds$|_s$/, 's'],
  [/_errors?$|errors/, 'errors'],
];
export function unitOf(metric) {
  const m = metric.toLowerCase();
  for (const [re, unit] of UNITS) if (re.test(m)) return unit;
  return '';
}

const pad = (n) => String(n).padStart(2, '0');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// Time ticks for a span of seconds: a round step giving four to eight ticks, and a label format
// to match (clock time within a day, the date beyond).
const STEPS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
  2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400];
export function timeTicks(t0, t1, most = 7) {
  const span = Math.max(1, t1 - t0);
  const step = STEPS.find((s) => span / s <= most) || STEPS[STEPS.length - 1];
  // Steps of a day or more fall on local midnights; shorter ones on round local clock times.
  const offset = new Date(t0 * 1000).getTimezoneOffset() * 60;
  const ticks = [];
  for (let t = Math.ceil((t0 - offset) / step) * step + offset; t <= t1; t += step) ticks.push(t);
  return { ticks, label: (t) => timeLabel(t, step) };
}
export function timeLabel(t, step) {
  const d = new Date(t * 1000);
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}${step < 60 ? ':' + pad(d.getSeconds()) : ''}`;
  if (step >= 86400) return `${MONTHS[d.getMonth()]} ${d.getDate()}`;
  if (step >= 6 * 3600 || (d.getHours() === 0 && d.getMinutes() === 0)) return `${MONTHS[d.getMonth()]} ${d.getDate()} ${clock}`;
  return clock;
}

// Value ticks: a 1/2/5 step giving about four ticks over [lo, hi].
function valueTicks(lo, hi) {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / 4;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

export function formatValue(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  if (a >= 1000) return v.toFixed(0);
  return String(Number(v.toPrecision(4)));
}

// One metric's chart. `points`: [[ts, value], ...] (window) or [[ts, min, max, mean, last,
// count], ...] (rollups); [t0, t1] the range shown; `width`: the pixels it is shown at (its text
// keeps its size). `marks`: what the model says of the metric (P/query/server's `forecasts` and
// `changes` of it): a forecast that is open draws its projected crossing with its band (the time
// axis reaches the band's far end when `extend`), a change marks its step.
export function metricChart(metric, points, t0, t1, width = 640, marks = {}, extend = false) {
  points = points.filter((p) => p[0] >= t0);  // the window may reach a little before the range
  const w = Math.max(300, width), h = 150, left = 58, right = 8, top = 8, bottom = 22;
  const rollup = points.length > 0 && points[0].length >= 6;
  const unit = unitOf(metric);
  const forecasts = (marks.forecasts || []).filter((f) => f.firing && f.known && f.eta_s != null);
  const changes = (marks.changes || []).filter((c) => c.changed);
  let lo = Infinity, hi = -Infinity;
  for (const p of points) {
    lo = Math.min(lo, p[1]);
    hi = Math.max(hi, rollup ? p[2] : p[1]);
  }
  if (!points.length && !forecasts.length && !changes.length) { lo = 0; hi = 1; }
  for (const f of forecasts) {
    lo = Math.min(lo, f.level, f.threshold);
    hi = Math.max(hi, f.level, f.threshold);
    // The far end of the band: the axis reaches it (never more than ten times the range shown).
    const far = f.at + (f.eta_high_s != null ? f.eta_high_s : f.eta_s * 2);
    if (extend) t1 = Math.min(Math.max(t1, far), t0 + 10 * (t1 - t0));
  }
  for (const c of changes) {
    lo = Math.min(lo, c.before, c.after);
    hi = Math.max(hi, c.before, c.after);
  }
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad5 = (hi - lo) * 0.05;
  lo -= pad5; hi += pad5;
  const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (w - left - right);
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (h - top - bottom);
  const svg = svgEl('svg', { viewBox: `0 0 ${w} ${h}`, class: 'chart', 'data-metric': metric, 'data-kind': rollup ? 'rollup' : 'window' });
  svg.append(svgEl('rect', { x: left, y: top, width: w - left - right, height: h - top - bottom, class: 'plot' }));
  const vt = valueTicks(lo, hi);
  for (const v of vt) {
    svg.append(svgEl('line', { x1: left, x2: w - right, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(svgEl('text', { x: left - 4, y: y(v) + 4, class: 'tick value', 'text-anchor': 'end' }, formatValue(v)));
  }
  const { ticks, label } = timeTicks(t0, t1);
  for (const t of ticks) {
    svg.append(svgEl('line', { x1: x(t), x2: x(t), y1: top, y2: h - bottom, class: 'grid' }));
    svg.append(svgEl('text', { x: x(t), y: h - 6, class: 'tick time', 'text-anchor': 'middle' }, label(t)));
  }
  svg.append(svgEl('text', { x: 4, y: top + 10, class: 'unit' }, unit));
  // Runs of points with no gap longer than three of their usual interval are drawn joined.
  const runs = [];
  let gap = 0;
  if (points.length > 1) {
    const d = points.slice(1).map((p, i) => p[0] - points[i][0]).sort((a, b) => a - b);
    gap = d[Math.floor(d.length / 2)] * 3;
  }
  for (const p of points) {
    const run = runs[runs.length - 1];
    if (run && gap && p[0] - run[run.length - 1][0] <= gap) run.push(p); else runs.push([p]);
  }
  for (const run of runs) {
    if (rollup) {
      const upper = run.map((p) => `${x(p[0]).toFixed(1)},${y(p[2]).toFixed(1)}`);
      const lower = run.slice().reverse().map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
      svg.append(svgEl('polygon', { points: [...upper, ...lower].join(' '), class: 'band' }));
    }
    const line = run.map((p) => `${x(p[0]).toFixed(1)},${y(rollup ? p[3] : p[1]).toFixed(1)}`).join(' ');
    if (run.length === 1) {
      const [cx, cy] = line.split(',');
      svg.append(svgEl('circle', { cx, cy, r: 2.5, class: 'dot' }));
    } else {
      svg.append(svgEl('polyline', { points: line, class: 'line' }));
    }
  }
  const clipX = (t) => Math.min(w - right, Math.max(left, x(t)));
  for (const f of forecasts) {
    // From where the trend is now to the threshold: the band's cone, the expected line, the
    // threshold, and the crossing in words.
    const at = f.at, cross = at + f.eta_s;
    const soon = at + f.eta_low_s, late = f.eta_high_s != null ? at + f.eta_high_s : t1 + (t1 - t0);
    const g = svgEl('g', { class: 'forecast', 'data-testid': 'forecast', 'data-eta': String(f.eta_s) });
    g.append(svgEl('line', { x1: left, x2: w - right, y1: y(f.threshold), y2: y(f.threshold), class: 'threshold' }));
    // A line from where the metric is now to the threshold at `end`, cut at the chart's right edge.
    const towards = (end) => (end <= t1 ? [end, f.threshold] : [t1, f.level + ((f.threshold - f.level) * (t1 - at)) / (end - at)]);
    const cone = [[at, f.level], towards(soon)];
    if (soon < t1) cone.push([Math.min(late, t1), f.threshold]);
    if (late > t1) cone.push(towards(late));
    g.append(svgEl('polygon', { class: 'cone', points: cone.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ') }));
    const [tEnd, vEnd] = towards(cross);
    g.append(svgEl('line', { x1: x(at), y1: y(f.level), x2: x(tEnd), y2: y(vEnd), class: 'projection' }));
    if (cross <= t1) g.append(svgEl('circle', { cx: x(cross), cy: y(f.threshold), r: 3, class: 'crossing' }));
    const hours = f.eta_s / 3600;
    const words = `${f.op} ${formatValue(f.threshold)} in ~${hours >= 2 ? `${hours.toFixed(1)} h` : `${Math.round(f.eta_s / 60)} min`}`;
    g.append(svgEl('text', { x: Math.min(clipX(cross), w - right - 4), y: y(f.threshold) - 4, class: 'forecast-label',
      'text-anchor': 'end' }, words + (cross > t1 ? ' →' : '')));
    svg.append(g);
  }
  for (const c of changes) {
    if (c.changed_at < t0 || c.changed_at > t1) continue;
    const g = svgEl('g', { class: 'change', 'data-testid': 'change' });
    g.append(svgEl('line', { x1: x(c.changed_at), x2: x(c.changed_at), y1: top, y2: h - bottom, class: 'step' }));
    const first = points.length ? Math.max(t0, points[0][0]) : t0;
    g.append(svgEl('line', { x1: clipX(first), x2: x(c.changed_at), y1: y(c.before), y2: y(c.before), class: 'level' }));
    g.append(svgEl('line', { x1: x(c.changed_at), x2: w - right, y1: y(c.after), y2: y(c.after), class: 'level' }));
    // The words on the side of the step that has room for them.
    const onLeft = x(c.changed_at) > (w + left) / 2;
    g.append(svgEl('text', { x: x(c.changed_at) + (onLeft ? -4 : 4), y: h - bottom - 6, class: 'change-label',
      'text-anchor': onLeft ? 'end' : 'start' }, `step ${c.up ? 'up' : 'down'} ${formatValue(c.before)} → ${formatValue(c.after)}`));
    svg.append(g);
  }
  return svg;
}
