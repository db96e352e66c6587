# Helpers for the end-to-end tests (sourced by tests/e2e/test_*.sh).
#
# CTest passes HERALD_BUILD_DIR and HERALD_SOURCE_DIR; tests/run.sh exports
# HERALD_TEST_DATABASE_URL (a server where the test user may CREATE DATABASE).
# Every process a test starts with e2e_bg is stopped on exit, pass or fail.

set -uo pipefail

: "${HERALD_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${HERALD_BUILD_DIR:=$HERALD_SOURCE_DIR/build}"
export HERALD_SOURCE_DIR HERALD_BUILD_DIR
# shellcheck source=tests/support/procs.sh
source "$HERALD_SOURCE_DIR/tests/support/procs.sh"

E2E_NAME=$(basename "${0%.sh}")
E2E_TMP=$(mktemp -d "/tmp/herald-${E2E_NAME}.XXXXXX")
E2E_PIDS=()
E2E_NAMES=()
E2E_FAILED=0
E2E_CHECKS=0

e2e_log() { printf '[%s %s] %s\n' "$(date +%T)" "$E2E_NAME" "$*"; }

# Prints the last lines of every process log (what went wrong is usually there).
e2e_dump_logs() {
  local f
  for f in "$E2E_TMP"/*.log; do
    [ -f "$f" ] || continue
    echo "---- last lines of $(basename "$f")"
    tail -n "${1:-30}" "$f"
  done
}

# e2e_fail MESSAGE [DETAIL...]: the assertion that failed, what was seen, logs; exit 1.
e2e_fail() {
  E2E_FAILED=1
  echo "FAIL: $1" >&2
  shift
  local d
  for d in "$@"; do printf '%s\n' "$d" | sed 's/^/    /' >&2; done
  e2e_dump_logs 40 >&2
  exit 1
}

e2e_ok() {
  E2E_CHECKS=$((E2E_CHECKS + 1))
  echo "ok: $*"
}

# e2e_eq ACTUAL EXPECTED MESSAGE [DETAIL...]
e2e_eq() {
  local a=$1 e=$2 m=$3
  shift 3
  if [ "$a" = "$e" ]; then e2e_ok "$m"; else e2e_fail "$m: expected '$e', got '$a'" "$@"; fi
}

e2e_cleanup() {
  local rc=$?
  # A second Ctrl-C or TERM must not cut the cleanup short (orphans).
  trap "" INT TERM
  trap - EXIT
  stop_reverse 10 ${E2E_PIDS[@]+"${E2E_PIDS[@]}"}
  if [ -n "${E2E_DB_NAME:-}" ] && [ "$rc" = 0 ]; then
    psql "$HERALD_TEST_DATABASE_URL" -XAtq -c "DROP DATABASE IF EXISTS $E2E_DB_NAME" >/dev/null 2>&1 || true
  fi
  if [ "$rc" = 0 ]; then
    rm -rf "$E2E_TMP"
    echo "$E2E_NAME: $E2E_CHECKS checks passed"
  else
    echo "$E2E_NAME: FAILED (logs kept in $E2E_TMP)" >&2
  fi
  exit "$rc"
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

# e2e_bin NAME: prints the path of a built program. Used as $(e2e_bin x) the
# failure only leaves the subshell, so write: p=$(e2e_bin x) || exit 1
e2e_bin() {
  local p
  for p in "$HERALD_BUILD_DIR/workers/$1" "$HERALD_BUILD_DIR/producers/$1" \
    "$HERALD_BUILD_DIR/tests/support/$1"; do
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  echo "FAIL: program $1 is not built in $HERALD_BUILD_DIR" >&2
  return 1
}

# e2e_bg NAME CMD...: starts CMD in the background, output appended to
# $E2E_TMP/NAME.log; its pid is in E2E_LAST_PID and it is stopped on exit.
e2e_bg() {
  local name=$1
  shift
  "$@" >>"$E2E_TMP/$name.log" 2>&1 &
  E2E_LAST_PID=$!
  E2E_PIDS+=("$E2E_LAST_PID")
  E2E_NAMES+=("$name")
}

# e2e_wait SECS WHAT CMD...: polls CMD every 0.2 s until it succeeds.
e2e_wait() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  e2e_fail "timed out after ${secs}s waiting for $what"
}

# e2e_free_port: prints a free loopback port (p=$(e2e_free_port) || exit 1).
e2e_free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 30000))
    [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return 0; }
  done
  echo "FAIL: no free TCP port" >&2
  return 1
}

# e2e_db_create: a fresh database for this test; exports HERALD_DATABASE_URL.
e2e_db_create() {
  [ -n "${HERALD_TEST_DATABASE_URL:-}" ] ||
    e2e_fail "HERALD_TEST_DATABASE_URL is not set: run through tests/run.sh, or start tests/support/pg.sh and export it"
  E2E_DB_NAME="herald_e2e_${E2E_NAME#test_}_$$"
  psql "$HERALD_TEST_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $E2E_DB_NAME" -c "CREATE DATABASE $E2E_DB_NAME" >/dev/null ||
    e2e_fail "cannot create database $E2E_DB_NAME on $HERALD_TEST_DATABASE_URL"
  # Same server and user, other database: replace the path of the URI.
  HERALD_DATABASE_URL=$(sed -E 's#^(postgres(ql)?://[^/]*)/[^?]*#\1/'"$E2E_DB_NAME"'#' <<<"$HERALD_TEST_DATABASE_URL")
  export HERALD_DATABASE_URL
}

# e2e_sql QUERY: one psql call on the test database, unaligned, no headers.
e2e_sql() {
  psql "$HERALD_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -F '|' -c "$1"
}
