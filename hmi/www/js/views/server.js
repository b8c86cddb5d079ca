// Server view: one server's status, open incidents, a chart per metric over the last 15 minutes
// (the window: P/query/server/<id> with {"series": true}), 2 days (1-minute rollups) or 60 days
// (1-hour rollups), and its timeline of the last day from the history. Subscribes to that
// server's health while shown.
import { el } from '../store.js';
import { metricChart } from './chart.js';
import { drawTimeline } from './timeline.js';

// The chart ranges: what each asks the gateway for, and how far back it reaches.
const RANGES = {
  '15m': { label: '15 minutes', seconds: 900, request: { series: true } },
  '2d': { label: '2 days', seconds: 2 * 86400, request: { series: '1m' } },
  '60d': { label: '60 days', seconds: 60 * 86400, request: { series: '1h' } },
};

export class ServerView {
  constructor(store, connection, actions) {
    this.store = store;
    this.connection = connection;
    this.actions = actions;
    this.root = document.getElementById('detail');
    this.topic = null;
    this.range = '15m';
  }

  async show(server) {
    this.server = server;
    this.watch(`${this.connection.prefix}/health/server/${server}`);
    this.root.replaceChildren(el('h2', {}, `Server ${server}`), el('p', { class: 'muted' }, 'loading…'));
    let a;
    try {
      a = await this.connection.request(`query/server/${server}`, { series: true });
    } catch (e) {
      this.root.replaceChildren(el('h2', {}, `Server ${server}`), el('p', { class: 'muted' }, e.message));
      return;
    }
    if (this.server !== server) return;
    if (!a.found) {
      this.root.replaceChildren(el('h2', {}, `Server ${server}`), el('p', { class: 'muted' }, a.error || 'unknown server'));
      return;
    }
    const incidents = (a.open || []).map((i) => el('li', {}, el('b', {}, `${i.kind} (${i.severity}) `), i.summary));
    // What the forecast and change rules see: drawn on every range's charts.
    this.marks = { forecasts: a.forecasts || [], changes: a.changes || [] };
    const sparks = Object.entries(a.series || {}).map(([metric, points]) => sparkline(metric, points));
    this.charts = el('div', { class: 'charts', 'data-testid': 'charts' });
    const rangeButtons = Object.entries(RANGES).map(([key, r]) => el('button', { type: 'button', 'data-range': key,
      class: key === this.range ? 'active' : '', onclick: () => this.showRange(server, key) }, r.label));
    // Asked again at most every 10 s while the server's health keeps changing.
    const kept = this.timeline && this.timeline.server === server && Date.now() - this.timeline.at < 10000;
    this.timelineRoot = kept ? this.timeline.root : el('div', { 'data-testid': 'server-timeline' });
    this.controlRoot = el('div', { 'data-testid': 'server-control' }, el('p', { class: 'muted' }, 'loading…'));
    this.root.replaceChildren(
      el('h2', {}, `Server ${server} `, el('span', { class: 'muted' }, `rack ${a.rack}, ${a.status}`)),
      incidents.length ? el('ul', {}, ...incidents) : el('p', { class: 'muted' }, 'no open incidents'),
      el('div', { 'data-testid': 'sparklines' }, ...sparks),
      el('h3', {}, 'Metrics ', el('span', { class: 'ranges' }, ...rangeButtons)),
      this.charts,
      el('h3', {}, 'Desired state ', el('button', { type: 'button', 'data-action': 'control',
        onclick: () => this.actions.control({ server }, () => this.showControl(server)) }, 'Change…')),
      this.controlRoot,
      el('h3', {}, 'Last 24 hours'),
      this.timelineRoot,
      el('p', {}, el('button', { type: 'button', onclick: () => this.actions.silence({ server }) }, 'Silence server…'), ' ',
        el('button', { type: 'button', onclick: () => this.actions.silence({ server }, true) }, 'Maintenance…')));
    this.showRange(server, this.range, a);
    this.showControl(server);
    if (kept) return;
    this.timeline = { server, at: Date.now(), root: this.timelineRoot };
    const until = Date.now() / 1000;
    const open = [...this.store.incidents.values()].filter((r) => r.level === 'server' && r.subject === server);
    drawTimeline(this.timelineRoot, this.connection, { filter: { subject: server }, since: until - 86400, until,
      laneOf: (i) => i.kind, openRecords: open, testid: 'server-timeline-svg' });
  }

