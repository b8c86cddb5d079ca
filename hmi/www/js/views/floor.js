// Floor map: one tile per rack, coloured by its worst state, with badges for acknowledged (A),
// silenced (S) and maintenance (M). With an inventory (retained P/topology) the racks stand where
// they stand: one line per row, in the order of their positions, an aisle between rows; its feeds,
// cooling units and switches are listed above the floor (those with an open incident first, in
// their colour), and choosing one highlights its racks. Only tiles whose rack changed are redrawn.
import { el } from '../store.js';

const byName = (a, b) => String(a).localeCompare(String(b), undefined, { numeric: true });

export class FloorView {
  constructor(store, onSelect, onGroup) {
    this.store = store;
    this.onSelect = onSelect;
    this.onGroup = onGroup;
    this.root = document.getElementById('floor');
    this.summary = document.getElementById('floor-summary');
    this.groupBar = document.getElementById('groups');
    this.tiles = new Map();
    this.selected = null;
    this.group = null;  // the group whose racks are highlighted
  }

  // `changes`: what the store says changed since the last frame.
  render(changes) {
    let added = false;
    if (changes.topology) this.plan = this.store.topology ? new Set(this.store.topology.racks.map((r) => r.rack)) : null;
    for (const id of changes.racks) {
      const health = this.store.racks.get(id);
      let tile = this.tiles.get(id);
      if (!health && !this.inPlan(id)) {
        if (tile) { tile.remove(); this.tiles.delete(id); }
        continue;
      }
      if (!tile) { tile = this.tile(id); added = true; }
      this.draw(tile, id, health);
    }
    if (changes.topology) {
      for (const r of this.store.topology?.racks || []) {
        if (!this.tiles.has(r.rack)) { this.draw(this.tile(r.rack), r.rack, this.store.racks.get(r.rack)); }
      }
      // Racks of an older plan with no health of their own go.
      for (const [id, tile] of this.tiles) {
        if (!this.inPlan(id) && !this.store.racks.has(id)) { tile.remove(); this.tiles.delete(id); }
      }
      added = true;
    }
    if (added) this.layout();
    if (changes.topology || changes.groups) this.renderGroups(changes.topology);
    let bad = 0;
    for (const h of this.store.racks.values()) if (h.status !== 'ok') bad++;
    this.summary.textContent = `${this.tiles.size} racks, ${bad} unhealthy`;
  }

  inPlan(id) {
    return !!this.plan && this.plan.has(id);
  }

  tile(id) {
    const tile = el('div', { class: 'rack', 'data-rack': id, title: id, onclick: () => this.select(id) });
    this.tiles.set(id, tile);
    return tile;
  }

  // Without a plan: every rack in name order. With one: rows in order, racks by position, and
  // the racks the plan does not name on a line of their own at the end.
  layout() {
    const topology = this.store.topology;
    this.root.classList.toggle('plan', !!topology);
    if (!topology) {
      const ids = [...this.tiles.keys()].sort(byName);
      this.root.replaceChildren(...ids.map((i) => this.tiles.get(i)));
      return;
    }
    const rows = new Map();
    for (const r of topology.racks) {
      const row = r.row === '' || r.row === undefined ? '?' : String(r.row);
      if (!rows.has(row)) rows.set(row, []);
      rows.get(row).push(r);
    }
    const lines = [];
    for (const row of [...rows.keys()].sort(byName)) {
      if (lines.length) lines.push(el('div', { class: 'aisle', title: 'aisle' }));
      const racks = rows.get(row).sort((a, b) => byName(a.position, b.position) || byName(a.rack, b.rack));
      lines.push(el('div', { class: 'floor-row', 'data-row': row }, el('span', { class: 'row-label' }, `row ${row}`),
        ...racks.map((r) => this.tiles.get(r.rack))));
    }
    const stray = [...this.tiles.keys()].filter((id) => !this.plan?.has(id)).sort(byName);
    if (stray.length) {
      lines.push(el('div', { class: 'aisle' }));
      lines.push(el('div', { class: 'floor-row', 'data-row': '' }, el('span', { class: 'row-label', title: 'not in the inventory' }, 'other'),
        ...stray.map((id) => this.tiles.get(id))));
    }
    this.root.replaceChildren(...lines);
    if (this.group) this.highlight(this.group);
  }

