// Connection: one MQTT 5 connection over WebSockets (MQTT.js), its state for the header and the
// banner, and MQTT 5 request/response for queries and commands (replies under P/reply/).
export class Connection extends EventTarget {
  constructor({ url, prefix, username, password }) {
    super();
    this.url = url;
    this.prefix = prefix;
    this.state = 'connecting';  // connecting | connected | refused | down
    this.problem = '';
    this.since = Date.now();
    this.pending = new Map();  // correlation -> { resolve, reject, timer }
    this.replyTopic = `${prefix}/reply/hmi-${Math.random().toString(36).slice(2, 12)}`;
    this.subscriptions = [];
    this.client = window.mqtt.connect(url, {
      protocolVersion: 5,
      clean: true,
      username: username || undefined,
      password: password || undefined,
      reconnectPeriod: 2000,
      connectTimeout: 5000,
      clientId: `dctwin-hmi-${Math.random().toString(36).slice(2, 10)}`,
    });
    this.client.on('connect', () => {
      this.setState('connected', '');
      this.client.subscribe([this.replyTopic, ...this.subscriptions], { qos: 1 });
    });
    this.client.on('reconnect', () => { if (this.state !== 'refused') this.setState('connecting', this.problem); });
    this.client.on('close', () => { if (this.state === 'connected') this.setState('down', 'the connection to the broker dropped; reconnecting'); });
    this.client.on('offline', () => { if (this.state !== 'refused') this.setState('down', 'the broker is unreachable; reconnecting'); });
    this.client.on('error', (err) => {
      const code = err && err.code;
      if (code === 134 || code === 135 || code === 4 || code === 5) {
        this.setState('refused', 'the broker refused the login (' + (err.message || code) + ')');
        this.client.end(true);
      } else {
        this.setState('down', 'broker: ' + (err && err.message ? err.message : String(err)));
      }
    });
    this.client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
  }

  setState(state, problem) {
    if (state !== this.state) this.since = Date.now();
    this.state = state;
    this.problem = problem;
    this.dispatchEvent(new CustomEvent('state'));
  }

  subscribe(filters) {
    this.subscriptions.push(...filters);
    if (this.client.connected) this.client.subscribe(filters, { qos: 1 });
  }

  unsubscribe(filters) {
    this.subscriptions = this.subscriptions.filter((f) => !filters.includes(f));
    if (this.client.connected) this.client.unsubscribe(filters);
  }

  onMessage(topic, payload, packet) {
    if (topic === this.replyTopic) {
      const data = packet.properties && packet.properties.correlationData;
      const id = data ? new TextDecoder().decode(data) : '';
      const waiting = this.pending.get(id);
      if (!waiting) return;
      this.pending.delete(id);
      clearTimeout(waiting.timer);
      try {
        waiting.resolve(JSON.parse(new TextDecoder().decode(payload)));
      } catch (e) {
        waiting.reject(new Error('the gateway answered something that is not JSON'));
      }
      return;
    }
    this.dispatchEvent(new CustomEvent('message', { detail: { topic, text: new TextDecoder().decode(payload) } }));
  }

  // An MQTT 5 request: resolves with the gateway's JSON answer, rejects after `timeoutMs`.
  request(what, body = {}, timeoutMs = 5000) {
    const id = Math.random().toString(36).slice(2) + Date.now().toString(36);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer from the gateway to ${what} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.client.publish(`${this.prefix}/${what}`, JSON.stringify(body), {
        qos: 1,
        properties: { responseTopic: this.replyTopic, correlationData: new TextEncoder().encode(id) },
      });
    });
  }
}
