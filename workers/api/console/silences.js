'use strict';
// The silences page (issue 10): the tenant's silences, active or all, with an
// Expire button; a form to create one scoped by check type, target and/or
// workspace, for a duration, until a time or until expired.
// ?target_id=N (digits only) and ?check=TYPE preset the scope.
document.addEventListener('DOMContentLoaded', async () => {
  const { api, el, param, fmtTime, notice, localToIso } = Herald;
  const session = await Herald.init('silences');
  if (!session) return;
  const flash = document.getElementById('flash');
  const form = document.getElementById('silence-form');
  const box = document.getElementById('silence-error');
  const tb = document.querySelector('#silences tbody');
  const showAll = document.getElementById('show-all');
  const $ = (x) => document.getElementById(x);
  const targetNames = new Map();
  const teamNames = new Map();

  if (!session.tenant) $('silence-tenant-field').classList.remove('hidden');

  // What the scope pickers offer: the targets, workspaces and check types seen
  // (each optional: the page works without them).
  const [targets, workspaces, checks] = await Promise.all(['/api/v1/targets', '/api/v1/workspaces', '/api/v1/checks']
    .map((p) => api('GET', p).then((r) => r.items, () => [])));
  for (const t of targets) {
    targetNames.set(t.id, t.name);
    $('silence-target').append(el('option', { value: t.id, 'data-tenant': t.tenant },
      t.name + (session.tenant ? '' : ' (' + t.tenant + ')')));
  }
  for (const w of workspaces) {
    teamNames.set(w.team_id, w.team_name);
    $('silence-workspace').append(el('option', { value: w.team_id }, w.team_name + ' (' + w.team_id + ')'));
  }
  for (const type of [...new Set(checks.map((c) => c.check_type))].sort()) $('silence-check-types').append(el('option', { value: type }));

  const presetTarget = param('target_id');
  if (presetTarget && /^[0-9]+$/.test(presetTarget)) $('silence-target').value = presetTarget;
  if (param('check')) $('silence-check').value = param('check');
  // An operator's silence on a target belongs to the target's tenant.
  $('silence-target').addEventListener('change', () => {
    const o = $('silence-target').selectedOptions[0];
    if (!session.tenant && o && o.dataset.tenant) $('silence-tenant').value = o.dataset.tenant;
  });
  $('silence-target').dispatchEvent(new Event('change'));

  function scopeText(s) {
    const parts = [];
    if (s.check_type) parts.push(el('span', {}, 'check ', el('code', {}, s.check_type)));
    if (s.target_id) {
      const name = targetNames.get(s.target_id);
      parts.push(el('span', {}, 'target ', el('a', { href: '/console/target.html?id=' + Number(s.target_id) },
        name !== undefined ? name : '#' + s.target_id)));
    }
    if (s.team_id) parts.push(el('span', {}, 'workspace ', teamNames.get(s.team_id) || s.team_id));
    const out = [];
    parts.forEach((p, i) => out.push(i ? ', ' : '', p));
    return out;
  }

  function stateOf(s) {
    if (s.expired_at) return el('span', { class: 'badge', title: 'by ' + (s.expired_by || '?') }, 'expired');
    if (s.active) return el('span', { class: 'badge warn' }, s.ends_at ? 'active' : 'muted');
    if (s.ends_at && new Date(s.ends_at) <= new Date()) return el('span', { class: 'badge' }, 'ended');
    return el('span', { class: 'badge' }, 'scheduled');
  }

  async function expire(s, button) {
    if (!confirm('Expire silence ' + s.id + '? Matching notifications are posted again.')) return;
    button.disabled = true;
    try {
      await api('POST', '/api/v1/silences/' + Number(s.id) + '/expire');
      notice(flash, 'ok', 'Silence ' + s.id + ' expired.');
      await load();
    } catch (err) {
      notice(flash, 'bad', err.message);
      button.disabled = false;
    }
  }

  async function load() {
    const res = await api('GET', '/api/v1/silences?state=' + (showAll.checked ? 'all' : 'active'));
    tb.replaceChildren();
    if (!res.items.length) {
      tb.append(el('tr', {}, el('td', { colspan: 7, class: 'empty' },
        showAll.checked ? 'No silences yet.' : 'Nothing is silenced right now.')));
    }
    for (const s of res.items) {
      const live = !s.expired_at && !(s.ends_at && new Date(s.ends_at) <= new Date());
      tb.append(el('tr', { 'data-silence-id': s.id, 'data-active': s.active ? 'true' : 'false' },
        el('td', {}, String(s.id)),
        el('td', {}, scopeText(s), session.tenant ? null : el('div', { class: 'muted small' }, 'tenant ' + s.tenant_id)),
        el('td', { class: 'small' }, fmtTime(s.starts_at), ' → ', s.ends_at ? fmtTime(s.ends_at) : 'until expired',
          s.expired_at ? el('div', { class: 'muted' }, 'expired ' + fmtTime(s.expired_at) + (s.expired_by ? ' by ' + s.expired_by : '')) : null),
        el('td', { class: 'small' }, s.author || '—'),
        el('td', { class: 'reason' }, s.reason || ''),
        el('td', {}, stateOf(s)),
        el('td', {}, live ? el('button', { type: 'button', class: 'secondary small expire', onclick: (ev) => expire(s, ev.target) }, 'Expire') : null)));
    }
  }

  // The form as the API's create body; throws an Error with .field.
  function body() {
    const fail = (field, msg) => { const e = new Error(msg); e.field = field; throw e; };
    const b = {};
    const check = $('silence-check').value.trim(), target = $('silence-target').value, team = $('silence-workspace').value;
    if (check) b.check_type = check;
    if (target) b.target_id = Number(target);
    if (team) b.team_id = team;
    if (!check && !target && !team) fail('scope', 'Say what to silence: a check type, a target or a workspace (or several).');
    if (!session.tenant) {
      b.tenant_id = $('silence-tenant').value.trim();
      if (!b.tenant_id) fail('tenant_id', 'tenant_id: required (this token serves every tenant)');
    }
    const starts = localToIso($('silence-starts').value);
    if ($('silence-starts').value && !starts) fail('starts_at', 'starts_at: not a valid time');
    if (starts) b.starts_at = starts;
    const end = form.querySelector('input[name=silence-end]:checked').value;
    if (end === 'for') {
      const n = Number($('silence-for').value);
      if (!Number.isInteger(n) || n < 1) fail('duration_seconds', 'duration: a whole number, at least 1');
      b.duration_seconds = n * Number($('silence-for-unit').value);
    } else if (end === 'until') {
      const until = localToIso($('silence-until').value);
      if (!until) fail('ends_at', 'ends_at: pick the time the silence ends');
      b.ends_at = until;
    } else {
      b.ends_at = null; // a mute: the API wants it said (an omitted end is refused)
    }
    b.reason = $('silence-reason').value.trim();
    if (!b.reason) fail('reason', 'reason: required (say why, for whoever wonders where the messages went)');
    return b;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = $('create-silence');
    button.disabled = true;
    try {
      const s = await api('POST', '/api/v1/silences', body());
      form.querySelectorAll('.field.invalid').forEach((f) => f.classList.remove('invalid'));
      $('silence-reason').value = '';
      box.replaceChildren();
      notice(flash, 'ok', 'Silence ' + s.id + ' created' + (s.ends_at ? ', until ' + fmtTime(s.ends_at) : ', until expired') + '.');
      await load();
    } catch (err) {
      Herald.showFormError(form, box, err);
    }
    button.disabled = false;
  });
  showAll.addEventListener('change', () => load().catch((err) => notice(flash, 'bad', err.message)));
  try { await load(); } catch (err) { notice(flash, 'bad', err.message); }
});
