#!/usr/bin/env bash
# The whole pipeline as separate processes: herald-checks / herald-collect ->
# mock Kafka -> herald-router -> PostgreSQL + deliveries topic -> herald-slack ->
# fake Slack. Asserts, from the fake Slack's record and the delivery rows:
#
#   A. routing: every expected message arrives exactly once in the right
#      channel or DM; nothing for a check filter that does not match, a check
#      with no failing users, a scheduled collection that succeeded, a
#      disabled target, or another tenant's target; failing destinations end
#      `failed` with Slack's code (not_in_channel, users_not_found,
#      token_revoked/invalid_auth); an invalid input line is reported and
#      the rest still published.
#   B. a 429 is honoured: while the channel's bucket is kept empty the sender
#      waits Retry-After (a handful of 429s, no storm) and delivers once.
#   C. SIGKILL of herald-slack mid-run and a restart lose nothing: every row
#      ends final and every message arrives, a second time only for a
#      delivery that was `sending` when the sender died (the documented window).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CTL=$(e2e_bin heraldctl) || exit 1
ROUTER=$(e2e_bin herald-router) || exit 1
SENDER=$(e2e_bin herald-slack) || exit 1
CHECKS=$(e2e_bin herald-checks) || exit 1
COLLECT=$(e2e_bin herald-collect) || exit 1
MOCK_KAFKA=$(e2e_bin mock-kafka) || exit 1
FAKE_SLACK=$(e2e_bin fake-slack) || exit 1

export HERALD_LOG_LEVEL=${HERALD_E2E_LOG_LEVEL:-info}
export HERALD_SECRET_KEY
HERALD_SECRET_KEY=$(openssl rand -base64 32)
WAIT=${HERALD_E2E_WAIT:-180} # seconds any one phase may take

# ------------------------------------------------------------------ services
e2e_db_create
"$CTL" migrate >"$E2E_TMP/migrate.out" 2>&1 || e2e_fail "heraldctl migrate failed" "$(cat "$E2E_TMP/migrate.out")"
e2e_ok "heraldctl migrate on a fresh database"

e2e_bg mock-kafka "$MOCK_KAFKA" --partitions 4 --bootstrap-file "$E2E_TMP/bootstrap"
e2e_wait 30 "mock-kafka's bootstrap file" test -s "$E2E_TMP/bootstrap"
HERALD_KAFKA_BROKERS=$(cat "$E2E_TMP/bootstrap")
export HERALD_KAFKA_BROKERS
# The mock cluster holds a rebalance until a dead member's session times out
# (45 s by default): keep it short so the restarted sender takes over quickly.
export HERALD_KAFKA_SESSION_TIMEOUT_MS=6000 HERALD_KAFKA_HEARTBEAT_INTERVAL_MS=500

