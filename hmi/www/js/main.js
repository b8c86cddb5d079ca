// The operators' page: asks for broker credentials (kept for this tab only), connects over MQTT
// 5 WebSockets, and draws the views from retained and live messages, once per frame.
import { Connection } from './connection.js';
import { Store } from './store.js';
import { HeaderView } from './views/header.js';
import { FloorView } from './views/floor.js';
import { RackView } from './views/rack.js';
import { GroupView } from './views/group.js';
import { IncidentsView } from './views/incidents.js';
import { ServerView } from './views/server.js';
import { Actions } from './views/actions.js';
import { ReportView } from './views/report.js';
import { drawTimeline } from './views/timeline.js';

async function config() {
  const res = await fetch('config.json', { cache: 'no-store' });
  const c = await res.json();
  if (!c.broker_ws_url) c.broker_ws_url = `ws://${location.hostname}:9001`;
  return c;
}

function credentials(where) {
  const saved = sessionStorage.getItem('dctwin-credentials');
  if (saved) return Promise.resolve(JSON.parse(saved));
  const dialog = document.getElementById('login');
  document.getElementById('login-where').textContent = where;
  return new Promise((resolve) => {
    dialog.onclose = () => {
      const form = document.getElementById('login-form');
      const c = { username: form.username.value, password: form.password.value };
      sessionStorage.setItem('dctwin-credentials', JSON.stringify(c));
      resolve(c);
    };
    dialog.showModal();
  });
}

async function main() {
  const cfg = await config();
  const creds = await credentials(`broker ${cfg.broker_ws_url}`);
  const store = new Store(cfg.prefix);
  const connection = new Connection({ url: cfg.broker_ws_url, prefix: cfg.prefix, username: creds.username, password: creds.password });
  const header = new HeaderView(store, connection);
  const notify = (text, bad) => {
    const b = document.getElementById('banner');
    b.hidden = false;
    b.textContent = text;
    b.style.background = bad ? '' : '#1f4a2f';
    clearTimeout(notify.timer);
    notify.timer = setTimeout(() => { b.style.background = ''; header.render(); }, 4000);
  };
  const actions = new Actions(store, connection, creds.username, notify, cfg.control_keys || []);
  const serverView = new ServerView(store, connection, actions);
  let rackView;
  let floor;
  const groupView = new GroupView(connection, (rack) => floor.select(rack));
  floor = new FloorView(store, (rack) => { serverView.hide(); groupView.group = null; rackView.show(rack); },
    (group) => { serverView.hide(); rackView.rack = null; groupView.show(group); });
  rackView = new RackView(store, connection, actions, (server) => { rackView.rack = null; serverView.show(server); });
  const incidents = new IncidentsView(store, actions, (r) => {
    if (r.level === 'server') { rackView.rack = null; serverView.show(r.subject); }
    else if (r.level === 'rack') floor.select(r.subject);
    else if (r.level === 'group') floor.selectGroup(r.subject);
  });
  setUpHistory(store, connection);
  connection.addEventListener('state', () => {
    header.render();
    if (connection.state === 'refused') {
      sessionStorage.removeItem('dctwin-credentials');
      document.getElementById('login-form').addEventListener('submit', () => location.reload(), { once: true });
      document.getElementById('login').showModal();
    }
  });
  let scheduled = false;
  const draw = () => {
    scheduled = false;
    const c = store.takeChanges();
    if (c.racks.size || c.topology || c.groups) floor.render(c);
    if (c.racks.size) rackView.refresh(c.racks);
    if (c.incidents || c.silences) incidents.renderSoon();
    if (c.header) header.render();
    window.dctwinDrawn = (window.dctwinDrawn || 0) + 1;
  };
  const schedule = () => { if (!scheduled) { scheduled = true; requestAnimationFrame(draw); } };
  connection.addEventListener('message', (e) => {
    const { topic, text } = e.detail;
    serverView.onHealth(topic);
    store.apply(topic, text);
    schedule();
  });
  store.addEventListener('topology', schedule);
  store.loadTopology();  // the floor plan comes over HTTP: no need to wait for the broker
  connection.subscribe(store.filters());
  window.dctwin = { store, connection };
}

// The "What happened" panel: the site's timeline and the availability report, each asked for
// when its tab is opened (and on Refresh), never in the background.
function setUpHistory(store, connection) {
  const report = new ReportView(connection, document.getElementById('report'));
  const siteTimeline = () => {
    const until = Date.now() / 1000;
    drawTimeline(document.getElementById('site-timeline-body'), connection, {
      filter: {}, since: until - Number(document.getElementById('site-period').value), until,
      laneOf: (i) => (i.level === 'server' ? i.rack || i.subject : i.level === 'rack' ? i.subject : `${i.level} ${i.subject}`),
      openRecords: [...store.incidents.values()], testid: 'site-timeline-svg' });
  };
  const open = { 'site-timeline': siteTimeline, report: () => report.load() };
  for (const b of document.querySelectorAll('button[data-tab]')) {
    b.addEventListener('click', () => {
      for (const other of document.querySelectorAll('button[data-tab]')) {
        other.classList.toggle('active', other === b);
        document.getElementById(other.dataset.tab).hidden = other !== b;
      }
      open[b.dataset.tab]();
    });
  }
  document.getElementById('site-period').addEventListener('change', siteTimeline);
  document.getElementById('site-refresh').addEventListener('click', siteTimeline);
}

main().catch((e) => {
  const b = document.getElementById('banner');
  b.hidden = false;
  b.textContent = 'The page could not start: ' + e.message;
});
