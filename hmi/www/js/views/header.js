// Header: the site's single healthy value, open incidents by severity, the gateway and the
// broker connection, and the age of the newest data; the banner says what is wrong, and the
// page is marked stale while its data cannot be current.
import { age } from '../store.js';

export class HeaderView {
  constructor(store, connection) {
    this.store = store;
    this.connection = connection;
    this.site = document.getElementById('site');
    this.counts = document.getElementById('counts');
    this.gateway = document.getElementById('gateway');
    this.broker = document.getElementById('broker');
    this.age = document.getElementById('age');
    this.banner = document.getElementById('banner');
    setInterval(() => this.render(), 1000);
  }

  render() {
    const dc = this.store.datacenter;
    const status = dc ? dc.status : 'unknown';
    this.site.className = 'pill ' + status;
    this.site.textContent = dc ? `site ${dc.datacenter}: ${dc.healthy ? 'healthy' : 'NOT healthy'} (${status})` : 'site: no health yet';
    let critical = 0, warning = 0;
    for (const r of this.store.incidents.values()) {
      if (r.severity === 'critical') critical++; else warning++;
    }
    this.counts.replaceChildren();
    const c = document.createElement('span'); c.className = 'critical'; c.textContent = `${critical} critical`;
    const w = document.createElement('span'); w.className = 'warning'; w.textContent = `${warning} warning`;
    this.counts.append(c, w);

    const offline = [...this.store.gateways.entries()].filter(([, s]) => !s.online).map(([id]) => id);
    const online = [...this.store.gateways.values()].filter((s) => s.online).length;
    this.gateway.className = 'pill ' + (offline.length ? 'critical' : online ? 'ok' : 'unknown');
    this.gateway.textContent = offline.length ? `gateway OFFLINE: ${offline.join(', ')}` : online ? 'gateway online' : 'gateway: unknown';

    const conn = this.connection;
    this.broker.className = 'pill ' + (conn.state === 'connected' ? 'ok' : conn.state === 'connecting' ? 'warning' : 'critical');
    this.broker.textContent = conn.state === 'connected' ? 'broker connected' : conn.state === 'refused' ? 'broker: login refused' : conn.state === 'connecting' ? 'broker: connecting' : 'broker: DISCONNECTED';

    this.age.textContent = this.store.lastData ? `newest data ${age((Date.now() - this.store.lastData) / 1000)} ago` : 'no data yet';

    let problem = '';
    if (conn.state !== 'connected') {
      problem = (conn.problem || 'not connected to the broker') + `; what you see is stale since ${new Date(conn.since).toLocaleTimeString()}`;
    } else if (offline.length) {
      problem = `gateway ${offline.join(', ')} is offline: health and incidents are not being updated`;
    }
    this.banner.hidden = !problem;
    this.banner.textContent = problem;
    document.body.classList.toggle('stale', !!problem);
    // Stale data is never shown as current, the site's value least of all.
    if (problem) {
      this.site.className = 'pill unknown';
      this.site.textContent += ' (stale)';
    }
  }
}
