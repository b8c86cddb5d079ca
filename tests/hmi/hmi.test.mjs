// The operators' page in a real browser (Debian's chromium, playwright-core), against a real
// mosquitto with a WebSocket listener, the real gateway and dctwin-sim: what a person would see.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { Site, SIM, openPage, waitFor, screenshotDir } from './harness.mjs';

async function shot(page, name) {
  const dir = screenshotDir();
  if (dir) await page.screenshot({ path: path.join(dir, name) });
}

test('a hot rack turns red, its incidents are listed, the server view draws sparklines, an ack from the page lands', async (t) => {
  const site = new Site();
  t.after(() => site.stop());
  await site.startBroker();
  await site.startGateway();
  const browser = await site.browser();
  const { page } = await openPage(browser, site.url);
  await waitFor('broker connected', async () => (await page.textContent('#broker')) === 'broker connected');
  await waitFor('gateway online', async () => (await page.textContent('#gateway')) === 'gateway online');

  const sim = site.spawn(SIM, ['--broker', `tcp://127.0.0.1:${site.mqttPort}`, '--racks', '4', '--servers-per-rack', '4',
    '--interval', '0.3', '--duration', '120',
    '--scenario', '1 overheat r02-s01; 1 overheat r02-s02; 1 overheat r02-s03'], 'sim.log');
  t.after(() => sim.kill('SIGTERM'));

  await waitFor('4 racks on the floor', async () => (await page.locator('.rack').count()) === 4, 20000);
  await waitFor('r02 red on the floor', async () =>
    (await page.getAttribute('[data-rack=r02]', 'data-status')) === 'critical', 30000);
  assert.equal(await page.getAttribute('[data-rack=r01]', 'data-status'), 'ok');
  await waitFor('the site not healthy', async () => /NOT healthy/.test(await page.textContent('#site')));

  const row = page.locator('tr[data-incident^="server:r02-s01:thermal"]');
  await waitFor('the incident in the list', async () => (await row.count()) === 1);
  assert.match(await row.textContent(), /critical/);
  await shot(page, 'floor-and-incidents.png');

  // The rack view lists the rack's servers with their states.
  await page.click('[data-rack=r02]');
  await waitFor('rack view', async () => (await page.locator('[data-testid=rack-servers] .server').count()) === 4);
  assert.equal(await page.getAttribute('[data-server=r02-s01]', 'class'), 'server critical');
  assert.equal(await page.getAttribute('[data-server=r02-s04]', 'class'), 'server ok');

  // The server view draws a sparkline per metric of its window.
  await page.click('[data-server=r02-s01]');
  await waitFor('sparklines', async () => (await page.locator('[data-testid=sparklines] svg polyline').count()) >= 3);
  const points = await page.getAttribute('svg[data-metric=temp_c] polyline', 'points');
  assert.ok(points.split(' ').length >= 3, `temp_c sparkline has points: ${points}`);
  await shot(page, 'server-view.png');

  // An acknowledgement from the page: in the retained record, and in the page.
  await row.locator('button[data-action=ack]').click();
  await page.fill('#ack-form input[name=comment]', 'swapping the fan');
  await page.click('[data-testid=ack-confirm]');
  await waitFor('acked in the page', async () => /acked by/.test(await row.locator('td.state').textContent()));
  const client = await site.client();
  t.after(() => client.end(true));
  const record = await new Promise((resolve) => {
    client.on('message', (topic, payload) => { if (payload.length) resolve(JSON.parse(payload.toString())); });
    client.subscribe('dctwin/incidents/server/r02-s01/thermal');
  });
  assert.equal(record.ack_comment, 'swapping the fan');
  assert.ok(record.acked_by !== undefined);

  // The silence dialog previews what it would mute.
  await page.click('#silence-filtered');
  await page.fill('#silence-form input[name=rack]', 'r02');
  await page.fill('#silence-form input[name=kind]', 'thermal');
  await waitFor('preview', async () => /would mute [1-9]/.test(await page.textContent('[data-testid=silence-preview]')));
  await shot(page, 'silence-dialog.png');
  await page.click('#silence-form button[value=ok]');
  await waitFor('silenced in the page', async () => /silenced/.test(await row.locator('td.state').textContent()));
  await waitFor('S badge on r02', async () => /S/.test(await page.textContent('[data-rack=r02] .badges')));
});

