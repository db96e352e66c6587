// Drives the herald-api web console in Debian's headless Chromium
// (playwright-core, no bundled browser): sign in, install through the fake
// Slack, create a target limited to one check, send a test message, see it
// arrive and listed, edit the checks page; create a target with repeats in
// threads, flip its digests on its page (each checked through the API), see a
// refused flip's message; the activity chart (inline SVG) on the target and
// integrations pages. A screenshot of each page goes to
// $ARTIFACTS. Run by tests/e2e/test_console.sh, which starts the services.
'use strict';

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

main().catch((err) => {
  console.error('FAIL: ' + (err && err.stack ? err.stack : err));
  console.log(passed + ' passed, 1 failed');
  process.exit(1);
});
