'use strict';
// Where to go after signing in: only a path on this site, never an open
// redirect. Browsers read "//host", a backslash for the second slash, and
// tabs or newlines inside alike as another host, so the URL is resolved as
// the browser would and its origin compared.
function safeNext(next) {
  if (!next || !next.startsWith('/')) return '/console/';
  try {
    const u = new URL(next, location.origin);
    if (u.origin === location.origin) return u.pathname + u.search + u.hash;
  } catch (e) { /* not a URL at all */ }
  return '/console/';
}
document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('login-form');
  const box = document.getElementById('login-error');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = document.getElementById('token').value.trim();
    try {
      await Herald.api('POST', '/api/v1/session', { token });
      location.href = safeNext(Herald.param('next'));
    } catch (err) {
      Herald.showFormError(form, box, err);
    }
  });
});