test('a gateway that goes offline and a broker that drops show a banner, mark the data stale, and recover by themselves', async (t) => {
  const site = new Site();
  t.after(() => site.stop());
  await site.startBroker();
  await site.startGateway();
  const browser = await site.browser();
  const { page } = await openPage(browser, site.url);
  await waitFor('gateway online', async () => (await page.textContent('#gateway')) === 'gateway online');
  assert.equal(await page.isHidden('#banner'), true);

  site.gateway.kill('SIGKILL');  // the broker publishes the will: online false
  await waitFor('offline banner', async () => /gateway gw-hmi is offline/.test(await page.textContent('#banner')), 30000);
  assert.equal(await page.evaluate(() => document.body.classList.contains('stale')), true);
  assert.match(await page.textContent('#site'), /\(stale\)/);
  await shot(page, 'gateway-offline.png');
  await site.startGateway();
  await waitFor('banner gone', async () => page.isHidden('#banner'), 20000);

  site.stopBroker();
  await waitFor('disconnected banner', async () => /stale since/.test(await page.textContent('#banner')), 20000);
  assert.match(await page.textContent('#broker'), /DISCONNECTED|connecting/);
  await site.startBroker();
  await waitFor('reconnected', async () => (await page.textContent('#broker')) === 'broker connected', 30000);
});

test('a broker that refuses the login says so', async (t) => {
  const site = new Site();
  t.after(() => site.stop());
  const { execFileSync } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const passwd = path.join(site.dir, 'passwd');
  execFileSync('mosquitto_passwd', ['-c', '-b', passwd, 'viewer', 'right']);
  execFileSync('mosquitto_passwd', ['-b', passwd, 'gw', 'gwpw']);
  execFileSync('chmod', ['644', passwd]);
  await site.startBroker(`allow_anonymous false\npassword_file ${passwd}\n`);
  const creds = path.join(site.dir, 'credentials');
  writeFileSync(creds, 'gw\ngwpw\n', { mode: 0o600 });
  await site.startGateway(`[broker]\ncredentials_file = "${creds}"\n`);
  const browser = await site.browser();
  const { page } = await openPage(browser, site.url, { username: 'viewer', password: 'wrong' });
  await waitFor('refused banner', async () => /refused the login/.test(await page.textContent('#banner')), 20000);
  await waitFor('login asked again', async () => page.isVisible('#login'));
});

