// Server view: one server's status, open incidents and a sparkline per metric of its window
// (P/query/server/<id> with {"series": true}). Subscribes to that server's health while shown.
import { el } from '../store.js';

export class ServerView {
  constructor(store, connection, actions) {
    this.store = store;
    this.connection = connection;
    this.actions = actions;
    this.root = document.getElementById('detail');
    this.topic = null;
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
    const sparks = Object.entries(a.series || {}).map(([metric, points]) => sparkline(metric, points));
    this.root.replaceChildren(
      el('h2', {}, `Server ${server} `, el('span', { class: 'muted' }, `rack ${a.rack}, ${a.status}`)),
      incidents.length ? el('ul', {}, ...incidents) : el('p', { class: 'muted' }, 'no open incidents'),
      el('div', { 'data-testid': 'sparklines' }, ...sparks),
      el('p', {}, el('button', { type: 'button', onclick: () => this.actions.silence({ server }) }, 'Silence server…'), ' ',
        el('button', { type: 'button', onclick: () => this.actions.silence({ server }, true) }, 'Maintenance…')));
  }

  watch(topic) {
    if (this.topic === topic) return;
    if (this.topic) this.connection.unsubscribe([this.topic]);
    this.topic = topic;
    if (topic) this.connection.subscribe([topic]);
  }

  hide() { this.server = null; this.watch(null); }

  // A message on the watched server's health topic: draw again.
  onHealth(topic) {
    if (topic === this.topic && this.server) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.show(this.server), 300);
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
