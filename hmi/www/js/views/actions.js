// Actions: acknowledge an incident, silence (with a preview of the open incidents the silence
// would mute now) and maintenance, through the gateway's MQTT 5 commands.
import { el, silenceMatches } from '../store.js';

export class Actions {
  constructor(store, connection, user, notify) {
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
}
