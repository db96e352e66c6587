#!/usr/bin/env bash
# Router benchmark, one command:
#
#   bench/router_bench.sh [--events N] [--batch-size N] [--partitions N] ...
#
# Builds Herald (Release, in build-bench/ unless HERALD_BENCH_BUILD_DIR says
# otherwise), starts a private PostgreSQL on a free loopback port, and runs
# bench/router_bench: 1,000 tenants with 1 to 5 targets each, N events
# (default 200,000) on librdkafka's mock cluster, routed by the router's own
# code; then the same rows COPYed into the same tables. Prints events/s and
# delivery rows/s for both and their ratio. Stops everything it started.
# Options are passed to router_bench (see --help).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HERALD_BENCH_BUILD_DIR:-$root/build-bench}

case "${1:-}" in
-h | --help)
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  [ -x "$build/bench/router_bench" ] && "$build/bench/router_bench" --help
  exit 0 ;;
esac

echo "building in $build ..." >&2
# BUILD_TESTING: router_bench links the tests' helper library (herald_testlib)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target router_bench >/dev/null

tmp=$(mktemp -d /tmp/herald-router-bench.XXXXXX)
chmod 755 "$tmp" # PostgreSQL runs as its own user
# a loopback port nobody listens on
port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 20000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "router_bench.sh: no free port found" >&2; exit 1; }
cleanup() {
  bash "$root/tests/support/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
url=$(bash "$root/tests/support/pg.sh" start "$tmp/pg" "$port")
echo "PostgreSQL at $url" >&2

HERALD_LOG_LEVEL=${HERALD_LOG_LEVEL:-error} "$build/bench/router_bench" --database-url "$url" "$@"