cat >"$E2E_TMP/slack-state.json" <<'EOF'
{
  "workspaces": [
    {"id": "T0E2EA", "name": "E2E Alpha", "tokens": ["xoxb-e2e-alpha"],
     "bot_user_id": "U0BOTA", "bot_id": "B0BOTA"},
    {"id": "T0E2EB", "name": "E2E Beta", "tokens": [], "revoked_tokens": ["xoxb-e2e-beta"],
     "bot_user_id": "U0BOTB", "bot_id": "B0BOTB"}
  ],
  "channels": [
    {"id": "C0ALERTS", "name": "alerts", "team": "T0E2EA", "private": false, "member": true},
    {"id": "C0OPS", "name": "ops", "team": "T0E2EA", "private": false, "member": true},
    {"id": "C0BOTH", "name": "both", "team": "T0E2EA", "private": false, "member": true},
    {"id": "C0DISABLED", "name": "disabled", "team": "T0E2EA", "private": false, "member": true},
    {"id": "C0OTHER", "name": "other-tenant", "team": "T0E2EA", "private": false, "member": true},
    {"id": "G0NOTIN", "name": "private-notin", "team": "T0E2EA", "private": true, "member": false},
    {"id": "C0RETRY", "name": "retry", "team": "T0E2EA", "private": false, "member": true},
    {"id": "C0KILL1", "name": "kill-1", "team": "T0E2EA", "private": false, "member": true},
    {"id": "C0KILL2", "name": "kill-2", "team": "T0E2EA", "private": false, "member": true},
    {"id": "C0KILL3", "name": "kill-3", "team": "T0E2EA", "private": false, "member": true},
    {"id": "C0KILL4", "name": "kill-4", "team": "T0E2EA", "private": false, "member": true},
    {"id": "C0KILL5", "name": "kill-5", "team": "T0E2EA", "private": false, "member": true},
    {"id": "C0KILL6", "name": "kill-6", "team": "T0E2EA", "private": false, "member": true},
    {"id": "C0BETA", "name": "beta-alerts", "team": "T0E2EB", "private": false, "member": true}
  ],
  "users": [
    {"id": "U0ALICE", "email": "alice@e2e.example", "name": "alice", "team": "T0E2EA"},
    {"id": "U0BOB", "email": "bob@e2e.example", "name": "bob", "team": "T0E2EA"}
  ]
}
EOF
SLACK_PORT=$(e2e_free_port) || exit 1
SLACK="http://127.0.0.1:$SLACK_PORT"
# Slack's pace: one message a second per channel, bursts of three.
e2e_bg fake-slack "$FAKE_SLACK" --port "$SLACK_PORT" --state "$E2E_TMP/slack-state.json" \
  --rate 1 --burst 3 --log-requests
e2e_wait 30 "fake-slack" curl -fsS "$SLACK/_fake/healthz"
export HERALD_SLACK_API_URL="$SLACK/api"

# ------------------------------------------------------------------ configuration
HERALD_SLACK_TOKEN=xoxb-e2e-alpha "$CTL" workspace add --team-id T0E2EA --name "E2E Alpha" \
  >"$E2E_TMP/ws.out" 2>&1 || e2e_fail "workspace add T0E2EA" "$(cat "$E2E_TMP/ws.out")"
HERALD_SLACK_TOKEN=xoxb-e2e-beta "$CTL" workspace add --team-id T0E2EB --name "E2E Beta" \
  >>"$E2E_TMP/ws.out" 2>&1 || e2e_fail "workspace add T0E2EB" "$(cat "$E2E_TMP/ws.out")"
