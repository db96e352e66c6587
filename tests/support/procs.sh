# shellcheck shell=bash
# Sourced by deploy/demo.sh and tests/e2e/lib.sh: stopping what they started.
#
# stop_reverse SECONDS PID...: stops the processes one at a time, the last
# started first, so each worker drains while the services it drains into
# (Kafka, PostgreSQL, Slack) are still up: SIGTERM, up to SECONDS for it to
# exit, then SIGKILL; reaps each (they are this shell's children).
stop_reverse() {
  local limit=$1 i pid
  shift
  local pids=("$@")
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 $((limit * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
