// Store: what the page knows of the site, from retained and live MQTT messages: datacenter and
// rack health, open incident records, silences, gateway status. Views read it; it tells them what
// changed through `changed` (sets of rack ids, flags), collected until the next frame.
export class Store extends EventTarget {
  constructor(prefix) {
    super();
    this.prefix = prefix;
    this.datacenter = null;
    this.racks = new Map();      // rack id -> health
    this.incidents = new Map();  // record topic -> record
    this.byRack = new Map();     // rack id -> Set of record topics
    this.silences = new Map();   // id -> silence
    this.gateways = new Map();   // gateway id -> status
    this.lastData = 0;           // Date.now() of the newest message
    this.topology = null;        // the floor plan: {racks: [{rack, row, position, groups}], groups: {id: [racks]}}
    this.groups = new Map();     // group id (feed:A-12) -> health
    this.changed = Store.noChanges();
  }

  static noChanges() {
    return { racks: new Set(), incidents: false, header: false, silences: false, topology: false, groups: false };
  }

  filters() {
    const p = this.prefix;
    // The floor plan's notice first: its plan is fetched while the health of the racks arrives.
    return [`${p}/topology`, `${p}/health/datacenter/+`, `${p}/health/rack/+`, `${p}/health/group/+`, `${p}/incidents/#`,
      `${p}/silences/+`, `${p}/gateway/+/status`];
  }

  apply(topic, text) {
    const p = this.prefix + '/';
    if (!topic.startsWith(p)) return;
    const parts = topic.slice(p.length).split('/');
    const value = text === '' ? null : safeParse(text);
    if (text !== '' && value === null) return;
    this.lastData = Date.now();
    if (parts[0] === 'health' && parts[1] === 'rack') {
      if (value) this.racks.set(parts[2], value); else this.racks.delete(parts[2]);
      this.changed.racks.add(parts[2]);
      this.changed.header = true;
    } else if (parts[0] === 'health' && parts[1] === 'group') {
      if (value) this.groups.set(parts[2], value); else this.groups.delete(parts[2]);
      this.changed.groups = true;
    } else if (parts[0] === 'topology') {
      // A small notice that the floor plan changed; the plan itself comes over HTTP (too big for
      // one message over the broker's WebSockets).
      this.loadTopology(value);
    } else if (parts[0] === 'health' && parts[1] === 'datacenter') {
      this.datacenter = value;
      this.changed.header = true;
    } else if (parts[0] === 'incidents') {
      const old = this.incidents.get(topic);
      if (old && old.rack) { this.byRack.get(old.rack)?.delete(topic); this.changed.racks.add(old.rack); }
      if (value) {
        this.incidents.set(topic, value);
        if (value.rack) {
          if (!this.byRack.has(value.rack)) this.byRack.set(value.rack, new Set());
          this.byRack.get(value.rack).add(topic);
          this.changed.racks.add(value.rack);
        }
      } else {
        this.incidents.delete(topic);
      }
      this.changed.incidents = true;
      this.changed.header = true;
    } else if (parts[0] === 'silences') {
      // An expired silence is a tombstone ({id, state: "expired", expired_at}) until it is cleared.
      if (value && value.state !== 'expired') this.silences.set(parts[1], value); else this.silences.delete(parts[1]);
      this.changed.silences = true;
      for (const r of this.racks.keys()) this.changed.racks.add(r);
    } else if (parts[0] === 'gateway' && parts[2] === 'status') {
      if (value) this.gateways.set(parts[1], value); else this.gateways.delete(parts[1]);
      this.changed.header = true;
    }
    this.dispatchEvent(new CustomEvent('change'));
  }

  // The plan as the gateway serves it (at start, before the broker is reached, and again when a
  // notice names another version than the one held).
  async loadTopology(notice) {
    const version = notice === undefined ? undefined : notice ? String(notice.version) : null;
    if (version !== undefined && version !== null && version === this.topologyVersion) return;
    const ask = (this.topologyAsk = (this.topologyAsk || 0) + 1);
    let plan = null;
    if (version !== null) {
      try {
        const res = await fetch((notice && notice.url) || 'topology.json', { cache: 'no-store' });
        plan = await res.json();
      } catch (e) {
        plan = null;
      }
    }
    if (ask !== this.topologyAsk) return;  // a newer one was asked for meanwhile
    this.topology = plan && Array.isArray(plan.racks) && plan.racks.length ? plan : null;
    this.topologyVersion = this.topology ? String(plan.version) : null;
    this.changed.topology = true;
    this.dispatchEvent(new CustomEvent('topology'));
  }

  takeChanges() {
    const c = this.changed;
    this.changed = Store.noChanges();
    return c;
  }

  // Open incident records of one rack (its servers' and its own).
  incidentsOfRack(rack) {
    const out = [];
    for (const topic of this.byRack.get(rack) || []) out.push(this.incidents.get(topic));
    return out;
  }

  // Active maintenance silences that name this rack.
  maintenanceOf(rack) {
    for (const s of this.silences.values()) {
      if (s.maintenance && s.state === 'active' && s.matchers.rack && globMatch(s.matchers.rack, rack)) return s;
    }
    return null;
  }
}

function safeParse(text) {
  try { return JSON.parse(text); } catch (e) { return null; }
}

// fnmatch-like: * ? and [...] as the gateway matches silences.
export function globMatch(pattern, value) {
  if (!/[*?[]/.test(pattern)) return pattern === value;
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') { const j = pattern.indexOf(']', i + 1); if (j < 0) { re += '\\['; } else { re += '[' + pattern.slice(i + 1, j).replace(/^!/, '^') + ']'; i = j; } }
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$').test(value);
}

// Whether a silence's matchers match an incident record (the gateway's rule, for previews).
export function silenceMatches(matchers, r) {
  for (const [key, pattern] of Object.entries(matchers)) {
    if (!pattern) continue;
    let ok = false;
    if (key === 'server') ok = r.level === 'server' && globMatch(pattern, r.subject);
    else if (key === 'rack') ok = !!r.rack && globMatch(pattern, r.rack);
    else if (key === 'kind') ok = globMatch(pattern, r.kind);
    else if (key === 'severity') ok = globMatch(pattern, r.severity);
    else if (key === 'level') ok = globMatch(pattern, r.level);
    if (!ok) return false;
  }
  return true;
}

export function age(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return s + 's';
  if (s < 7200) return Math.round(s / 60) + 'm';
  if (s < 172800) return Math.round(s / 3600) + 'h';
  return Math.round(s / 86400) + 'd';
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}
