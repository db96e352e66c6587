// Herald console: shared helpers. Vanilla JS, no build step. Every value from
// the API reaches the page as text (textContent), never as HTML.
'use strict';

const Herald = (() => {
  let session = null;

  function signInUrl() {
    return '/console/login.html?next=' + encodeURIComponent(location.pathname + location.search);
  }

  // Calls the JSON API with the session cookie; state changes carry the CSRF
  // token. Throws an Error with .status and .field on a non-2xx answer.
  async function api(method, path, body) {
    const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    if (method !== 'GET' && session && session.csrf) opts.headers['X-CSRF-Token'] = session.csrf;
    const r = await fetch(path, opts);
    if (r.status === 401 && path !== '/api/v1/session') {
      location.href = signInUrl();
      throw new Error('signed out');
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      const err = new Error((data && data.error) || ('HTTP ' + r.status));
      err.status = r.status;
      err.field = data && data.field;
      err.data = data;
      throw err;
    }
    return data;
  }

  // el('a', {href: '/x', class: 'button'}, 'text', child...)
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, '');
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function param(name) {
    return new URLSearchParams(location.search).get(name);
  }

  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  function notice(container, kind, text) {
    container.replaceChildren(el('div', { class: 'notice ' + kind, role: 'status' }, text));
  }

  function healthBadge(h, revoked) {
    if (revoked) return el('span', { class: 'badge bad', title: 'reinstall Herald in this workspace' }, 'workspace revoked');
    if (!h) return el('span', { class: 'badge' }, 'unknown');
    if (h.status === 'failing') return el('span', { class: 'badge bad', title: h.last_error || '' }, 'failing');
    if (h.status === 'ok') return el('span', { class: 'badge ok' }, 'ok');
    return el('span', { class: 'badge' }, 'no deliveries yet');
  }

  function usesText(uses) {
    return (uses || []).map((u) => (u === 'failed_check' ? 'Failed checks' : 'Data collection')).join(', ');
  }

  function renderNav(active) {
    const header = el('header', { class: 'top' },
      el('a', { class: 'brand', href: '/console/' }, 'Herald'),
      el('nav', {},
        el('a', { href: '/console/', class: active === 'integrations' ? 'active' : null, id: 'nav-integrations' }, 'Integrations'),
        el('a', { href: '/console/checks.html', class: active === 'checks' ? 'active' : null, id: 'nav-checks' }, 'Checks'),
        el('a', { href: '/console/silences.html', class: active === 'silences' ? 'active' : null, id: 'nav-silences' }, 'Silences'),
        el('a', { href: '/console/remediations.html', class: active === 'remediations' ? 'active' : null, id: 'nav-remediations' }, 'Remediations'),
        el('a', { href: '/console/settings.html', class: active === 'settings' ? 'active' : null, id: 'nav-settings' }, 'Settings'),
        el('a', { href: '/console/new-target.html', class: active === 'new' ? 'active' : null, id: 'nav-new' }, 'Add Slack target')),
      el('div', { class: 'who' },
        el('span', { id: 'who-tenant' }, session.tenant ? 'Tenant ' + session.tenant : 'All tenants (operator)'),
        el('button', { type: 'button', id: 'sign-out', onclick: signOut }, 'Sign out')));
    document.body.prepend(header);
  }

  async function signOut() {
    try { await api('DELETE', '/api/v1/session'); } catch (e) { /* signed out anyway */ }
    location.href = '/console/login.html';
  }

  async function init(active) {
    session = await api('GET', '/api/v1/session');
    if (session.via !== 'session') { location.href = signInUrl(); return null; }
    renderNav(active);
    return session;
  }

  // Marks the form field an API error names, and shows the message. A field
  // row may answer for several names (data-field="repeat_policy
  // repeat_interval_seconds").
  function showFormError(form, box, err) {
    form.querySelectorAll('.field.invalid').forEach((f) => f.classList.remove('invalid'));
    if (err.field) {
      const f = form.querySelector('[data-field~="' + CSS.escape(err.field) + '"]');
      if (f) f.classList.add('invalid');
    }
    notice(box, 'bad', err.message);
  }

  // A delivery state as a badge; 'suppressed' (kept quiet by a severity
  // floor, a silence or the repeat policy) is muted, not an error.
  function stateBadge(s) {
    const kind = s === 'sent' ? 'ok' : s === 'failed' ? 'bad' : s === 'retrying' ? 'warn' : s === 'suppressed' ? 'quiet' : '';
    return el('span', { class: 'badge ' + kind }, s);
  }

  // Seconds as the largest whole unit: 14400 -> "4 h", 90 -> "90 s".
  const UNITS = [['d', 86400], ['h', 3600], ['min', 60]];
  function fmtDuration(sec) {
    for (const [u, n] of UNITS) if (sec >= n && sec % n === 0) return sec / n + ' ' + u;
    return sec + ' s';
  }
  // Splits seconds for a number box and a unit select (values 60, 3600, 86400).
  function durationParts(sec) {
    for (const [, n] of UNITS) if (sec >= n && sec % n === 0) return { value: sec / n, unit: n };
    return { value: Math.round(sec / 60), unit: 60 };
  }

  // A datetime-local value (the browser's time zone) as RFC 3339 UTC, or null.
  function localToIso(v) {
    if (!v) return null;
    const d = new Date(v);
    return isNaN(d) ? null : d.toISOString();
  }

  // An operator session serves every tenant: pages whose API answers one
  // tenant's settings say which one with ?tenant= (as the checks API does).
  function tenantQuery(tenant) {
    return session.tenant || !tenant ? '' : '?tenant=' + encodeURIComponent(tenant);
  }

  // The noise controls of a target (issue 10), on the new-target form and the
  // target page: severity floor, repeat policy (with its interval), resolved
  // updates, nudge button. Returns the fields (data-field names the API's) and
  // read(), which answers the body fields or throws an Error with .field.
  const SEVERITIES = ['low', 'medium', 'high', 'critical'];
  const REPEATS = [['every', 'Every failing run'], ['on_change', 'Only when the failing users change'],
    ['interval', 'At most every…']];
  function noiseControls(t) {
    t = t || {};
    const sev = el('select', { id: 'min-severity' },
      SEVERITIES.map((s) => el('option', { value: s, selected: (t.min_severity || 'low') === s }, s)));
    const policy = el('select', { id: 'repeat-policy' },
      REPEATS.map(([v, label]) => el('option', { value: v, selected: (t.repeat_policy || 'every') === v }, label)));
    const parts = durationParts(t.repeat_interval_seconds || 14400);
    const num = el('input', { type: 'number', id: 'repeat-interval', min: 1, step: 1, value: parts.value });
    const unit = el('select', { id: 'repeat-unit' },
      [[60, 'minutes'], [3600, 'hours'], [86400, 'days']].map(([n, label]) => el('option', { value: n, selected: parts.unit === n }, label)));
    const every = el('span', { class: 'inline-group', id: 'repeat-interval-box' }, num, unit);
    const showEvery = () => every.classList.toggle('hidden', policy.value !== 'interval');
    policy.addEventListener('change', showEvery);
    showEvery();
    const resolved = el('input', { type: 'checkbox', id: 'notify-resolved', checked: t.notify_resolved !== false });
    const nudge = el('input', { type: 'checkbox', id: 'nudge-enabled', checked: t.nudge_enabled === true });
    const fields = [
      el('div', { class: 'field', 'data-field': 'min_severity' },
        el('label', { for: 'min-severity' }, 'Lowest severity notified'), sev,
        el('div', { class: 'hint' }, 'Check results below it are recorded as suppressed, not posted.')),
      el('div', { class: 'field', 'data-field': 'repeat_policy repeat_interval_seconds' },
        el('label', { for: 'repeat-policy' }, 'Repeats of a still-failing check'),
        el('div', { class: 'inline-group' }, policy, every),
        el('div', { class: 'hint' }, 'Quiet repeats are recorded as suppressed (or go in the thread when repeats in threads are on).')),
      el('div', { class: 'field', 'data-field': 'notify_resolved nudge_enabled' },
        el('label', { class: 'inline' }, resolved, 'Update the message when the check passes again'),
        el('label', { class: 'inline' }, nudge, 'Offer a "Nudge failing users" button in Slack')),
    ];
    function read() {
      const body = { min_severity: sev.value, repeat_policy: policy.value, notify_resolved: resolved.checked, nudge_enabled: nudge.checked };
      if (policy.value === 'interval') {
        const n = Number(num.value);
        if (!Number.isInteger(n) || n < 1) {
          const e = new Error('repeat_interval_seconds: a whole number of ' + unit.selectedOptions[0].textContent + ', at least 1');
          e.field = 'repeat_interval_seconds';
          throw e;
        }
        body.repeat_interval_seconds = n * Number(unit.value);
      }
      return body;
    }
    return { fields, read };
  }

  // The activity chart: sent and failed deliveries per hour (the API's
  // /activity answer, oldest hour first) as inline SVG, one stacked bar per
  // hour, a tick at each midnight. Built here (no chart library; the CSP
  // allows no inline style, so colours come from app.css classes).
  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function activityChart(data) {
    const items = data.items || [];
    const bw = 4, h = 120, top = 8, base = top + h, width = items.length * bw;
    const max = Math.max(1, ...items.map((i) => i.sent + i.failed));
    const scale = (n) => (n * h) / max;
    const chart = svg('svg', { class: 'activity-chart', id: 'activity-chart', viewBox: '0 0 ' + (width + 40) + ' ' + (base + 18),
      role: 'img', 'aria-label': 'Sent and failed deliveries per hour, last ' + items.length + ' hours' });
    chart.append(svg('line', { class: 'axis', x1: 0, y1: base, x2: width, y2: base }),
      svg('text', { class: 'axis-label', x: width + 4, y: top + 8 }, String(max)),
      svg('text', { class: 'axis-label', x: width + 4, y: base }, '0'));
    items.forEach((it, i) => {
      const x = i * bw, d = new Date(it.hour);
      if (d.getHours() === 0) {
        chart.append(svg('line', { class: 'tick', x1: x, y1: top, x2: x, y2: base + 4 }),
          svg('text', { class: 'axis-label', x: x + 2, y: base + 14 }, d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })));
      }
      if (!it.sent && !it.failed) return;
      const title = svg('title', {}, d.toLocaleString() + ': ' + it.sent + ' sent, ' + it.failed + ' failed');
      const g = svg('g', { class: 'hour', 'data-hour': it.hour, 'data-sent': it.sent, 'data-failed': it.failed }, title);
      const hs = scale(it.sent), hf = scale(it.failed);
      if (it.sent) g.append(svg('rect', { class: 'bar-sent', x: x, y: base - hs, width: bw - 1, height: Math.max(hs, 1) }));
      if (it.failed) g.append(svg('rect', { class: 'bar-failed', x: x, y: base - hs - hf, width: bw - 1, height: Math.max(hf, 1) }));
      chart.append(g);
    });
    return el('div', { class: 'activity' }, chart,
      el('div', { class: 'legend small muted', id: 'activity-totals' },
        el('span', { class: 'swatch sent' }), data.sent + ' sent ',
        el('span', { class: 'swatch failed' }), data.failed + ' failed',
        ' in the last ' + Math.round(items.length / 24) + ' days, by the hour the deliveries were created'));
  }

  // Fills container with the activity chart of path (an /activity URL), or a note.
  async function showActivity(container, path) {
    try {
      container.replaceChildren(activityChart(await api('GET', path)));
    } catch (err) {
      container.replaceChildren(el('p', { class: 'muted small' }, 'Activity unavailable: ' + err.message));
    }
  }

  return {
    api, el, param, fmtTime, notice, healthBadge, usesText, init, showFormError, activityChart, showActivity,
    stateBadge, fmtDuration, durationParts, localToIso, tenantQuery, noiseControls, get session() { return session; },
  };
})();
