// The availability report (P/query/report) as a table: a period, servers or racks, and columns
// that sort on a click (a second click reverses). Availability is shown as a percentage with its
// critical, warning and maintenance time, incidents by kind, and the mean times to acknowledge
// and to resolve.
import { el, age } from '../store.js';

const COLUMNS = [
  { key: 'subject', label: 'subject', text: true },
  { key: 'availability', label: 'availability', format: (v) => (v * 100).toFixed(3) + ' %' },
  { key: 'critical_s', label: 'critical', format: duration },
  { key: 'warning_s', label: 'warning', format: duration },
  { key: 'maintenance_s', label: 'maintenance', format: duration },
  { key: 'incidents', label: 'incidents', format: String },
  { key: 'by_kind', label: 'by kind', sortable: false, format: (v) => Object.entries(v || {}).map(([k, n]) => `${k} ${n}`).join(', ') },
  { key: 'mtta_s', label: 'MTTA', format: (v) => (v === null || v === undefined ? '–' : duration(v)) },
  { key: 'mttr_s', label: 'MTTR', format: (v) => (v === null || v === undefined ? '–' : duration(v)) },
];

// Short times keep a decimal: a 0.4-s critical stretch is not shown as none.
function duration(s) { return s <= 0 ? '0' : s < 10 ? s.toFixed(1) + 's' : age(s); }

export class ReportView {
  constructor(connection, root) {
    this.connection = connection;
    this.root = root;
    this.rows = [];
    this.sort = { key: 'availability', ascending: true };  // the least available first
    this.period = el('select', { 'data-testid': 'report-period' },
      el('option', { value: '86400' }, 'last 24 hours'), el('option', { value: String(7 * 86400), selected: true }, 'last 7 days'),
      el('option', { value: String(30 * 86400) }, 'last 30 days'));
    this.by = el('select', { 'data-testid': 'report-by' }, el('option', { value: 'rack' }, 'by rack'),
      el('option', { value: 'server' }, 'by server'), el('option', { value: 'datacenter' }, 'the site'));
    this.period.addEventListener('change', () => this.load());
    this.by.addEventListener('change', () => this.load());
    this.status = el('span', { class: 'muted' });
    this.table = el('table', { class: 'report', 'data-testid': 'report' });
    root.replaceChildren(el('div', { class: 'filters' }, this.period, this.by,
      el('button', { type: 'button', onclick: () => this.load() }, 'Refresh'), this.status), this.table);
  }

  async load() {
    const until = Date.now() / 1000;
    const since = until - Number(this.period.value);
    const seq = this.seq = (this.seq || 0) + 1;  // an answer to an older choice is not drawn
    this.status.textContent = 'asking the gateway…';
    let a;
    try {
      a = await this.connection.request('query/report', { since, until, by: this.by.value }, 15000);
    } catch (e) {
      if (seq === this.seq) this.status.textContent = e.message;
      return;
    }
    if (seq !== this.seq) return;
    if (a.ok === false) { this.status.textContent = a.error; return; }
    this.rows = a.rows || [];
    this.status.textContent = `${this.rows.length} rows, ${new Date(a.since * 1000).toLocaleString()} – ${new Date(a.until * 1000).toLocaleString()}`;
    this.render();
  }

  sortBy(key) {
    if (this.sort.key === key) this.sort.ascending = !this.sort.ascending;
    else this.sort = { key, ascending: key === 'subject' || key === 'availability' };
    this.render();
  }

  render() {
    const { key, ascending } = this.sort;
    const value = (r) => (r[key] === null || r[key] === undefined ? -Infinity : r[key]);
    const rows = this.rows.slice().sort((a, b) => {
      const c = key === 'subject' ? a.subject.localeCompare(b.subject, undefined, { numeric: true }) : value(a) - value(b);
      return ascending ? c : -c;
    });
    const head = el('tr', {}, ...COLUMNS.map((c) => {
      if (c.sortable === false) return el('th', {}, c.label);
      const mark = c.key === key ? (ascending ? ' ▲' : ' ▼') : '';
      return el('th', { class: 'sortable', 'data-sort': c.key, 'aria-sort': c.key === key ? (ascending ? 'ascending' : 'descending') : 'none',
        onclick: () => this.sortBy(c.key) }, c.label + mark);
    }));
    const body = rows.map((r) => el('tr', { 'data-subject': r.subject, class: r.availability < 1 ? 'degraded' : '' },
      ...COLUMNS.map((c) => el('td', { 'data-col': c.key }, c.text ? r[c.key] : c.format(r[c.key])))));
    this.table.replaceChildren(el('thead', {}, head), el('tbody', {}, ...body));
  }
}