  // The groups of the plan: those with an open incident as buttons in their colour (redrawn
  // when that set changes), and all of them in a list to choose from (rebuilt with the plan).
  renderGroups(planChanged) {
    const groups = this.store.topology ? Object.keys(this.store.topology.groups || {}) : [];
    this.groupBar.hidden = groups.length === 0;
    if (!groups.length) return;
    if (planChanged || !this.choose) {
      groups.sort(byName);
      this.choose = el('select', { 'data-testid': 'group-select', onchange: (e) => this.selectGroup(e.target.value || null) },
        el('option', { value: '' }, `all ${groups.length} feeds, cooling units and switches…`));
      for (const type of ['feed', 'cooling', 'tor']) {
        const of = groups.filter((g) => g.startsWith(type + ':'));
        if (!of.length) continue;
        const label = { feed: 'power feeds', cooling: 'cooling units', tor: 'ToR switches' }[type];
        this.choose.append(el('optgroup', { label }, ...of.map((g) => el('option', { value: g }, g))));
      }
      this.chips = null;
    }
    const status = (g) => this.store.groups.get(g)?.status || 'unknown';
    const troubled = [];
    for (const [g, h] of this.store.groups) {
      if (h.status !== 'ok' && this.store.topology.groups[g]) troubled.push(g);
    }
    troubled.sort(byName);
    const key = troubled.map((g) => g + '=' + status(g)).join(' ');
    if (key === this.chips) return;
    this.chips = key;
    this.groupBar.replaceChildren(el('span', { class: 'muted' }, troubled.length ? 'groups with incidents: ' : 'no group has an incident '),
      ...troubled.map((g) => el('button', { type: 'button', class: `group-chip ${status(g)}${g === this.group ? ' chosen' : ''}`,
        'data-group': g, title: `${g}: ${status(g)}, racks ${(this.store.topology.groups[g] || []).join(', ')}`,
        onclick: () => this.selectGroup(g === this.group ? null : g) }, g)),
      this.choose);
  }

  selectGroup(group) {
    this.highlight(group);
    if (this.choose) this.choose.value = group || '';
    for (const b of this.groupBar.querySelectorAll('.group-chip')) b.classList.toggle('chosen', b.dataset.group === group);
    if (group) this.onGroup(group);
  }

  highlight(group) {
    for (const id of this.store.topology?.groups?.[this.group] || []) this.tiles.get(id)?.classList.remove('in-group');
    this.group = group;
    this.root.classList.toggle('grouping', !!group);
    for (const id of this.store.topology?.groups?.[group] || []) this.tiles.get(id)?.classList.add('in-group');
  }

  draw(tile, id, health) {
    const incidents = this.store.incidentsOfRack(id);
    const acked = incidents.some((r) => r.acked_by);
    const muted = incidents.some((r) => r.silenced_by && r.silenced_by.length);
    const maintenance = this.store.maintenanceOf(id);
    const status = health ? health.status || 'unknown' : 'empty';
    tile.className = 'rack ' + status + (id === this.selected ? ' selected' : '') +
      ((this.store.topology?.groups?.[this.group] || []).includes(id) ? ' in-group' : '');
    tile.dataset.status = status;
    const kinds = Object.keys(health?.by_kind || {});
    tile.title = health ? `${id}: ${health.status}${kinds.length ? ' (' + kinds.join(', ') + ')' : ''}, ${health.servers} servers`
      : `${id}: no servers reporting`;
    const badges = el('span', { class: 'badges' });
    if (acked) badges.append(el('span', { class: 'badge', title: 'acknowledged' }, 'A'));
    if (muted) badges.append(el('span', { class: 'badge', title: 'silenced' }, 'S'));
    if (maintenance) badges.append(el('span', { class: 'badge', title: 'maintenance: ' + maintenance.comment }, 'M'));
    tile.replaceChildren(document.createTextNode(id), badges);
  }

  select(id) {
    const old = this.tiles.get(this.selected);
    if (old) old.classList.remove('selected');
    this.selected = id;
    const tile = this.tiles.get(id);
    if (tile) tile.classList.add('selected');
    this.onSelect(id);
  }
}
