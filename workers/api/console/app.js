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

  // Marks the form field an API error names, and shows the message.
  function showFormError(form, box, err) {
    form.querySelectorAll('.field.invalid').forEach((f) => f.classList.remove('invalid'));
    if (err.field) {
      const f = form.querySelector('[data-field="' + err.field + '"]');
      if (f) f.classList.add('invalid');
    }
    notice(box, 'bad', err.message);
  }

  return { api, el, param, fmtTime, notice, healthBadge, usesText, init, showFormError, get session() { return session; } };
})();
