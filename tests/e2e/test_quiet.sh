#!/usr/bin/env bash
# Keeping quiet and acting from Slack (issue 10), across the real programs:
# herald-checks / herald-collect -> mock Kafka -> herald-router -> PostgreSQL
# + deliveries topic -> herald-slack -> fake Slack, with herald-api serving
# /slack/interactivity (HERALD_SLACK_SIGNING_SECRET) and heraldctl making
# targets and silences. One tenant, one check type, three check targets:
#   A  #q-a  --repeat on_change --nudge on
#   B  #q-b  --min-severity high (the check is medium: always kept quiet)
#   C  #q-c  --repeat-every 1h
#   D  #q-d  data_collection (a collection's failure, then its resolve)
# Runs (evaluated_at 10 minutes apart, so the repeat policy is deterministic):
#   r1 fails         A, C post (buttons, names and emails verbatim); B below_min_severity
#   r2 same users    A repeat_on_change, C repeat_interval
#   r3 users change  A posts, C repeat_interval
#   r4 (silence)     A, C silenced (heraldctl silence add; then expired)
#   Acknowledge on A's r3 message (signed; a wrong secret: 401, nothing recorded)
#   Nudge on it      one DM per distinct email; an unknown one users_not_found;
#                    the message says "Nudged 2 users (1 not found in Slack)"
#   r5 passes        A's r3 and C's r1 messages edited "Resolved" (kind resolve)
#   a scheduled collection fails (D posts), then succeeds (D's message resolved)
#   r6 fails again   A, C post; Snooze 24 h on A's: a silence made from it
#   r7 users change  A silenced, C repeat_interval
# Every count is exact: the fake Slack's messages and edits, the delivery rows
# (kind, state, reason) per target, slack_actions and silences.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CTL=$(e2e_bin heraldctl) || exit 1
ROUTER=$(e2e_bin herald-router) || exit 1
SENDER=$(e2e_bin herald-slack) || exit 1
API=$(e2e_bin herald-api) || exit 1
CHECKS=$(e2e_bin herald-checks) || exit 1
COLLECT=$(e2e_bin herald-collect) || exit 1
MOCK_KAFKA=$(e2e_bin mock-kafka) || exit 1
FAKE_SLACK=$(e2e_bin fake-slack) || exit 1

export HERALD_LOG_LEVEL=${HERALD_E2E_LOG_LEVEL:-info}
export HERALD_SECRET_KEY
HERALD_SECRET_KEY=$(openssl rand -base64 32)
SIGNING_SECRET=$(openssl rand -hex 16)
WAIT=${HERALD_E2E_WAIT:-60} # seconds any one step may take
TENANT=t-quiet
TEAM=T0QUIET
CHECK_TYPE=admins_without_mfa
CHECK_NAME='Admins *without* MFA no_-34a27e26'

# ------------------------------------------------------------------ services
e2e_db_create
"$CTL" migrate >"$E2E_TMP/migrate.out" 2>&1 || e2e_fail "heraldctl migrate failed" "$(cat "$E2E_TMP/migrate.out")"

e2e_bg mock-kafka "$MOCK_KAFKA" --partitions 4 --bootstrap-file "$E2E_TMP/bootstrap"
e2e_wait 30 "mock-kafka's bootstrap file" test -s "$E2E_TMP/bootstrap"
HERALD_KAFKA_BROKERS=$(cat "$E2E_TMP/bootstrap")
export HERALD_KAFKA_BROKERS
export HERALD_KAFKA_SESSION_TIMEOUT_MS=6000 HERALD_KAFKA_HEARTBEAT_INTERVAL_MS=500

