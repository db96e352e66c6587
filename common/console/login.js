'use strict';
document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('login-form');
  const box = document.getElementById('login-error');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = document.getElementById('token').value.trim();
    try {
      await Herald.api('POST', '/api/v1/session', { token });
      // Only same-site paths: never an open redirect.
      let next = Herald.param('next') || '/console/';
      if (!next.startsWith('/') || next.startsWith('//')) next = '/console/';
      location.href = next;
    } catch (err) {
      Herald.showFormError(form, box, err);
    }
  });
});
