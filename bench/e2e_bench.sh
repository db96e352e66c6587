#!/usr/bin/env bash
# End-to-end benchmark (issue 12): the whole pipeline on one machine, Herald
# beside Alertmanager, one command:
#
#   bench/e2e_bench.sh [--events N] [--channels N] [--workspaces N]
#                      [--rate EVENTS_PER_S] [--seconds S] [--no-alertmanager]
#                      [--senders N] [--sync on|off|both] [--profile]
#                      [--keep-logs DIR] [--publisher-linger-ms MS]
#                      [--fetch-wait-ms MS]
#
# Starts a private PostgreSQL with PostgreSQL's DEFAULT durability (fsync,
# synchronous_commit, full_page_writes on), mock-kafka, fake-slack (only to
# add the workspaces and targets with heraldctl) and bench/slack_standin, an
# unlimited Slack stand-in answering ok at once and recording when each post
# arrived (its capacity is measured first, with 4 keep-alive curl clients, to
# show it is not the bottleneck). Then, with synchronous_commit on and off
# (--sync; labelled):
#   throughput  N check events (--events, 10,000) to C channels (--channels,
#               240) in W workspaces (--workspaces, 12), one target per
#               channel, published with herald-checks; first publish -> last
#               post at the stand-in, and when the router had written every
#               delivery; CPU seconds per 1,000 messages of herald-router,
#               herald-slack (--senders N of them, each its own instance id),
#               PostgreSQL (the postmaster and its children) and mock-kafka;
#               commits and WAL bytes per message; peak RSS (VmHWM);
#   latency     --rate events/s (50) for --seconds (20), written by
#               bench/pacer into herald-checks, each stamped ("pubus=") when
#               written, consumers at --fetch-wait-ms (5; the mock broker
#               holds every empty fetch that long, a real broker answers when
#               data arrives): p50/p99/max publish -> stand-in, and the
#               router's part (publish -> its delivery row).
# Alertmanager (Debian's prometheus-alertmanager; --no-alertmanager to skip)
# gets the same alerts on its API: one Slack receiver per workspace pointing
# at the stand-in, grouping by every label, group_wait 0s (one message per
# alert, sent at once); throughput from 500-alert posts written beforehand,
# latency from bench/pacer posting one alert per request on a keep-alive
# connection to a fresh Alertmanager.
# Pacing and digests are off in herald-slack. --profile adds a perf profile
# of the first throughput run (by process, top frames of the router, the
# sender and PostgreSQL) and its statements by total time
# (pg_stat_statements). --keep-logs DIR keeps the processes' logs. Prints one
# table; stops everything it started.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HERALD_BENCH_BUILD_DIR:-$root/build-bench-e2e}

events=10000 channels=240 workspaces=12 rate=50 seconds=20 with_am=1 profile=0 sync=both keep_logs= pub_linger= senders=1 fetch_wait=5
usage() { sed -n '2,42p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
need_int() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "e2e_bench.sh: $1 expects a positive integer, got '$2'" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
  -h | --help) usage; exit 0 ;;
  --events) need_int "$1" "${2:-}"; events=$2; shift 2 ;;
  --channels) need_int "$1" "${2:-}"; channels=$2; shift 2 ;;
  --workspaces) need_int "$1" "${2:-}"; workspaces=$2; shift 2 ;;
  --rate) need_int "$1" "${2:-}"; rate=$2; shift 2 ;;
  --seconds) need_int "$1" "${2:-}"; seconds=$2; shift 2 ;;
  --no-alertmanager) with_am=0; shift ;;
  --profile) profile=1; shift ;;
  --keep-logs) [ -n "${2:-}" ] || { echo "e2e_bench.sh: --keep-logs expects a directory" >&2; exit 2; }; keep_logs=$2; shift 2 ;;
  --publisher-linger-ms)
    [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "e2e_bench.sh: --publisher-linger-ms expects a number of ms, got '${2:-}'" >&2; exit 2; }
    pub_linger=$2; shift 2 ;;
  --senders) need_int "$1" "${2:-}"; senders=$2; shift 2 ;;
  --fetch-wait-ms) need_int "$1" "${2:-}"; fetch_wait=$2; shift 2 ;;
  --sync)
    case "${2:-}" in on | off | both) sync=$2 ;; *) echo "e2e_bench.sh: --sync expects on, off or both, got '${2:-}'" >&2; exit 2 ;; esac
    shift 2 ;;
  *) echo "e2e_bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$workspaces" -le "$channels" ] || { echo "e2e_bench.sh: --workspaces ($workspaces) exceeds --channels ($channels)" >&2; exit 2; }