# Two of the failing users' addresses are known to Slack; ghost_user@ is not.
cat >"$E2E_TMP/slack-state.json" <<EOF
{
  "workspaces": [{"id": "$TEAM", "name": "Quiet", "tokens": ["xoxb-quiet"],
                  "bot_user_id": "U0BOTQ", "bot_id": "B0BOTQ"}],
  "channels": [
    {"id": "C0QA", "name": "q-a", "team": "$TEAM", "member": true},
    {"id": "C0QB", "name": "q-b", "team": "$TEAM", "member": true},
    {"id": "C0QC", "name": "q-c", "team": "$TEAM", "member": true},
    {"id": "C0QD", "name": "q-d", "team": "$TEAM", "member": true}
  ],
  "users": [
    {"id": "U0FIRST", "email": "first_last@acme.example", "name": "first_last", "team": "$TEAM"},
    {"id": "U0SECOND", "email": "second~user@acme.example", "name": "second", "team": "$TEAM"},
    {"id": "U0PRESS", "email": "secops@acme.example", "name": "secops", "team": "$TEAM"}
  ]
}
EOF
# Port 0 and the printed address (a port picked beforehand can be taken).
e2e_bg fake-slack "$FAKE_SLACK" --port 0 --state "$E2E_TMP/slack-state.json" --rate 0
e2e_wait 20 "fake-slack's address" grep -q '^http://' "$E2E_TMP/fake-slack.log"
SLACK=$(grep -m1 '^http://' "$E2E_TMP/fake-slack.log")
e2e_wait 20 "fake-slack" curl -fsS "$SLACK/_fake/healthz"
export HERALD_SLACK_API_URL="$SLACK/api"

HERALD_SLACK_TOKEN=xoxb-quiet "$CTL" workspace add --team-id "$TEAM" --name Quiet >"$E2E_TMP/ws.out" 2>&1 ||
  e2e_fail "workspace add" "$(cat "$E2E_TMP/ws.out")"

