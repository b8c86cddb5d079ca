// Timelines from the history (P/query/history): incidents as bars over time, one lane per what
// the view groups by (a server's kinds, a rack's servers, the site's racks), acknowledgements as
// marks on their bar, silences and provisioning changes in a lane of their own. Incidents that
// opened before the period and are still open come from the page's open records.
import { el } from '../store.js';
import { svgEl, timeTicks } from './chart.js';

const MAX_LANES = 30;

// Every history event of `filter` in [since, until], page after page (at most `maxPages` of
// 1,000). Resolves { events, truncated }.
export async function loadHistory(connection, filter, since, until, maxPages = 5) {
  const events = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page++) {
    const body = { ...filter, since, until, limit: 1000 };
    if (cursor) body.cursor = cursor;
    const a = await connection.request('query/history', body, 15000);
    if (a.ok === false) throw new Error(a.error || 'the history was refused');
    events.push(...(a.events || []));
    cursor = a.next_cursor;
    if (!cursor) return { events, truncated: false };
  }
  return { events, truncated: true };
}

// Incidents (by id) and marks from history events.
export function fold(events, openRecords, since, until) {
  const incidents = new Map();
  const marks = [];  // { t, t2?, kind: silence|maintenance|provisioning, text }
  const incident = (e) => {
    let i = incidents.get(e.id);
    if (!i) {
      i = { id: e.id, level: e.level, subject: e.subject, rack: e.rack || '', kind: e.kind, severity: e.severity,
        start: e.opened_at || e.at, end: null, acks: [], summary: e.summary || '' };
      incidents.set(e.id, i);
    }
    return i;
  };
  for (const e of events) {
    if (e.type === 'incident') {
      const i = incident(e);
      if (e.severity) i.severity = e.severity;
      if (e.summary) i.summary = e.summary;
      if (e.rack) i.rack = e.rack;
      if (e.state === 'acknowledged') i.acks.push({ t: e.acked_at || e.at, by: e.acked_by || '', comment: e.ack_comment || '' });
      if (e.state === 'resolved') i.end = e.at;
    } else if (e.type === 'silence') {
      const matchers = Object.entries(e.matchers || {}).map(([k, v]) => `${k}=${v}`).join(' ');
      if (e.change === 'created') {
        marks.push({ t: e.starts_at, t2: e.ends_at, id: e.id, kind: e.maintenance ? 'maintenance' : 'silence',
          text: `${e.maintenance ? 'maintenance' : 'silence'} ${matchers} by ${e.created_by || '?'}${e.comment ? ': ' + e.comment : ''}` });
      } else if (e.change === 'expired') {
        const m = marks.find((x) => x.id === e.id);
        if (m) m.t2 = Math.min(m.t2, e.at);
        else marks.push({ t: e.starts_at, t2: e.at, id: e.id, kind: e.maintenance ? 'maintenance' : 'silence', text: `silence ${matchers}` });
      }
    } else if (e.type === 'provisioning') {
      marks.push({ t: e.at, kind: 'provisioning', text: `${e.server} ${e.change}${e.rack ? ' in ' + e.rack : ''}${e.from_rack ? ' from ' + e.from_rack : ''}` });
    }
  }
  for (const r of openRecords) {
    if (!incidents.has(r.id)) {
      incidents.set(r.id, { id: r.id, level: r.level, subject: r.subject, rack: r.rack || '', kind: r.kind, severity: r.severity,
        start: r.opened_at || r.at || since, end: null, summary: r.summary || '',
        acks: r.acked_at ? [{ t: r.acked_at, by: r.acked_by || '', comment: r.ack_comment || '' }] : [] });
    }
  }
  return { incidents: [...incidents.values()].filter((i) => i.start <= until && (i.end === null || i.end >= since)), marks };
}

const clock = (t) => new Date(t * 1000).toLocaleString();

