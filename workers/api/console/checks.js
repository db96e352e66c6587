'use strict';
document.addEventListener('DOMContentLoaded', async () => {
  const { api, el, fmtTime, notice } = Herald;
  const session = await Herald.init('checks');
  if (!session) return;
  const flash = document.getElementById('flash');
  const tb = document.querySelector('#checks tbody');

  async function load() {
    const res = await api('GET', '/api/v1/checks');
    tb.replaceChildren();
    if (!res.items.length) {
      tb.append(el('tr', {}, el('td', { colspan: 4, class: 'empty' },
        'No check results have been seen yet. They appear here after the first check run.')));
      return;
    }
    for (const c of res.items) {
      const candidates = res.targets.filter((t) => t.tenant === c.tenant);
      const notifying = new Set(c.targets.map((t) => t.id));
      const ticks = candidates.map((t) => el('label', { class: 'inline' },
        el('input', { type: 'checkbox', value: t.id, class: 'target-tick', checked: notifying.has(t.id) }),
        t.name, t.all_checks ? el('span', { class: 'muted small' }, '(all checks)') : null,
        t.enabled ? null : el('span', { class: 'muted small' }, '(disabled)')));
      const status = el('div', { class: 'small mt' });
      const save = el('button', { type: 'button', class: 'secondary save-row' }, 'Save');
      const row = el('tr', { 'data-check-type': c.check_type },
        el('td', {}, el('strong', {}, c.check_name || c.check_type), el('div', {}, el('code', {}, c.check_type)),
          session.tenant ? null : el('div', { class: 'muted small' }, 'tenant ' + c.tenant)),
        el('td', {}, c.seen ? fmtTime(c.last_seen_at) : el('span', { class: 'muted' }, 'not seen yet')),
        el('td', {}, candidates.length ? el('div', { class: 'checks-list' }, ticks) : el('span', { class: 'muted' }, 'no failed-check targets'), status),
        el('td', {}, candidates.length ? save : null));
      save.addEventListener('click', async () => {
        const ids = [...row.querySelectorAll('.target-tick:checked')].map((i) => Number(i.value));
        save.disabled = true;
        try {
          await api('PUT', '/api/v1/checks/' + encodeURIComponent(c.check_type) + '/targets', { tenant: c.tenant, target_ids: ids });
          await load();
          notice(flash, 'ok', 'Saved ' + (c.check_name || c.check_type) + '.');
        } catch (err) {
          notice(status, 'bad', err.message);
          save.disabled = false;
        }
      });
      tb.append(row);
    }
  }
  try { await load(); } catch (err) { notice(flash, 'bad', err.message); }
});
