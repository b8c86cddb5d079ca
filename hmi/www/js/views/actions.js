// Actions: acknowledge an incident, silence (with a preview of the open incidents the silence
// would mute now), maintenance, and a change of a server's or a rack's desired state (with a
// preview of the interlocks: the gateway's dry run), through the gateway's MQTT 5 commands.
import { el, silenceMatches } from '../store.js';

export class Actions {
  constructor(store, connection, user, notify, controlKeys = []) {
    this.controlKeys = controlKeys;
    this.controlDialog = document.getElementById('control-dialog');
    this.controlForm = document.getElementById('control-form');
    this.controlPreview = document.getElementById('control-preview');
    this.controlForm.addEventListener('input', () => this.previewControl());
    this.controlForm.key.addEventListener('change', () => this.fillValues());
    this.store = store;
    this.connection = connection;
    this.user = user || 'hmi';
    this.notify = notify;
    this.ackDialog = document.getElementById('ack-dialog');
    this.ackForm = document.getElementById('ack-form');
    this.silenceDialog = document.getElementById('silence-dialog');
    this.silenceForm = document.getElementById('silence-form');
    this.preview = document.getElementById('silence-preview');
    this.silenceForm.addEventListener('input', () => this.showPreview());
  }

  ack(record) {
    document.getElementById('ack-what').textContent = `${record.kind} on ${record.level} ${record.subject} (${record.id})`;
    this.ackForm.comment.value = '';
    this.ackDialog.returnValue = '';
    this.ackDialog.onclose = async () => {
      if (this.ackDialog.returnValue !== 'ok') return;
      try {
        const a = await this.connection.request('command/ack', { incident: record.id, by: this.user, comment: this.ackForm.comment.value });
        this.notify(a.ok ? `acknowledged ${record.id}` : `not acknowledged: ${a.error}`, !a.ok);
      } catch (e) { this.notify(e.message, true); }
    };
    this.ackDialog.showModal();
  }

  matchers() {
    const m = {};
    for (const key of ['server', 'rack', 'kind', 'severity']) {
      const v = this.silenceForm[key].value.trim();
      if (v) m[key] = v;
    }
    return m;
  }

  showPreview() {
    const m = this.matchers();
    if (!Object.keys(m).length) { this.preview.textContent = 'give at least one matcher'; return; }
    const hits = [...this.store.incidents.values()].filter((r) => silenceMatches(m, r));
    this.preview.replaceChildren(el('b', {}, `would mute ${hits.length} open incident(s) now`),
      ...hits.slice(0, 50).map((r) => el('div', { class: 'mono' }, `${r.severity} ${r.level} ${r.subject} ${r.kind}`)));
  }

  silence(prefill = {}, maintenance = false) {
    for (const key of ['server', 'rack', 'kind', 'severity']) this.silenceForm[key].value = prefill[key] || '';
    this.silenceForm.comment.value = '';
    this.silenceForm.maintenance.checked = maintenance;
    this.showPreview();
    this.silenceDialog.returnValue = '';
    this.silenceDialog.onclose = async () => {
      if (this.silenceDialog.returnValue !== 'ok') return;
      const body = { matchers: this.matchers(), duration_s: Number(this.silenceForm.duration.value), created_by: this.user,
        comment: this.silenceForm.comment.value, maintenance: this.silenceForm.maintenance.checked };
      try {
        const a = await this.connection.request('command/silence', body);
        this.notify(a.ok ? `silence ${a.id}: mutes ${a.matches.length} open incident(s)` : `not silenced: ${a.error}`, !a.ok);
      } catch (e) { this.notify(e.message, true); }
    };
    this.silenceDialog.showModal();
  }

  // The value typed for the chosen key, as JSON: a number, true/false or text; null removes it.
  controlValue() {
    const key = this.controlKeys.find((k) => k.name === this.controlForm.key.value);
    const text = this.controlForm.value.value.trim();
    if (text === '') return null;
    if (key?.type === 'number') return Number(text);
    if (key?.type === 'bool') return text === 'true' ? true : text === 'false' ? false : text;
    return text;
  }

  controlBody(dryRun) {
    const body = { ...this.controlTarget, set: { [this.controlForm.key.value]: this.controlValue() }, by: this.user,
      comment: this.controlForm.comment.value };
    if (dryRun) body.dry_run = true;
    return body;
  }

  fillValues() {
    const key = this.controlKeys.find((k) => k.name === this.controlForm.key.value);
    const values = key?.type === 'bool' ? ['true', 'false'] : key?.values || [];
    document.getElementById('control-values').replaceChildren(...values.map((v) => el('option', { value: v })));
    this.controlForm.value.placeholder = key?.type === 'number'
      ? `a number${key.min !== undefined ? ` from ${key.min}` : ''}${key.max !== undefined ? ` to ${key.max}` : ''}; empty: remove`
      : values.length ? `${values.join(', ')}; empty: remove` : 'text; empty: remove';
    this.previewControl();
  }

  // What the interlocks say, asked of the gateway as a dry run (the newest answer wins).
  async previewControl() {
    const asked = (this.previewSeq = (this.previewSeq || 0) + 1);
    this.controlPreview.textContent = 'checking…';
    let a;
    try {
      a = await this.connection.request('command/desired', this.controlBody(true));
    } catch (e) {
      a = { ok: false, error: e.message };
    }
    if (asked !== this.previewSeq) return;
    if (!a.ok) {
      this.controlPreview.replaceChildren(el('b', {}, 'would be refused: '), a.error);
      return;
    }
    const i = a.interlocks || {};
    this.controlPreview.replaceChildren(
      el('b', {}, `would change ${a.servers.length} server(s)`),
      el('div', {}, a.servers.map((s) => `${s.server} → version ${s.version}`).join(', ')),
      el('div', { class: 'muted' }, `rack ${i.rack}: ${i.rack_drained} of ${i.rack_servers} drained (at most ${i.rack_drained_allowed}); ` +
        `site: ${i.site_drained} of ${i.site_servers} (at most ${i.site_drained_allowed})`));
  }

  // target: { server } or { rack }; after: called once the change is answered.
  control(target, after) {
    if (!this.controlKeys.length) {
      this.notify('no control keys are configured ([[control.keys]] in the gateway\'s config)', true);
      return;
    }
    this.controlTarget = target;
    document.getElementById('control-what').textContent = target.server ? `server ${target.server}` : `every server of rack ${target.rack}`;
    this.controlForm.key.replaceChildren(...this.controlKeys.map((k) => el('option', { value: k.name }, k.name)));
    this.controlForm.value.value = '';
    this.controlForm.comment.value = '';
    this.fillValues();
    this.controlDialog.returnValue = '';
    this.controlDialog.onclose = async () => {
      if (this.controlDialog.returnValue !== 'ok') return;
      try {
        const a = await this.connection.request('command/desired', this.controlBody(false));
        this.notify(a.ok ? `desired state changed: ${a.servers.map((s) => `${s.server} v${s.version}`).join(', ')}`
          : `not changed: ${a.error}`, !a.ok);
        if (after) after();
      } catch (e) { this.notify(e.message, true); }
    };
    this.controlDialog.showModal();
  }
}
