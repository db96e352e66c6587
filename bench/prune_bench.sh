#!/usr/bin/env bash
# Retention benchmark (issue 9), one command:
#
#   bench/prune_bench.sh [--millions N] [--targets N] [--days N]
#
# Builds heraldctl (Release, in build-bench/ unless HERALD_BENCH_BUILD_DIR says
# otherwise), starts a private PostgreSQL on a free loopback port, migrates it,
# creates --targets targets (default 1,000) and loads --millions million
# deliveries (default 1) spread over --days days (default 135, so that about a
# third is older than the default 90-day retention): about 90% sent, 6%
# failed, the rest retrying, pending or sending, one event per two
# deliveries (the spread bench/history_bench.sh uses). Then it times, as
# whole processes:
#
#   - `heraldctl stats rebuild` (every rollup recomputed from deliveries);
#   - `heraldctl prune --dry-run`;
#   - `heraldctl prune`: rows deleted, rows per second, the number of
#     batches and the longest one (each batch is one short transaction);
#   - `heraldctl prune` again (nothing left: the cost of a run with nothing
#     to do).
#
# The private server runs as tests/support/pg.sh starts it (fsync off).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HERALD_BENCH_BUILD_DIR:-$root/build-bench}
millions=1 targets=1000 days=135

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
bad() { echo "prune_bench.sh: $1" >&2; exit 2; }
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || bad "$1: '$2' is not a positive whole number"; }
while [ $# -gt 0 ]; do
  case "$1" in
  --millions | --targets | --days)
    [ $# -ge 2 ] || bad "$1 needs a value"; posint "$1" "$2"
    case "$1" in --millions) millions=$2 ;; --targets) targets=$2 ;; --days) days=$2 ;; esac
    shift ;;
  -h | --help) usage; exit 0 ;;
  *) bad "unknown option '$1' (see --help)" ;;
  esac
  shift
done

source "$root/bench/lib.sh"
bench_build "$build" heraldctl
bench_pg prune-bench
export HERALD_DATABASE_URL=$bench_url HERALD_LOG_LEVEL=error
ctl=$build/workers/heraldctl
"$ctl" migrate >/dev/null

q() { psql "$bench_url" -XAtq -v ON_ERROR_STOP=1 "$@"; }

source "$root/tests/support/history.sh"
history_targets "$bench_url" "$targets" 200
echo "loading ${millions}M deliveries over $days days ..." >&2
for ((c = 0; c < millions; c++)); do
  history_grow "$bench_url" $((c * 1000000)) 1000000 "$targets" 200 "$days" >/dev/null
done
q -c "VACUUM ANALYZE" >/dev/null

# runs a command, prints its output and sets $ms to its whole-process time
timed() {
  local t0 t1
  t0=$(date +%s%N)
  out=$("$@")
  t1=$(date +%s%N)
  ms=$(((t1 - t0) / 1000000))
  echo "  $out"
}

echo "retention benchmark: $(q -c "SELECT count(*) FROM deliveries") deliveries, $(q -c "SELECT count(*) FROM events") events, $targets targets, $days days"
echo "heraldctl stats rebuild:"
timed "$ctl" stats rebuild
echo "  took $ms ms"
echo "heraldctl prune --dry-run:"
timed "$ctl" prune --dry-run
echo "  took $ms ms"
echo "heraldctl prune:"
timed "$ctl" prune
rows=$(sed -n 's/^  deleted \([0-9]*\) deliveries, \([0-9]*\) events, \([0-9]*\).*/\1 \2 \3/p' <<<"  $out" | awk '{print $1 + $2 + $3}')
echo "  took $ms ms: $((rows * 1000 / (ms > 0 ? ms : 1))) rows/s"
echo "heraldctl prune again (nothing to do):"
timed "$ctl" prune
echo "  took $ms ms"
echo "left: $(q -c "SELECT count(*) FROM deliveries") deliveries, $(q -c "SELECT count(*) FROM events") events; deliveries $(q -c "SELECT pg_size_pretty(pg_total_relation_size('deliveries'))")"
