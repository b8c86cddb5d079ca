// Rack view: one rack's servers and their states (from the rack query), its incidents, and the
// actions on it, and its timeline of the last day (its servers' incidents and its own, one lane
// each). Refreshed when the rack's health changes.
import { el } from '../store.js';
import { drawTimeline } from './timeline.js';

export class RackView {
  constructor(store, connection, actions, onServer) {
    this.store = store;
    this.connection = connection;
    this.actions = actions;
    this.onServer = onServer;
    this.root = document.getElementById('detail');
  }

  async show(rack) {
    this.rack = rack;
    this.root.replaceChildren(el('h2', {}, `Rack ${rack}`), el('p', { class: 'muted' }, 'loading…'));
    let answer, control = null;
    try {
      // The rack's desired state beside it: which servers are drained or wait for a change.
      [answer, control] = await Promise.all([this.connection.request(`query/rack/${rack}`),
        this.connection.request(`query/twin/rack/${rack}`).catch(() => null)]);
    } catch (e) {
      this.root.replaceChildren(el('h2', {}, `Rack ${rack}`), el('p', { class: 'muted' }, e.message));
      return;
    }
    if (this.rack !== rack) return;
    if (!answer.found) {
      this.root.replaceChildren(el('h2', {}, `Rack ${rack}`), el('p', { class: 'muted' }, answer.error || 'unknown rack'));
      return;
    }
    const troubled = answer.servers_with_incidents || {};
    const members = answer.members || Object.keys(troubled).map((s) => ({ server: s }));
    const grid = el('div', { class: 'servers', 'data-testid': 'rack-servers' });
    const desired = new Map((control?.servers || []).map((s) => [s.server, s]));
    for (const m of members) {
      const d = desired.get(m.server);
      const refs = troubled[m.server] || [];
      let state = 'ok';
      if (refs.some((r) => r.kind === 'silent')) state = 'silent';
      else if (refs.some((r) => r.severity === 'critical')) state = 'critical';
      else if (refs.length) state = 'warning';
      const kinds = refs.map((r) => r.kind).join(', ');
      const marks = `${m.maintenance ? ' maintenance' : ''}${d?.drained ? ' drained' : ''}${d && d.state !== 'in_sync' ? ' pending' : ''}`;
      grid.append(el('div', { class: `server ${state}${marks}`, 'data-server': m.server,
        title: `${m.server}: ${state}${kinds ? ' (' + kinds + ')' : ''}${m.maintenance ? ', maintenance' : ''}` +
          `${d?.drained ? ', drained' : ''}${d && d.state !== 'in_sync' ? `, desired state ${d.state}` : ''}`,
        onclick: () => this.onServer(m.server) }, m.server));
    }
    const maintenance = this.store.maintenanceOf(rack);
    // The rack's health may change many times a minute; its timeline is asked again at most
    // every 10 s (until then the one drawn stays).
    const kept = this.timeline && this.timeline.rack === rack && Date.now() - this.timeline.at < 10000;
    const timelineRoot = kept ? this.timeline.root : el('div', { 'data-testid': 'rack-timeline' });
    this.root.replaceChildren(
      el('h2', {}, `Rack ${rack} `, el('span', { class: 'muted' }, `${answer.status}, ${answer.servers} servers`)),
      maintenance ? el('p', {}, `Under maintenance until ${new Date(maintenance.ends_at * 1000).toLocaleString()} (${maintenance.comment})`) : null,
      (answer.open || []).length ? el('p', {}, 'Rack incidents: ' + answer.open.map((i) => `${i.kind} (${i.severity})`).join(', ')) : null,
      grid,
      control ? el('p', { class: 'muted', 'data-testid': 'rack-drained' },
        `${control.drained} drained (at most ${control.drained_allowed})`) : null,
      el('p', {},
        el('button', { type: 'button', onclick: () => this.actions.silence({ rack }) }, 'Silence rack…'), ' ',
        el('button', { type: 'button', onclick: () => this.actions.silence({ rack }, true) }, 'Maintenance…'), ' ',
        el('button', { type: 'button', 'data-action': 'control-rack', onclick: () => this.actions.control({ rack }, () => this.show(rack)) },
          'Desired state…')),
      el('h3', {}, 'Last 24 hours'),
      timelineRoot);
    if (kept) return;
    this.timeline = { rack, at: Date.now(), root: timelineRoot };
    const until = Date.now() / 1000;
    drawTimeline(timelineRoot, this.connection, { filter: { rack }, since: until - 86400, until,
      laneOf: (i) => (i.level === 'rack' ? `rack ${i.subject}` : i.subject), openRecords: this.store.incidentsOfRack(rack),
      testid: 'rack-timeline-svg' });
  }

  refresh(changedRacks) {
    if (this.rack && changedRacks.has(this.rack) && this.root.querySelector('[data-testid=rack-servers]')) this.show(this.rack);
  }
}