test('scale: 2,500 racks on the floor, and 100 incident events per second', async (t) => {
  const site = new Site();
  t.after(() => site.stop());
  await site.startBroker('max_queued_messages 0\n');
  await site.startGateway();
  const client = await site.client();
  t.after(() => client.end(true));
  // A site of 100,000 servers in 2,500 racks, as its retained rack health and 1,000 open incident records.
  const racks = [];
  for (let i = 1; i <= 2500; i++) racks.push(`r${String(i).padStart(4, '0')}`);
  const publish = (topic, payload, qos = 1) => new Promise((res) => client.publish(topic, payload, { qos, retain: true }, res));
  const record = (rack, server, n) => JSON.stringify({ id: `server:${server}:thermal:${n}.1`, level: 'server', subject: server,
    rack, datacenter: 'dc1', kind: 'thermal', severity: n % 3 ? 'warning' : 'critical', state: 'open', opened_at: Date.now() / 1000,
    at: Date.now() / 1000, summary: `temp_c high on ${server}`, flapping: false, silenced_by: [] });
  await Promise.all(racks.map((r, i) => publish(`dctwin/health/rack/${r}`,
    JSON.stringify({ status: i % 50 ? 'ok' : 'critical', open: [], updated_at: Date.now() / 1000, rack: r, servers: 40, by_kind: {} }))));
  await Promise.all(Array.from({ length: 1000 }, (_, n) => {
    const rack = racks[(n * 7) % racks.length];
    return publish(`dctwin/incidents/server/${rack}-s${n % 40}/thermal`, record(rack, `${rack}-s${n % 40}`, n));
  }));

  const browser = await site.browser();
  const { page, started } = await openPage(browser, site.url);
  await page.waitForFunction(() => document.querySelectorAll('.rack').length === 2500, null, { timeout: 30000 });
  const floorMs = Date.now() - started;
  await page.waitForFunction(() => document.querySelectorAll('#incident-rows tr').length > 0);

  // 100 incident events per second for 5 s (opens and resolves), while a person clicks racks.
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.longTasks.push(e.duration); }).observe({ entryTypes: ['longtask'] });
  });
  let sent = 0;
  const t0 = Date.now();
  const clicks = [];
  const pump = (async () => {
    while (Date.now() - t0 < 5000) {
      const batch = [];
      for (let k = 0; k < 10; k++, sent++) {
        const rack = racks[(sent * 13) % racks.length];
        const topic = `dctwin/incidents/server/${rack}-x${sent % 5}/thermal`;
        batch.push(sent % 2 ? publish(topic, '', 0) : publish(topic, record(rack, `${rack}-x${sent % 5}`, 100000 + sent), 0));
      }
      await Promise.all(batch);
      const wait = t0 + (sent / 100) * 1000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  for (let i = 0; i < 5; i++) {
    const rack = racks[100 + i * 37];
    const c0 = Date.now();
    await page.click(`[data-rack=${rack}]`);
    await page.waitForFunction((r) => document.querySelector('#detail h2')?.textContent.includes(r), rack);
    clicks.push(Date.now() - c0);
    await new Promise((r) => setTimeout(r, 500));
  }
  await pump;
  const longTasks = await page.evaluate(() => window.longTasks);
  const worst = longTasks.length ? Math.max(...longTasks) : 0;
  const rate = sent / ((Date.now() - t0) / 1000);
  console.log(`HMI scale: floor of 2,500 racks drawn ${floorMs} ms after opening; ${sent} incident events at ${rate.toFixed(0)}/s; ` +
    `click-to-rack-view ${Math.min(...clicks)}-${Math.max(...clicks)} ms; long tasks ${longTasks.length}, worst ${worst.toFixed(0)} ms`);
  await shot(page, 'floor-2500-racks.png');
  assert.ok(floorMs < 10000, `floor drawn in ${floorMs} ms`);
  assert.ok(Math.max(...clicks) < 5000, `clicks answered in ${clicks} ms`);
});

test('what happened: the report sorts, the site, rack and server timelines show bars and marks, the charts cover 15 minutes, 2 days and 60 days', async (t) => {
  const site = new Site();
  t.after(() => site.stop());
  await site.startBroker();
  // Samples (and the rollups written with them) go to the database within a second, not 30 s.
  await site.startGateway('[state]\nsample_flush_s = 1\n');
  const client = await site.client();
  t.after(() => client.end(true));
  const publish = (topic, payload, retain = false) => new Promise((res) => client.publish(topic, payload, { qos: 1, retain }, res));
  // Retained, as a provisioning service should: the gateway may not have subscribed yet.
  for (const [server, rack] of [['h1', 'r1'], ['h2', 'r2'], ['h3', 'r2']]) {
    await publish(`dctwin/provisioning/${server}`, JSON.stringify({ action: 'commission', rack }), true);
  }
  const browser = await site.browser();
  const { page } = await openPage(browser, site.url);
  await waitFor('gateway online', async () => (await page.textContent('#gateway')) === 'gateway online');
  // The page's own request/response (20 s for an answer: a busy machine is slow, not wrong).
  const request = (what, body) => page.evaluate(([w, b]) => window.dctwin.connection.request(w, b, 20000), [what, body]);
  const recordOf = (topic) => page.evaluate((tp) => window.dctwin.store.incidents.get(tp) || null, topic);

  // h2 hot first (it stays open); h1: six minutes of reports ten seconds apart, then hot,
  // acknowledged, and cool again.
  await waitFor('h1..h3 commissioned', async () => (await request('query/server/h3', {})).found === true);
  for (let i = 0; i < 3; i++) await publish('dctwin/metrics/h2', JSON.stringify({ temp_c: 92, fan_rpm: 1500 }));
  await waitFor('h2 thermal open', async () => recordOf('dctwin/incidents/server/h2/thermal'));
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 36; i++) {
    await publish('dctwin/metrics/h1', JSON.stringify({ ts: now - 360 + 10 * i, temp_c: 40 + (i % 5), fan_rpm: 1200 + i }));
  }
  for (let i = 0; i < 3; i++) await publish('dctwin/metrics/h1', JSON.stringify({ temp_c: 91 }));
  const opened = await waitFor('h1 thermal open', async () => recordOf('dctwin/incidents/server/h1/thermal'));
  const ack = await request('command/ack', { incident: opened.id, by: 'nightshift', comment: 'fan swap' });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  const silence = await request('command/silence', { matchers: { rack: 'r1' }, duration_s: 600, maintenance: true,
    created_by: 'nightshift', comment: 'fan swap' });
  assert.equal(silence.ok, true, JSON.stringify(silence));
  for (let i = 0; i < 3; i++) await publish('dctwin/metrics/h1', JSON.stringify({ temp_c: 50 }));
  await waitFor('h1 resolved', async () => (await recordOf('dctwin/incidents/server/h1/thermal')) === null);

  // The report by server, least available first; a click on a column sorts by it.
  await page.click('[data-testid=tab-report]');
  await page.selectOption('[data-testid=report-by]', 'server');
  const order = () => page.$$eval('table.report tbody tr', (rows) => rows.map((r) => r.dataset.subject));
  await waitFor('three servers in the report', async () => (await order()).length === 3, 30000);
  assert.deepEqual(await order(), ['h2', 'h1', 'h3']);
  assert.match(await page.textContent('table.report tr[data-subject=h3] td[data-col=availability]'), /^100\.000 %$/);
  // (h1's jump from 40 to 91 may also be a short anomaly.)
  assert.match(await page.textContent('table.report tr[data-subject=h1] td[data-col=by_kind]'), /thermal 1/);
  assert.match(await page.textContent('table.report tr[data-subject=h2] td[data-col=incidents]'), /^1$/);
  assert.notEqual(await page.textContent('table.report tr[data-subject=h1] td[data-col=mtta_s]'), '–');
  await page.click('table.report th[data-sort=availability]');
  assert.deepEqual(await order(), ['h3', 'h1', 'h2']);
  await page.click('table.report th[data-sort=subject]');
  assert.deepEqual(await order(), ['h1', 'h2', 'h3']);
  assert.equal(await page.getAttribute('table.report th[data-sort=subject]', 'aria-sort'), 'ascending');
  await shot(page, 'report.png');

  // The site's timeline: a lane per rack, h1's bar with its acknowledgement, h2's still open,
  // the maintenance of r1 in the first lane.
  await page.click('[data-testid=tab-site-timeline]');
  const siteSvg = '[data-testid=site-timeline-svg]';
  await waitFor('site timeline', async () => (await page.locator(`${siteSvg} rect.bar[data-kind=thermal]`).count()) === 2, 30000);
  assert.equal(await page.locator(`${siteSvg} rect.bar[data-incident="${opened.id}"]`).count(), 1);
  assert.match(await page.getAttribute(`${siteSvg} rect.bar[data-incident^="server:h2:thermal"]`, 'class'), /open/);
  assert.doesNotMatch(await page.getAttribute(`${siteSvg} rect.bar[data-incident="${opened.id}"]`, 'class'), /open/);
  assert.equal(await page.locator(`${siteSvg} [data-mark=ack][data-incident="${opened.id}"]`).count(), 1);
  assert.equal(await page.locator(`${siteSvg} [data-mark=maintenance]`).count(), 1);
  assert.deepEqual(await page.$$eval(`${siteSvg} text.lane-name`, (l) => l.map((x) => x.textContent)), ['silences, changes', 'r1', 'r2']);
  assert.ok((await page.locator(`${siteSvg} text.tick.time`).count()) >= 3, 'time axis ticks');
  await shot(page, 'site-timeline.png');

  // The rack's timeline: one lane per server that had something.
  await page.click('[data-rack=r2]');
  const rackSvg = '[data-testid=rack-timeline-svg]';
  await waitFor('rack timeline', async () => (await page.locator(`${rackSvg} rect.bar`).count()) === 1, 30000);
  assert.deepEqual(await page.$$eval(`${rackSvg} text.lane-name`, (l) => l.map((x) => x.textContent)), ['silences, changes', 'h2']);

  // h1's view: its timeline, and its charts over the three ranges.
  await page.click('[data-rack=r1]');
  await waitFor('rack r1 view', async () => (await page.locator('[data-server=h1]').count()) === 1);
  await page.click('[data-server=h1]');
  const serverSvg = '[data-testid=server-timeline-svg]';
  await waitFor('server timeline', async () => (await page.locator(`${serverSvg} rect.bar[data-incident="${opened.id}"]`).count()) === 1, 30000);
  assert.equal(await page.locator(`${serverSvg} [data-mark=ack]`).count(), 1);
  const chart = (kind) => `svg.chart[data-metric=temp_c][data-kind=${kind}]`;
  await waitFor('the window chart', async () => (await page.locator(chart('window')).count()) === 1, 30000);
  const windowPoints = (await page.getAttribute(`${chart('window')} polyline.line`, 'points')).split(' ').length;
  assert.ok(windowPoints >= 36, `the window's points: ${windowPoints}`);
  assert.equal(await page.textContent(`${chart('window')} text.unit`), '°C');
  assert.ok((await page.locator(`${chart('window')} text.tick.time`).count()) >= 3);
  assert.ok((await page.locator(`${chart('window')} text.tick.value`).count()) >= 2);
  assert.equal(await page.textContent('svg.chart[data-metric=fan_rpm] text.unit'), 'rpm');
  await shot(page, 'server-charts-15m.png');
  // 1-minute rollups: the five closed minutes of the six, each a point of the mean in a min..max band.
  await waitFor('the 2-day chart', async () => {
    await page.click('button[data-range="2d"]');
    await waitFor('an answer', async () => !/loading/.test(await page.textContent('[data-testid=charts]')), 10000);
    // (A change of h1's health draws the view again: both are read from one drawing.)
    const drawn = await page.$eval(chart('rollup'), (svg) => ({ points: svg.querySelector('polyline.line')?.getAttribute('points'),
      bands: svg.querySelectorAll('polygon.band').length })).catch(() => null);
    return drawn && drawn.points && drawn.points.split(' ').length >= 5 && drawn.bands === 1;
  }, 60000, 2000);
  await shot(page, 'server-charts-2d.png');

  // 1-hour rollups: a stop hands over the hour it was in; after the restart the 60-day chart has it.
  site.gateway.kill('SIGTERM');
  await site.gateway.closed;
  await site.startGateway();
  await waitFor('gateway online again', async () => (await page.textContent('#gateway')) === 'gateway online', 30000);
  await waitFor('the 60-day chart', async () => {
    await page.click('button[data-range="60d"]');
    await waitFor('an answer', async () => !/loading/.test(await page.textContent('[data-testid=charts]')), 10000);
    return (await page.locator(`${chart('rollup')} .line, ${chart('rollup')} .dot`).count()) >= 1;
  }, 60000, 1000);
  assert.match(await page.textContent(`${chart('rollup')}`), /[A-Z][a-z]{2} \d+/, 'the 60-day axis names days');
  await shot(page, 'server-charts-60d.png');
});

