// The operators' page in a real browser (Debian's chromium, playwright-core), against a real
// mosquitto with a WebSocket listener, the real gateway and dctwin-sim: what a person would see.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
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