// The timeline: `laneOf(incident)` names an incident's lane. Returns an element.
export function timeline({ events, openRecords = [], since, until, laneOf, truncated = false, testid, width = 640 }) {
  const { incidents, marks } = fold(events, openRecords, since, until);
  const lanes = new Map();
  for (const i of incidents) {
    const name = laneOf(i);
    if (!lanes.has(name)) lanes.set(name, { name, incidents: [], busy: 0 });
    const lane = lanes.get(name);
    lane.incidents.push(i);
    lane.busy += Math.min(until, i.end ?? until) - Math.max(since, i.start);
  }
  // The busiest lanes first when they do not all fit; otherwise in name order.
  let list = [...lanes.values()];
  const hidden = Math.max(0, list.length - MAX_LANES);
  if (hidden) list = list.sort((a, b) => b.busy - a.busy).slice(0, MAX_LANES);
  list.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));

  // Drawn at the width it is shown at, so that its text keeps its size.
  const w = Math.max(400, width), label = 110, right = 8, laneH = 16, top = 4;
  const rows = list.length + 1;  // the first lane: silences and changes
  const h = top + rows * laneH + 22;
  const x = (t) => label + ((Math.min(until, Math.max(since, t)) - since) / Math.max(1, until - since)) * (w - label - right);
  const svg = svgEl('svg', { viewBox: `0 0 ${w} ${h}`, class: 'timeline', 'data-testid': testid || 'timeline' });
  const { ticks, label: tickLabel } = timeTicks(since, until, 6);
  for (const t of ticks) {
    svg.append(svgEl('line', { x1: x(t), x2: x(t), y1: top, y2: top + rows * laneH, class: 'grid' }));
    svg.append(svgEl('text', { x: x(t), y: h - 6, class: 'tick time', 'text-anchor': 'middle' }, tickLabel(t)));
  }
  const laneY = (k) => top + k * laneH;
  svg.append(svgEl('text', { x: 2, y: laneY(0) + 12, class: 'lane-name' }, 'silences, changes'));
  for (const m of marks) {
    if (m.t2 !== undefined) {
      const r = svgEl('rect', { x: x(m.t), y: laneY(0) + 3, width: Math.max(2, x(m.t2) - x(m.t)), height: laneH - 6,
        class: `mark ${m.kind}`, 'data-mark': m.kind });
      r.append(svgEl('title', {}, `${m.text}\n${clock(m.t)} – ${clock(m.t2)}`));
      svg.append(r);
    } else {
      const p = svgEl('path', { d: `M${x(m.t).toFixed(1)},${laneY(0) + 2} l4,6 l-4,6 l-4,-6 z`, class: `mark ${m.kind}`, 'data-mark': m.kind });
      p.append(svgEl('title', {}, `${m.text}\n${clock(m.t)}`));
      svg.append(p);
    }
  }
  list.forEach((lane, k) => {
    const y = laneY(k + 1);
    svg.append(svgEl('text', { x: 2, y: y + 12, class: 'lane-name' }, lane.name.length > 16 ? lane.name.slice(0, 15) + '…' : lane.name));
    svg.append(svgEl('line', { x1: label, x2: w - right, y1: y, y2: y, class: 'lane-sep' }));
    for (const i of lane.incidents) {
      const x0 = x(i.start), x1 = x(i.end ?? until);
      const bar = svgEl('rect', { x: x0, y: y + 2, width: Math.max(2, x1 - x0), height: laneH - 4,
        class: `bar ${i.severity}${i.end === null ? ' open' : ''}`, 'data-incident': i.id, 'data-kind': i.kind });
      bar.append(svgEl('title', {}, `${i.kind} (${i.severity}) on ${i.level} ${i.subject}\n${clock(i.start)} – ` +
        `${i.end === null ? 'still open' : clock(i.end)}${i.summary ? '\n' + i.summary : ''}`));
      svg.append(bar);
      for (const a of i.acks) {
        const tick = svgEl('path', { d: `M${x(a.t).toFixed(1)},${y + 1} l3,-4 l-6,0 z M${x(a.t).toFixed(1)},${y + 1} l0,${laneH - 2}`,
          class: 'mark ack', 'data-mark': 'ack', 'data-incident': i.id });
        tick.append(svgEl('title', {}, `acknowledged by ${a.by}${a.comment ? ': ' + a.comment : ''}\n${clock(a.t)}`));
        svg.append(tick);
      }
    }
  });
  const note = [];
  if (!incidents.length) note.push('no incidents in this period');
  if (hidden) note.push(`${hidden} quieter lanes not drawn`);
  if (truncated) note.push('only the first 5,000 events of the period are drawn');
  return el('div', { class: 'timeline-box' }, svg, note.length ? el('p', { class: 'muted' }, note.join('; ')) : null);
}

// A timeline view inside `root`: asks the history, draws, says what failed.
export async function drawTimeline(root, connection, { filter, since, until, laneOf, openRecords, testid }) {
  const seq = root.dctwinSeq = (root.dctwinSeq || 0) + 1;  // only the newest request draws
  root.replaceChildren(el('p', { class: 'muted' }, 'loading the history…'));
  try {
    const { events, truncated } = await loadHistory(connection, filter, since, until);
    if (seq !== root.dctwinSeq) return;
    root.replaceChildren(timeline({ events, openRecords, since, until, laneOf, truncated, testid, width: root.clientWidth || 640 }));
  } catch (e) {
    if (seq === root.dctwinSeq) root.replaceChildren(el('p', { class: 'muted' }, `history: ${e.message}`));
  }
}
