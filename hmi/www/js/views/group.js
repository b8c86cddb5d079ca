// Group view: one feed, cooling unit or ToR switch (P/query/group/<id>): its status, its open
// incidents, its racks (each opens the rack view) and what the troubled ones have open.
import { el } from '../store.js';

const TYPES = { feed: 'Power feed', cooling: 'Cooling unit', tor: 'ToR switch' };

export class GroupView {
  constructor(connection, onRack) {
    this.connection = connection;
    this.onRack = onRack;
    this.root = document.getElementById('detail');
    this.group = null;
  }

  async show(group) {
    this.group = group;
    const [type, name] = [group.slice(0, group.indexOf(':')), group.slice(group.indexOf(':') + 1)];
    const title = `${TYPES[type] || type} ${name}`;
    this.root.replaceChildren(el('h2', {}, title), el('p', { class: 'muted' }, 'loading…'));
    let answer;
    try {
      answer = await this.connection.request(`query/group/${group}`);
    } catch (e) {
      this.root.replaceChildren(el('h2', {}, title), el('p', { class: 'muted' }, e.message));
      return;
    }
    if (this.group !== group) return;
    if (!answer.found) {
      this.root.replaceChildren(el('h2', {}, title), el('p', { class: 'muted' }, answer.error || 'unknown group'));
      return;
    }
    const troubled = new Map((answer.troubled || []).map((t) => [t.rack, t]));
    const racks = el('div', { class: 'servers', 'data-testid': 'group-racks' });
    for (const rack of answer.racks || []) {
      const t = troubled.get(rack);
      const kinds = t ? [...new Set([...(t.incidents || []).map((i) => i.kind), ...Object.keys(t.by_kind || {})])] : [];
      racks.append(el('div', { class: `server ${t ? t.severity : 'ok'}`, 'data-group-rack': rack,
        title: `${rack}${kinds.length ? ': ' + kinds.join(', ') : ': nothing open'}`, onclick: () => this.onRack(rack) }, rack));
    }
    this.root.replaceChildren(
      el('h2', { 'data-testid': 'group-title' }, `${title} `, el('span', { class: 'muted' }, `${answer.status}, ${(answer.racks || []).length} racks`)),
      ...(answer.open || []).map((i) => el('p', { class: `sev ${i.severity}`, 'data-testid': 'group-incident' },
        `${i.kind} (${i.severity}): ${i.summary}`)),
      (answer.open || []).length ? null : el('p', { class: 'muted' }, 'No incident of its own.'),
      racks,
      el('p', { class: 'muted' }, 'Its racks: click one for its servers.'));
  }
}
