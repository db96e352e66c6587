#!/usr/bin/env bash
# Router benchmark, one command:
#
#   bench/router_bench.sh [--durable] [--events N] [--batch-size N] [--partitions N] ...
#
# Builds Herald (Release, in build-bench/ unless HERALD_BENCH_BUILD_DIR says
# otherwise), starts a private PostgreSQL on a free loopback port, and runs
# bench/router_bench: 1,000 tenants with 1 to 5 targets each, N events
# (default 200,000) on librdkafka's mock cluster, routed by the router's own
# code; then the same rows COPYed into the same tables. Prints events/s and
# delivery rows/s for both and their ratio. Stops everything it started.
# --durable (first) runs PostgreSQL with its default durability (fsync,
# synchronous_commit, full_page_writes on) instead of the test server's
# fsync off: how production runs, and what the COPY ceiling is then too.
# Other options are passed to router_bench (see --help).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HERALD_BENCH_BUILD_DIR:-$root/build-bench}

case "${1:-}" in
-h | --help)
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  [ -x "$build/bench/router_bench" ] && "$build/bench/router_bench" --help
  exit 0 ;;
esac

source "$root/bench/lib.sh"
bench_build "$build" router_bench
if [ "${1:-}" = --durable ]; then
  shift
  bench_pg_durable router-bench
  echo "PostgreSQL durability: PostgreSQL's defaults (fsync, synchronous_commit, full_page_writes on)" >&2
else
  bench_pg router-bench
  echo "PostgreSQL durability: fsync off (the test server; --durable for the defaults)" >&2
fi

HERALD_LOG_LEVEL=${HERALD_LOG_LEVEL:-error} "$build/bench/router_bench" --database-url "$bench_url" "$@"
