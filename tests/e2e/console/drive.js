// Drives the herald-api web console in Debian's headless Chromium
// (playwright-core, no bundled browser). Issue 10 (issue10() below): noise
// controls, suppressed deliveries, silences, remediations, Slack button
// settings. Earlier steps: sign in, install through the fake
// Slack, create a target limited to one check, send a test message, see it
// arrive and listed, edit the checks page; create a target with repeats in
// threads, flip its digests on its page (each checked through the API), see a
// refused flip's message; the activity chart (inline SVG) on the target and
// integrations pages. A screenshot of each page goes to
// $ARTIFACTS. Run by tests/e2e/test_console.sh, which starts the services.
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const env = (k) => {
  if (!process.env[k]) throw new Error(k + ' is not set');
  return process.env[k];
};
const HERALD = env('HERALD_URL');
const SLACK = env('SLACK_URL');
const TOKEN = env('HERALD_TOKEN');
const ARTIFACTS = env('ARTIFACTS');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let passed = 0;
function ok(msg) {
  passed++;
  console.log('ok: ' + msg);
}
function check(cond, msg) {
  if (!cond) throw new Error('check failed: ' + msg);
  ok(msg);
}

// The JSON API with the tenant's bearer token, beside the browser: what the
// console saved, seen independently of what the page renders.
async function apiCall(method, p, body) {
  const opts = { method, headers: { Authorization: 'Bearer ' + TOKEN, Accept: 'application/json' } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(HERALD + p, opts);
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  return { status: r.status, data };
}
async function apiGet(p) {
  const r = await apiCall('GET', p);
  if (r.status !== 200) throw new Error('GET ' + p + ': HTTP ' + r.status + ' ' + JSON.stringify(r.data));
  return r.data;
}

// One statement on the test database (HERALD_DATABASE_URL, exported by
// test_console.sh): rows only the router writes (suppressed deliveries,
// resolves, nudges) are seeded here.
function sql(q) {
  return execFileSync('psql', [env('HERALD_DATABASE_URL'), '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', q], { encoding: 'utf8' }).trim();
}

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(20000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Expected 4xx answers (a wrong token, a missing name) also log "Failed to
  // load resource"; only script errors count.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  const shot = async (name) => {
    await page.screenshot({ path: path.join(ARTIFACTS, name + '.png'), fullPage: true });
    console.log('screenshot: ' + path.join(ARTIFACTS, name + '.png'));
  };

  try {
    // 1. Not signed in: the console sends us to the sign-in page.
    await page.goto(HERALD + '/console/');
    await page.waitForSelector('#login-form');
    check(page.url().includes('/console/login.html'), 'unsigned visit lands on the sign-in page');
    await shot('01-login');
    await page.fill('#token', 'hrld_wrong');
    await page.click('#login-submit');
    await page.waitForSelector('#login-error .notice.bad');
    check((await page.textContent('#login-error')).includes('not valid'), 'a wrong token is refused with a reason');
    // Regression: next=/\host passed the old '/'-but-not-'//' test and sent
    // the browser to another site after signing in.
    await page.goto(HERALD + '/console/login.html?next=' + encodeURIComponent('/\\evil.invalid/x'));
    await page.fill('#token', TOKEN);
    await page.click('#login-submit');
    await page.waitForSelector('#targets');
    check(new URL(page.url()).origin === new URL(HERALD).origin, 'next=/\\host does not leave the site');
    check(new URL(page.url()).pathname === '/console/', 'signed in: integrations list');
    check((await page.textContent('#who-tenant')).includes('acme'), 'the header names the tenant');
    await shot('02-integrations-empty');

    // 2. Add to Slack through the fake Slack's authorize page.
    await page.click('#install');
    // The confirmation page (GET never leaves for Slack); its form POSTs.
    await page.waitForSelector('#install-confirm');
    check((await page.textContent('#install-tenant')).includes('acme'), 'the confirmation names the tenant');
    await page.click('#install-confirm');
    await page.waitForURL(/\/console\/new-target\.html\?workspace=T0FAKE01/);
    await page.waitForSelector('#target-form:not(.hidden)');
    check((await page.textContent('#flash')).includes('installed'), 'install lands on the new-target form');
    await page.waitForSelector('#channel option[value="C0ALERTS"]', { state: 'attached' });
    await page.waitForSelector('#check-weak_mfa', { state: 'attached' });
    await shot('03-new-target');

    // 3. A validation error names the problem.
    await page.click('#create');
    await page.waitForSelector('#form-error .notice.bad');
    check((await page.textContent('#form-error')).includes('name'), 'missing name is reported');

    // 4. Create a target limited to one check.
    await page.fill('#name', 'Security alerts');
    await page.fill('#description', 'SOC channel');
    await page.selectOption('#channel', 'C0ALERTS');
    await page.check('#check-weak_mfa');
    await page.click('#create');
    await page.waitForURL(/\/console\/target\.html\?id=\d+/);
    await page.waitForSelector('#details dd');
    // The checks card fills in after the check types load.
    await page.waitForSelector('#checks-summary .badge');
    const id = new URL(page.url()).searchParams.get('id');
    check((await page.textContent('#target-name')) === 'Security alerts', 'target page shows the new target');
    check((await page.textContent('#checks-summary')).includes('weak_mfa'), 'target is limited to weak_mfa');
    check(await page.isChecked('#tick-weak_mfa'), 'weak_mfa is ticked on the target page');
    await shot('04-target');

    // 5. Send a test message; it arrives in the fake Slack and is listed.
    await page.click('#send-test');
    await page.waitForSelector('#test-result .notice');
    const result = await page.textContent('#test-result');
    check(result.includes('Test message sent to C0ALERTS'), 'test message sent: ' + result.trim());
    await page.waitForSelector('#deliveries tr[data-state="sent"]');
    check((await page.textContent('#deliveries')).includes('Test message'), 'the delivery is listed as sent');
    // The activity chart (inline SVG from the rollups) has the current hour's bar.
    await page.waitForSelector('#activity-chart g.hour[data-sent="1"] rect.bar-sent');
    const hours = await page.locator('#activity-chart g.hour').count();
    check(hours === 1, 'target activity chart: one hour with deliveries (got ' + hours + ')');
    check((await page.textContent('#activity-totals')).includes('1 sent'), 'target activity chart: 1 sent in 7 days');
    await page.locator('#activity-card').scrollIntoViewIfNeeded();
    await shot('05-target-tested');
    const msgs = await (await fetch(SLACK + '/_fake/messages?channel=C0ALERTS')).json();
    check(msgs.some((m) => JSON.stringify(m).includes('Security alerts')), 'the message arrived in #sec-alerts');

    // 6. Checks page: weak_mfa notifies the target; add it to stale_admins too.
    await page.click('#nav-checks');
    await page.waitForSelector('#checks tr[data-check-type="weak_mfa"]');
    const weakRow = page.locator('#checks tr[data-check-type="weak_mfa"]');
    check(await weakRow.locator('input.target-tick[value="' + id + '"]').isChecked(), 'checks page: weak_mfa notifies the target');
    const staleRow = page.locator('#checks tr[data-check-type="stale_admins"]');
    check(!(await staleRow.locator('input.target-tick[value="' + id + '"]').isChecked()), 'checks page: stale_admins does not (yet)');
    await shot('06-checks');
    await staleRow.locator('input.target-tick[value="' + id + '"]').check();
    await staleRow.locator('button.save-row').click();
    await page.waitForSelector('#flash .notice.ok');
    await page.waitForSelector('#checks tr[data-check-type="stale_admins"] input.target-tick[value="' + id + '"]:checked');
    ok('checks page: stale_admins saved');
    await shot('07-checks-saved');

    // 7. Back on the target page the filter shows both.
    await page.goto(HERALD + '/console/target.html?id=' + id);
    await page.waitForSelector('#checks-summary .badge');
    const summary = await page.textContent('#checks-summary');
    check(summary.includes('stale_admins') && summary.includes('weak_mfa'), 'target now limited to both checks');

    // 7b. ?id= goes into API paths: anything but digits is refused before a request.
    const apiPaths = [];
    const onRequest = (r) => { if (r.url().includes('/api/v1/targets')) apiPaths.push(r.url()); };
    page.on('request', onRequest);
    await page.goto(HERALD + '/console/target.html?id=' + id + '%2F..%2F..%2Fworkspaces');
    await page.waitForSelector('#flash .notice.bad');
    page.off('request', onRequest);
    check((await page.textContent('#flash')).includes('needs ?id=<number>'), 'target page refuses a non-numeric id');
    check(apiPaths.length === 0, 'no API request built from a non-numeric id: ' + apiPaths.join(' '));

    // 8. The integrations list shows it with its health.
    await page.click('#nav-integrations');
    await page.waitForSelector('#targets .target-link');
    const row = await page.textContent('#targets tbody');
    check(row.includes('Security alerts') && row.includes('Fake Workspace') && row.includes('C0ALERTS'), 'integrations list shows the target');
    await page.waitForSelector('#activity-chart rect.bar-sent');
    check(await page.locator('#activity-chart').evaluate((e) => e.namespaceURI === 'http://www.w3.org/2000/svg'),
      'integrations page: the activity chart is inline SVG');
    check((await page.textContent('#activity-totals')).includes('1 sent'), 'integrations activity chart: the test message counted');
    await shot('08-integrations');

    // 9. The first target took the form's defaults: digests on, no threads.
    const first = await apiGet('/api/v1/targets/' + id);
    check(first.digest === true && first.thread_repeats === false,
      'API: a target created with the form\'s defaults has digest true, thread_repeats false (got ' +
      first.digest + ', ' + first.thread_repeats + ')');

    // 10. A target created with "repeats in threads" ticked.
    await page.click('#nav-new');
    await page.waitForSelector('#target-form:not(.hidden)');
    await page.waitForSelector('#channel option[value="C0ALERTS"]', { state: 'attached' });
    check(await page.isChecked('#digest'), 'new-target form: digests ticked by default');
    check(!(await page.isChecked('#thread-repeats')), 'new-target form: repeats in threads unticked by default');
    await page.fill('#name', 'Threaded repeats');
    await page.selectOption('#channel', 'C0ALERTS');
    await page.check('#thread-repeats');
    await shot('09-new-target-threads');
    await page.click('#create');
    await page.waitForURL(/\/console\/target\.html\?id=\d+/);
    await page.waitForSelector('#digest-state');
    const id2 = new URL(page.url()).searchParams.get('id');
    check(id2 !== id, 'a second target was created (id ' + id2 + ')');
    const created = await apiGet('/api/v1/targets/' + id2);
    check(created.thread_repeats === true, 'API: the new target has thread_repeats true');
    check(created.digest === true, 'API: the new target has digest true');
    check((await page.textContent('#digest-state')) === 'on', 'target page: Digests on');
    check((await page.textContent('#thread-repeats-state')) === 'on', 'target page: Repeats in threads on');
    check((await page.textContent('#toggle-digest')) === 'Turn off', 'target page: the digest button offers to turn it off');

    // 11. Flip digests off on the target page.
    await page.click('#toggle-digest');
    // (no waitForFunction: the console's CSP forbids eval)
    await page.waitForSelector('#digest-state:text-is("off")');
    check((await page.textContent('#toggle-digest')) === 'Turn on', 'target page: digests off, the button offers to turn them on');
    check((await page.textContent('#thread-repeats-state')) === 'on', 'target page: repeats in threads unchanged');
    const flipped = await apiGet('/api/v1/targets/' + id2);
    check(flipped.digest === false, 'API: digest false after the flip');
    check(flipped.thread_repeats === true, 'API: thread_repeats still true after the flip');
    await page.reload();
    await page.waitForSelector('#digest-state');
    check((await page.textContent('#digest-state')) === 'off', 'target page after a reload: Digests off');
    await shot('10-target-digest-off');

    // 12. A flip the API refuses shows its message and changes nothing: the
    // target is deleted behind the page's back.
    const doomed = await apiCall('POST', '/api/v1/targets',
      { workspace: 'T0FAKE01', name: 'Deleted behind the page', destination: 'C0ALERTS', uses: ['failed_check'] });
    check(doomed.status === 201 || doomed.status === 200, 'API: a third target created (HTTP ' + doomed.status + ')');
    await page.goto(HERALD + '/console/target.html?id=' + doomed.data.id);
    await page.waitForSelector('#thread-repeats-state');
    check((await page.textContent('#thread-repeats-state')) === 'off', 'target page: a target created through the API has threads off');
    const del = await apiCall('DELETE', '/api/v1/targets/' + doomed.data.id);
    check(del.status >= 200 && del.status < 300, 'API: the third target deleted (HTTP ' + del.status + ')');
    const refused = await apiCall('PATCH', '/api/v1/targets/' + doomed.data.id, { thread_repeats: true });
    check(refused.status === 404 && refused.data && refused.data.error, 'API: PATCH of a deleted target is refused: ' + JSON.stringify(refused.data));
    await page.click('#toggle-thread-repeats');
    await page.waitForSelector('#flash .notice.bad');
    const flashText = (await page.textContent('#flash')).trim();
    check(flashText === refused.data.error, 'target page shows the API\'s message: ' + flashText);
    check((await page.textContent('#thread-repeats-state')) === 'off', 'target page: repeats in threads still off after the refusal');
    check(await page.isEnabled('#toggle-thread-repeats'), 'target page: the button can be pressed again');
    await shot('11-target-flip-refused');

    await issue10(page, shot, id);

    check(errors.length === 0, 'no script errors in the pages' + (errors.length ? ': ' + errors.join('; ') : ''));
  } catch (err) {
    await shot('99-failure').catch(() => {});
    throw err;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(passed + ' passed, 0 failed');
}


// Issue 10 in the console: the noise controls on a target's page and the
// new-target form, suppressed deliveries with their reason and the kinds of
// delivery, the silences, remediations and settings pages. Each save is
// checked through the API. id: the "Security alerts" target.
async function issue10(page, shot, id) {
  // 13. The target page's noise controls, defaults first.
  await page.goto(HERALD + '/console/target.html?id=' + id);
  await page.waitForSelector('#noise-card:not(.hidden) #min-severity');
  check(await page.inputValue('#min-severity') === 'low', 'target page: severity floor low by default');
  check(await page.inputValue('#repeat-policy') === 'every', 'target page: repeats every run by default');
  check(await page.isHidden('#repeat-interval-box'), 'target page: no interval box for "every"');
  check(await page.isChecked('#notify-resolved'), 'target page: resolved updates on by default');
  check(!(await page.isChecked('#nudge-enabled')), 'target page: nudge button off by default');
  await page.selectOption('#min-severity', 'high');
  await page.selectOption('#repeat-policy', 'interval');
  check(await page.isVisible('#repeat-interval-box'), 'target page: the interval box shows for "at most every"');
  await page.fill('#repeat-interval', '4');
  await page.selectOption('#repeat-unit', '3600');
  await page.uncheck('#notify-resolved');
  await page.check('#nudge-enabled');
  await page.click('#save-noise');
  await page.waitForSelector('#noise-error .notice.ok');
  let t = await apiGet('/api/v1/targets/' + id);
  check(t.min_severity === 'high' && t.repeat_policy === 'interval' && t.repeat_interval_seconds === 14400 &&
    t.notify_resolved === false && t.nudge_enabled === true,
  'API: the target saved high, interval 14400 s, resolved off, nudge on (got ' +
    [t.min_severity, t.repeat_policy, t.repeat_interval_seconds, t.notify_resolved, t.nudge_enabled].join(', ') + ')');
  await page.reload();
  await page.waitForSelector('#noise-card:not(.hidden) #min-severity');
  check(await page.inputValue('#min-severity') === 'high', 'target page after a reload: floor high');
  check(await page.inputValue('#repeat-interval') === '4' && await page.inputValue('#repeat-unit') === '3600',
    'target page after a reload: at most every 4 hours');
  check((await page.textContent('#noise-summary')).includes('at most every 4 h'), 'target page: the details say "at most every 4 h"');
  check(!(await page.isChecked('#notify-resolved')) && await page.isChecked('#nudge-enabled'), 'target page after a reload: resolved off, nudge on');
  await page.locator('#noise-card').scrollIntoViewIfNeeded();
  await shot('12-target-noise');
  // A zero interval is stopped in the page; 31 days is refused by the API.
  await page.fill('#repeat-interval', '0');
  await page.click('#save-noise');
  await page.waitForSelector('#noise-error .notice.bad');
  check(await page.locator('#noise-form .field.invalid #repeat-policy').count() === 1, 'target page: a zero interval marks the repeat row');
  await page.reload();
  await page.waitForSelector('#noise-card:not(.hidden) #repeat-interval');
  await page.fill('#repeat-interval', '31');
  await page.selectOption('#repeat-unit', '86400');
  await page.click('#save-noise');
  await page.waitForSelector('#noise-error .notice.bad');
  ok('target page: the API\'s refusal is shown: ' + (await page.textContent('#noise-error')).trim());
  t = await apiGet('/api/v1/targets/' + id);
  check(t.repeat_interval_seconds === 14400, 'API: a 31-day interval was refused, the target still repeats every 4 h');

  // 14. The new-target form carries the same controls.
  await page.click('#nav-new');
  await page.waitForSelector('#target-form:not(.hidden) #min-severity');
  await page.waitForSelector('#channel option[value="C0ALERTS"]', { state: 'attached' });
  await page.fill('#name', 'Critical only');
  await page.selectOption('#channel', 'C0ALERTS');
  await page.selectOption('#min-severity', 'critical');
  await page.selectOption('#repeat-policy', 'on_change');
  await page.check('#nudge-enabled');
  await shot('13-new-target-noise');
  await page.click('#create');
  await page.waitForURL(/\/console\/target\.html\?id=\d+/);
  const id3 = new URL(page.url()).searchParams.get('id');
  t = await apiGet('/api/v1/targets/' + id3);
  check(t.min_severity === 'critical' && t.repeat_policy === 'on_change' && !t.repeat_interval_seconds &&
    t.notify_resolved === true && t.nudge_enabled === true,
  'API: a target created with floor critical, repeats on change, resolved on, nudge on');

  // 15. Delivery history: a suppressed delivery shows its reason; a resolve
  // and a nudge say what they were. (Rows the router and the sender write.)
  sql(`INSERT INTO events (event_id, tenant_id, kind, check_type, payload) VALUES
      ('10000000-0000-4000-8000-000000000001', 'acme', 'check_result', 'weak_mfa', '{"check":{"type":"weak_mfa","name":"Weak MFA"}}'),
      ('10000000-0000-4000-8000-000000000002', 'acme', 'check_result', 'weak_mfa', '{"check":{"type":"weak_mfa","name":"Weak MFA"}}'),
      ('10000000-0000-4000-8000-000000000003', 'acme', 'check_result', 'weak_mfa', '{"check":{"type":"weak_mfa","name":"Weak MFA"}}'),
      ('10000000-0000-4000-8000-000000000004', 'acme', 'nudge', 'weak_mfa', '{"schema":"herald.nudge.v1"}');
    INSERT INTO deliveries (event_id, target_id, tenant_id, state, kind, ref_event_id, last_error_code, last_error, slack_channel, slack_ts)
    SELECT * FROM (VALUES
      ('10000000-0000-4000-8000-000000000001'::uuid, ${id}::bigint, 'acme', 'suppressed', 'notify', NULL::uuid,
       'silenced', 'silence 7 (cli:alice): <b>Okta</b> maintenance', NULL, NULL),
      ('10000000-0000-4000-8000-000000000002'::uuid, ${id}, 'acme', 'suppressed', 'notify', NULL,
       'repeat_interval', 'notified 09:00; repeat every 4h', NULL, NULL),
      ('10000000-0000-4000-8000-000000000003'::uuid, ${id}, 'acme', 'sent', 'resolve', '10000000-0000-4000-8000-000000000002'::uuid,
       NULL, NULL, 'C0ALERTS', '1700000000.000100'),
      ('10000000-0000-4000-8000-000000000004'::uuid, ${id}, 'acme', 'sent', 'nudge', '10000000-0000-4000-8000-000000000002'::uuid,
       NULL, NULL, 'D0ALICE', '1700000000.000200')) v`);
  await page.goto(HERALD + '/console/target.html?id=' + id);
  await page.waitForSelector('#deliveries tr[data-state="suppressed"]');
  const quiet = page.locator('#deliveries tr[data-state="suppressed"]');
  check(await quiet.count() === 2, 'target page: two suppressed deliveries listed');
  const silenced = await quiet.filter({ hasText: 'silenced' }).textContent();
  check(silenced.includes('Kept quiet: silence 7 (cli:alice): <b>Okta</b> maintenance (silenced)'),
    'target page: the silenced delivery shows its reason verbatim: ' + silenced.trim());
  check(await page.locator('#deliveries b').count() === 0, 'target page: the reason is text, not markup');
  check(await quiet.locator('.badge.quiet').count() === 2, 'target page: suppressed has its own (quiet) badge');
  const resolve = page.locator('#deliveries tr[data-kind="resolve"]');
  check(await resolve.count() === 1 && (await resolve.textContent()).includes('Resolved: check weak_mfa'),
    'target page: the resolve delivery says what it resolved');
  const nudge = page.locator('#deliveries tr[data-kind="nudge"]');
  check(await nudge.count() === 1 && (await nudge.textContent()).includes('Nudge about check weak_mfa'),
    'target page: the nudge delivery says what it nudged about');
  await page.locator('#deliveries').scrollIntoViewIfNeeded();
  await shot('14-target-deliveries-kinds');

  // 16. Silences: from the target page's link, the scope is preset.
  await page.click('#silence-target');
  await page.waitForURL(/\/console\/silences\.html\?target_id=\d+/);
  await page.waitForSelector('#silences tbody tr');
  check(await page.inputValue('#silence-target') === String(id), 'silences page: the target is preset from the link');
  check((await page.textContent('#silences tbody')).includes('Nothing is silenced right now.'), 'silences page: none yet');
  await page.goto(HERALD + '/console/silences.html?target_id=1%20OR%201');
  await page.waitForSelector('#silences tbody tr');
  check(await page.inputValue('#silence-target') === '', 'silences page: a target_id that is not digits presets nothing');
  await shot('15-silences-empty');
  // Nothing to silence: stopped in the page.
  await page.fill('#silence-reason', 'nothing chosen');
  await page.click('#create-silence');
  await page.waitForSelector('#silence-error .notice.bad');
  check(await page.locator('#silence-form .field.invalid #silence-check').count() === 1, 'silences page: a silence without a scope is refused');
  // For 2 hours, a check on a target.
  await page.fill('#silence-check', 'weak_mfa');
  await page.selectOption('#silence-target', String(id));
  await page.fill('#silence-for', '2');
  await page.selectOption('#silence-for-unit', '3600');
  await page.fill('#silence-reason', 'Okta maintenance');
  await page.click('#create-silence');
  await page.waitForSelector('#flash .notice.ok');
  await page.waitForSelector('#silences tr[data-silence-id]');
  let list = (await apiGet('/api/v1/silences')).items;
  check(list.length === 1, 'API: one silence');
  const s1 = list[0];
  const span = (Date.parse(s1.ends_at) - Date.parse(s1.starts_at)) / 1000;
  check(s1.check_type === 'weak_mfa' && Number(s1.target_id) === Number(id) && !s1.team_id && s1.reason === 'Okta maintenance' &&
    s1.active === true && Math.abs(span - 7200) <= 5 && s1.author,
  'API: silence ' + s1.id + ' for weak_mfa on the target, 2 h, by ' + s1.author);
  // Until expired (a mute) for the workspace, with a reason that is markup.
  await page.fill('#silence-check', '');
  await page.selectOption('#silence-target', '');
  await page.selectOption('#silence-workspace', 'T0FAKE01');
  await page.check('#silence-end-forever');
  const hostile = '<img src=x id=pwned> noisy workspace';
  await page.fill('#silence-reason', hostile);
  await page.click('#create-silence');
  await page.waitForSelector('#silences tr[data-silence-id]:nth-child(2)');
  // Until a given time (tomorrow 09:30 local) for a check.
  const until = new Date(Date.now() + 86400000);
  until.setHours(9, 30, 0, 0);
  const pad = (n) => String(n).padStart(2, '0');
  const local = until.getFullYear() + '-' + pad(until.getMonth() + 1) + '-' + pad(until.getDate()) + 'T09:30';
  await page.selectOption('#silence-workspace', '');
  await page.fill('#silence-check', 'stale_admins');
  await page.check('#silence-end-until');
  await page.fill('#silence-until', local);
  await page.fill('#silence-reason', 'Until the audit');
  await page.click('#create-silence');
  await page.waitForSelector('#silences tr[data-silence-id]:nth-child(3)');
  list = (await apiGet('/api/v1/silences')).items;
  const mute = list.find((x) => x.team_id === 'T0FAKE01');
  const timed = list.find((x) => x.check_type === 'stale_admins');
  check(list.length === 3 && mute && mute.ends_at === null && mute.reason === hostile && !mute.check_type && !mute.target_id,
    'API: a mute for the workspace, without end, reason verbatim');
  check(timed && Date.parse(timed.ends_at) === until.getTime(), 'API: a silence for stale_admins until ' + until.toISOString());
  check((await page.textContent('#silences')).includes(hostile) && await page.locator('#pwned').count() === 0,
    'silences page: a reason that is markup shows as text');
  await shot('16-silences');
  // Expire the first.
  page.once('dialog', (d) => d.accept());
  await page.locator('#silences tr[data-silence-id="' + s1.id + '"] button.expire').click();
  await page.waitForSelector('#flash .notice.ok:has-text("expired")');
  await page.waitForSelector('#silences tr[data-silence-id="' + s1.id + '"]', { state: 'detached' });
  const gone = await apiGet('/api/v1/silences/' + s1.id);
  check(gone.active === false && gone.expired_at && gone.expired_by, 'API: silence ' + s1.id + ' expired by ' + gone.expired_by);
  check((await apiGet('/api/v1/silences?state=active')).items.length === 2, 'API: two silences still active');
  await page.check('#show-all');
  await page.waitForSelector('#silences tr[data-silence-id="' + s1.id + '"]');
  check((await page.locator('#silences tr[data-silence-id="' + s1.id + '"]').textContent()).includes('expired'),
    'silences page, all: the expired silence is listed as expired');
  check(await page.locator('#silences tr[data-silence-id="' + s1.id + '"] button.expire').count() === 0, 'silences page: no Expire for an expired silence');
  await shot('17-silences-all');

  // 17. Remediations: every check type seen, each with its default text.
  await page.click('#nav-remediations');
  await page.waitForSelector('#remediations tr[data-check-type="weak_mfa"]');
  const weak = page.locator('#remediations tr[data-check-type="weak_mfa"]');
  check(await weak.getAttribute('data-default') === 'true', 'remediations page: weak_mfa uses the default text');
  const defaultText = await weak.locator('textarea').inputValue();
  check(defaultText.length > 20, 'remediations page: the default text is shown');
  check(await page.locator('#remediations tr[data-check-type="stale_admins"]').count() === 1, 'remediations page: stale_admins listed');
  const mine = 'Set up a phishing-resistant factor: https://wiki.acme.example/mfa_setup <first_last@acme.example> *now*';
  await weak.locator('textarea').fill(mine);
  await weak.locator('button.save-remediation').click();
  await page.waitForSelector('#remediations tr[data-check-type="weak_mfa"][data-default="false"]');
  let rem = (await apiGet('/api/v1/remediations')).items.find((r) => r.check_type === 'weak_mfa');
  check(rem && rem.text === mine && rem.is_default === false, 'API: weak_mfa has the edited text, verbatim');
  check(await page.locator('#remediations tr[data-check-type="weak_mfa"] textarea').inputValue() === mine, 'remediations page: the edited text after the save');
  await shot('18-remediations-edited');
  await page.locator('#remediations tr[data-check-type="weak_mfa"] button.reset-remediation').click();
  await page.waitForSelector('#remediations tr[data-check-type="weak_mfa"][data-default="true"]');
  rem = (await apiGet('/api/v1/remediations')).items.find((r) => r.check_type === 'weak_mfa');
  check(rem.is_default === true && rem.text === defaultText, 'API: weak_mfa reset to the default text');

  // 18. Settings: who may press the buttons.
  await page.click('#nav-settings');
  await page.waitForSelector('#actions-form:not(.hidden)');
  check(await page.isChecked('#who-channel'), 'settings page: anyone in the channel by default');
  check(await page.isHidden('#action-users'), 'settings page: no user list for "channel"');
  await page.check('#who-listed');
  await page.click('#save-actions');
  await page.waitForSelector('#actions-error .notice.bad');
  check((await apiGet('/api/v1/settings/slack-actions')).who === 'channel', 'settings page: "listed" with nobody is stopped in the page');
  await page.fill('#action-users', 'U01ALICE, U02BOB');
  await page.fill('#action-groups', 'S01SECOPS');
  await page.click('#save-actions');
  await page.waitForSelector('#actions-error .notice.ok');
  let acts = await apiGet('/api/v1/settings/slack-actions');
  check(acts.who === 'listed' && JSON.stringify(acts.users) === '["U01ALICE","U02BOB"]' && JSON.stringify(acts.groups) === '["S01SECOPS"]',
    'API: listed, users U01ALICE U02BOB, group S01SECOPS (got ' + JSON.stringify(acts) + ')');
  await page.reload();
  await page.waitForSelector('#actions-form:not(.hidden)');
  check(await page.isChecked('#who-listed') && await page.inputValue('#action-users') === 'U01ALICE, U02BOB',
    'settings page after a reload: listed with the two users');
  await shot('19-settings-listed');
  await page.check('#who-none');
  await page.click('#save-actions');
  await page.waitForSelector('#actions-error .notice.ok');
  acts = await apiGet('/api/v1/settings/slack-actions');
  check(acts.who === 'none' && acts.users.length === 0 && acts.groups.length === 0, 'API: nobody may act, no lists kept');
}

main().catch((err) => {
  console.error('FAIL: ' + (err && err.stack ? err.stack : err));
  console.log(passed + ' passed, 1 failed');
  process.exit(1);
});
