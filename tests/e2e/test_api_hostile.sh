#!/usr/bin/env bash
# herald-api against hostile requests (tests/e2e/api_hostile.py): huge
# headers, bad and deeply nested JSON, invalid UTF-8, NUL bytes, path
# traversal into the console files, bad cookies and tokens, ids that
# overflow, odd methods and random bodies, with an operator and a tenant
# token. herald-api must answer every one with a 4xx (never 5xx, never a
# crash), keep answering /healthz, and stop cleanly afterwards. Run under
# the ASan/UBSan build, a memory error ends the process and fails the test.
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || e2e_fail "python3 is needed (deploy/install-deps.sh)"
api_bin=$(e2e_bin herald-api) || exit 1
ctl_bin=$(e2e_bin heraldctl) || exit 1
slack_bin=$(e2e_bin fake-slack) || exit 1

e2e_db_create
export HERALD_SECRET_KEY=$(head -c 32 /dev/urandom | base64)
"$ctl_bin" migrate >"$E2E_TMP/migrate.log" 2>&1 || e2e_fail "heraldctl migrate failed" "$(cat "$E2E_TMP/migrate.log")"
op=$("$ctl_bin" token create --name hostile-op 2>>"$E2E_TMP/token.log") || e2e_fail "token create failed"
ten=$("$ctl_bin" token create --tenant acme --name hostile 2>>"$E2E_TMP/token.log") || e2e_fail "token create failed"

# Port 0 and the printed address: a port picked free beforehand can be taken
# by another test before the bind.
e2e_bg fake-slack "$slack_bin" --port 0 --rate 0
e2e_wait 20 "fake-slack's address" grep -q '^http://' "$E2E_TMP/fake-slack.log"
slack_url=$(grep -m1 '^http://' "$E2E_TMP/fake-slack.log")
e2e_wait 20 "fake-slack" curl -fsS "$slack_url/_fake/healthz"

HERALD_SLACK_API_URL="$slack_url/api" \
  HERALD_SLACK_AUTHORIZE_URL="$slack_url/oauth/v2/authorize" \
  HERALD_SLACK_CLIENT_ID=fake-client-id HERALD_SLACK_CLIENT_SECRET=fake-client-secret \
  HERALD_LOG_LEVEL=debug \
  e2e_bg herald-api "$api_bin" --listen 127.0.0.1:0
api_pid=$E2E_LAST_PID
e2e_wait 30 "herald-api's address" grep -q '^http://' "$E2E_TMP/herald-api.log"
api_url=$(grep -m1 '^http://' "$E2E_TMP/herald-api.log")
e2e_wait 30 "herald-api" curl -fsS "$api_url/healthz"
e2e_ok "herald-api is up at $api_url"

timeout 600 python3 "$HERALD_SOURCE_DIR/tests/e2e/api_hostile.py" "$api_url" "$op" "$ten" "$$" \
  >"$E2E_TMP/hostile.log" 2>&1
rc=$?
tail -n 1 "$E2E_TMP/hostile.log"
[ "$rc" = 0 ] || e2e_fail "hostile requests (exit $rc)" "$(grep -E '^FAIL|Traceback|Error' "$E2E_TMP/hostile.log" | head -20)"
e2e_ok "every hostile request was answered with a 4xx and herald-api kept serving"

kill -0 "$api_pid" 2>/dev/null || e2e_fail "herald-api is gone"
grep -aqE 'runtime error|AddressSanitizer|LeakSanitizer' "$E2E_TMP/herald-api.log" &&
  e2e_fail "a sanitizer spoke" "$(grep -aE -A5 'runtime error|Sanitizer' "$E2E_TMP/herald-api.log" | head -20)"
e2e_ok "no sanitizer report"
# Tokens the requests carried are never written to the log.
grep -aqF -e "$op" -e "$ten" -e "fake-client-secret" "$E2E_TMP/herald-api.log" &&
  e2e_fail "a token or the client secret is in herald-api's log"
e2e_ok "no token or secret in herald-api's debug log"

kill -TERM "$api_pid"
for _ in $(seq 1 150); do kill -0 "$api_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$api_pid" 2>/dev/null && e2e_fail "herald-api did not stop within 15 s of SIGTERM"
wait "$api_pid"
e2e_eq "$?" 0 "herald-api exits 0 on SIGTERM after the hostile run"
