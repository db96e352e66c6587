#!/usr/bin/env bash
# Herald's demo: the whole pipeline on one machine, on an embedded default.
#
#   bash deploy/demo.sh [--no-deps] [--build-dir DIR] [--timeout SECS] [--keep-running]
#
# Installs the dependencies (deploy/install-deps.sh), builds Herald in build/,
# starts a private PostgreSQL, librdkafka's mock Kafka cluster and a fake Slack
# workspace "Acme Security" (T0DEMO: #sec-alerts, #it-ops, a private channel
# the bot is not in, and a few members), then with the real programs:
# heraldctl migrate / workspace add / target add, herald-router, herald-slack
# and herald-api (the admin API and web console) in the background,
# herald-checks and herald-collect publishing examples/events/*.jsonl. It waits
# until every delivery is final (sent or failed), prints the Slack messages
# that arrived, the delivery table and the console's address, and stops
# everything it started (also on Ctrl-C).
#
#   --no-deps        do not run deploy/install-deps.sh
#   --build-dir DIR  build directory (default: build)
#   --timeout SECS   how long to wait for the deliveries (default: 120)
#   --keep-running   leave everything running until Ctrl-C (to poke at it: it
#                    writes the variables to an env file to source in a shell)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=tests/support/procs.sh
source tests/support/procs.sh

deps=1 build=build timeout=120 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
  --no-deps) deps=0 ;;
  --build-dir) [ $# -ge 2 ] || { echo "demo.sh: --build-dir needs a value" >&2; exit 2; }
    build=$2; shift ;;
  --timeout) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: --timeout: '${2:-}' is not a positive number" >&2; exit 2; }
    timeout=$2; shift ;;
  --keep-running) keep=1 ;;
  -h | --help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "demo.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B="" N=""; fi
step() { printf '\n%s== %s%s  [%ss]\n' "$B" "$*" "$N" "$SECONDS"; }
die() { echo "demo.sh: $*" >&2; exit 1; }

# ------------------------------------------------------------ cleanup
tmp="" pg_dir="" pids=()
cleanup() {
  local rc=$?
  # A second Ctrl-C or TERM must not cut the cleanup short (orphans).
  trap "" INT TERM
  trap - EXIT
  # In reverse order of start: the workers drain and commit while Kafka,
  # PostgreSQL and Slack are still there to take it.
  stop_reverse 15 ${pids[@]+"${pids[@]}"}
  [ -n "$pg_dir" ] && bash tests/support/pg.sh stop "$pg_dir" >/dev/null 2>&1 || true
  if [ -n "$tmp" ]; then
    if [ $rc -ne 0 ] && [ $rc -ne 130 ]; then
      echo "demo.sh: failed; logs are in $tmp" >&2
      rm -rf "$tmp/pg/data"
    else
      rm -rf "$tmp"
    fi
  fi
  exit $rc
}
trap cleanup EXIT
trap 'echo; echo "demo.sh: interrupted, stopping" >&2; exit 130' INT TERM

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 30000))
    [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return 0; }
  done
  return 1
}
# bg NAME CMD...: runs CMD in the background, output in $tmp/NAME.log
# Each in its own session (setsid): Ctrl-C reaches only this script, which then
# stops them in order - workers first, while Kafka and PostgreSQL are still up.
bg() {
  local name=$1
  shift
  setsid "$@" >"$tmp/$name.log" 2>&1 </dev/null &
  pids+=($!)
}
# wait_for SECS WHAT CMD...: polls CMD every 0.2 s
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "timed out after ${secs}s waiting for $what"
}

# ------------------------------------------------------------ build
if [ "$deps" = 1 ]; then
  step "dependencies (Debian packages)"
  bash deploy/install-deps.sh
fi

step "build ($build)"
programs=(heraldctl herald-router herald-slack herald-checks herald-collect mock-kafka fake-slack)
[ -f workers/api/main.c ] && programs+=(herald-api)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${programs[@]}" 2>&1 |
  grep -vE '^\[ *[0-9]+%\] (Building|Linking|Built target|Embedding)' || true
[ "${PIPESTATUS[0]}" = 0 ] || die "build failed"
bin() { # path of a built program
  local p
  for p in "$build/workers/$1" "$build/producers/$1" "$build/tests/support/$1"; do
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  die "program $1 was not built"
}
CTL=$(bin heraldctl)

tmp=$(mktemp -d /tmp/herald-demo.XXXXXX)
chmod 755 "$tmp" # PostgreSQL runs as postgres below it

# ------------------------------------------------------------ services
step "services: PostgreSQL, mock Kafka, fake Slack"
pg_dir="$tmp/pg"
HERALD_DATABASE_URL=$(setsid bash tests/support/pg.sh start "$pg_dir" "$(free_port)" </dev/null)
export HERALD_DATABASE_URL
echo "PostgreSQL   $HERALD_DATABASE_URL"

