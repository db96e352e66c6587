'use strict';
document.addEventListener('DOMContentLoaded', async () => {
  const { api, el, param, notice } = Herald;
  const session = await Herald.init('new');
  if (!session) return;
  const flash = document.getElementById('flash');
  const form = document.getElementById('target-form');
  const wsSelect = document.getElementById('workspace');
  const chSelect = document.getElementById('channel');
  const box = document.getElementById('form-error');

  if (param('installed')) {
    notice(flash, 'ok', param('installed') === '2'
      ? 'Herald was reinstalled in the workspace. Create a target for it below.'
      : 'Herald is installed in the workspace. Create a target for it below.');
  }
  if (!session.tenant) document.getElementById('tenant-field').classList.remove('hidden');

  let workspaces;
  try {
    workspaces = (await api('GET', '/api/v1/workspaces')).items.filter((w) => !w.revoked);
  } catch (err) { notice(flash, 'bad', err.message); return; }
  if (!workspaces.length) {
    document.getElementById('no-workspace').classList.remove('hidden');
    return;
  }
  for (const w of workspaces) wsSelect.append(el('option', { value: w.team_id }, w.team_name + ' (' + w.team_id + ')'));
  if (param('workspace')) wsSelect.value = param('workspace');
  form.classList.remove('hidden');

  async function loadChannels() {
    chSelect.replaceChildren(el('option', { value: '' }, 'Loading channels…'));
    try {
      const res = await api('GET', '/api/v1/workspaces/' + encodeURIComponent(wsSelect.value) + '/channels');
      const usable = res.items.filter((c) => c.can_post).sort((a, b) => a.name.localeCompare(b.name));
      chSelect.replaceChildren(...usable.map((c) => el('option', { value: c.id }, '#' + c.name + (c.is_private ? ' (private)' : ''))));
      if (!usable.length) chSelect.replaceChildren(el('option', { value: '' }, 'No channel the bot can post to'));
    } catch (err) {
      chSelect.replaceChildren(el('option', { value: '' }, 'Could not list channels'));
      notice(box, 'bad', err.message);
    }
  }
  wsSelect.addEventListener('change', loadChannels);
  await loadChannels();

  // Check types seen so far, as ticks.
  try {
    const checks = await api('GET', '/api/v1/checks');
    const seen = [...new Set(checks.items.map((c) => c.check_type))];
    const cbox = document.getElementById('checks');
    for (const c of checks.items.filter((x, i) => seen.indexOf(x.check_type) === i)) {
      cbox.append(el('label', { class: 'inline' },
        el('input', { type: 'checkbox', value: c.check_type, id: 'check-' + c.check_type, class: 'check-tick' }),
        c.check_name || c.check_type));
    }
  } catch (err) { /* the free-text box still works */ }

  const noise = Herald.noiseControls();
  document.getElementById('noise-fields').append(...noise.fields);
  // Only settings changed from the defaults are sent, so the form still
  // creates targets through an API that predates them (it refuses unknown
  // fields).
  const NOISE_DEFAULTS = { min_severity: 'low', repeat_policy: 'every', notify_resolved: true, nudge_enabled: false };

  const usesFailed = document.getElementById('use-failed-check');
  const checksField = document.getElementById('checks-field');
  usesFailed.addEventListener('change', () => checksField.classList.toggle('hidden', !usesFailed.checked));
  for (const r of document.querySelectorAll('input[name=dest-kind]')) {
    r.addEventListener('change', () => {
      const email = document.getElementById('dest-kind-email').checked;
      document.getElementById('email-box').classList.toggle('hidden', !email);
      document.getElementById('channel-box').classList.toggle('hidden', email);
    });
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const uses = [];
    if (usesFailed.checked) uses.push('failed_check');
    if (document.getElementById('use-data-collection').checked) uses.push('data_collection');
    const email = document.getElementById('dest-kind-email').checked;
    const checks = [...document.querySelectorAll('.check-tick:checked')].map((c) => c.value);
    for (const x of document.getElementById('checks-extra').value.split(',')) if (x.trim()) checks.push(x.trim());
    const body = {
      workspace: wsSelect.value,
      name: document.getElementById('name').value.trim(),
      description: document.getElementById('description').value.trim(),
      destination: email ? document.getElementById('email').value.trim() : chSelect.value,
      uses,
      digest: document.getElementById('digest').checked,
      thread_repeats: document.getElementById('thread-repeats').checked,
    };
    if (usesFailed.checked) body.checks = checks;
    try {
      for (const [k, v] of Object.entries(noise.read())) if (NOISE_DEFAULTS[k] !== v) body[k] = v;
    } catch (err) {
      Herald.showFormError(form, box, err);
      return;
    }
    if (!session.tenant) body.tenant = document.getElementById('tenant').value.trim();
    const button = document.getElementById('create');
    button.disabled = true;
    try {
      const t = await api('POST', '/api/v1/targets', body);
      location.href = '/console/target.html?id=' + t.id + '&created=1';
    } catch (err) {
      Herald.showFormError(form, box, err);
      button.disabled = false;
    }
  });
});
