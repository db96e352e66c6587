'use strict';
// The remediations page (issue 10): per check type the tenant has seen, the
// text a nudge sends, whether it is the built-in default, Save (PUT) and
// Reset to default (DELETE). An operator session names the tenant (?tenant=).
document.addEventListener('DOMContentLoaded', async () => {
  const { api, el, param, fmtTime, notice, tenantQuery } = Herald;
  const session = await Herald.init('remediations');
  if (!session) return;
  const flash = document.getElementById('flash');
  const tb = document.querySelector('#remediations tbody');
  const tenantBox = document.getElementById('tenant');
  let tenant = session.tenant || param('tenant') || '';

  const path = (type) => '/api/v1/remediations' + (type === undefined ? '' : '/' + encodeURIComponent(type)) + tenantQuery(tenant);

  function row(r) {
    const text = el('textarea', { class: 'remediation-text', maxlength: 4000, 'aria-label': 'Remediation text for ' + r.check_type });
    text.value = r.text || '';
    const status = el('div', { class: 'small mt' });
    const save = el('button', { type: 'button', class: 'save-remediation' }, 'Save');
    const reset = r.is_default ? null : el('button', { type: 'button', class: 'secondary reset-remediation' }, 'Reset to default');
    const act = async (button, method, body, done) => {
      button.disabled = true;
      try {
        await api(method, path(r.check_type), body);
        await load();
        notice(flash, 'ok', done);
      } catch (err) {
        notice(status, 'bad', err.message);
        button.disabled = false;
      }
    };
    save.addEventListener('click', () => {
      if (!text.value.trim()) { notice(status, 'bad', 'text: required (Reset to default instead)'); return; }
      act(save, 'PUT', { text: text.value }, 'Saved the text for ' + r.check_type + '.');
    });
    if (reset) reset.addEventListener('click', () => act(reset, 'DELETE', undefined, r.check_type + ' uses the default text again.'));
    return el('tr', { class: 'remediation', 'data-check-type': r.check_type, 'data-default': r.is_default ? 'true' : 'false' },
      el('td', {}, el('code', {}, r.check_type), el('div', { class: 'mt' },
        r.is_default ? el('span', { class: 'badge default-badge' }, 'default') : el('span', { class: 'badge ok default-badge' }, 'custom')),
      r.is_default ? null : el('div', { class: 'muted small mt' }, 'edited ' + fmtTime(r.updated_at) + (r.updated_by ? ' by ' + r.updated_by : ''))),
      el('td', {}, text, status),
      el('td', {}, el('div', { class: 'actions' }, save, reset)));
  }

  async function load() {
    const res = await api('GET', path());
    tb.replaceChildren();
    if (!res.items.length) {
      tb.append(el('tr', {}, el('td', { colspan: 3, class: 'empty' },
        'No check results have been seen yet. Each check type appears here after its first run.')));
    }
    for (const r of res.items) tb.append(row(r));
  }

  if (!session.tenant) {
    const form = document.getElementById('tenant-form');
    form.classList.remove('hidden');
    tenantBox.value = tenant;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      tenant = tenantBox.value.trim();
      history.replaceState(null, '', '?tenant=' + encodeURIComponent(tenant));
      flash.replaceChildren();
      load().catch((err) => notice(flash, 'bad', err.message));
    });
    if (!tenant) return;
  }
  try { await load(); } catch (err) { notice(flash, 'bad', err.message); }
});
