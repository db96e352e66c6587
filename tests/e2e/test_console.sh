#!/usr/bin/env bash
# The web console in a real browser (issue 5): herald-api, the fake Slack and
# PostgreSQL, driven in Debian's headless Chromium with playwright-core
# (tests/e2e/console/drive.js): sign in, install through the fake Slack,
# create a target limited to a check, send a test message, see it arrive and
# listed, edit the checks page, create a target with repeats in threads and
# flip its digests off, see the activity chart (SVG) count the test
# message. Issue 10: the noise controls (severity floor, repeat policy,
# resolved updates, nudge button) on the target page and the new-target form,
# suppressed deliveries with their reason and the kinds of delivery (seeded in
# SQL), the silences page (create for a time / until / forever, expire, list
# all), remediations (edit, reset) and who may press Slack buttons.
# Screenshots: tests/artifacts/console/*.png.
#
# Needs chromium (deploy/install-deps.sh --browser) and node/npm; installs
# playwright-core into tests/e2e/console/node_modules (gitignored) from the
# committed package-lock.json on first run. Without chromium the test is
# skipped, unless HERALD_E2E_BROWSER=1 makes it required.
source "$(dirname "$0")/lib.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
CONSOLE_DIR="$HERALD_SOURCE_DIR/tests/e2e/console"
ARTIFACTS="$HERALD_SOURCE_DIR/tests/artifacts/console"

skip_or_fail() {
  if [ "${HERALD_E2E_BROWSER:-0}" = 1 ]; then e2e_fail "$1"; fi
  echo "SKIP: $1 (set HERALD_E2E_BROWSER=1 to make this a failure)"
  exit 0
}
[ -x "$CHROMIUM" ] || skip_or_fail "no Chromium at $CHROMIUM (deploy/install-deps.sh --browser)"
command -v node >/dev/null && command -v npm >/dev/null || skip_or_fail "node and npm are not installed"
if [ ! -f "$CONSOLE_DIR/node_modules/playwright-core/package.json" ]; then
  e2e_log "installing playwright-core (npm ci)"
  (cd "$CONSOLE_DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$E2E_TMP/npm.log" 2>&1 ||
    skip_or_fail "npm ci failed in tests/e2e/console: $(tail -n 3 "$E2E_TMP/npm.log" | tr '\n' ' ')"
fi

api_bin=$(e2e_bin herald-api) || exit 1
ctl_bin=$(e2e_bin heraldctl) || exit 1
slack_bin=$(e2e_bin fake-slack) || exit 1

e2e_db_create
export HERALD_SECRET_KEY=$(head -c 32 /dev/urandom | base64)
"$ctl_bin" migrate >"$E2E_TMP/migrate.log" 2>&1 || e2e_fail "heraldctl migrate failed" "$(cat "$E2E_TMP/migrate.log")"
token=$("$ctl_bin" token create --tenant acme --name e2e 2>>"$E2E_TMP/token.log") ||
  e2e_fail "heraldctl token create failed" "$(cat "$E2E_TMP/token.log")"
case "$token" in hrld_*) e2e_ok "heraldctl token create printed a token" ;; *) e2e_fail "unexpected token output" ;; esac
# Two check types already seen for the tenant (as the router would record them).
e2e_sql "INSERT INTO events (event_id, tenant_id, kind, check_type, payload) VALUES
  (gen_random_uuid(), 'acme', 'check_result', 'weak_mfa', '{\"check\":{\"type\":\"weak_mfa\",\"name\":\"Weak MFA Configured\"}}'),
  (gen_random_uuid(), 'acme', 'check_result', 'stale_admins', '{\"check\":{\"type\":\"stale_admins\",\"name\":\"Stale admin accounts\"}}')" >/dev/null

# Port 0 and the printed address: a port picked free beforehand can be taken
# by another test before the bind.
e2e_bg fake-slack "$slack_bin" --port 0 --rate 0
e2e_wait 20 "fake-slack's address" grep -q '^http://' "$E2E_TMP/fake-slack.log"
slack_url=$(grep -m1 '^http://' "$E2E_TMP/fake-slack.log")
e2e_wait 20 "fake-slack" curl -fsS "$slack_url/_fake/healthz"

