#!/usr/bin/env bash
# Fast recovery (issue 9): mock Kafka -> herald-router -> herald-slack ->
# fake-slack with a backlog (EVENTS check results to CHANNELS channels of one
# tenant, digests off, Slack's pace 1/s burst 3); herald-slack is SIGKILLed
# once some messages are out and restarted at once with the same instance id.
# Asserted: nothing lost (every delivery sent, every message in its channel),
# and a repeat only for a delivery that was 'sending' at the kill (its request
# in flight), so repeats <= in flight at the kill. No timing is asserted; the
# timings (restart -> first post, whole run vs the pace limit) are printed,
# and bench/recovery_bench.sh runs this with the issue's 300 deliveries.
#
# Environment: RECOVERY_EVENTS (default 4), RECOVERY_CHANNELS (default 12),
# RECOVERY_KILL_AFTER (messages out before the kill, default a quarter).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CTL=$(e2e_bin heraldctl) || exit 1
ROUTER=$(e2e_bin herald-router) || exit 1
SENDER=$(e2e_bin herald-slack) || exit 1
CHECKS=$(e2e_bin herald-checks) || exit 1
MOCK_KAFKA=$(e2e_bin mock-kafka) || exit 1
FAKE_SLACK=$(e2e_bin fake-slack) || exit 1

EVENTS=${RECOVERY_EVENTS:-4}
CHANNELS=${RECOVERY_CHANNELS:-12}
TOTAL=$((EVENTS * CHANNELS))
KILL_AFTER=${RECOVERY_KILL_AFTER:-$((TOTAL / 4))}
WAIT=${HERALD_E2E_WAIT:-180}
export HERALD_LOG_LEVEL=${HERALD_E2E_LOG_LEVEL:-info}
export HERALD_SECRET_KEY
HERALD_SECRET_KEY=$(openssl rand -base64 32)

e2e_db_create
"$CTL" migrate >"$E2E_TMP/migrate.out" 2>&1 || e2e_fail "heraldctl migrate failed" "$(cat "$E2E_TMP/migrate.out")"
e2e_bg mock-kafka "$MOCK_KAFKA" --partitions 4 --bootstrap-file "$E2E_TMP/bootstrap"
e2e_wait 30 "mock-kafka's bootstrap file" test -s "$E2E_TMP/bootstrap"
HERALD_KAFKA_BROKERS=$(cat "$E2E_TMP/bootstrap")
export HERALD_KAFKA_BROKERS
# Herald's own defaults (6 s session, 1 s heartbeat, static membership by
# instance id): nothing shortened here, this is what an operator gets.

{
  echo '{"workspaces": [{"id": "T0REC", "name": "Recovery", "tokens": ["xoxb-rec"]}],'
  echo ' "channels": ['
  for c in $(seq 1 "$CHANNELS"); do
    printf '  {"id": "C0REC%03d", "name": "rec-%d", "team": "T0REC", "member": true}%s\n' \
      "$c" "$c" "$([ "$c" -lt "$CHANNELS" ] && echo ,)"
  done
  echo ' ]}'
} >"$E2E_TMP/slack-state.json"
SLACK_PORT=$(e2e_free_port) || exit 1
SLACK="http://127.0.0.1:$SLACK_PORT"
e2e_bg fake-slack "$FAKE_SLACK" --port "$SLACK_PORT" --state "$E2E_TMP/slack-state.json" --rate 1 --burst 3
e2e_wait 30 "fake-slack" curl -fsS "$SLACK/_fake/healthz"
export HERALD_SLACK_API_URL="$SLACK/api"

HERALD_SLACK_TOKEN=xoxb-rec "$CTL" workspace add --team-id T0REC --name Recovery >"$E2E_TMP/ws.out" 2>&1 ||
  e2e_fail "workspace add" "$(cat "$E2E_TMP/ws.out")"
for c in $(seq 1 "$CHANNELS"); do
  "$CTL" target add --tenant t-rec --workspace T0REC --name "rec $c" --channel "$(printf 'C0REC%03d' "$c")" \
    --uses failed_check >/dev/null 2>"$E2E_TMP/target.err" || e2e_fail "target add $c" "$(cat "$E2E_TMP/target.err")"
done
e2e_ok "$CHANNELS targets of one workspace"

# The same instance id across the restart: a replica's stable id.
# The fake Slack paces channels only (1/s, burst 3): Herald's own workspace
# limit (300/min by default) off, so the pace limit is the channels' one.
export HERALD_INSTANCE_ID=recovery-0 HERALD_SLACK_NO_DIGESTS=1 HERALD_SLACK_WORKSPACE_RATE=0
e2e_bg herald-router "$ROUTER" --instance-id router-0
ROUTER_PID=$E2E_LAST_PID
e2e_bg herald-slack "$SENDER"
SENDER_PID=$E2E_LAST_PID
# Both in the group before the events, so the run measures sending, not joining.
e2e_wait 60 "herald-slack's partitions" grep -q "assigned [1-9]" "$E2E_TMP/herald-slack.log"

uuid() { cat /proc/sys/kernel/random/uuid; }
for i in $(seq 1 "$EVENTS"); do
  jq -nc --arg id "$(uuid)" --arg run "$(uuid)" --arg m "E2E-R$((1000 + i))" \
    --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{schema: "herald.check_result.v1", event_id: $id,
      tenant_id: "t-rec", run_id: $run, trigger: "manual",
      check: {type: "weak_mfa", name: ("Check " + $m), severity: "high"},
      evaluated_at: $at, failing_count: 2, total_count: 10, failing_users: []}'
