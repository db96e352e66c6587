#!/usr/bin/env bash
# herald-slack benchmarks (issue 4), one command each:
#
#   bench/sender_bench.sh throughput [N]           # (a) msgs/s, unlimited fake Slack, 200 channels
#   bench/sender_bench.sh paced                    # (b) 500 into 50 channels at 1/s burst 3,
#                                                  #     without and with digests
#   bench/sender_bench.sh latency [RATE [SECONDS]] # (c) publish -> Slack acceptance at a steady
#                                                  #     RATE events/s (default 100 for 30 s)
#   bench/sender_bench.sh all
#
# Builds Herald (Release, in build-bench-sender/ unless HERALD_BENCH_BUILD_DIR
# says otherwise; fake-slack is built too), starts a private PostgreSQL on a
# free loopback port, runs bench/sender_bench against librdkafka's in-process
# mock cluster and fake-slack, prints the figures, and stops everything it
# started.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HERALD_BENCH_BUILD_DIR:-$root/build-bench-sender}

mode=${1:-}
case "$mode" in
throughput | paced | latency | all) shift ;;
-h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "sender_bench.sh: expected throughput, paced, latency or all (see --help)" >&2; exit 2 ;;
esac

source "$root/bench/lib.sh"
bench_build "$build" sender_bench fake-slack
bench_pg sender-bench

export HERALD_BENCH_DATABASE_URL=$bench_url
export FAKE_SLACK=$build/tests/support/fake-slack
run() { HERALD_LOG_LEVEL=${HERALD_LOG_LEVEL:-error} "$build/bench/sender_bench" "$@"; }
if [ "$mode" = all ]; then
  run throughput
  run paced
  run latency
else
  run "$mode" "$@"
fi