# Its public URL is derived from the port it binds (http://127.0.0.1:PORT).
HERALD_SLACK_API_URL="$slack_url/api" \
  HERALD_SLACK_AUTHORIZE_URL="$slack_url/oauth/v2/authorize" \
  HERALD_SLACK_CLIENT_ID=fake-client-id HERALD_SLACK_CLIENT_SECRET=fake-client-secret \
  e2e_bg herald-api "$api_bin" --listen 127.0.0.1:0
api_pid=$E2E_LAST_PID
e2e_wait 20 "herald-api's address" grep -q '^http://' "$E2E_TMP/herald-api.log"
api_url=$(grep -m1 '^http://' "$E2E_TMP/herald-api.log")
e2e_wait 20 "herald-api" curl -fsS "$api_url/healthz"
e2e_ok "herald-api is up at $api_url"

rm -rf "$ARTIFACTS"
(cd "$CONSOLE_DIR" && HERALD_URL="$api_url" SLACK_URL="$slack_url" HERALD_TOKEN="$token" \
  ARTIFACTS="$ARTIFACTS" CHROMIUM="$CHROMIUM" timeout 300 node drive.js) >"$E2E_TMP/browser.log" 2>&1
rc=$?
cat "$E2E_TMP/browser.log"
[ "$rc" = 0 ] || e2e_fail "the browser run failed (exit $rc)"
e2e_ok "the browser run passed"

# What the browser did is in the database too.
sent=$(e2e_sql "SELECT count(*) FROM deliveries d JOIN events e USING (event_id)
                 WHERE e.kind = 'test' AND d.state = 'sent' AND d.tenant_id = 'acme'")
e2e_eq "$sent" 1 "one test delivery recorded as sent"
checks=$(e2e_sql "SELECT string_agg(check_type, ',' ORDER BY check_type) FROM target_checks tc
                  JOIN targets t ON t.id = tc.target_id WHERE t.name = 'Security alerts'")
e2e_eq "$checks" "stale_admins,weak_mfa" "the target's check filter as edited in the console"
settings=$(e2e_sql "SELECT name, digest_enabled, thread_repeats FROM targets
                    WHERE tenant_id = 'acme' AND deleted_at IS NULL ORDER BY id")
e2e_eq "$settings" "Security alerts|t|f
Threaded repeats|f|t
Critical only|t|f" "digest and thread_repeats as set in the console (form defaults; thread box ticked, digests flipped off)"
noise=$(e2e_sql "SELECT name, min_severity, repeat_policy, coalesce(repeat_interval_s::text, '-'), notify_resolved, nudge_enabled
                 FROM targets WHERE tenant_id = 'acme' AND deleted_at IS NULL ORDER BY id")
e2e_eq "$noise" "Security alerts|high|interval|14400|f|t
Threaded repeats|low|every|-|t|f
Critical only|critical|on_change|-|t|t" "severity floor, repeat policy, resolved updates and nudge button as set in the console"
silences=$(e2e_sql "SELECT coalesce(check_type, '-'), coalesce(team_id, '-'), ends_at IS NULL, expired_at IS NOT NULL
                    FROM silences WHERE tenant_id = 'acme' ORDER BY id")
e2e_eq "$silences" "weak_mfa|-|f|t
-|T0FAKE01|t|f
stale_admins|-|f|f" "three silences made in the console, the first expired there"
e2e_eq "$(e2e_sql "SELECT count(*) FROM remediations WHERE tenant_id = 'acme'")" 0 "the edited remediation was reset to the default"
e2e_eq "$(e2e_sql "SELECT slack_actions, action_users, action_groups FROM tenant_settings WHERE tenant_id = 'acme'")" \
  "none|{}|{}" "who may press Slack buttons, as last saved in the console (no lists with nobody)"
n=$(ls "$ARTIFACTS"/*.png 2>/dev/null | wc -l)
[ "$n" -ge 19 ] && e2e_ok "$n screenshots in tests/artifacts/console" || e2e_fail "expected 19 screenshots, found $n"

kill -TERM "$api_pid"
for _ in $(seq 1 100); do kill -0 "$api_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$api_pid" 2>/dev/null && e2e_fail "herald-api did not stop within 10 s of SIGTERM"
wait "$api_pid"
e2e_eq "$?" 0 "herald-api exits 0 on SIGTERM"
