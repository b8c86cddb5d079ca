// Browser-test harness: a real mosquitto with a WebSocket listener on free loopback ports, the
// real gateway serving the page, Debian's chromium driven by playwright-core, and an MQTT.js
// client for the test's own publishing. Everything stops by itself.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, rmSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const hmiDir = process.env.DCTWIN_HMI_SOURCE || path.resolve(import.meta.dirname, '../../hmi');
const require = createRequire(path.join(hmiDir, 'package.json'));
export const { chromium } = require('playwright-core');
export const mqtt = require('mqtt');

export const GATEWAY = process.env.DCTWIN_GATEWAY_BINARY;
export const SIM = process.env.DCTWIN_SIM_BINARY;

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export async function waitFor(what, fn, timeoutMs = 15000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

function portAccepts(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

function shippedBrokerLimits() {
  const shipped = readFileSync(path.resolve(import.meta.dirname, '../../config/mosquitto/dctwin.conf'), 'utf8');
  const keys = ['set_tcp_nodelay ', 'max_queued_messages ', 'max_queued_bytes ', 'max_inflight_messages ',
    'queue_qos0_messages ', 'sys_interval '];
  return shipped.split('\n').filter((l) => keys.some((k) => l.startsWith(k))).map((l) => l + '\n').join('');
}

export class Site {
  constructor() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'dctwin-hmi-'));
    chmodSync(this.dir, 0o755);
    this.children = [];
  }

  async startBroker(extra = '') {
    this.mqttPort ??= await freePort();
    this.wsPort ??= await freePort();
    const conf = path.join(this.dir, 'mosquitto.conf');
    // The shipped broker's limits (config/mosquitto/dctwin.conf), as a site runs it; `extra` may
    // override them.
    writeFileSync(conf, `per_listener_settings false\nlistener ${this.mqttPort} 127.0.0.1\nlistener ${this.wsPort} 127.0.0.1\n` +
      `protocol websockets\nallow_anonymous true\npersistence false\n${shippedBrokerLimits()}${extra}`);
    this.broker = this.spawn('mosquitto', ['-c', conf], 'mosquitto.log');
    await waitFor('mosquitto', () => portAccepts(this.mqttPort));
    await waitFor('mosquitto websockets', () => portAccepts(this.wsPort));
  }

  stopBroker() {
    if (this.broker) { this.broker.kill('SIGTERM'); this.broker = null; }
  }

  // `extraConfig` goes at the end of the file; `modelExtra`: more keys of its [model] table;
  // `gatewayExtra`: of its [gateway] table.
  async startGateway(extraConfig = '', modelExtra = '', gatewayExtra = '') {
    this.httpPort ??= await freePort();
    const conf = path.join(this.dir, 'dctwin.toml');
    writeFileSync(conf, `[gateway]\nstats_interval_s = 1\n${gatewayExtra}[metrics]\nlisten = "127.0.0.1:${this.httpPort}"\n` +
      `[hmi]\nbroker_ws_url = "ws://127.0.0.1:${this.wsPort}"\n[model]\nheartbeat_timeout_s = 3600\n${modelExtra}${extraConfig}`);
    this.gateway = this.spawn(GATEWAY, ['--config', conf, '--broker', `tcp://127.0.0.1:${this.mqttPort}`,
      '--state', path.join(this.dir, 'state.db'), '--gateway-id', 'gw-hmi'], 'gateway.log');
    await waitFor('the page at /', async () => (await fetch(`${this.url}config.json`)).ok);
  }

  get url() { return `http://127.0.0.1:${this.httpPort}/`; }

  spawn(cmd, args, log) {
    const out = path.join(this.dir, log);
    writeFileSync(out, '');
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => writeFileSync(out, d, { flag: 'a' }));
    child.stderr.on('data', (d) => writeFileSync(out, d, { flag: 'a' }));
    // Output may still be in the pipes after a kill: stop() waits for this before it removes the
    // directory the log is in.
    child.closed = new Promise((resolve) => child.once('close', resolve));
    this.children.push(child);
    return child;
  }

  log(name) { try { return readFileSync(path.join(this.dir, name), 'utf8'); } catch (e) { return ''; } }

  client() {
    return new Promise((resolve, reject) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${this.mqttPort}`, { protocolVersion: 5 });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
  }

  async browser() {
    this.chrome = await chromium.launch({ executablePath: process.env.DCTWIN_CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    return this.chrome;
  }

  async stop() {
    if (this.chrome) await this.chrome.close().catch(() => {});
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    await Promise.race([Promise.all(this.children.map((c) => c.closed)),
      new Promise((resolve) => setTimeout(resolve, 10000))]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// Opens the page and signs in (the test broker takes anonymous logins: empty fields).
export async function openPage(browser, url, { username = '', password = '' } = {}) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  const started = Date.now();
  await page.goto(url);
  await page.waitForSelector('#login[open]');
  await page.fill('#login input[name=username]', username);
  await page.fill('#login input[name=password]', password);
  const signedIn = Date.now();
  await page.click('#login button[type=submit]');
  return { page, started, signedIn };
}

export function screenshotDir() { return process.env.DCTWIN_HMI_SHOTS || ''; }