if grep -q 'xoxb-' "$E2E_TMP/ws.out" "$E2E_TMP"/*.log 2>/dev/null; then
  e2e_fail "a bot token was printed" "$(grep -l 'xoxb-' "$E2E_TMP/ws.out" "$E2E_TMP"/*.log)"
fi
e2e_ok "two workspaces added; no token printed"

# add_target VAR TENANT TEAM NAME DEST USES [--checks ...|--disabled]
add_target() {
  local var=$1 id
  id=$("$CTL" target add --tenant "$2" --workspace "$3" --name "$4" --channel "$5" --uses "$6" "${@:7}" \
    2>"$E2E_TMP/target.err") || e2e_fail "heraldctl target add $4" "$(cat "$E2E_TMP/target.err")"
  [[ "$id" =~ ^[0-9]+$ ]] || e2e_fail "heraldctl target add $4 printed '$id', not an id"
  printf -v "$var" '%s' "$id"
}
add_target T_ALL t-e2e T0E2EA "all checks" "#alerts" failed_check
add_target T_MFA t-e2e T0E2EA "mfa owner" alice@e2e.example failed_check --checks weak_mfa
add_target T_COLL t-e2e T0E2EA "collections" C0OPS data_collection
add_target T_BOTH t-e2e T0E2EA "stale and collections" C0BOTH failed_check,data_collection \
  --checks stale_accounts
add_target T_NOTIN t-e2e T0E2EA "private, bot not in" "#private-notin" failed_check
add_target T_NOBODY t-e2e T0E2EA "unknown person" nobody@e2e.example failed_check
add_target T_REVOKED t-e2e T0E2EB "revoked workspace" "#beta-alerts" failed_check
add_target T_DISABLED t-e2e T0E2EA "disabled" "#disabled" failed_check,data_collection --disabled
add_target T_OTHER t-other T0E2EA "other tenant" "#other-tenant" failed_check,data_collection
add_target T_RETRY t-retry T0E2EA "retry" "#retry" failed_check
KILL_TARGETS=()
for i in 1 2 3 4 5 6; do
  add_target tid t-kill T0E2EA "kill $i" "#kill-$i" failed_check
  KILL_TARGETS+=("$tid")
done
e2e_ok "targets created"

# After a SIGKILL, a delivery the dead sender had claimed is retried when its
# claim lease runs out (default 60 s): shorten it (it must exceed the request
# timeout) so phase C does not wait a minute.
export HERALD_SLACK_REQUEST_TIMEOUT=4s HERALD_SLACK_CLAIM_LEASE=6s
e2e_bg herald-router "$ROUTER"
ROUTER_PID=$E2E_LAST_PID
e2e_bg herald-slack "$SENDER"
SENDER_PID=$E2E_LAST_PID

# ------------------------------------------------------------------ events
uuid() { cat /proc/sys/kernel/random/uuid; }
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
# check_event TENANT MARKER TYPE FAILING [TRIGGER]: one check result; MARKER is
# unique and appears in the check's name, so it can be found in any message.
check_event() {
  jq -nc --arg id "$(uuid)" --arg run "$(uuid)" --arg tenant "$1" --arg m "$2" --arg type "$3" \
    --argjson failing "$4" --arg trig "${5:-manual}" --arg at "$(now)" '{
      schema: "herald.check_result.v1", event_id: $id, tenant_id: $tenant, run_id: $run,
      trigger: $trig,
      check: {type: $type, name: ("Check " + $m), severity: "high",
              url: "https://console.example.com/checks"},
      evaluated_at: $at, failing_count: $failing, total_count: 100,
      failing_users: [range(0; ([$failing, 3] | min)) |
        {id: ("u" + tostring), display_name: ("User " + tostring), email: ("u\(.)@e2e.example")}]}'
}
# collection_event TENANT MARKER TRIGGER STATUS
collection_event() {
  jq -nc --arg id "$(uuid)" --arg tenant "$1" --arg m "$2" --arg trig "$3" --arg st "$4" \
    --arg at "$(now)" '{
      schema: "herald.collection_event.v1", event_id: $id, tenant_id: $tenant,
      integration: {id: ("int-" + $m), name: ("Integration " + $m), kind: "okta"},
      trigger: $trig, status: $st, started_at: $at, finished_at: $at, stats: {users: 42}}
      + (if $st == "failed" then {error: {code: "auth_failed", message: "key revoked"}} else {} end)'
}

# Expected messages per destination, as "DEST MARKER" lines; DEST is a channel
# id or "DM:<user id>".
: >"$E2E_TMP/expected"
expect() { echo "$1 $2" >>"$E2E_TMP/expected"; }

checks_file="$E2E_TMP/checks.jsonl"
collections_file="$E2E_TMP/collections.jsonl"
{
  check_event t-e2e E2E-C01 weak_mfa 3
  check_event t-e2e E2E-C02 mfa_enrolled 0           # passes and was not failing: nowhere (a pass
  # of a failing check type would resolve its notifications: tests/e2e/test_quiet.sh)
  check_event t-e2e E2E-C03 admins_without_mfa 2
  check_event t-e2e E2E-C04 stale_accounts 5 scheduled
  check_event t-other E2E-C05 weak_mfa 7             # the other tenant's own event
  for i in $(seq 10 19); do check_event t-e2e "E2E-C$i" "burst_$i" 1; done
} >"$checks_file"
# The invalid line: the producer must name it and still publish the others.
sed -i '3i {"schema":"herald.check_result.v1","event_id":"not-a-uuid","tenant_id":"t-e2e"}' "$checks_file"
{
  collection_event t-e2e E2E-K01 manual succeeded
  collection_event t-e2e E2E-K02 manual failed
  collection_event t-e2e E2E-K03 scheduled failed
  collection_event t-e2e E2E-K04 scheduled succeeded # scheduled success: nothing
} >"$collections_file"

failing_checks_e2e=(E2E-C01 E2E-C03 E2E-C04 $(seq -f 'E2E-C%g' 10 19))
for m in "${failing_checks_e2e[@]}"; do expect C0ALERTS "$m"; done
expect DM:U0ALICE E2E-C01
expect C0BOTH E2E-C04
for m in E2E-K01 E2E-K02 E2E-K03; do expect C0OPS "$m"; expect C0BOTH "$m"; done
expect C0OTHER E2E-C05

# Delivery rows expected per target (the failing destinations get one row per
# event they match, each ending failed).
declare -A ROWS=(
  [$T_ALL]=${#failing_checks_e2e[@]} [$T_MFA]=1 [$T_COLL]=3 [$T_BOTH]=4
  [$T_NOTIN]=${#failing_checks_e2e[@]} [$T_NOBODY]=${#failing_checks_e2e[@]}
  [$T_REVOKED]=${#failing_checks_e2e[@]} [$T_DISABLED]=0 [$T_OTHER]=1
)

# ------------------------------------------------------------------ helpers
# rows_of "TARGET_IDS": state counts, for messages
rows_table() {
  e2e_sql "SELECT target_id, state, coalesce(last_error_code,'-'), count(*) FROM deliveries
           WHERE target_id IN ($1) GROUP BY 1,2,3 ORDER BY 1,2,3" | column -t -s '|'
}
# wait_final "TARGET_IDS" EXPECTED_ROWS WHAT: until that many rows exist, all sent/failed.
wait_final() {
  local ids=$1 want=$2 what=$3 i got
  for ((i = 0; i < WAIT * 2; i++)); do
    got=$(e2e_sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE state IN ('sent','failed'))
                   FROM deliveries WHERE target_id IN ($ids)")
    [ "$got" = "$want $want" ] && return 0
    kill -0 "$ROUTER_PID" 2>/dev/null || e2e_fail "herald-router exited while waiting for $what"
    kill -0 "$SENDER_PID" 2>/dev/null || e2e_fail "herald-slack exited while waiting for $what"
    sleep 0.5
  done
  e2e_fail "$what: after ${WAIT}s expected $want final delivery rows, have (rows final) $got" \
    "$(rows_table "$ids")"
}
# Markers per destination from the fake Slack: one line "DEST MARKER" per
# message that mentions the marker (a message counts a marker once, in its text
# or blocks; a digest listing several counts for each).
slack_markers() {
  curl -fsS "$SLACK/_fake/messages" | jq -r '.[]
    | (if .user then "DM:" + .user else .channel end) as $dest
    | [((.text // "") + " " + (.blocks | tostring)) | scan("E2E-[CKR][0-9]+")] | unique | .[]
    | "\($dest) \(.)"' | sort
}

# ------------------------------------------------------------------ A: routing
e2e_log "phase A: publish $(wc -l <"$checks_file") check lines (one invalid) and 4 collections"
"$CHECKS" publish "$checks_file" >"$E2E_TMP/publish-checks.out" 2>&1
rc=$?
e2e_eq "$rc" 1 "herald-checks exits 1 when a line is rejected" "$(cat "$E2E_TMP/publish-checks.out")"
grep -q '^line 3: ' "$E2E_TMP/publish-checks.out" ||
  e2e_fail "herald-checks did not report 'line 3: <field>: <reason>'" "$(cat "$E2E_TMP/publish-checks.out")"
e2e_ok "invalid line reported: $(grep '^line 3: ' "$E2E_TMP/publish-checks.out")"
"$COLLECT" publish <"$collections_file" >"$E2E_TMP/publish-collections.out" 2>&1 ||
  e2e_fail "herald-collect publish (stdin) failed" "$(cat "$E2E_TMP/publish-collections.out")"
e2e_ok "herald-collect published 4 events from stdin"

ids_a="$T_ALL,$T_MFA,$T_COLL,$T_BOTH,$T_NOTIN,$T_NOBODY,$T_REVOKED,$T_DISABLED,$T_OTHER"
want_a=0
for t in "${!ROWS[@]}"; do want_a=$((want_a + ROWS[$t])); done
wait_final "$ids_a" "$want_a" "phase A"
# Allow the router a moment to create anything it should not have.
sleep 2
for t in "${!ROWS[@]}"; do
  n=$(e2e_sql "SELECT count(*) FROM deliveries WHERE target_id = $t")
  e2e_eq "$n" "${ROWS[$t]}" "target $t has ${ROWS[$t]} delivery rows" "$(rows_table "$ids_a")"
done
e2e_eq "$(e2e_sql "SELECT count(*) FROM (SELECT event_id, target_id FROM deliveries
                   GROUP BY 1,2 HAVING count(*) > 1) d")" 0 "no duplicate (event, target) rows"

for t in "$T_ALL" "$T_MFA" "$T_COLL" "$T_BOTH" "$T_OTHER"; do
  bad=$(e2e_sql "SELECT count(*) FROM deliveries WHERE target_id = $t
                 AND (state <> 'sent' OR slack_ts IS NULL OR slack_channel IS NULL)")
  e2e_eq "$bad" 0 "target $t: every delivery sent, with Slack's channel and ts" "$(rows_table "$t")"
done
check_failed() { # TARGET CODES_REGEX WHAT
  local bad
  bad=$(e2e_sql "SELECT count(*) FROM deliveries WHERE target_id = $1
                 AND (state <> 'failed' OR last_error_code !~ '^($2)\$'
                      OR coalesce(last_error, '') = '')")
  e2e_eq "$bad" 0 "$3: every delivery failed with code $2 and a reason" \
    "$(e2e_sql "SELECT id, state, last_error_code, last_error FROM deliveries WHERE target_id = $1 LIMIT 5")"
}
check_failed "$T_NOTIN" not_in_channel "private channel the bot is not in"
check_failed "$T_NOBODY" "users_not_found|user_not_found" "unknown email address"
check_failed "$T_REVOKED" "token_revoked|invalid_auth" "revoked workspace token"
e2e_log "reasons: $(e2e_sql "SELECT DISTINCT last_error_code || ': ' || last_error FROM deliveries
                             WHERE state = 'failed'" | tr '\n' ';')"

slack_markers >"$E2E_TMP/got"
sort "$E2E_TMP/expected" >"$E2E_TMP/want"
if ! diff -u "$E2E_TMP/want" "$E2E_TMP/got" >"$E2E_TMP/diff"; then
  e2e_fail "Slack messages differ from the expected ones (- expected, + arrived; a repeated + line is a duplicate)" \
    "$(cat "$E2E_TMP/diff")"
fi
e2e_ok "$(wc -l <"$E2E_TMP/want") expected (destination, event) messages arrived exactly once, nothing else"
n=$(curl -fsS "$SLACK/_fake/messages?channel=C0BETA" | jq length)
e2e_eq "$n" 0 "nothing posted with the revoked token"
pings=$(curl -fsS "$SLACK/_fake/stats" | jq '.pings')
e2e_eq "$pings" 0 "no message pinged anyone (<!channel> etc. escaped)"
limited=$(curl -fsS "$SLACK/_fake/stats" | jq '.rate_limited')
# 13 messages into #alerts at 1/s with a burst of 3: the sender paces, so Slack
# rarely has to say no.
[ "$limited" -le 3 ] || e2e_fail "phase A drew $limited 429s: the sender does not pace channels" \
  "$(curl -fsS "$SLACK/_fake/stats" | jq -c .channels)"
e2e_ok "phase A: $limited 429s for $(curl -fsS "$SLACK/_fake/stats" | jq .messages) messages"

# ------------------------------------------------------------------ B: 429
e2e_log "phase B: keep #retry's bucket empty for 6 s while 3 deliveries wait for it"
post_drain() {
  curl -sS -o /dev/null -w '%{http_code}' -X POST "$SLACK/api/chat.postMessage" \
    -H 'Content-Type: application/json; charset=utf-8' -H 'Authorization: Bearer xoxb-e2e-alpha' \
    -d '{"channel":"C0RETRY","text":"drain"}'
}
for _ in 1 2 3 4; do post_drain >/dev/null; done # spend the burst
{
  for i in 1 2 3; do check_event t-retry "E2E-R0$i" retry_check 1; done
} | "$CHECKS" publish >"$E2E_TMP/publish-retry.out" 2>&1 ||
  e2e_fail "herald-checks publish (phase B)" "$(cat "$E2E_TMP/publish-retry.out")"
ours=0
end=$((SECONDS + 6))
while [ $SECONDS -lt $end ]; do
  [ "$(post_drain)" = 429 ] && ours=$((ours + 1))
  sleep 0.4
done
for m in E2E-R01 E2E-R02 E2E-R03; do expect C0RETRY "$m"; done
wait_final "$T_RETRY" 3 "phase B"
bad=$(e2e_sql "SELECT count(*) FROM deliveries WHERE target_id = $T_RETRY AND state <> 'sent'")
e2e_eq "$bad" 0 "phase B: all 3 deliveries sent after the 429s" "$(rows_table "$T_RETRY")"
total=$(curl -fsS "$SLACK/_fake/stats" | jq '.channels.C0RETRY.rate_limited // 0')
sender_429=$((total - ours))
e2e_log "phase B: #retry answered $total 429s, $ours of them to the test's own posts, $sender_429 to herald-slack"
# Honouring Retry-After (1 s here) allows about one attempt a second for 6 s;
# a sender retrying without waiting would draw dozens.
[ "$sender_429" -le 12 ] ||
  e2e_fail "herald-slack drew $sender_429 429s in 6 s: Retry-After is not honoured"
e2e_ok "phase B: Retry-After honoured ($sender_429 429s to the sender), all delivered"
got=$(slack_markers | grep -c '^C0RETRY E2E-R')
e2e_eq "$got" 3 "phase B: each of the 3 messages arrived once"

# ------------------------------------------------------------------ C: SIGKILL
# stop_worker PID NAME: SIGTERM, then it must exit 0 within 15 s.
stop_worker() {
  local pid=$1 rc
  kill -TERM "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && e2e_fail "$2 (pid $pid) did not exit within 15 s of SIGTERM"
  wait "$pid"
  rc=$?
  e2e_eq "$rc" 0 "$2 stopped cleanly on SIGTERM (exit 0)"
}
e2e_log "phase C: 8 events x 6 channels, digests off, Slack answering slowly; SIGKILL herald-slack mid-run, then restart it"
# One message at a time per channel, each taking 1.5 s at Slack, so at the kill
# several posts are in flight: those deliveries are the duplicate window.
stop_worker "$SENDER_PID" herald-slack
curl -fsS -X POST "$SLACK/_fake/faults" -d '{"delay_ms": 1500, "methods": ["chat.postMessage"]}' >/dev/null ||
  e2e_fail "cannot set fake-slack faults"
HERALD_SLACK_NO_DIGESTS=1 e2e_bg herald-slack "$SENDER"
SENDER_PID=$E2E_LAST_PID
kill_ids=$(IFS=,; echo "${KILL_TARGETS[*]}")
for i in $(seq 1 8); do check_event t-kill "E2E-C$((40 + i))" kill_check 2; done >"$E2E_TMP/kill.jsonl"
for i in $(seq 1 8); do for c in 1 2 3 4 5 6; do expect "C0KILL$c" "E2E-C$((40 + i))"; done; done
"$CHECKS" publish "$E2E_TMP/kill.jsonl" >"$E2E_TMP/publish-kill.out" 2>&1 ||
  e2e_fail "herald-checks publish (phase C)" "$(cat "$E2E_TMP/publish-kill.out")"
# Kill once some, but not all, messages are out.
for ((i = 0; i < WAIT * 5; i++)); do
  n=$(slack_markers | grep -c ' E2E-C4[1-8]$')
  [ "$n" -ge 8 ] && break
  sleep 0.2
done
[ "$n" -ge 8 ] || e2e_fail "phase C: fewer than 8 messages arrived before the kill ($n)"
kill -KILL "$SENDER_PID"
wait "$SENDER_PID" 2>/dev/null
# The dead sender can update nothing now: rows still `sending` are the window.
# As "CHANNEL MARKER" pairs (targets #kill-N are channels C0KILLN).
e2e_sql "SELECT t.destination, e.payload->'check'->>'name'
           FROM deliveries d JOIN targets t ON t.id = d.target_id JOIN events e ON e.event_id = d.event_id
          WHERE d.target_id IN ($kill_ids) AND d.state = 'sending'" |
  sed -E 's/^#kill-([0-9]+)\|Check (E2E-C[0-9]+)$/C0KILL\1 \2/' | sort >"$E2E_TMP/window"
sleep 2 # posts in flight at the kill land now (Slack still answers them)
before=$(slack_markers | grep -c ' E2E-C4[1-8]$')
e2e_log "phase C: killed with about $before of 48 messages out; $(wc -l <"$E2E_TMP/window") deliveries were 'sending'"
[ "$before" -lt 48 ] || e2e_fail "phase C: all 48 messages were out before the kill: the test did not test a crash"
curl -fsS -X POST "$SLACK/_fake/faults" -d '{"clear": true}' >/dev/null
HERALD_SLACK_NO_DIGESTS=1 e2e_bg herald-slack "$SENDER"
SENDER_PID=$E2E_LAST_PID
wait_final "$kill_ids" 48 "phase C (after the restart)"
bad=$(e2e_sql "SELECT count(*) FROM deliveries WHERE target_id IN ($kill_ids) AND state <> 'sent'")
e2e_eq "$bad" 0 "phase C: all 48 deliveries sent after the restart" "$(rows_table "$kill_ids")"
# Every message present; a repeat only for a delivery that was in the window.
slack_markers | grep ' E2E-C4[1-8]$' >"$E2E_TMP/got-kill"
missing=$(grep ' E2E-C4[1-8]$' "$E2E_TMP/expected" | sort | comm -23 - <(sort -u "$E2E_TMP/got-kill"))
[ -z "$missing" ] || e2e_fail "phase C: messages lost after SIGKILL" "$missing"
uniq -d "$E2E_TMP/got-kill" >"$E2E_TMP/dups"
outside=$(comm -23 "$E2E_TMP/dups" "$E2E_TMP/window")
[ -z "$outside" ] || e2e_fail "phase C: posted twice although not 'sending' at the kill (outside the window)" \
  "$outside" "window: $(tr '\n' ';' <"$E2E_TMP/window")"
triple=$(uniq -c "$E2E_TMP/got-kill" | awk '$1 > 2')
[ -z "$triple" ] || e2e_fail "phase C: posted more than twice" "$triple"
e2e_ok "phase C: nothing lost across SIGKILL + restart; $(wc -l <"$E2E_TMP/dups") repeat(s), all within the window"

# Nothing anywhere that was not expected (covers all phases, the other tenant
# and the disabled target).
slack_markers | sort -u >"$E2E_TMP/got-all"
unexpected=$(comm -13 <(sort -u "$E2E_TMP/expected") "$E2E_TMP/got-all")
[ -z "$unexpected" ] || e2e_fail "messages nobody should have received" "$unexpected"
e2e_ok "no message for a target that should not get it"

# Clean shutdown: SIGTERM ends both workers within a bounded time.
stop_worker "$SENDER_PID" herald-slack
stop_worker "$ROUTER_PID" herald-router
