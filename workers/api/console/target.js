'use strict';
document.addEventListener('DOMContentLoaded', async () => {
  const { api, el, param, fmtTime, notice, healthBadge, usesText, stateBadge, fmtDuration } = Herald;
  if (!(await Herald.init('integrations'))) return;
  // Digits only: the id goes into API paths.
  const id = /^[0-9]+$/.test(param('id') || '') ? param('id') : null;
  if (!id) { notice(document.getElementById('flash'), 'bad', 'No such target: the address needs ?id=<number>.'); return; }
  const flash = document.getElementById('flash');
  let target = null;
  let nextBefore = null;

  // A delivery's event, and for a resolve or a nudge what it did.
  function what(d) {
    if (d.kind === 'resolve') return 'Resolved: ' + (d.check_type ? 'check ' + d.check_type : d.integration ? 'collection ' + d.integration : 'event');
    if (d.kind === 'nudge' || d.event_kind === 'nudge') return 'Nudge' + (d.check_type ? ' about check ' + d.check_type : '');
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
      // The reason of a suppressed or failed delivery: the readable text and
      // its code (API field error/error_code; last_error* accepted too).
      const reason = d.error || d.last_error, code = d.error_code || d.last_error_code;
      tb.append(el('tr', { 'data-delivery-id': d.id, 'data-state': d.state, 'data-kind': d.kind || 'notify' },
        el('td', {}, fmtTime(d.created_at)),
        el('td', {}, what(d), d.kind && d.kind !== 'notify' ? el('span', { class: 'badge kind mt' }, d.kind) : null),
        el('td', {}, stateBadge(d.state)),
        el('td', {}, String(d.attempts)),
        el('td', { class: 'reason' }, d.state === 'sent' ? el('span', { class: 'small' }, 'ts ', el('code', {}, d.slack_ts || ''), ' in ', el('code', {}, d.slack_channel || ''))
          : reason || code ? el('span', { class: 'small' }, d.state === 'suppressed' ? 'Kept quiet: ' : '', reason || '', code ? ' (' + code + ')' : '') : '—')));
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
      ['Last 24 hours', h.sent_24h + ' sent, ' + h.failed_24h + ' failed, ' + (h.pending_24h + h.sending_24h + h.retrying_24h) + ' waiting' +
        (h.suppressed_24h !== undefined ? ', ' + h.suppressed_24h + ' suppressed' : '')],
    ];
    if ('min_severity' in target) {
      rows.splice(7, 0, ['Noise', el('span', { id: 'noise-summary' },
        'severity ' + target.min_severity + ' and up; repeats: ' +
        (target.repeat_policy === 'interval' ? 'at most every ' + fmtDuration(target.repeat_interval_seconds || 0)
          : target.repeat_policy === 'on_change' ? 'when the failing users change' : 'every run') +
        '; resolved updates ' + (target.notify_resolved ? 'on' : 'off') + '; nudge button ' + (target.nudge_enabled ? 'on' : 'off'))]);
    }
    document.getElementById('details').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    document.getElementById('toggle-enabled').textContent = target.enabled ? 'Disable' : 'Enable';
  }

  // The noise controls, from the target as the API answered it. Hidden when
  // the API predates them (no min_severity in its answer).
  let noise = null;
  function renderNoise() {
    const has = 'min_severity' in target;
    document.getElementById('noise-card').classList.toggle('hidden', !has);
    if (!has) return;
    noise = Herald.noiseControls(target);
    document.getElementById('noise-fields').replaceChildren(...noise.fields);
    document.getElementById('silence-target').href = '/console/silences.html?target_id=' + id;
  }

  async function load() {
    target = await api('GET', '/api/v1/targets/' + id);
    renderTarget();
    renderNoise();
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

  const noiseForm = document.getElementById('noise-form');
  noiseForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const box = document.getElementById('noise-error');
    const button = document.getElementById('save-noise');
    button.disabled = true;
    try {
      target = await api('PATCH', '/api/v1/targets/' + id, noise.read());
      renderTarget();
      renderNoise();
      noiseForm.querySelectorAll('.field.invalid').forEach((f) => f.classList.remove('invalid'));
      notice(box, 'ok', 'Saved.');
    } catch (err) { Herald.showFormError(noiseForm, box, err); }
    button.disabled = false;
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