# add_target VAR NAME CHANNEL FLAGS...
add_target() {
  local var=$1 id
  id=$("$CTL" target add --tenant "$TENANT" --workspace "$TEAM" --name "$2" --channel "$3" \
    --digest off "${@:4}" 2>"$E2E_TMP/target.err") ||
    e2e_fail "heraldctl target add $2" "$(cat "$E2E_TMP/target.err")"
  [[ "$id" =~ ^[0-9]+$ ]] || e2e_fail "heraldctl target add $2 printed '$id', not an id"
  printf -v "$var" '%s' "$id"
}
add_target TA "quiet A" C0QA --uses failed_check --repeat on_change --nudge on
add_target TB "quiet B" C0QB --uses failed_check --min-severity high
add_target TC "quiet C" C0QC --uses failed_check --repeat-every 1h
add_target TD "quiet D" C0QD --uses data_collection
got=$(e2e_sql "SELECT name, min_severity, repeat_policy, coalesce(repeat_interval_s::text, '-'), notify_resolved, nudge_enabled
               FROM targets WHERE id <> $TD ORDER BY id")
e2e_eq "$got" "quiet A|low|on_change|-|t|t
quiet B|high|every|-|t|f
quiet C|low|interval|3600|t|f" "three targets with their settings"

export HERALD_SLACK_NO_DIGESTS=1
e2e_bg herald-router "$ROUTER"
ROUTER_PID=$E2E_LAST_PID
e2e_bg herald-slack "$SENDER"
SENDER_PID=$E2E_LAST_PID
HERALD_SLACK_SIGNING_SECRET=$SIGNING_SECRET e2e_bg herald-api "$API" --listen 127.0.0.1:0
e2e_wait 20 "herald-api's address" grep -q '^http://' "$E2E_TMP/herald-api.log"
API_URL=$(grep -m1 '^http://' "$E2E_TMP/herald-api.log")
e2e_wait 20 "herald-api" curl -fsS "$API_URL/healthz"
if grep -q "$SIGNING_SECRET" "$E2E_TMP"/*.log; then e2e_fail "the signing secret was logged"; fi

# ------------------------------------------------------------------ helpers
uuid() { cat /proc/sys/kernel/random/uuid; }
BASE=$(($(date +%s) - 90 * 60)) # r1 evaluated 90 minutes ago, each run 10 minutes later
at() { date -u -d "@$((BASE + $1 * 600))" +%Y-%m-%dT%H:%M:%SZ; }
# The failing users of a run, by set: s1 (r1, r2), s2 (r3: one more, and an
# address twice in two cases), s3 (r6), s4 (r4, r7: s2 without the first).
users_of() {
  local u1='{"id": "00u_first", "display_name": "First_Last ~admin~", "email": "first_last@acme.example"}'
  local u2='{"id": "00u_second", "display_name": "Second *Bold* User", "email": "second~user@acme.example"}'
  local u3='{"id": "00u_ghost", "display_name": "Ghost `Code` User", "email": "ghost_user@acme.example"}'
  local u4='{"id": "00u_first2", "display_name": "First Again", "email": "First_Last@ACME.example"}'
  case $1 in
    s1) echo "[$u1, $u2]" ;;
    s2) echo "[$u1, $u2, $u3, $u4]" ;;
    s3) echo "[$u1]" ;;
    s4) echo "[$u2, $u3, $u4]" ;;
    none) echo "[]" ;;
  esac
}
# run N USERSET: publishes run N (evaluated at(N)) and prints its event id.
run() {
  local id users
  id=$(uuid)
  users=$(users_of "$2")
  jq -nc --arg id "$id" --arg run "$(uuid)" --arg tenant "$TENANT" --arg type "$CHECK_TYPE" \
    --arg name "$CHECK_NAME" --arg at "$(at "$1")" --argjson users "$users" '{
      schema: "herald.check_result.v1", event_id: $id, tenant_id: $tenant, run_id: $run,
      trigger: "scheduled",
      check: {type: $type, name: $name, severity: "medium", url: "https://console.example.com/checks"},
      evaluated_at: $at, failing_count: ($users | length), total_count: 40, failing_users: $users}' |
    "$CHECKS" publish >"$E2E_TMP/publish-$1.out" 2>&1 ||
    e2e_fail "herald-checks publish run $1" "$(cat "$E2E_TMP/publish-$1.out")"
  echo "$id"
}
# collection N STATUS: publishes a scheduled collection of integration
# int_okta-1 (finished at(N)) and prints its event id.
collection() {
  local id
  id=$(uuid)
  jq -nc --arg id "$id" --arg tenant "$TENANT" --arg st "$2" --arg at "$(at "$1")" '{
      schema: "herald.collection_event.v1", event_id: $id, tenant_id: $tenant,
      integration: {id: "int_okta-1", name: "Okta *prod* no_-1", kind: "okta"},
      trigger: "scheduled", status: $st, started_at: $at, finished_at: $at, stats: {users: 42}}
      + (if $st == "failed" then {error: {code: "auth_failed", message: "key first_last revoked"}} else {} end)' |
    "$COLLECT" publish >"$E2E_TMP/publish-k$1.out" 2>&1 ||
    e2e_fail "herald-collect publish $2" "$(cat "$E2E_TMP/publish-k$1.out")"
  echo "$id"
}
rows_table() {
  e2e_sql "SELECT target_id, kind, state, coalesce(last_error_code, '-'), count(*) FROM deliveries
           GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4" | column -t -s '|'
}
# wait_final WHERE N WHAT: until N delivery rows match WHERE, all terminal.
wait_final() {
  local where=$1 want=$2 what=$3 i got
  for ((i = 0; i < WAIT * 5; i++)); do
    got=$(e2e_sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE state IN ('sent', 'failed', 'suppressed'))
                   FROM deliveries WHERE $where")
    [ "$got" = "$want $want" ] && return 0
    kill -0 "$ROUTER_PID" 2>/dev/null || e2e_fail "herald-router exited while waiting for $what"
    kill -0 "$SENDER_PID" 2>/dev/null || e2e_fail "herald-slack exited while waiting for $what"
    sleep 0.2
  done
  e2e_fail "$what: after ${WAIT}s expected $want final delivery rows, have (rows final) $got" "$(rows_table)"
}
# outcome EVENT_ID: "target:state:code" for each of the event's notify rows, by target.
outcome() {
  e2e_sql "SELECT string_agg(CASE target_id WHEN $TA THEN 'A' WHEN $TB THEN 'B' WHEN $TC THEN 'C' WHEN $TD THEN 'D' END
                             || ':' || state || ':' || coalesce(last_error_code, '-'), ' ' ORDER BY target_id)
           FROM deliveries WHERE event_id = '$1' AND kind = 'notify'"
}
# settle_run N EVENT_ID EXPECTED: the run's three rows final, as expected.
settle_run() {
  wait_final "event_id = '$2'" 3 "run $1"
  e2e_eq "$(outcome "$2")" "$3" "run $1: $3"
}
messages() { curl -fsS "$SLACK/_fake/messages${1:+?channel=$1}"; }
updates() { curl -fsS "$SLACK/_fake/updates${1:+?channel=$1}"; }
count_messages() { messages "$1" | jq length; }
ts_of() { # EVENT_ID TARGET: the Slack ts its notification was posted with
  e2e_sql "SELECT slack_ts FROM deliveries WHERE event_id = '$1' AND target_id = $2 AND kind = 'notify'"
}
# press ACTION EVENT_ID TARGET CHANNEL [SECRET]: a signed button press from
# U0PRESS through the fake Slack; prints the HTTP status herald-api answered.
press() {
  local ts
  ts=$(ts_of "$2" "$3")
  jq -nc --arg url "$API_URL/slack/interactivity" --arg secret "${5:-$SIGNING_SECRET}" --arg team "$TEAM" \
    --arg ch "$4" --arg ts "$ts" --arg action "$1" --arg value "$2:$3" '{url: $url, secret: $secret,
      team: $team, user: "U0PRESS", user_name: "secops", channel: $ch, ts: $ts,
      action_id: $action, value: $value}' |
    curl -fsS -X POST "$SLACK/_fake/interact" -H 'Content-Type: application/json' --data-binary @- |
    jq -r .status
}
# wait_update CHANNEL TS TEXT WHAT: until an edit of that message contains TEXT.
wait_update() {
  local i
  for ((i = 0; i < WAIT * 5; i++)); do
    updates "$1" | jq -e --arg ts "$2" --arg t "$3" \
      'any(.[]; .ts == $ts and ((.text + " " + (.blocks | tostring)) | contains($t)))' >/dev/null && return 0
    sleep 0.2
  done
  e2e_fail "$4: no edit of $1/$2 says '$3'" "$(updates "$1" | jq -c '.[] | {ts, text}')"
}
actions_of() { # the action ids of the buttons of message TS in CHANNEL (as posted, before any edit)
  messages "$1" | jq -r --arg ts "$2" '.[] | select(.ts == $ts) | .blocks[]
    | select(.block_id == "herald_actions") | .elements[] | .action_id' | sort | tr '\n' ' '
}

# ------------------------------------------------------------------ 1-2: first failing run
e2e_log "run 1: failing, posted to A and C, below B's floor"
R1=$(run 0 s1)
settle_run 1 "$R1" "A:sent:- B:suppressed:below_min_severity C:sent:-"
e2e_eq "$(e2e_sql "SELECT last_error FROM deliveries WHERE event_id = '$R1' AND target_id = $TB")" \
  "severity medium is below the target's floor high" "B's reason says why"
e2e_eq "$(count_messages C0QA)/$(count_messages C0QB)/$(count_messages C0QC)" 1/0/1 \
  "one message each in #q-a and #q-c, none in #q-b"
TS_A1=$(ts_of "$R1" "$TA")
TS_C1=$(ts_of "$R1" "$TC")
e2e_eq "$(actions_of C0QA "$TS_A1")" "herald_ack herald_mute herald_nudge herald_open herald_snooze " \
  "A's message: Acknowledge, Snooze, Mute, Nudge (nudge on) and View buttons"
e2e_eq "$(actions_of C0QC "$TS_C1")" "herald_ack herald_mute herald_open herald_snooze " \
  "C's message: the same without Nudge (nudge off)"
for pair in "C0QA $TS_A1 $R1:$TA" "C0QC $TS_C1 $R1:$TC"; do
  read -r ch ts want <<<"$pair"
  vals=$(messages "$ch" | jq -r --arg ts "$ts" '.[] | select(.ts == $ts) | .blocks[]
    | select(.block_id == "herald_actions") | .elements[] | select(.action_id != "herald_open") | .value' | sort -u)
  e2e_eq "$vals" "$want" "$ch: every button's value is <event_id>:<target_id>"
done
posted=$(messages | jq -c .)
for s in "$CHECK_NAME" first_last@acme.example second~user@acme.example 'First_Last ~admin~'; do
  n=$(jq --arg s "$s" '[.[] | select((.blocks | tostring) | contains($s))] | length' <<<"$posted")
  e2e_eq "$n" 2 "'$s' verbatim in the blocks of both messages"
done
n=$(jq --arg s "$CHECK_NAME" '[.[] | select(.text | contains($s))] | length' <<<"$posted")
e2e_eq "$n" 2 "the check name verbatim in both messages' text"
# no_zwsp WHAT JSON: neither the character (as jq prints it) nor its escape.
ZWSP=$(printf '\xe2\x80\x8b')
no_zwsp() {
  if grep -qF "$ZWSP" <<<"$2" || grep -qiF '\u200b' <<<"$2" || jq -e 'tostring | contains("\u200b")' <<<"$2" >/dev/null; then
    e2e_fail "$1 holds U+200B" "$(grep -oF "$ZWSP" <<<"$2" | wc -l) occurrence(s)"
  fi
  e2e_ok "no U+200B anywhere in $1"
}
no_zwsp "the posted JSON" "$posted"

# ------------------------------------------------------------------ 3: repeats
e2e_log "run 2: the same failing users 10 minutes later"
R2=$(run 1 s1)
settle_run 2 "$R2" "A:suppressed:repeat_on_change B:suppressed:below_min_severity C:suppressed:repeat_interval"
e2e_log "run 3: the failing users changed"
R3=$(run 2 s2)
settle_run 3 "$R3" "A:sent:- B:suppressed:below_min_severity C:suppressed:repeat_interval"
e2e_eq "$(count_messages C0QA)/$(count_messages C0QC)" 2/1 "#q-a has 2 messages, #q-c still 1"
TS_A3=$(ts_of "$R3" "$TA")

# ------------------------------------------------------------------ 4: a silence
SIL=$("$CTL" silence add --tenant "$TENANT" --check "$CHECK_TYPE" --for 1h --reason maintenance 2>"$E2E_TMP/silence.err") ||
  e2e_fail "heraldctl silence add" "$(cat "$E2E_TMP/silence.err")"
[[ "$SIL" =~ ^[0-9]+$ ]] || e2e_fail "heraldctl silence add printed '$SIL', not an id"
e2e_log "run 4: failing users changed again, under silence $SIL"
R4=$(run 3 s4)
settle_run 4 "$R4" "A:suppressed:silenced B:suppressed:below_min_severity C:suppressed:silenced"
n=$(e2e_sql "SELECT count(*) FROM deliveries WHERE event_id = '$R4' AND last_error_code = 'silenced'
             AND last_error LIKE 'silence $SIL %' AND last_error LIKE '%maintenance%'")
e2e_eq "$n" 2 "both silenced rows name silence $SIL and its reason" \
  "$(e2e_sql "SELECT last_error FROM deliveries WHERE event_id = '$R4'")"
"$CTL" silence expire "$SIL" >"$E2E_TMP/expire.out" 2>&1 || e2e_fail "heraldctl silence expire" "$(cat "$E2E_TMP/expire.out")"
e2e_eq "$(e2e_sql "SELECT count(*) FROM silences WHERE id = $SIL AND expired_at IS NOT NULL")" 1 "silence $SIL expired"

# ------------------------------------------------------------------ 5: Acknowledge
e2e_log "Acknowledge on A's latest message ($TS_A3)"
e2e_eq "$(press herald_ack "$R3" "$TA" C0QA)" 200 "the signed Acknowledge press answered 200"
e2e_eq "$(e2e_sql "SELECT action || ':' || outcome || ':' || user_id || ':' || channel || ':' || message_ts
                   || ':' || (event_id = '$R3') || ':' || target_id FROM slack_actions")" \
  "ack:ok:U0PRESS:C0QA:$TS_A3:true:$TA" "slack_actions: the ack, who, where, on which message"
wait_update C0QA "$TS_A3" "Acknowledged by" "Acknowledge"
acked_buttons=$(updates C0QA | jq -r --arg ts "$TS_A3" '[.[] | select(.ts == $ts)] | last | .blocks[]
  | select(.block_id == "herald_actions") | .elements[] | .action_id' | sort | tr '\n' ' ')
e2e_eq "$acked_buttons" "herald_mute herald_nudge herald_open herald_snooze " "the acked message lost its Acknowledge button"
e2e_eq "$(press herald_snooze "$R3" "$TA" C0QA wrong-secret)" 401 "a press signed with another secret: 401"
e2e_eq "$(e2e_sql "SELECT count(*) FROM slack_actions")/$(e2e_sql "SELECT count(*) FROM silences")" 1/1 \
  "the refused press recorded nothing and made no silence"

# ------------------------------------------------------------------ 6: Nudge
e2e_log "Nudge failing users on the same message"
updates_before=$(updates C0QA | jq length)
e2e_eq "$(press herald_nudge "$R3" "$TA" C0QA)" 200 "the Nudge press answered 200"
wait_final "kind = 'nudge'" 3 "the nudges"
got=$(e2e_sql "SELECT lower(e.payload->'user'->>'email') || ':' || d.state || ':' || coalesce(d.last_error_code, '-')
               FROM deliveries d JOIN events e USING (event_id)
               WHERE d.kind = 'nudge' AND d.target_id = $TA AND d.ref_event_id = '$R3' ORDER BY 1")
e2e_eq "$got" "first_last@acme.example:sent:-
ghost_user@acme.example:failed:users_not_found
second~user@acme.example:sent:-" "one nudge per distinct address; the unknown one users_not_found"
dms=$(messages | jq -r '.[] | select(.user != null) | .user' | sort | tr '\n' ' ')
e2e_eq "$dms" "U0FIRST U0SECOND " "one DM each to the two users Slack knows"
n=$(messages | jq '[.[] | select(.user != null) | select((.text + (.blocks | tostring)) | contains("Admins *without* MFA"))] | length')
e2e_eq "$n" 2 "the DMs name the check verbatim"
wait_update C0QA "$TS_A3" "Nudged 2 users (1 not found in Slack)" "the nudges' outcome"
# herald-api edits the message ("Nudging 3 users...") before it answers the
# press, the sender when the last nudge is out: the outcome is the last edit.
last=$(updates C0QA | jq -c --arg ts "$TS_A3" '[.[] | select(.ts == $ts)] | last')
jq -e '(.blocks | tostring) | contains("Nudged 2 users (1 not found in Slack)")' <<<"$last" >/dev/null ||
  e2e_fail "the message's last edit is not the nudges' outcome" "$(jq -c '.blocks' <<<"$last")"
e2e_eq "$(($(updates C0QA | jq length) - updates_before))" 2 \
  "two edits for the nudge: herald-api's (pending) and the sender's (the outcome)"
e2e_eq "$(e2e_sql "SELECT action || ':' || outcome FROM slack_actions ORDER BY id" | tr '\n' ' ')" \
  "ack:ok nudge:ok " "slack_actions: ack and nudge"
e2e_eq "$(press herald_nudge "$R3" "$TA" C0QA)" 200 "a second Nudge press answered 200"
e2e_eq "$(e2e_sql "SELECT count(*) FROM deliveries WHERE kind = 'nudge'")" 3 "a second press adds no nudge"

# ------------------------------------------------------------------ 7: resolved
e2e_log "run 5: the check passes"
R5=$(run 4 none)
wait_final "event_id = '$R5'" 2 "the resolves"
got=$(e2e_sql "SELECT CASE target_id WHEN $TA THEN 'A' WHEN $TB THEN 'B' WHEN $TC THEN 'C' WHEN $TD THEN 'D' END || ':' || kind
                      || ':' || state || ':' || ref_event_id FROM deliveries WHERE event_id = '$R5' ORDER BY target_id")
e2e_eq "$got" "A:resolve:sent:$R3
C:resolve:sent:$R1" "resolves for A (of run 3's message) and C (of run 1's); none for B, never told"
wait_update C0QA "$TS_A3" "Resolved" "A's resolve"
wait_update C0QC "$TS_C1" "Resolved" "C's resolve"
last_a=$(updates C0QA | jq -c --arg ts "$TS_A3" '[.[] | select(.ts == $ts)] | last')
for s in "Acknowledged by" "Nudged 2 users" "$CHECK_NAME"; do
  jq -e --arg s "$s" '(.text + (.blocks | tostring)) | contains($s)' <<<"$last_a" >/dev/null ||
    e2e_fail "A's resolved message lost '$s'" "$last_a"
done
e2e_ok "A's resolved message keeps its marks and the check name"
e2e_eq "$(jq '[.blocks[] | select(.block_id == "herald_actions") | .elements[] | select(.action_id != "herald_open")] | length' <<<"$last_a")" \
  0 "A's resolved message has no action buttons left"
e2e_eq "$(count_messages C0QA)/$(count_messages C0QB)/$(count_messages C0QC)" 2/0/1 "no new message for the resolves"

e2e_log "a scheduled collection fails, then succeeds"
K1=$(collection 4 failed)
wait_final "event_id = '$K1'" 1 "the failed collection"
e2e_eq "$(outcome "$K1")" "D:sent:-" "the failed collection is posted to D"
TS_D=$(ts_of "$K1" "$TD")
e2e_eq "$(messages C0QD | jq '[.[] | select((.blocks | tostring) | contains("Okta *prod* no_-1") and contains("auth_failed"))] | length')" \
  1 "the integration's name and error code verbatim in D's message"
K2=$(collection 5 succeeded)
wait_final "event_id = '$K2'" 1 "the collection's resolve"
e2e_eq "$(e2e_sql "SELECT kind || ':' || state || ':' || ref_event_id FROM deliveries WHERE event_id = '$K2'")" \
  "resolve:sent:$K1" "the scheduled success after the failure resolves D's message"
wait_update C0QD "$TS_D" "Resolved" "the collection's resolve"
e2e_eq "$(count_messages C0QD)" 1 "no new message in #q-d for the resolve"

# ------------------------------------------------------------------ 8: Snooze
e2e_log "run 6: failing again"
R6=$(run 5 s3)
settle_run 6 "$R6" "A:sent:- B:suppressed:below_min_severity C:sent:-"
TS_A6=$(ts_of "$R6" "$TA")
e2e_eq "$(press herald_snooze "$R6" "$TA" C0QA)" 200 "the Snooze press answered 200"
got=$(e2e_sql "SELECT tenant_id || ':' || check_type || ':' || (target_id = $TA) || ':' || author || ':'
                      || extract(epoch FROM ends_at - starts_at)::bigint || ':' || (created_from_event_id = '$R6') || ':' || (created_from_target_id = $TA)
               FROM silences WHERE id <> $SIL")
e2e_eq "$got" "$TENANT:$CHECK_TYPE:true:slack:$TEAM/U0PRESS:86400:true:true" \
  "the snooze made a 24 h silence of tenant, check and target A, from that message"
SNOOZE=$(e2e_sql "SELECT id FROM silences WHERE id <> $SIL")
e2e_eq "$(e2e_sql "SELECT action || ':' || outcome || ':' || coalesce(silence_id::text, '-') FROM slack_actions ORDER BY id DESC LIMIT 1")" \
  "snooze:ok:$SNOOZE" "slack_actions: the snooze names its silence"
wait_update C0QA "$TS_A6" "Snoozed until" "the snooze"
e2e_log "run 7: failing users changed, A snoozed"
R7=$(run 6 s4)
settle_run 7 "$R7" "A:suppressed:silenced B:suppressed:below_min_severity C:suppressed:repeat_interval"
n=$(e2e_sql "SELECT count(*) FROM deliveries WHERE event_id = '$R7' AND target_id = $TA AND last_error LIKE 'silence $SNOOZE %'")
e2e_eq "$n" 1 "A's row names the snooze's silence $SNOOZE"

# ------------------------------------------------------------------ totals
sleep 1 # anything that should not happen has had a moment to
e2e_eq "$(rows_table | sed "s/^$TA /A /; s/^$TB /B /; s/^$TC /C /; s/^$TD /D /" | tr -s ' ')" "A notify sent - 3
A notify suppressed repeat_on_change 1
A notify suppressed silenced 2
A nudge failed users_not_found 1
A nudge sent - 2
A resolve sent - 1
B notify suppressed below_min_severity 6
C notify sent - 2
C notify suppressed repeat_interval 3
C notify suppressed silenced 1
C resolve sent - 1
D notify sent - 1
D resolve sent - 1" "every delivery row, by target, kind, state and reason" "$(rows_table)"
e2e_eq "$(e2e_sql "SELECT name, sent_24h, failed_24h, suppressed_24h, coalesce(last_error_code, '-')
                   FROM target_delivery_health ORDER BY target_id")" "quiet A|6|1|3|-
quiet B|0|0|6|-
quiet C|3|0|4|-
quiet D|2|0|0|-" "health rollups count what was kept quiet; the nudge to an unknown user does not flag A"
e2e_eq "$(e2e_sql "SELECT target_id = $TA, alert_key, firing, coalesce(last_event_id::text, '-')
                   FROM alert_states ORDER BY target_id" | sed "s/$R6/R6/; s/$K1/K1/")" "t|check:$CHECK_TYPE|t|R6
f|check:$CHECK_TYPE|t|-
f|check:$CHECK_TYPE|t|R6
f|collection:int_okta-1|f|K1" "alert states: the check firing, A and C last told by run 6, B never told; the collection resolved"
e2e_eq "$(count_messages C0QA)/$(count_messages C0QB)/$(count_messages C0QC)/$(count_messages C0QD)/$(messages | jq '[.[] | select(.user != null)] | length')" \
  3/0/2/1/2 "Slack got 3 messages in #q-a, none in #q-b, 2 in #q-c, 1 in #q-d, 2 DMs"
e2e_eq "$(e2e_sql "SELECT action || ':' || outcome FROM slack_actions ORDER BY id" | tr '\n' ' ')" \
  "ack:ok nudge:ok nudge:ok snooze:ok " "slack_actions: every signed press, nothing for the refused one"
e2e_eq "$(updates | jq -r '.[] | .channel + ":" + .ts' | sort | uniq -c | awk '{print $2 "x" $1}' | sort | tr '\n' ' ')" \
  "$(printf '%s\n' "C0QA:${TS_A3}x5" "C0QA:${TS_A6}x1" "C0QC:${TS_C1}x1" "C0QD:${TS_D}x1" | sort | tr '\n' ' ')" \
  "edits: A's run-3 message 5 times (ack, nudge pending and outcome, second nudge, resolve), run 6's once (snooze), C's and D's once (resolve)"
no_zwsp "every message, DM and edit" "$(jq -nc --argjson m "$(messages)" --argjson u "$(updates)" '[$m, $u]')"
e2e_eq "$(curl -fsS "$SLACK/_fake/stats" | jq '.pings')" 0 "no message pinged anyone"
if grep -q 'xoxb-\|'"$SIGNING_SECRET" "$E2E_TMP"/*.log; then e2e_fail "a token or the signing secret was logged"; fi
e2e_ok "no token or signing secret in any log"
e2e_log "checked: floors, on_change and interval repeats, a CLI silence and its expiry, signed and refused presses, ack, nudges (DMs, not found, outcome edit), resolves (chat.update), a snooze from Slack applied to the next run"
