'use strict';
document.addEventListener('DOMContentLoaded', async () => {
  const { api, el, fmtTime, healthBadge, usesText, notice } = Herald;
  if (!(await Herald.init('integrations'))) return;
  const flash = document.getElementById('flash');
  // Every target this session may see (the chart fills in on its own).
  Herald.showActivity(document.getElementById('activity'), '/api/v1/activity');
  try {
    const [targets, workspaces] = await Promise.all([api('GET', '/api/v1/targets'), api('GET', '/api/v1/workspaces')]);
    const tb = document.querySelector('#targets tbody');
    if (!targets.items.length) {
      tb.append(el('tr', {}, el('td', { colspan: 7, class: 'empty' },
        'No Slack targets yet. ', el('a', { href: '/console/new-target.html' }, 'Add one'), '.')));
    }
    for (const t of targets.items) {
      tb.append(el('tr', { 'data-target-id': t.id },
        el('td', {}, el('a', { href: '/console/target.html?id=' + t.id, class: 'target-link' }, t.name),
          t.description ? el('div', { class: 'muted small' }, t.description) : null,
          Herald.session.tenant ? null : el('div', { class: 'muted small' }, 'tenant ' + t.tenant)),
        el('td', {}, t.workspace.team_name),
        el('td', {}, t.destination),
        el('td', {}, usesText(t.uses)),
        el('td', {}, t.uses.includes('failed_check') ? (t.all_checks ? 'All checks' : t.checks.join(', ')) : '—'),
        el('td', {}, healthBadge(t.health, t.workspace.revoked),
          t.health.last_error && t.health.status === 'failing' ? el('div', { class: 'muted small' }, t.health.last_error) : null),
        el('td', {}, t.enabled ? el('span', { class: 'badge ok' }, 'enabled') : el('span', { class: 'badge' }, 'disabled'))));
    }
    const wb = document.querySelector('#workspaces tbody');
    if (!workspaces.items.length) {
      wb.append(el('tr', {}, el('td', { colspan: 5, class: 'empty' },
        'Herald is not installed in any Slack workspace yet. ', el('a', { href: '/slack/install' }, 'Add to Slack'), '.')));
    }
    for (const w of workspaces.items) {
      wb.append(el('tr', {},
        el('td', {}, w.team_name), el('td', {}, el('code', {}, w.team_id)),
        el('td', {}, fmtTime(w.installed_at)), el('td', {}, String(w.target_count)),
        el('td', {}, w.revoked ? el('span', { class: 'badge bad' }, 'revoked: ' + (w.revoked_reason || '')) : el('span', { class: 'badge ok' }, 'installed'))));
    }
  } catch (err) {
    notice(flash, 'bad', err.message);
  }
});