test('foresight: an open forecast draws its crossing with its band on the metric chart, a change marks its step', async (t) => {
  const site = new Site();
  t.after(() => site.stop());
  await site.startBroker();
  await site.startGateway('[state]\nsample_flush_s = 1\n' +
    '[[rules]]\nkind = "disk_full"\nmetric = "df-*/percent_bytes-used"\nthreshold = 95\nforecast_s = 14400\n' +
    '[[rules]]\nmetric = "inlet_temp"\nchange = "up"\n',
  // Eight hours of reports are sent in seconds: no per-server rate limit.
  'max_messages_per_s = 0\n');
  const client = await site.client();
  t.after(() => client.end(true));
  const publish = (topic, payload, retain = false) => new Promise((res) => client.publish(topic, payload, { qos: 1, retain }, res));
  await publish('dctwin/provisioning/f1', JSON.stringify({ action: 'commission', rack: 'r1' }), true);
  const browser = await site.browser();
  const { page } = await openPage(browser, site.url);
  await waitFor('gateway online', async () => (await page.textContent('#gateway')) === 'gateway online');
  const request = (what, body) => page.evaluate(([w, b]) => window.dctwin.connection.request(w, b, 20000), [what, body]);
  await waitFor('f1 commissioned', async () => (await request('query/server/f1', {})).found === true);
  // Eight hours, a report a minute: the disk fills at 2 % an hour from 75 % (95 % two hours after the end), the
  // inlet temperature steps from 24 to 28 ten minutes before the end.
  const t0 = Math.floor(Date.now() / 1000) - 8 * 3600;
  for (let i = 0; i < 480; i++) {
    const ts = t0 + 60 * i;
    await publish('dctwin/metrics/f1', JSON.stringify({ ts, 'df-root/percent_bytes-used': 75 + (2 * 60 * i) / 3600,
      inlet_temp: (i < 470 ? 24 : 28) + 0.3 * Math.sin(1.7 * i) }));
  }
  await waitFor('the forecast and the change open', async () => {
    const a = await request('query/server/f1', {});
    return (a.open || []).length >= 2;
  }, 30000);
  await page.click('[data-rack=r1]');
  await waitFor('rack r1 view', async () => (await page.locator('[data-server=f1]').count()) === 1);
  await page.click('[data-server=f1]');
  const disk = 'svg.chart[data-metric="df-root/percent_bytes-used"]';
  const inlet = 'svg.chart[data-metric=inlet_temp]';
  await waitFor('the window charts', async () => (await page.locator(`${disk}[data-kind=window]`).count()) === 1, 30000);
  // The window (15 minutes) shows the threshold and the projection towards it, pointing past its edge.
  const forecast = `${disk} [data-testid=forecast]`;
  await waitFor('the forecast on the chart', async () => (await page.locator(forecast).count()) === 1, 10000);
  assert.equal(await page.locator(`${forecast} polygon.cone`).count(), 1);
  assert.equal(await page.locator(`${forecast} line.projection`).count(), 1);
  assert.match(await page.textContent(`${forecast} text.forecast-label`), /^> 95 in ~\d\.\d h →$/);
  const eta = Number(await page.getAttribute(forecast, 'data-eta'));
  assert.ok(eta > 0 && eta < 14400, `eta ${eta}`);
  // The step is marked where it happened, with the levels on both sides.
  await waitFor('the change on the chart', async () => (await page.locator(`${inlet} [data-testid=change]`).count()) === 1, 10000);
  assert.match(await page.textContent(`${inlet} text.change-label`), /^step up 2[34]\.\d* → 2[78]\.\d*$|^step up 24 → 28$/);
  await shot(page, 'server-forecast-15m.png');
  // On the 2-day range the time axis reaches the crossing: the cone ends on the chart.
  await waitFor('the 2-day chart with the crossing', async () => {
    await page.click('button[data-range="2d"]');
    await waitFor('an answer', async () => !/loading/.test(await page.textContent('[data-testid=charts]')), 10000);
    return (await page.locator(`${disk}[data-kind=rollup] [data-testid=forecast] circle.crossing`).count()) === 1;
  }, 60000, 2000);
  await shot(page, 'server-forecast-2d.png');
});

