#!/usr/bin/env bash
# Recovery after a crash (issue 9): herald-slack SIGKILLed with a backlog of
# EVENTS check results into CHANNELS channels (default 10 x 30 = 300
# deliveries, Slack's pace 1/s burst 3 per channel, digests off) and restarted
# at once with the same instance id, on the mock cluster with Herald's
# defaults. Prints: time from the restart to the first post, the whole run
# against the pace limit, posts per delivery (lost, duplicates, requests in
# flight at the kill). Runs tests/e2e/test_recovery.sh (which asserts nothing
# lost and repeats <= in flight) against a private PostgreSQL.
#
#   bash bench/recovery_bench.sh [EVENTS [CHANNELS [RUNS]]]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
events=${1:-10} channels=${2:-30} runs=${3:-1}
build=${HERALD_BENCH_BUILD:-$bench_root/build-bench}
bench_build "$build" herald-router herald-slack heraldctl herald-checks mock-kafka fake-slack
bench_pg recovery
export HERALD_TEST_DATABASE_URL=$bench_url HERALD_BUILD_DIR=$build
for r in $(seq 1 "$runs"); do
  out=$(RECOVERY_EVENTS=$events RECOVERY_CHANNELS=$channels bash "$bench_root/tests/e2e/test_recovery.sh" 2>&1) ||
    { echo "$out" | tail -40; exit 1; }
  echo "run $r: $(grep '^RESULT' <<<"$out" | sed 's/^RESULT //')"
done