bg mock-kafka "$(bin mock-kafka)" --partitions 4 --bootstrap-file "$tmp/kafka.bootstrap"
wait_for 30 "the mock Kafka cluster" test -s "$tmp/kafka.bootstrap"
HERALD_KAFKA_BROKERS=$(cat "$tmp/kafka.bootstrap")
export HERALD_KAFKA_BROKERS
echo "Kafka (mock) $HERALD_KAFKA_BROKERS"

slack_port=$(free_port)
# Slack's own pace: 1 message a second per channel, bursts of 3.
bg fake-slack "$(bin fake-slack)" --port "$slack_port" --state deploy/demo/slack-state.json
SLACK="http://127.0.0.1:$slack_port"
wait_for 30 "the fake Slack" curl -fsS "$SLACK/_fake/healthz"
export HERALD_SLACK_API_URL="$SLACK/api"
echo "Slack (fake) $HERALD_SLACK_API_URL"

# ------------------------------------------------------------ configuration
step "configure: heraldctl migrate, workspace, targets"
HERALD_SECRET_KEY=$(openssl rand -base64 32)
export HERALD_SECRET_KEY HERALD_LOG_LEVEL=${HERALD_LOG_LEVEL:-warn}
token=$(jq -r '.workspaces[] | select(.id == "T0DEMO") | .tokens[0]' deploy/demo/slack-state.json)
"$CTL" migrate
HERALD_SLACK_TOKEN=$token "$CTL" workspace add --team-id T0DEMO --name "Acme Security"
unset token
tenant=$(head -n 1 examples/events/checks.jsonl | jq -r .tenant_id)
target() { # NAME CHANNEL USES [--checks ...]
  local id
  id=$("$CTL" target add --tenant "$tenant" --workspace T0DEMO --name "$1" --channel "$2" --uses "$3" "${@:4}")
  local only="" a
  for a in "${@:4}"; do [ "$only" = next ] && only=$a; [ "$a" = --checks ] && only=next; done
  echo "target $id: $1 -> $2 ($3${only:+, only $only})"
}
target "Security alerts" "#sec-alerts" failed_check
target "MFA owner" "alice@acme.example" failed_check --checks weak_mfa
target "IT operations" "#it-ops" data_collection
target "Incident room" "#incident-private" failed_check,data_collection \
  --description "private channel the bot was never invited to: deliveries fail with a reason"
"$CTL" target list --tenant "$tenant"

# ------------------------------------------------------------ run
step "workers: herald-router, herald-slack"
bg herald-router "$(bin herald-router)"
bg herald-slack "$(bin herald-slack)"
console=""
if [ -f workers/api/main.c ]; then
  # The admin API and web console; "Add to Slack" goes through the fake Slack.
  api_port=$(free_port)
  console="http://127.0.0.1:$api_port"
  HERALD_SLACK_CLIENT_ID=$(jq -r .oauth.client_id deploy/demo/slack-state.json) \
    HERALD_SLACK_CLIENT_SECRET=$(jq -r .oauth.client_secret deploy/demo/slack-state.json) \
    HERALD_SLACK_AUTHORIZE_URL="$SLACK/oauth/v2/authorize" HERALD_PUBLIC_URL="$console" \
    bg herald-api "$(bin herald-api)" --listen "127.0.0.1:$api_port"
  wait_for 30 "herald-api" curl -fsS "$console/healthz"
  # A throwaway API token to sign in to the console with (this demo's database only).
  api_token=$("$CTL" token create --tenant "$tenant" --name demo 2>/dev/null)
fi

step "publish examples/events/checks.jsonl and collections.jsonl"
"$(bin herald-checks)" publish examples/events/checks.jsonl ||
  echo "(herald-checks: some lines were rejected, as shown above)"
"$(bin herald-collect)" publish examples/events/collections.jsonl ||
  echo "(herald-collect: some lines were rejected, as shown above)"