test('control: the server view shows desired and reported state, an operator changes a key with a preview of the interlocks, drained servers are marked', async (t) => {
  const site = new Site();
  t.after(() => site.stop());
  await site.startBroker();
  await site.startGateway('[control]\nmax_drained_per_rack = 0.25\nack_timeout_s = 600\n' +
    '[[control.keys]]\nname = "power_cap_w"\ntype = "number"\nmin = 100\nmax = 1000\n' +
    '[[control.keys]]\nname = "drain"\ntype = "bool"\n');
  const client = await site.client();
  t.after(() => client.end(true));
  const publish = (topic, payload, retain = false) => new Promise((res) => client.publish(topic, payload, { qos: 1, retain }, res));
  for (const s of ['c1', 'c2', 'c3', 'c4']) {
    await publish(`dctwin/provisioning/${s}`, JSON.stringify({ action: 'commission', rack: 'rc' }), true);
    await publish(`dctwin/metrics/${s}`, JSON.stringify({ temp_c: 30 }));
  }
  const browser = await site.browser();
  const { page } = await openPage(browser, site.url);
  await waitFor('gateway online', async () => (await page.textContent('#gateway')) === 'gateway online');
  const request = (what, body) => page.evaluate(([w, b]) => window.dctwin.connection.request(w, b, 10000), [what, body]);
  await waitFor('c4 commissioned', async () => (await request('query/twin/c4', {})).server === 'c4');

  // c1 is drained (by someone else) and says so.
  assert.equal((await request('command/desired', { server: 'c1', set: { drain: true }, by: 'bob' })).ok, true);
  await publish('dctwin/reported/c1', JSON.stringify({ version: 1, reported: { drain: true }, ac: 200 }));
  await waitFor('c1 in sync', async () => (await request('query/twin/c1', {})).state === 'in_sync');

  // The rack view marks it drained and counts the drains.
  await waitFor('rack rc on the floor', async () => (await page.locator('[data-rack=rc]').count()) === 1, 20000);
  await page.click('[data-rack=rc]');
  await waitFor('rack view', async () => (await page.locator('[data-testid=rack-servers] .server').count()) === 4);
  assert.match(await page.getAttribute('[data-server=c1]', 'class'), /\bdrained\b/);
  assert.doesNotMatch(await page.getAttribute('[data-server=c2]', 'class'), /\bdrained\b/);
  assert.match(await page.textContent('[data-testid=rack-drained]'), /1 drained \(at most 1\)/);

  // c2's server view: no desired state yet; draining it too is previewed as refused by the rack interlock.
  await page.click('[data-server=c2]');
  await waitFor('the desired state section', async () => /version 0/.test(await page.textContent('[data-testid=control-state]')));
  await page.click('button[data-action=control]');
  await page.selectOption('[data-testid=control-key]', 'drain');
  await page.fill('[data-testid=control-value]', 'true');
  await waitFor('preview refused', async () =>
    /would be refused: interlock max_drained_per_rack: 2 of the 4 servers of rack rc/.test(await page.textContent('[data-testid=control-preview]')));
  await shot(page, 'control-refused-preview.png');
  // A power cap passes, and the preview says what would happen.
  await page.selectOption('[data-testid=control-key]', 'power_cap_w');
  await page.fill('[data-testid=control-value]', '350');
  await page.fill('#control-form input[name=comment]', 'feed A-12 is hot');
  await waitFor('preview accepted', async () =>
    /would change 1 server\(s\)c2 → version 1rack rc: 1 of 4 drained \(at most 1\)/.test(await page.textContent('[data-testid=control-preview]')));
  await shot(page, 'control-dialog.png');
  await page.click('[data-testid=control-confirm]');
  // Committed: the twin and the page say so, pending until the server reports.
  await waitFor('the change in the twin', async () => (await request('query/twin/c2', {})).version === 1);
  const twin = await request('query/twin/c2', {});
  assert.deepEqual(twin.desired, { power_cap_w: 350 });
  assert.equal(twin.by, 'hmi');  // the page's user (no broker login here)
  assert.equal(twin.comment, 'feed A-12 is hot');
  await waitFor('pending in the page', async () =>
    (await page.locator('[data-testid=server-control] tr[data-key=power_cap_w] td.pending').count()) === 1);
  await publish('dctwin/reported/c2', JSON.stringify({ version: 1, reported: { power_cap_w: 350 }, ac: 200 }));
  // The server view follows the twin's retained topic: the report shows without a reload.
  await waitFor('in sync in the page', async () => /^in_sync, version 1 \(reported 1\)/.test(await page.textContent('[data-testid=control-state]')));
  assert.match(await page.textContent('[data-testid=server-control] tr[data-key=power_cap_w]'), /power_cap_w350350in sync/);
  await shot(page, 'server-control.png');
});