done >"$E2E_TMP/events.jsonl"
markers() {
  curl -fsS "$SLACK/_fake/messages" | jq -r '.[] | . as $msg
    | [((.text // "") + " " + (.blocks | tostring)) | scan("E2E-R[0-9]+")] | unique | .[]
    | "\($msg.channel) \(.)"' | sort
}
now_ms() { date +%s%3N; }

start_ms=$(now_ms)
"$CHECKS" publish "$E2E_TMP/events.jsonl" >"$E2E_TMP/publish.out" 2>&1 ||
  e2e_fail "herald-checks publish" "$(cat "$E2E_TMP/publish.out")"
for ((i = 0; i < WAIT * 10; i++)); do
  n=$(markers | wc -l)
  [ "$n" -ge "$KILL_AFTER" ] && break
  sleep 0.1
done
[ "$n" -ge "$KILL_AFTER" ] || e2e_fail "fewer than $KILL_AFTER messages before the kill ($n)"
kill -KILL "$SENDER_PID"
wait "$SENDER_PID" 2>/dev/null
kill_ms=$(now_ms)
# The window: rows 'sending' at the kill (requests in flight).
window=$(e2e_sql "SELECT count(*) FROM deliveries WHERE state = 'sending'")
e2e_bg herald-slack "$SENDER"
SENDER_PID=$E2E_LAST_PID
restart_ms=$(now_ms)
e2e_log "killed with $n of $TOTAL messages out, $window in flight; restarted at once"

for ((i = 0; i < WAIT * 4; i++)); do
  done_n=$(e2e_sql "SELECT count(*) FROM deliveries WHERE state IN ('sent', 'failed')")
  [ "$done_n" -ge "$TOTAL" ] && break
  kill -0 "$SENDER_PID" 2>/dev/null || e2e_fail "herald-slack exited after the restart"
  sleep 0.25
done
sent=$(e2e_sql "SELECT count(*) FROM deliveries WHERE state = 'sent'")
e2e_eq "$sent" "$TOTAL" "every delivery sent after SIGKILL + restart"

markers >"$E2E_TMP/got"
expected=$(for i in $(seq 1 "$EVENTS"); do for c in $(seq 1 "$CHANNELS"); do
  printf 'C0REC%03d E2E-R%d\n' "$c" $((1000 + i)); done; done | sort)
missing=$(comm -23 <(echo "$expected") <(sort -u "$E2E_TMP/got"))
[ -z "$missing" ] || e2e_fail "messages lost across the kill" "$missing"
dups=$(($(wc -l <"$E2E_TMP/got") - TOTAL))
[ "$dups" -le "$window" ] || e2e_fail "$dups repeats, more than the $window requests in flight at the kill"
triple=$(uniq -c "$E2E_TMP/got" | awk '$1 > 2')
[ -z "$triple" ] || e2e_fail "posted more than twice" "$triple"
e2e_ok "nothing lost; $dups repeat(s) <= $window in flight at the kill"
# The restarted run took its previous partitions from sender_instances and
# sent their pending deliveries from PostgreSQL before Kafka handed them back
# (the mock cluster keeps them on the dead member for a session timeout).
grep -q "resuming the [1-9][0-9]* partition(s) its previous run held" "$E2E_TMP/herald-slack.log" ||
  e2e_fail "the restarted herald-slack did not resume its previous partitions" "$(tail -20 "$E2E_TMP/herald-slack.log")"
grep -q "resuming [1-9][0-9]* pending delivery(ies) of the partitions" "$E2E_TMP/herald-slack.log" ||
  e2e_fail "no pending delivery was resumed from PostgreSQL" "$(tail -20 "$E2E_TMP/herald-slack.log")"
e2e_ok "the restart resumed its partitions' pending deliveries from PostgreSQL"

# Measurements (printed, never asserted: bench/recovery_bench.sh reports them).
times=$(curl -fsS "$SLACK/_fake/messages" | jq -r '[.[].time] | sort | "\(.[0]) \(.[-1])"')
first_after=$(curl -fsS "$SLACK/_fake/messages" | jq -r --argjson r "$restart_ms" \
  '[.[].time | select(. >= $r)] | min // empty')
last=${times#* }
pace_s=$(((EVENTS - 3) > 0 ? EVENTS - 3 : 0))
settled=$(grep -o '[0-9]* delivery(ies) claimed by its previous run' "$E2E_TMP/herald-slack.log" | tail -1 | cut -d' ' -f1)
printf 'RESULT restart_to_first_post_s=%s whole_run_s=%s pace_limit_s=%s deliveries=%s lost=0 duplicates=%s in_flight_at_kill=%s kill_to_restart_ms=%s settled_at_restart=%s\n' \
  "$(awk -v a="$first_after" -v b="$restart_ms" 'BEGIN { if (a == "") print "none"; else printf "%.1f", (a - b) / 1000 }')" \
  "$(awk -v a="${last%.*}" -v b="$start_ms" 'BEGIN { printf "%.1f", (a - b) / 1000 }')" \
  "$pace_s" "$TOTAL" "$dups" "$window" $((restart_ms - kill_ms)) "$settled" | tee -a "$E2E_TMP/result"

kill -TERM "$SENDER_PID" "$ROUTER_PID"
wait "$SENDER_PID" "$ROUTER_PID" 2>/dev/null
e2e_ok "recovery"
