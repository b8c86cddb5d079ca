// Incident list: the open incident records (retained on P/incidents/#) with filters by rack,
// kind and severity; ack, silence and flapping state, runbook links, and the ack action.
import { age, el, globMatch } from '../store.js';

const kLimit = 500;  // rows drawn at once; the count says how many there are

export class IncidentsView {
  constructor(store, actions, onSubject) {
    this.store = store;
    this.actions = actions;
    this.onSubject = onSubject;
    this.body = document.getElementById('incident-rows');
    this.count = document.getElementById('incident-count');
    this.more = document.getElementById('incident-more');
    this.rack = document.getElementById('f-rack');
    this.kind = document.getElementById('f-kind');
    this.severity = document.getElementById('f-severity');
    for (const f of [this.rack, this.kind, this.severity]) f.addEventListener('input', () => this.render());
    document.getElementById('silence-filtered').addEventListener('click', () =>
      this.actions.silence({ rack: this.rack.value, kind: this.kind.value, severity: this.severity.value }));
    setInterval(() => this.render(), 5000);  // ages
  }

  // At most a few times a second: a storm of incident events must not keep the page busy
  // rebuilding the list, while a single change still shows at once.
  renderSoon() {
    if (this.timer) return;
    const wait = Math.max(0, (this.lastRender || 0) + 300 - Date.now());
    this.timer = setTimeout(() => { this.timer = null; this.render(); }, wait);
  }

  filtered() {
    const rack = this.rack.value.trim(), kind = this.kind.value, severity = this.severity.value;
    const out = [];
    for (const r of this.store.incidents.values()) {
      if (rack && !(r.rack && globMatch(rack, r.rack))) continue;
      if (kind && r.kind !== kind) continue;
      if (severity && r.severity !== severity) continue;
      out.push(r);
    }
    out.sort((a, b) => (a.severity === b.severity ? b.opened_at - a.opened_at : a.severity === 'critical' ? -1 : 1));
    return out;
  }

  render() {
    this.lastRender = Date.now();
    const kinds = new Set([...this.store.incidents.values()].map((r) => r.kind));
    const have = new Set([...this.kind.options].map((o) => o.value));
    for (const k of [...kinds].sort()) if (!have.has(k)) this.kind.append(el('option', {}, k));
    const rows = this.filtered();
    const now = Date.now() / 1000;
    this.count.textContent = `${rows.length} of ${this.store.incidents.size}`;
    this.more.textContent = rows.length > kLimit ? `showing the first ${kLimit}; narrow the filters to see the rest` : '';
    this.body.replaceChildren(...rows.slice(0, kLimit).map((r) => {
      const state = [];
      if (r.acked_by) state.push(`acked by ${r.acked_by}`);
      if (r.silenced_by && r.silenced_by.length) state.push('silenced');
      if (r.flapping) state.push('flapping');
      return el('tr', { 'data-incident': r.id },
        el('td', { class: 'sev ' + r.severity }, r.severity),
        el('td', {}, r.level),
        el('td', {}, el('a', { href: '#', onclick: (e) => { e.preventDefault(); this.onSubject(r); } }, r.subject)),
        el('td', {}, r.kind),
        el('td', {}, age(now - r.opened_at)),
        el('td', { class: 'state' }, state.join(', ') || 'new'),
        el('td', {}, r.runbook ? el('a', { href: r.runbook, target: '_blank', rel: 'noopener' }, 'runbook') : ''),
        el('td', {}, r.summary),
        el('td', {}, r.acked_by ? '' : el('button', { type: 'button', 'data-action': 'ack', onclick: () => this.actions.ack(r) }, 'Ack')));
    }));
  }
}
