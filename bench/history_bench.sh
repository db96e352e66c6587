#!/usr/bin/env bash
# Delivery history benchmark (issue 9's measurement), one command:
#
#   bench/history_bench.sh [--sizes "1 5 20"] [--targets N] [--tenants N] [--days N] [--runs N]
#
# Builds heraldctl (Release, in build-bench/ unless HERALD_BENCH_BUILD_DIR says
# otherwise), starts a private PostgreSQL on a free loopback port, migrates it,
# creates one workspace and --targets targets (default 1,000) over --tenants
# tenants (default 200), then grows the delivery history to each size of
# --sizes, in millions of rows (default "1 5 20"), spread over --days days
# (default 30) as tests/support/history.sh spreads it: about 90% sent, 6%
# failed with a code and reason, the rest (in the last day) retrying,
# pending or sending, with one event row for every two deliveries.
# At each size it prints the median of --runs runs (default 3) of what an
# operator's tools run against that history:
#
#   - the health view for all targets, and for one tenant's targets;
#   - `heraldctl target list --tenant t7` and `heraldctl target show 8`, as
#     whole processes;
#   - herald-api's GET /api/v1/targets with an operator token (every tenant)
#     and with tenant t7's token, as whole HTTP requests (curl);
#   - every PostgreSQL panel of the Grafana dashboard (deploy/grafana), its
#     time macros set to the last 7 days;
#   - the sizing: bytes per delivery and per event (table and indexes), the
#     rollups' rows;
#
# and the shape of the health reads' plans (the node types, no costs), so one
# can see whether a read scans history. Issue 9's goals: health of all
# targets < 50 ms, one tenant's < 10 ms, heraldctl list and show < 150 ms,
# the API's list < 50 ms, flat as the history grows. Stops everything it
# started.
#
# The private server runs as tests/support/pg.sh starts it (fsync off): these
# are read timings, which durability does not change; loading is faster so.
# Each size is loaded in statements of a million rows, then VACUUMed once (as
# autovacuum would have kept a history that grew over --days days) and
# checkpointed (no dirty buffers left by the load for the reads to write).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HERALD_BENCH_BUILD_DIR:-$root/build-bench}
sizes="1 5 20" targets=1000 tenants=200 days=30 runs=3

usage() { sed -n '2,37p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
bad() { echo "history_bench.sh: $1" >&2; exit 2; }
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || bad "$1: '$2' is not a positive whole number"; }
while [ $# -gt 0 ]; do
  case "$1" in
  --sizes) [ $# -ge 2 ] || bad "--sizes needs a value"
    for s in $2; do posint --sizes "$s"; done
    sizes=$2; shift ;;
  --targets) [ $# -ge 2 ] || bad "--targets needs a value"; posint "$1" "$2"; targets=$2; shift ;;
  --tenants) [ $# -ge 2 ] || bad "--tenants needs a value"; posint "$1" "$2"; tenants=$2; shift ;;
  --days) [ $# -ge 2 ] || bad "--days needs a value"; posint "$1" "$2"; days=$2; shift ;;
  --runs) [ $# -ge 2 ] || bad "--runs needs a value"; posint "$1" "$2"; runs=$2; shift ;;
  -h | --help) usage; exit 0 ;;
  *) bad "unknown option '$1' (see --help)" ;;
  esac
  shift
done
[ "$tenants" -le "$targets" ] || bad "--tenants ($tenants) must not exceed --targets ($targets)"

source "$root/bench/lib.sh"
bench_build "$build" heraldctl herald-api
bench_pg history-bench
export HERALD_DATABASE_URL=$bench_url HERALD_LOG_LEVEL=error
ctl=$build/workers/heraldctl
"$ctl" migrate >/dev/null
api_port=$(bench_free_port)
HERALD_SECRET_KEY=$(head -c 32 /dev/urandom | base64) "$build/workers/herald-api" \
  --listen "127.0.0.1:$api_port" --threads 2 >"$bench_tmp/api.log" 2>&1 &
api_pid=$!
trap 'kill $api_pid 2>/dev/null; bench_cleanup' EXIT INT TERM
api_token=$("$ctl" token create --name history-bench 2>/dev/null)
t7_token=$("$ctl" token create --tenant t7 --name history-bench 2>/dev/null)
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

q() { psql "$bench_url" -XAtq -v ON_ERROR_STOP=1 "$@"; }

source "$root/tests/support/history.sh"
history_targets "$bench_url" "$targets" "$tenants" >/dev/null