test('topology: 2,500 racks drawn by row and position with aisles, a feed trip highlights the feed\'s racks and opens its view', async (t) => {
  const site = new Site();
  t.after(() => site.stop());
  await site.startBroker();
  // 50 rows of 50 racks; each row on its own feed, five rows per cooling unit, a switch per two racks.
  const racks = [];
  const pad = (n) => String(n).padStart(2, '0');
  for (let row = 1; row <= 50; row++) {
    for (let pos = 50; pos >= 1; pos--) {  // listed out of order: the page sorts by position
      racks.push({ name: `r${pad(row)}-${pad(pos)}`, row, position: pos, feeds: [`A-${pad(row)}`],
        cooling: `crah-${Math.ceil(row / 5)}`, tor: `sw-${pad(row)}-${Math.ceil(pos / 2)}` });
    }
  }
  const servers = [];
  for (const rack of ['r07-01', 'r07-02']) for (let s = 1; s <= 3; s++) servers.push({ name: `${rack}-s${s}`, rack });
  const inventory = path.join(site.dir, 'inventory.json');
  writeFileSync(inventory, JSON.stringify({ racks, servers }));
  await site.startGateway('[group]\nmin_racks = 2\nmin_servers = 5\n', '', `inventory = "${inventory}"\n`);
  const client = await site.client();
  t.after(() => client.end(true));

  const browser = await site.browser();
  const { page, started, signedIn } = await openPage(browser, site.url);
  await page.waitForFunction(() => document.querySelectorAll('.floor-row .rack').length === 2500, null, { timeout: 30000 });
  const floorMs = Date.now() - signedIn;
  const openedMs = Date.now() - started;
  // One line per row, in order, an aisle between rows, and the racks of a row by position.
  assert.equal(await page.locator('.floor-row').count(), 50);
  assert.equal(await page.locator('.aisle').count(), 49);
  const firstRow = await page.$$eval('.floor-row[data-row="1"] .rack', (e) => e.map((x) => x.dataset.rack));
  assert.deepEqual(firstRow.slice(0, 3), ['r01-01', 'r01-02', 'r01-03']);
  assert.equal(firstRow.length, 50);
  assert.match(await page.getAttribute('[data-rack="r20-20"]', 'class'), /\bempty\b/, 'a rack with no servers');

  // Feed A-07 trips: the six servers on it lose their supply voltage.
  const publish = (topic, payload) => new Promise((res) => client.publish(topic, payload, { qos: 1 }, res));
  for (let i = 0; i < 3; i++) for (const s of servers) await publish(`dctwin/metrics/${s.name}`, JSON.stringify({ psu_volts: 10.1 }));
  await page.waitForSelector('.group-chip[data-group="feed:A-07"]', { timeout: 20000 });
  // From the click to the next frame drawn with the feed's racks highlighted, as the page sees it.
  const highlightMs = await page.evaluate(() => new Promise((resolve) => {
    const t = performance.now();
    document.querySelector('.group-chip[data-group="feed:A-07"]').click();
    requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t)));
  }));
  assert.equal(await page.locator('.rack.in-group').count(), 50);
  const lit = await page.$$eval('.rack.in-group', (e) => e.map((x) => x.dataset.rack));
  assert.ok(lit.every((r) => r.startsWith('r07-')), `highlighted: ${lit.slice(0, 5)}`);
  await waitFor('the feed\'s view', async () => /Power feed A-07/.test(await page.textContent('[data-testid=group-title]')));
  assert.match(await page.textContent('[data-testid=group-incident]'), /power \(critical\)/);
  assert.equal(await page.locator('[data-testid=group-racks] [data-group-rack]').count(), 50);
  await waitFor('the feed\'s incident listed', async () => /feed:A-07/.test(await page.textContent('[data-testid=incidents]')));
  await shot(page, 'floor-feed-trip.png');

  // Any group from the list: a cooling unit's five rows.
  await page.selectOption('[data-testid=group-select]', 'cooling:crah-2');
  await page.waitForFunction(() => document.querySelectorAll('.rack.in-group').length === 250);
  console.log(`HMI topology: floor of 2,500 racks by row and position drawn ${floorMs} ms after signing in ` +
    `(${openedMs} ms after opening the page); a click on feed A-07 highlighted its 50 racks in the frame ` +
    `${highlightMs.toFixed(0)} ms after it`);
  assert.ok(floorMs < 10000, `floor drawn in ${floorMs} ms`);
  assert.ok(highlightMs < 5000, `highlighted in ${highlightMs} ms`);
});