step "waiting until every delivery is sent or failed (at most ${timeout}s)"
sql() { psql "$HERALD_DATABASE_URL" -XAtq -c "$1"; }
prev="" stable=0
for ((i = 0; i < timeout * 2; i++)); do
  now=$(sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE state NOT IN ('sent','failed')) FROM deliveries")
  total=${now% *} open=${now#* }
  # Final when there are deliveries, none open, and the count held still for 2 s
  # (the router may still be routing the last events).
  if [ "$total" -gt 0 ] && [ "$open" = 0 ] && [ "$now" = "$prev" ]; then
    stable=$((stable + 1))
    [ $stable -ge 4 ] && break
  else
    stable=0
  fi
  prev=$now
  sleep 0.5
done
[ "${open:-1}" = 0 ] && [ "${total:-0}" -gt 0 ] ||
  die "deliveries not final after ${timeout}s ($total in all, $open still open); see $tmp/*.log"

# ------------------------------------------------------------ show
step "Slack messages that arrived"
# Channel and user ids shown by name, from the fake workspace's state; each
# message as its Block Kit blocks read as plain lines (the text fallback when
# it has none), with dates and &lt; &gt; &amp; shown as Slack displays them.
curl -fsS "$SLACK/_fake/messages" | jq -r --slurpfile st deploy/demo/slack-state.json \
  --arg b "$B" --arg n "$N" '
  def lines:
    if .type == "header" then .text.text
    elif .type == "section" then
      ([.text.text // empty] + [(.fields // [])[] | .text | gsub("\n"; ": ")]) | join("\n")
    elif .type == "context" then [.elements[]? | .text // empty] | join(" ")
    elif .type == "actions" then
      [.elements[]? | "[" + (.text.text // "") + "]" + (if .url then " " + .url else "" end)] | join(" ")
    else empty end;
  ($st[0].channels | map({(.id): ("#" + .name)}) | add) as $ch
  | ($st[0].users | map({(.id): ("@" + .name + " <" + .email + ">")}) | add) as $us
  | .[]
  | (if .user then "DM " + ($us[.user] // .user) else ($ch[.channel] // .channel) end) as $where
  | (if (.blocks | type) == "array" and (.blocks | length) > 0
     then [.blocks[] | lines] | join("\n") else .text end) as $body
  | ($body | gsub("<!date\\^[^|>]*\\|(?<f>[^>]*)>"; "\(.f)")
     | gsub("&lt;"; "<") | gsub("&gt;"; ">") | gsub("&amp;"; "&")) as $body
  | "\($b)\($where)\($n)  (ts \(.ts))\n    \($body | gsub("\n"; "\n    "))\n"'

step "deliveries (heraldctl deliveries)"
"$CTL" deliveries --tenant "$tenant" --limit 100

sent=$(sql "SELECT count(*) FROM deliveries WHERE state = 'sent'")
failed=$(sql "SELECT count(*) FROM deliveries WHERE state = 'failed'")
echo
pings=$(curl -fsS "$SLACK/_fake/stats" | jq '.pings')
echo "demo: $sent delivered, $failed failed with a reason (the private channel the bot is not in);"
echo "      messages that would have pinged anyone: $pings (a display name like <!channel> is escaped)"
if [ -n "$console" ]; then
  if [ "$keep" = 1 ]; then
    # An API token is a secret: to a file only root can read, not the terminal.
    tokfile=$tmp/console-token
    (umask 077; printf '%s\n' "$api_token" >"$tokfile")
    echo "demo: web console $console  (sign in with the API token in $tokfile)"
  else
    echo "demo: web console $console"
  fi
fi
if [ "$keep" = 1 ]; then
  # The variables for heraldctl and friends, the secret key among them, go to
  # a file only root can read rather than onto the terminal.
  envfile=$tmp/herald.env
  (umask 077; {
    printf 'export HERALD_DATABASE_URL=%q\n' "$HERALD_DATABASE_URL"
    printf 'export HERALD_KAFKA_BROKERS=%q\n' "$HERALD_KAFKA_BROKERS"
    printf 'export HERALD_SLACK_API_URL=%q\n' "$HERALD_SLACK_API_URL"
    printf 'export HERALD_SECRET_KEY=%q\n' "$HERALD_SECRET_KEY"
    # The mock cluster waits a whole session timeout before a restarted
    # worker gets partitions; keep that short here.
    echo 'export HERALD_KAFKA_SESSION_TIMEOUT_MS=6000 HERALD_KAFKA_HEARTBEAT_INTERVAL_MS=1000'
    printf 'export PATH=%q:%q:%q:"$PATH"\n' "$(dirname "$(bin heraldctl)")" \
      "$(dirname "$(bin herald-checks)")" "$(dirname "$(bin fake-slack)")"
  } >"$envfile")
  echo "demo: still running. In another shell: source $envfile   (then heraldctl, herald-checks ... work against it)"
  echo "      Slack messages: $SLACK/_fake/messages. Ctrl-C stops everything."
  # wait (unlike a foreground sleep) returns as soon as a signal arrives, so
  # Ctrl-C or SIGTERM runs the cleanup at once.
  sleep infinity &
  pids+=($!)
  wait $! || true
elif [ -n "$console" ]; then
  echo "      (the demo stops everything now; rerun with --keep-running to use the console)"
fi