  // Draws the metric charts of one range; `answer`: the window's answer, when already at hand.
  async showRange(server, key, answer) {
    this.range = key;
    const range = RANGES[key];
    for (const b of this.root.querySelectorAll('button[data-range]')) b.classList.toggle('active', b.dataset.range === key);
    const until = Date.now() / 1000, since = until - range.seconds;
    let a = key === '15m' ? answer : null;
    if (!a) {
      this.charts.replaceChildren(el('p', { class: 'muted' }, 'loading…'));
      try {
        a = await this.connection.request(`query/server/${server}`, key === '15m' ? range.request : { ...range.request, metric: '*', since },
          10000);
      } catch (e) {
        this.charts.replaceChildren(el('p', { class: 'muted' }, e.message));
        return;
      }
    }
    if (this.server !== server || this.range !== key) return;
    if (a.ok === false || a.found === false) {
      this.charts.replaceChildren(el('p', { class: 'muted' }, a.error || 'no answer'));
      return;
    }
    const series = Object.entries(a.series || {});
    const marksOf = (metric) => ({ forecasts: (this.marks?.forecasts || []).filter((f) => f.metric === metric),
      changes: (this.marks?.changes || []).filter((c) => c.metric === metric) });
    // The 15-minute window is not stretched to a crossing hours away; the rollups' ranges are.
    this.charts.replaceChildren(...(series.length
      ? series.map(([metric, points]) => el('figure', { class: 'metric' }, el('figcaption', { class: 'mono' }, metric),
        metricChart(metric, points, since, until, this.charts.clientWidth, marksOf(metric), key !== '15m')))
      : [el('p', { class: 'muted' }, key === '15m' ? 'no reports in the window' :
        `no ${key === '2d' ? '1-minute' : '1-hour'} rollups yet (a bucket is written once its ${key === '2d' ? 'minute' : 'hour'} has passed)`)]));
  }

  // The twin's desired and reported state (P/query/twin/<id>), key by key.
  async showControl(server) {
    let t;
    try {
      t = await this.connection.request(`query/twin/${server}`);
    } catch (e) {
      this.controlRoot.replaceChildren(el('p', { class: 'muted' }, e.message));
      return;
    }
    if (this.server !== server) return;
    if (t.ok === false) {
      this.controlRoot.replaceChildren(el('p', { class: 'muted' }, t.error));
      return;
    }
    const keys = [...new Set([...Object.keys(t.desired || {}), ...Object.keys(t.reported || {})])].sort();
    const show = (o, k) => (o && k in o ? JSON.stringify(o[k]) : '–');
    const rows = keys.map((k) => el('tr', { 'data-key': k },
      el('td', { class: 'mono' }, k), el('td', {}, show(t.desired, k)), el('td', {}, show(t.reported, k)),
      el('td', { class: k in (t.delta || {}) ? 'pending' : '' }, k in (t.delta || {}) ? 'pending' : 'in sync')));
    this.controlRoot.replaceChildren(
      el('p', { 'data-testid': 'control-state' }, `${t.state}, version ${t.version} (reported ${t.reported_version})` +
        (t.by ? `, last changed by ${t.by}${t.comment ? ': ' + t.comment : ''}` : '') + (t.ad ? `; the server says: ${t.ad}` : '')),
      keys.length ? el('table', { class: 'twin' }, el('tr', {}, el('th', {}, 'key'), el('th', {}, 'desired'), el('th', {}, 'reported'),
        el('th', {}, '')), ...rows) : el('p', { class: 'muted' }, 'no desired or reported state'));
  }

  // Follows the server's health (the view is drawn again) and its twin's desired state (the
  // desired state section is).
  watch(topic) {
    if (this.topic === topic) return;
    const twin = (t) => t && t.replace('/health/server/', '/twin/server/');
    if (this.topic) this.connection.unsubscribe([this.topic, twin(this.topic)]);
    this.topic = topic;
    if (topic) this.connection.subscribe([topic, twin(topic)]);
  }

  hide() { this.server = null; this.watch(null); }

  // A message on a watched topic.
  onHealth(topic) {
    if (!this.server) return;
    if (topic === this.topic) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.show(this.server), 300);
    } else if (this.topic && topic === this.topic.replace('/health/server/', '/twin/server/') && this.controlRoot) {
      clearTimeout(this.controlTimer);
      this.controlTimer = setTimeout(() => this.showControl(this.server), 100);
    }
  }
}

function sparkline(metric, points) {
  const w = 300, h = 28;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.dataset.metric = metric;
  if (points.length) {
    const t0 = points[0][0], t1 = points[points.length - 1][0];
    let lo = Infinity, hi = -Infinity;
    for (const [, v] of points) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const span = hi - lo || 1, tspan = t1 - t0 || 1;
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', points.map(([t, v]) => `${(((t - t0) / tspan) * w).toFixed(1)},${(h - 2 - ((v - lo) / span) * (h - 4)).toFixed(1)}`).join(' '));
    svg.append(line);
  }
  const last = points.length ? points[points.length - 1][1] : '';
  return el('div', { class: 'spark' }, el('span', { class: 'mono' }, metric), svg, el('span', {}, String(last)));
}
