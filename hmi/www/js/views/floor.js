// Floor map: one tile per rack, coloured by its worst state, with badges for acknowledged (A),
// silenced (S) and maintenance (M). Only tiles whose rack changed are redrawn.
import { el } from '../store.js';

export class FloorView {
  constructor(store, onSelect) {
    this.store = store;
    this.onSelect = onSelect;
    this.root = document.getElementById('floor');
    this.summary = document.getElementById('floor-summary');
    this.tiles = new Map();
    this.selected = null;
  }

  render(changedRacks) {
    let added = false;
    for (const id of changedRacks) {
      const health = this.store.racks.get(id);
      let tile = this.tiles.get(id);
      if (!health) {
        if (tile) { tile.remove(); this.tiles.delete(id); }
        continue;
      }
      if (!tile) {
        tile = el('div', { class: 'rack', 'data-rack': id, title: id, onclick: () => this.select(id) });
        this.tiles.set(id, tile);
        added = true;
      }
      this.draw(tile, id, health);
    }
    if (added) {
      const ids = [...this.tiles.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
      this.root.replaceChildren(...ids.map((i) => this.tiles.get(i)));
    }
    let bad = 0;
    for (const h of this.store.racks.values()) if (h.status !== 'ok') bad++;
    this.summary.textContent = `${this.store.racks.size} racks, ${bad} unhealthy`;
  }

  draw(tile, id, health) {
    const incidents = this.store.incidentsOfRack(id);
    const acked = incidents.some((r) => r.acked_by);
    const muted = incidents.some((r) => r.silenced_by && r.silenced_by.length);
    const maintenance = this.store.maintenanceOf(id);
    tile.className = 'rack ' + (health.status || 'unknown') + (id === this.selected ? ' selected' : '');
    tile.dataset.status = health.status;
    const kinds = Object.keys(health.by_kind || {});
    tile.title = `${id}: ${health.status}${kinds.length ? ' (' + kinds.join(', ') + ')' : ''}, ${health.servers} servers`;
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
