'use strict';
// The settings page (issue 10): who may press Herald's buttons in Slack
// (GET/PUT /api/v1/settings/slack-actions {who, users[], groups[]}). An
// operator session names the tenant (?tenant=).
document.addEventListener('DOMContentLoaded', async () => {
  const { api, param, notice, tenantQuery } = Herald;
  const session = await Herald.init('settings');
  if (!session) return;
  const flash = document.getElementById('flash');
  const form = document.getElementById('actions-form');
  const box = document.getElementById('actions-error');
  const users = document.getElementById('action-users');
  const groups = document.getElementById('action-groups');
  let tenant = session.tenant || param('tenant') || '';
  const path = () => '/api/v1/settings/slack-actions' + tenantQuery(tenant);

  const who = () => (form.querySelector('input[name=who]:checked') || {}).value;
  const showListed = () => document.getElementById('listed-box').classList.toggle('hidden', who() !== 'listed');
  for (const r of form.querySelectorAll('input[name=who]')) r.addEventListener('change', showListed);
  const list = (s) => s.split(/[\s,]+/).filter(Boolean);

  function render(s) {
    const radio = document.getElementById('who-' + s.who) || document.getElementById('who-channel');
    radio.checked = true;
    users.value = (s.users || []).join(', ');
    groups.value = (s.groups || []).join(', ');
    showListed();
    form.classList.remove('hidden');
  }

  async function load() { render(await api('GET', path())); }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = document.getElementById('save-actions');
    // The lists only mean something with 'listed' (the API refuses them otherwise).
    const listed = who() === 'listed';
    const body = { who: who(), users: listed ? list(users.value) : [], groups: listed ? list(groups.value) : [] };
    if (body.who === 'listed' && !body.users.length && !body.groups.length) {
      Herald.showFormError(form, box, Object.assign(new Error('users: name at least one Slack user or user group'), { field: 'users' }));
      return;
    }
    button.disabled = true;
    try {
      const saved = await api('PUT', path(), body);
      render(saved && saved.who ? saved : body);
      form.querySelectorAll('.field.invalid').forEach((f) => f.classList.remove('invalid'));
      notice(box, 'ok', 'Saved.');
    } catch (err) { Herald.showFormError(form, box, err); }
    button.disabled = false;
  });

  if (!session.tenant) {
    const tf = document.getElementById('tenant-form');
    tf.classList.remove('hidden');
    document.getElementById('tenant').value = tenant;
    tf.addEventListener('submit', (ev) => {
      ev.preventDefault();
      tenant = document.getElementById('tenant').value.trim();
      history.replaceState(null, '', '?tenant=' + encodeURIComponent(tenant));
      flash.replaceChildren();
      load().catch((err) => notice(flash, 'bad', err.message));
    });
    if (!tenant) return;
  }
  try { await load(); } catch (err) { notice(flash, 'bad', err.message); }
});