# Grows deliveries (and events, one per two deliveries) to want rows, a
# million at a time, created over the last $days days.
grow() {
  local want=$1 have chunk
  have=$(q -c "SELECT count(*) FROM deliveries")
  while [ "$have" -lt "$want" ]; do
    chunk=$((want - have)); [ "$chunk" -gt 1000000 ] && chunk=1000000
    history_grow "$bench_url" "$have" "$chunk" "$targets" "$tenants" "$days" >/dev/null
    have=$((have + chunk))
  done
  # A history that grew over $days days has been vacuumed by autovacuum all
  # along; one that grew in a few statements has not: VACUUM once. Then a
  # checkpoint: the load leaves shared buffers full of dirty pages, which
  # the first reads would otherwise have to write out (not a steady state).
  q -c "VACUUM ANALYZE" >/dev/null
  q -c "CHECKPOINT" >/dev/null
}

# median of the whole-process times (ms) of a command run $runs times
time_cmd() {
  local t0 t1 i ms=()
  for ((i = 0; i < runs; i++)); do
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    ms+=($(((t1 - t0) / 1000000)))
  done
  printf '%s\n' "${ms[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

# median server-side time (ms) of a query run $runs times
time_sql() {
  local sql=$1 i ms=()
  for ((i = 0; i < runs; i++)); do
    ms+=("$(q -c "EXPLAIN (ANALYZE, FORMAT JSON) $sql" | sed -n 's/.*"Execution Time": \([0-9.]*\).*/\1/p')")
  done
  printf '%s\n' "${ms[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p"
}

# median whole-request time (ms) of GET /api/targets on herald-api with
# token $1, $runs times
time_api() {
  local i ms=()
  for ((i = 0; i < runs; i++)); do
    ms+=("$(curl -fsS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $1" \
      "http://127.0.0.1:$api_port/api/v1/targets" | awk '{printf "%d", $1 * 1000}')")
  done
  printf '%s\n' "${ms[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

plan_shape() {
  # plan nodes only: their property lines ("Sort Key: ...") have a colon
  q -c "EXPLAIN (COSTS OFF) $1" | sed -E 's/^ *(->)? *//; s/ (on|using) .*//' | grep -v ':' |
    awk 'NF' | sort | uniq -c | sort -rn | awk '{c=$1; $1=""; printf "%s%s x%d", sep, substr($0, 2), c; sep=", "} END {print ""}'
}

panels=$bench_tmp/panels
mkdir -p "$panels"
python3 "$root/deploy/grafana/panel_sql.py" "$root/deploy/grafana/dashboards/herald.json" "$panels"

all="SELECT * FROM target_delivery_health"
one="SELECT * FROM target_delivery_health WHERE tenant_id = 't7'"
echo "history benchmark: $targets targets over $tenants tenants, $days days of deliveries, median of $runs"
echo "goals (issue 9): health all < 50 ms, health t7 < 10 ms, heraldctl < 150 ms, API list < 50 ms"
printf '%-10s %12s %12s %14s %14s %12s %12s %10s %10s\n' deliveries "health all" "health t7" \
  "ctl list t7" "ctl show 8" "API list" "API list t7" "deliveries" "rollups"
for m in $sizes; do
  grow $((m * 1000000))
  size=$(q -c "SELECT pg_size_pretty(pg_total_relation_size('deliveries'))")
  ssize=$(q -c "SELECT pg_size_pretty(pg_total_relation_size('delivery_stats_hourly'))")
  printf '%-10s %9s ms %9s ms %11s ms %11s ms %9s ms %9s ms %10s %10s\n' "${m}M" \
    "$(time_sql "$all")" "$(time_sql "$one")" \
    "$(time_cmd "$ctl" target list --tenant t7)" "$(time_cmd "$ctl" target show 8)" \
    "$(time_api "$api_token")" "$(time_api "$t7_token")" "$size" "$ssize"
  echo "  sizing: $(q -c "SELECT format('%s B per delivery, %s B per event, %s rollup rows (%s B each), %s of rollups over all targets',
      pg_total_relation_size('deliveries') / greatest(count(*), 1),
      pg_total_relation_size('events') / greatest((SELECT count(*) FROM events), 1),
      (SELECT count(*) FROM delivery_stats_hourly),
      pg_total_relation_size('delivery_stats_hourly') / greatest((SELECT count(*) FROM delivery_stats_hourly), 1),
      pg_size_pretty(pg_total_relation_size('delivery_stats_hourly_all'))) FROM deliveries")"
  for f in "$panels"/*.sql; do
    printf '  panel %-40s %9s ms\n' "\"$(head -1 "$f")\"" "$(time_sql "$(tail -n +2 "$f")")"
  done
  echo "  plan, health all: $(plan_shape "$all")"
  echo "  plan, health t7:  $(plan_shape "$one")"
done
