'use strict';
document.addEventListener('DOMContentLoaded', async () => {
  const { api, el, param, fmtTime, notice, healthBadge, usesText } = Herald;
  if (!(await Herald.init('integrations'))) return;
  const id = param('id');
  const flash = document.getElementById('flash');
  let target = null;
  let nextBefore = null;

  function stateBadge(s) {
    const kind = s === 'sent' ? 'ok' : s === 'failed' ? 'bad' : s === 'retrying' ? 'warn' : '';
    return el('span', { class: 'badge ' + kind }, s);
  }

  function what(d) {
    if (d.event_kind === 'test') return 'Test message';
    if (d.check_type) return 'Check ' + d.check_type;
    if (d.integration) return 'Collection ' + d.integration + (d.collection_status ? ' (' + d.collection_status + ')' : '');
    return d.event_kind || 'event';
  }

  async function loadDeliveries(reset) {
    const tb = document.querySelector('#deliveries tbody');
    if (reset) { tb.replaceChildren(); nextBefore = null; }
    let url = '/api/v1/targets/' + id + '/deliveries?limit=20';
    if (!reset && nextBefore) url += '&before_id=' + nextBefore;
    const res = await api('GET', url);
    if (reset && !res.items.length) tb.append(el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'Nothing delivered yet.')));
    for (const d of res.items) {
      tb.append(el('tr', { 'data-delivery-id': d.id, 'data-state': d.state },
        el('td', {}, fmtTime(d.created_at)), el('td', {}, what(d)), el('td', {}, stateBadge(d.state)),
        el('td', {}, String(d.attempts)),
        el('td', {}, d.state === 'sent' ? el('span', { class: 'small' }, 'ts ', el('code', {}, d.slack_ts || ''), ' in ', el('code', {}, d.slack_channel || ''))
          : d.error ? el('span', { class: 'small' }, d.error + (d.error_code ? ' (' + d.error_code + ')' : '')) : '—')));
    }
    nextBefore = res.next_before_id;
    document.getElementById('older').classList.toggle('hidden', !nextBefore);
  }

  function renderChecks(known) {
    const ticks = document.getElementById('check-ticks');
    const card = document.getElementById('checks-card');
    card.classList.toggle('hidden', !target.uses.includes('failed_check'));
    document.getElementById('checks-summary').replaceChildren(target.all_checks
      ? el('span', {}, 'This target is notified of ', el('strong', {}, 'every'), ' failing check. Tick checks to limit it to those.')
      : el('span', {}, 'Limited to: ', ...target.checks.map((c) => el('span', { class: 'badge' }, c))));
    const types = [...new Set([...known, ...target.checks])].sort();
    ticks.replaceChildren(...types.map((c) => el('label', { class: 'inline' },
      el('input', { type: 'checkbox', value: c, class: 'check-tick', id: 'tick-' + c, checked: !target.all_checks && target.checks.includes(c) }), c)));
  }

  // An on/off setting of the target with a button that flips it (PATCH with
  // just that field), e.g. #digest-state and #toggle-digest.
  function setting(field, idBase, what) {
    const on = target[field] === true;
    return el('span', {},
      el('span', { class: 'badge' + (on ? ' ok' : ''), id: idBase + '-state', title: what }, on ? 'on' : 'off'),
      el('button', { type: 'button', class: 'secondary small', id: 'toggle-' + idBase, onclick: (ev) => flip(field, ev.target) },
        on ? 'Turn off' : 'Turn on'));
  }

  async function flip(field, button) {
    button.disabled = true;
    try {
      target = await api('PATCH', '/api/v1/targets/' + id, { [field]: !target[field] });
      flash.replaceChildren();
      renderTarget();
    } catch (err) {
      notice(flash, 'bad', err.message);
      button.disabled = false;
    }
  }

  function renderTarget() {
    document.title = target.name + ' · Herald';
    document.getElementById('target-name').textContent = target.name;
    const h = target.health;
    const rows = [
      ['Workspace', target.workspace.team_name + ' (' + target.workspace.team_id + ')'],
      ['Destination', el('span', {}, target.destination, target.destination_resolved ? el('span', { class: 'muted small' }, ' → ' + target.destination_resolved) : null)],
      ['Uses', usesText(target.uses)],
      ['Description', target.description || '—'],
      ['Status', target.enabled ? el('span', { class: 'badge ok', id: 'enabled-badge' }, 'enabled') : el('span', { class: 'badge', id: 'enabled-badge' }, 'disabled')],
      ['Digests', setting('digest', 'digest', 'Under a backlog, messages waiting for the channel are folded into one digest message')],
      ['Repeats in threads', setting('thread_repeats', 'thread-repeats', 'Repeats of a still-failing check are posted in the thread of its first message')],
      ['Health', healthBadge(h, target.workspace.revoked)],
      ['Last success', fmtTime(h.last_success_at)],
      ['Last error', h.last_error ? el('span', { id: 'last-error' }, fmtTime(h.last_error_at) + ': ' + h.last_error + (h.last_error_code ? ' (' + h.last_error_code + ')' : '')) : '—'],
      ['Last 24 hours', h.sent_24h + ' sent, ' + h.failed_24h + ' failed, ' + (h.pending_24h + h.sending_24h + h.retrying_24h) + ' waiting'],
    ];
    document.getElementById('details').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    document.getElementById('toggle-enabled').textContent = target.enabled ? 'Disable' : 'Enable';
  }

  async function load() {
    target = await api('GET', '/api/v1/targets/' + id);
    renderTarget();
    let known = [];
    try { known = (await api('GET', '/api/v1/checks')).items.filter((c) => c.tenant === target.tenant).map((c) => c.check_type); } catch (e) { /* ok */ }
    renderChecks(known);
  }

  try {
    if (param('created')) notice(flash, 'ok', 'Target created. Send it a test message to see it work.');
    await load();
    await loadDeliveries(true);
    Herald.showActivity(document.getElementById('activity'), '/api/v1/targets/' + id + '/activity');
  } catch (err) { notice(flash, 'bad', err.message); return; }

  document.getElementById('send-test').addEventListener('click', async (ev) => {
    const box = document.getElementById('test-result');
    ev.target.disabled = true;
    try {
      const r = await api('POST', '/api/v1/targets/' + id + '/test');
      notice(box, 'ok', 'Test message sent to ' + r.channel + ' (ts ' + r.ts + ').');
    } catch (err) {
      notice(box, 'bad', 'Test message failed: ' + err.message);
    }
    ev.target.disabled = false;
    await load();
    await loadDeliveries(true);
    await Herald.showActivity(document.getElementById('activity'), '/api/v1/targets/' + id + '/activity');
  });

  document.getElementById('toggle-enabled').addEventListener('click', async () => {
    try {
      target = await api('PATCH', '/api/v1/targets/' + id, { enabled: !target.enabled });
      renderTarget();
    } catch (err) { notice(flash, 'bad', err.message); }
  });

  document.getElementById('delete-target').addEventListener('click', async () => {
    if (!confirm('Delete target "' + target.name + '"? Its delivery history is kept.')) return;
    try {
      await api('DELETE', '/api/v1/targets/' + id);
      location.href = '/console/';
    } catch (err) { notice(flash, 'bad', err.message); }
  });

  const checksForm = document.getElementById('checks-form');
  async function saveChecks(checks) {
    const box = document.getElementById('checks-error');
    try {
      target = await api('PATCH', '/api/v1/targets/' + id, { checks });
      renderTarget();
      const known = [...document.querySelectorAll('.check-tick')].map((c) => c.value);
      renderChecks(known);
      notice(box, 'ok', checks.length ? 'Saved: limited to ' + checks.join(', ') + '.' : 'Saved: notified of every check.');
      document.getElementById('check-add').value = '';
    } catch (err) { Herald.showFormError(checksForm, box, err); }
  }
  checksForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const checks = [...document.querySelectorAll('.check-tick:checked')].map((c) => c.value);
    for (const x of document.getElementById('check-add').value.split(',')) if (x.trim()) checks.push(x.trim());
    saveChecks(checks);
  });
  document.getElementById('all-checks').addEventListener('click', () => saveChecks([]));
  document.getElementById('refresh-deliveries').addEventListener('click', () => loadDeliveries(true));
  document.getElementById('older').addEventListener('click', () => loadDeliveries(false));
});