for tool in curl psql awk; do
  command -v "$tool" >/dev/null || { echo "e2e_bench.sh: $tool is required" >&2; exit 1; }
done
am_bin=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ "$with_am" = 1 ] && [ -z "$am_bin" ]; then
  echo "e2e_bench.sh: Alertmanager not installed (apt-get install prometheus-alertmanager): Herald only" >&2
  with_am=0
fi

source "$root/bench/lib.sh"
source "$root/tests/support/procs.sh"
bench_build "$build" slack_standin pacer herald-router herald-slack heraldctl herald-checks mock-kafka fake-slack
if [ "$profile" = 1 ]; then
  command -v perf >/dev/null || { echo "e2e_bench.sh: --profile needs perf (apt-get install linux-perf)" >&2; exit 1; }
  bench_pg_durable e2e-bench -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all
else
  bench_pg_durable e2e-bench
fi
tmp=$bench_tmp

pids=()
e2e_bench_cleanup() {
  trap "" INT TERM
  stop_reverse 10 ${pids[@]+"${pids[@]}"}
  if [ -n "$keep_logs" ]; then mkdir -p "$keep_logs" && cp "$tmp"/*.log "$keep_logs"/ 2>/dev/null || true; fi
  bench_cleanup
}
trap e2e_bench_cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
  echo "e2e_bench.sh: $*" >&2
  local f
  for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "---- $(basename "$f")" >&2; tail -n 15 "$f" >&2; }; done
  exit 1
}
# bg NAME CMD...: starts CMD, output in $tmp/NAME.log, pid in $last_pid.
bg() {
  local name=$1
  shift
  "$@" >>"$tmp/$name.log" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}
# stop PID: stops one process started with bg and forgets it.
stop() {
  stop_reverse 20 "$1"
  local keep=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  pids=(${keep[@]+"${keep[@]}"})
}
wait_for() { # SECS WHAT CMD...
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "timed out after ${secs}s waiting for $what"
}
free_port() { local p; p=$(bench_free_port); [ -n "$p" ] || die "no free port"; echo "$p"; }
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_mb() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
sql() { psql "$bench_url" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
# pg_ticks: CPU ticks of this PostgreSQL (postmaster, its live children, and
# the children that exited, through the postmaster's cutime/cstime).
pg_ticks() {
  local pm
  pm=$(head -n 1 "$bench_tmp/pg/data/postmaster.pid")
  { echo "$pm"; ps -o pid= --ppid "$pm"; } | while read -r p; do cat "/proc/$p/stat" 2>/dev/null; done |
    awk '{s += $14 + $15 + $16 + $17} END {print s + 0}'
}
# pg_counters: "commits wal_bytes" of the bench database and the cluster.
pg_counters() {
  sql "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()), (SELECT wal_bytes FROM pg_stat_wal)" | tr '|' ' '
}
per_k() { awk -v d="$1" -v n="$2" -v h="$3" 'BEGIN {printf "%.3f", d / h / n * 1000}'; }

export HERALD_DATABASE_URL=$bench_url HERALD_LOG_LEVEL=${HERALD_LOG_LEVEL:-warn}
HERALD_SECRET_KEY=$(openssl rand -base64 32)
export HERALD_SECRET_KEY
"$build/workers/heraldctl" migrate >"$tmp/migrate.log" 2>&1 || die "heraldctl migrate failed"
say "PostgreSQL: fsync=$(sql 'SHOW fsync') synchronous_commit=$(sql 'SHOW synchronous_commit') full_page_writes=$(sql 'SHOW full_page_writes')"

# ------------------------------------------------------------------ services
bg mock-kafka "$build/tests/support/mock-kafka" --partitions 4 --bootstrap-file "$tmp/bootstrap"
kafka_pid=$last_pid
wait_for 30 "mock-kafka" test -s "$tmp/bootstrap"
HERALD_KAFKA_BROKERS=$(cat "$tmp/bootstrap")
export HERALD_KAFKA_BROKERS

# url_of NAME: the address a server started with --port 0 printed first.
url_of() { head -n 1 "$tmp/$1.log" | grep '^http://127\.0\.0\.1:[0-9]*$'; }
bg standin "$build/bench/slack_standin" --port 0 --threads 2
wait_for 30 "slack_standin" url_of standin
standin=$(url_of standin)
wait_for 30 "slack_standin" curl -fsS "$standin/_stats"
posts() { curl -fsS "$standin/_stats" | awk '{print $2}'; }
reset_standin() { curl -fsS -X POST "$standin/_reset" >/dev/null; }
# wait_posts N SECS: until the stand-in has N posts.
wait_posts() {
  local n=$1 secs=$2 i got=0
  for ((i = 0; i < secs * 20; i++)); do
    got=$(posts)
    [ "$got" -ge "$n" ] && return 0
    sleep 0.05
  done
  die "only $got of $n posts reached the stand-in within ${secs}s"
}

# The stand-in's capacity, measured first: it must serve well above the rates
# below. 4 curl processes, each 5,000 requests on one keep-alive connection.
{
  for ((i = 0; i < 5000; i++)); do
    printf 'url = "%s/api/chat.postMessage"\noutput = /dev/null\ndata = "{\\"channel\\":\\"C1\\",\\"text\\":\\"pubus=1\\"}"\n' "$standin"
  done
} >"$tmp/capacity.curl"
t0=$(now_us)
cap_pids=()
for _ in 1 2 3 4; do curl -sS -K "$tmp/capacity.curl" & cap_pids+=($!); done
for p in "${cap_pids[@]}"; do wait "$p" || die "stand-in capacity check failed"; done
t1=$(now_us)
[ "$(posts)" = 20000 ] || die "stand-in counted $(posts) of 20000 capacity requests"
standin_capacity=$((20000 * 1000000 / (t1 - t0)))
say "stand-in capacity: $standin_capacity req/s (4 curl processes, keep-alive; a lower bound: curl shares the cores)"
reset_standin

# Setup only: fake-slack answers heraldctl's workspace and channel checks.
{
  printf '{"workspaces": ['
  for ((w = 0; w < workspaces; w++)); do
    [ "$w" -gt 0 ] && printf ','
    printf '{"id":"T0BENCH%d","name":"Bench %d","tokens":["xoxb-bench-%d"],"bot_user_id":"U0BOT%d","bot_id":"B0BOT%d"}' "$w" "$w" "$w" "$w" "$w"
  done
  printf '], "channels": [], "users": [], "auto_channels": true}\n'
} >"$tmp/fake-state.json"
bg fake-slack "$build/tests/support/fake-slack" --port 0 --state "$tmp/fake-state.json" --rate 0 --auto-channels
fake_pid=$last_pid
wait_for 30 "fake-slack" url_of fake-slack
fake=$(url_of fake-slack)
wait_for 30 "fake-slack" curl -fsS "$fake/_fake/healthz"
say "adding $workspaces workspaces and $channels targets with heraldctl ..."
for ((w = 0; w < workspaces; w++)); do
  HERALD_SLACK_TOKEN=xoxb-bench-$w HERALD_SLACK_API_URL=$fake/api \
    "$build/workers/heraldctl" workspace add --team-id "T0BENCH$w" --name "Bench $w" \
    >>"$tmp/setup.log" 2>&1 || die "heraldctl workspace add T0BENCH$w failed"
done
for ((c = 0; c < channels; c++)); do
  HERALD_SLACK_API_URL=$fake/api \
    "$build/workers/heraldctl" target add --tenant "t-bench-$c" --workspace "T0BENCH$((c % workspaces))" \
    --name "bench $c" --channel "C0BENCH$c" --uses failed_check >>"$tmp/setup.log" 2>&1 ||
    die "heraldctl target add for channel $c failed"
done
stop "$fake_pid"

# ------------------------------------------------------------------ events
# event_line SEQ CHANNEL PUBUS: one failing check for the channel's tenant; a
# check type of its own, so no event is a repeat of another.
run_id=$RANDOM
event_line() {
  printf '{"schema":"herald.check_result.v1","event_id":"%08x-0000-4000-8000-%012x","tenant_id":"t-bench-%d","run_id":"%08x-0000-4000-8000-000000000000","trigger":"manual","check":{"type":"bench_%d","name":"Bench check pubus=%s","severity":"high","url":"https://console.example.com/checks"},"evaluated_at":"2024-01-01T00:00:00Z","failing_count":1,"total_count":100,"failing_users":[{"id":"u1","display_name":"User 1","email":"u1@bench.example"}]}\n' \
    "$run_id" "$1" "$2" "$run_id" "$1" "$3"
}
seq_no=0
# events_file N FILE: N events over the channels, round robin.
events_file() {
  local i
  for ((i = 0; i < $1; i++)); do
    event_line $((seq_no++)) $((i % channels)) 0
  done >"$2"
}
publish() { "$build/producers/herald-checks" publish "$1" >>"$tmp/publish.log" 2>&1 || die "herald-checks publish failed"; }
# The latency runs' event, for bench/pacer (which stamps {pubus} at the write).
event_tpl=$(event_line 999999999 0 0 | sed -e 's/-8000-[0-9a-f]\{12\}"/-8000-{seq12}"/' -e 's/t-bench-0"/t-bench-{chan}"/' \
  -e 's/bench_999999999"/bench_{seq}"/' -e 's/pubus=0"/pubus={pubus}"/')
case "$event_tpl" in *'{seq12}'*'{chan}'*'bench_{seq}'*'{pubus}'*) ;; *) die "event template: $event_tpl" ;; esac
# latency_stats: "p50 p99 max" in ms from the stand-in's records.
latency_stats() {
  curl -fsS "$standin/_latencies" | awk '{print ($2 - $1) / 1000}' | sort -n |
    awk '{a[NR] = $1} END {if (!NR) {print "- - -"; exit}
      p50 = int(NR * 0.5 + 0.5); if (p50 < 1) p50 = 1
      p99 = int(NR * 0.99 + 0.999); if (p99 > NR) p99 = NR
      printf "%.1f %.1f %.1f\n", a[p50], a[p99], a[NR]}'
}
lat_n=$((rate * seconds))
wait_secs=$((120 + events / 50))

# ------------------------------------------------------------------ Herald
declare -A R # results: R[label,metric]
start_herald() { # extra env assignments as arguments
  local i
  sql "DELETE FROM sender_instances" >/dev/null # no resuming of a previous run's partitions
  env "$@" HERALD_SLACK_API_URL="$standin/api" "$build/workers/herald-router" >>"$tmp/router.log" 2>&1 &
  router_pid=$!
  pids+=("$router_pid")
  sender_pids=()
  for ((i = 1; i <= senders; i++)); do
    env "$@" HERALD_SLACK_API_URL="$standin/api" HERALD_SLACK_NO_DIGESTS=1 "$build/workers/herald-slack" \
      --instance-id "e2e-sender-$i" --channel-rate 0 --workspace-rate-per-minute 0 --no-threads \
      >>"$tmp/sender.log" 2>&1 &
    sender_pids+=($!)
    pids+=($!)
  done
  # Warm-up: one event per workspace goes all the way (group joins, connections).
  reset_standin
  events_file "$workspaces" "$tmp/warm.jsonl"
  publish "$tmp/warm.jsonl"
  wait_posts "$workspaces" 120
  # Several senders: wait until the group has shared the partitions out (the
  # topic exists once the router produced), so no rebalance falls into the
  # measurement; then warm up again, every sender this time.
  if [ "$senders" -gt 1 ]; then
    wait_for 90 "$senders senders to share the deliveries partitions" senders_share
    reset_standin
    events_file "$workspaces" "$tmp/warm.jsonl"
    publish "$tmp/warm.jsonl"
    wait_posts "$workspaces" 120
  fi
  reset_standin
}
senders_share() {
  test "$(sql "SELECT count(*) || ' ' || coalesce(sum(cardinality(partitions)), 0) FROM sender_instances WHERE cardinality(partitions) > 0")" = "$senders 4"
}
stop_herald() {
  local p
  for p in "${sender_pids[@]}"; do stop "$p"; done
  stop "$router_pid"
}
senders_ticks() { local p t=0; for p in "${sender_pids[@]}"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }
senders_rss() {
  local p out=()
  for p in "${sender_pids[@]}"; do out+=("$(hwm_mb "$p")"); done
  local IFS=+
  echo "${out[*]}"
}

herald_run() { # LABEL SYNCHRONOUS_COMMIT
  local label=$1 r0 s0 p0 k0 c0 w0 c1 w1 t0 last perf_pid=
  sql "ALTER SYSTEM SET synchronous_commit = $2" >/dev/null
  sql "SELECT pg_reload_conf()" >/dev/null
  say "Herald ($label): synchronous_commit=$(sql 'SHOW synchronous_commit'); throughput, $events events ..."
  start_herald
  events_file "$events" "$tmp/events.jsonl"
  if [ "$profile" = 1 ] && [ "${profiled:-}" != 1 ]; then
    profiled=1 profiled_label=$label
    sql "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
    sql "SELECT pg_stat_statements_reset()" >/dev/null
    perf record -a -F 999 -o "$tmp/perf.data" >"$tmp/perf.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
  fi
  r0=$(cpu_ticks "$router_pid") s0=$(senders_ticks) p0=$(pg_ticks) k0=$(cpu_ticks "$kafka_pid")
  read -r c0 w0 < <(pg_counters)
  t0=$(now_us)
  publish "$tmp/events.jsonl"
  wait_posts "$events" "$wait_secs"
  last=$(curl -fsS "$standin/_stats" | awk '{print $6}')
  # Outcomes are recorded after the posts: let the sender finish them.
  sleep 1
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    psql "$bench_url" -XAq -P pager=off -c "SELECT calls, round(total_exec_time) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 100) AS query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15" >"$tmp/statements.txt"
  fi
  read -r c1 w1 < <(pg_counters)
  R[$label,secs]=$(awk -v a="$t0" -v b="$last" 'BEGIN {printf "%.2f", (b - a) / 1e6}')
  R[$label,tput]=$(awk -v n="$events" -v a="$t0" -v b="$last" 'BEGIN {printf "%.0f", n / ((b - a) / 1e6)}')
  R[$label,cpu_r]=$(per_k $(($(cpu_ticks "$router_pid") - r0)) "$events" "$clk_tck")
  R[$label,cpu_s]=$(per_k $(($(senders_ticks) - s0)) "$events" "$clk_tck")
  R[$label,cpu_pg]=$(per_k $(($(pg_ticks) - p0)) "$events" "$clk_tck")
  R[$label,cpu_k]=$(per_k $(($(cpu_ticks "$kafka_pid") - k0)) "$events" "$clk_tck")
  R[$label,commits]=$(awk -v d=$((c1 - c0)) -v n="$events" 'BEGIN {printf "%.0f", d / n * 1000}')
  R[$label,wal]=$(awk -v d=$((w1 - w0)) -v n="$events" 'BEGIN {printf "%.0f", d / n}')
  # When the router had routed everything, and the sender posted the last.
  R[$label,routed]=$(sql "SELECT round(((extract(epoch FROM max(created_at)) * 1e6 - $t0) / 1e6)::numeric, 2) FROM deliveries")
  R[$label,rss]="router $(hwm_mb "$router_pid") MB + sender $(senders_rss) MB"
  stop_herald
  say "Herald ($label): latency, $lat_n events at $rate/s ..."
  start_herald HERALD_KAFKA_FETCH_WAIT_MAX_MS="$fetch_wait"
  t_lat0=$(now_us)
  "$build/bench/pacer" --rate "$rate" --count "$lat_n" --first "$seq_no" --channels "$channels" \
    --workspaces "$workspaces" --lead "$(event_line 999999998 0 0 | sed 's/t-bench-0"/t-bench-warm"/')" \
    "$event_tpl" 2>>"$tmp/pacer.log" |
    env ${pub_linger:+HERALD_KAFKA_LINGER_MS=$pub_linger} "$build/producers/herald-checks" publish - >>"$tmp/publish.log" 2>&1 ||
    die "herald-checks publish (paced) failed"
  seq_no=$((seq_no + lat_n))
  wait_posts "$lat_n" 120
  R[$label,lat]=$(latency_stats)
  # The router's part: publish -> its delivery row (created_at is the start of
  # the router's transaction; the row is committed and produced just after).
  R[$label,lat_router]=$(sql "SELECT round(percentile_disc(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ' ||
      round(percentile_disc(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)
    FROM (SELECT (extract(epoch FROM d.created_at) * 1e6 - substring(e.payload->'check'->>'name' FROM 'pubus=([0-9]+)')::bigint) / 1000.0 AS ms
            FROM deliveries d JOIN events e USING (event_id)
           WHERE e.check_type LIKE 'bench_%' AND substring(e.payload->'check'->>'name' FROM 'pubus=([0-9]+)')::bigint > $t_lat0) x")
  stop_herald
}

labels=()
if [ "$sync" != off ]; then herald_run "sync on" on; labels+=("sync on"); fi
if [ "$sync" != on ]; then herald_run "sync off" off; labels+=("sync off"); fi

# ------------------------------------------------------------------ Alertmanager
if [ "$with_am" = 1 ]; then
  am_port=$(free_port)
  {
    printf 'route:\n  receiver: ws0\n  group_by: ["..."]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 24h\n  routes:\n'
    for ((w = 1; w < workspaces; w++)); do printf '    - receiver: ws%d\n      matchers: [ws="%d"]\n' "$w" "$w"; done
    printf 'receivers:\n'
    for ((w = 0; w < workspaces; w++)); do
      printf '  - name: ws%d\n    slack_configs:\n      - api_url: "%s/ws%d"\n        channel: "#{{ .CommonLabels.channel }}"\n        text: "pubus={{ .CommonLabels.pubus }}"\n        send_resolved: false\n' \
        "$w" "$standin" "$w"
    done
  } >"$tmp/alertmanager.yml"
  mkdir -p "$tmp/am-data"
  bg alertmanager "$am_bin" --config.file="$tmp/alertmanager.yml" --storage.path="$tmp/am-data" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= --log.level=warn
  am_pid=$last_pid
  am="http://127.0.0.1:$am_port"
  wait_for 30 "Alertmanager" curl -fsS "$am/-/ready"
  alert_json() { # SEQ CHANNEL PUBUS
    printf '{"labels":{"alertname":"bench","seq":"%d","channel":"C0BENCH%d","ws":"%d","pubus":"%s"},"annotations":{"summary":"Bench check"}}' \
      "$1" "$2" $(($2 % workspaces)) "$3"
  }
  # alert_files FROM N PREFIX: alerts FROM..FROM+N-1, 500 to a request body
  # PREFIX.K.json, and PREFIX.curl, a curl config posting them in turn on
  # one keep-alive connection. Written before the clock starts.
  alert_files() {
    local from=$1 n=$2 prefix=$3 i j k=0
    : >"$prefix.curl"
    for ((i = 0; i < n; i += 500, k++)); do
      {
        printf '['
        for ((j = i; j < n && j < i + 500; j++)); do
          [ "$j" -gt "$i" ] && printf ','
          alert_json $((from + j)) $((j % channels)) 0
        done
        printf ']'
      } >"$prefix.$k.json"
      [ "$k" -gt 0 ] && echo next >>"$prefix.curl"
      printf 'url = "%s/api/v2/alerts"\noutput = /dev/null\nheader = "Content-Type: application/json"\ndata-binary = "@%s"\n' \
        "$am" "$prefix.$k.json" >>"$prefix.curl"
    done
  }
  post_alerts() { curl -fsS -K "$1.curl" || die "posting alerts to Alertmanager failed"; }
  alert_files 0 "$workspaces" "$tmp/am-warm"
  alert_files 1000000 "$events" "$tmp/am-alerts"
  say "Alertmanager: throughput, $events alerts ..."
  post_alerts "$tmp/am-warm"
  wait_posts "$workspaces" 60
  reset_standin
  a0=$(cpu_ticks "$am_pid")
  t0=$(now_us)
  post_alerts "$tmp/am-alerts"
  wait_posts "$events" "$wait_secs"
  last=$(curl -fsS "$standin/_stats" | awk '{print $6}')
  R[am,secs]=$(awk -v a="$t0" -v b="$last" 'BEGIN {printf "%.2f", (b - a) / 1e6}')
  R[am,tput]=$(awk -v n="$events" -v a="$t0" -v b="$last" 'BEGIN {printf "%.0f", n / ((b - a) / 1e6)}')
  R[am,cpu]=$(awk -v d=$(($(cpu_ticks "$am_pid") - a0)) -v n="$events" -v h="$clk_tck" 'BEGIN {printf "%.3f", d / h / n * 1000}')
  R[am,rss_t]="$(hwm_mb "$am_pid")"
  # A fresh Alertmanager for the latency run, as Herald's workers are restarted
  # for theirs: the 10,000 alerts above stay active (and groomed) otherwise.
  stop "$am_pid"
  rm -rf "$tmp/am-data"
  mkdir -p "$tmp/am-data"
  bg alertmanager "$am_bin" --config.file="$tmp/alertmanager.yml" --storage.path="$tmp/am-data" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= --log.level=warn
  am_pid=$last_pid
  wait_for 30 "Alertmanager" curl -fsS "$am/-/ready"
  post_alerts "$tmp/am-warm"
  wait_posts "$workspaces" 60
  say "Alertmanager: latency, $lat_n alerts at $rate/s ..."
  reset_standin
  # One keep-alive connection, one request per alert, stamped at the write.
  "$build/bench/pacer" --rate "$rate" --count "$lat_n" --first 2000000 --channels "$channels" \
    --workspaces "$workspaces" --url "$am/api/v2/alerts" \
    '[{"labels":{"alertname":"bench","seq":"{seq}","channel":"C0BENCH{chan}","ws":"{ws}","pubus":"{pubus}"},"annotations":{"summary":"Bench check"}}]' \
    2>>"$tmp/pacer.log" || die "pacer (Alertmanager) failed"
  wait_posts "$lat_n" 120
  R[am,lat]=$(latency_stats)
  R[am,rss]="${R[am,rss_t]} MB"
  stop "$am_pid"
  labels+=(am)
fi

# ------------------------------------------------------------------ table
name_of() { case "$1" in am) echo "Alertmanager" ;; *) echo "Herald ($1)" ;; esac; }
row() { printf '| %-38s |' "$1"; shift; printf ' %-32s |' "$@"; printf '\n'; }
cells() { local l out=(); for l in "${labels[@]}"; do out+=("$("$@" "$l")"); done; printf '%s\n' "${out[@]}"; }
echo
echo "End to end on $(nproc) cores: $events events to $channels channels in $workspaces workspaces;"
echo "PostgreSQL fsync=$(sql 'SHOW fsync') full_page_writes=$(sql 'SHOW full_page_writes');" \
  "stand-in capacity $standin_capacity req/s; pacing and digests off."
echo
mapfile -t hdr < <(cells name_of)
row "" "${hdr[@]}"
printf '|%s|' "$(printf -- '-%.0s' $(seq 1 40))"; for _ in "${labels[@]}"; do printf '%s|' "$(printf -- '-%.0s' $(seq 1 34))"; done; printf '\n'
f_tput() { echo "${R[$1,secs]} s = ${R[$1,tput]} msgs/s"; }
f_routed() { if [ "$1" = am ]; then echo "-"; else echo "all routed after ${R[$1,routed]} s"; fi; }
f_lat() { read -r a b c <<<"${R[$1,lat]}"; echo "p50 $a, p99 $b, max $c ms"; }
f_lat_r() { if [ "$1" = am ]; then echo "-"; else read -r a b <<<"${R[$1,lat_router]}"; echo "p50 $a, p99 $b ms"; fi; }
f_rss() { echo "${R[$1,rss]}"; }
f_cpu() { if [ "$1" = am ]; then echo "${R[am,cpu]}"; else echo "router ${R[$1,cpu_r]} + sender ${R[$1,cpu_s]}"; fi; }
f_infra() { if [ "$1" = am ]; then echo "-"; else echo "PostgreSQL ${R[$1,cpu_pg]}, mock Kafka ${R[$1,cpu_k]}"; fi; }
f_db() { if [ "$1" = am ]; then echo "-"; else echo "${R[$1,commits]} per 1,000 msgs, ${R[$1,wal]} B per msg"; fi; }
mapfile -t v < <(cells f_tput); row "throughput (first publish->last post)" "${v[@]}"
mapfile -t v < <(cells f_routed); row "  of which the router" "${v[@]}"
mapfile -t v < <(cells f_lat); row "latency at $rate/s (fetch wait $fetch_wait ms)" "${v[@]}"
mapfile -t v < <(cells f_lat_r); row "  publish -> delivery row (router part)" "${v[@]}"
mapfile -t v < <(cells f_rss); row "peak RSS (VmHWM)" "${v[@]}"
mapfile -t v < <(cells f_cpu); row "CPU s per 1,000 msgs" "${v[@]}"
mapfile -t v < <(cells f_infra); row "  its PostgreSQL and Kafka, CPU s / 1,000" "${v[@]}"
mapfile -t v < <(cells f_db); row "PostgreSQL commits, WAL" "${v[@]}"

if [ "$profile" = 1 ]; then
  set +o pipefail # head closes perf's pipe early
  echo
  echo "Profile of the throughput run, Herald ($profiled_label): CPU samples by process (perf record -a -F 999)"
  perf report -i "$tmp/perf.data" --no-children --sort comm --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 12
  for comm in herald-router herald-slack postgres; do
    echo
    echo "Top frames of $comm (share of all samples)"
    perf report -i "$tmp/perf.data" --no-children --comms "$comm" --sort dso,symbol --stdio 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -n 15
  done
  echo
  echo "PostgreSQL statements of the throughput run by total time (pg_stat_statements)"
  cat "$tmp/statements.txt"
fi
