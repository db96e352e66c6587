#!/usr/bin/env bash
# Herald's test command (what .ci/run calls). From a fresh clone on Debian 12:
#
#   bash tests/run.sh [OPTIONS]
#
# Installs the dependencies (deploy/install-deps.sh), checks formatting and
# docker-compose.yml, builds twice with warnings as errors (build/: normal,
# build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer), starts a private
# PostgreSQL on a free loopback port, runs CTest tier by tier (unit,
# integration, e2e on the normal build; unit and integration under the
# sanitizers), runs each libFuzzer target of tests/fuzz/ for a bounded time
# (clang build in build-fuzz/; with the unit tier and no -R), prints a summary
# and stops everything it started. Exits non-zero when any step failed (a
# fuzzer crash included).
#
# Options:
#   --tier T        run only tier T (unit, integration or e2e; repeatable)
#   --no-asan       skip the sanitizer build and its runs
#   --asan-only     only the sanitizer build and its runs
#   --jobs N        parallel build jobs and CTest jobs (default: nproc)
#   --build-dir D   normal build in D, sanitizer build in D-asan (default: build)
#   -R REGEX        only tests whose name matches REGEX (passed to ctest -R)
#   --no-deps       do not run deploy/install-deps.sh
#   --no-format     skip the clang-format check
#   --keep          keep the temporary directory (PostgreSQL data, logs)
#   --fuzz-seconds N  run each fuzz target N seconds (default 20)
#   --no-fuzz       skip the fuzz build and runs
#   -h, --help      this text
#
# Environment: HERALD_TEST_BROWSER=1 also installs the browser test
# dependencies (automatic when a package.json exists under tests/).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

tiers=() asan=1 normal=1 jobs=$(nproc 2>/dev/null || echo 2) build=build regex=""
deps=1 format=1 keep=0 fuzz=1 fuzz_seconds=20
usage() { sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
bad() { echo "run.sh: $1" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
  --tier) [ $# -ge 2 ] || bad "--tier needs a value"
    case "$2" in unit | integration | e2e) tiers+=("$2") ;; *) bad "--tier: unknown tier '$2' (unit, integration, e2e)" ;; esac
    shift ;;
  --tier=*) set -- --tier "${1#--tier=}" "${@:2}"; continue ;;
  --no-asan) asan=0 ;;
  --asan-only) normal=0 ;;
  --jobs | -j) [ $# -ge 2 ] || bad "$1 needs a value"
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || bad "$1: '$2' is not a positive number"
    jobs=$2; shift ;;
  --jobs=*) set -- --jobs "${1#--jobs=}" "${@:2}"; continue ;;
  --build-dir) [ $# -ge 2 ] || bad "--build-dir needs a value"; build=$2; shift ;;
  -R) [ $# -ge 2 ] || bad "-R needs a value"; regex=$2; shift ;;
  --no-deps) deps=0 ;;
  --no-format) format=0 ;;
  --keep) keep=1 ;;
  --no-fuzz) fuzz=0 ;;
  --fuzz-seconds) [ $# -ge 2 ] || bad "--fuzz-seconds needs a value"
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || bad "--fuzz-seconds: '$2' is not a positive number"
    fuzz_seconds=$2; shift ;;
  --fuzz-seconds=*) set -- --fuzz-seconds "${1#--fuzz-seconds=}" "${@:2}"; continue ;;
  -h | --help) usage; exit 0 ;;
  *) bad "unknown option '$1'" ;;
  esac
  shift
done
[ ${#tiers[@]} -gt 0 ] || tiers=(unit integration e2e)
build_asan="${build}-asan"
has_tier() { local t; for t in "${tiers[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }
# The sanitizer build only runs unit and integration.
has_tier unit || has_tier integration || asan=0
# Fuzzing goes with the unit tier of a whole run (not a -R selection).
{ has_tier unit && [ -z "$regex" ]; } || fuzz=0

# ---------------------------------------------------------------- bookkeeping
steps=() results=() times=()
total_pass=0 total_fail=0 failed=0
tmp=""
pg_dir=""

say() { printf '\n==== %s\n' "$*"; }
record() { # name result seconds
  steps+=("$1") results+=("$2") times+=("$3")
  case "$2" in FAIL*) failed=1 ;; esac
}
# run_step NAME CMD...: runs CMD, records pass/fail and its duration.
run_step() {
  local name=$1 t0 rc
  shift
  say "$name"
  t0=$(date +%s)
  "$@"
  rc=$?
  if [ $rc -eq 0 ]; then record "$name" ok $(($(date +%s) - t0)); else record "$name" "FAIL (exit $rc)" $(($(date +%s) - t0)); fi
  return $rc
}

cleanup() {
  local rc=$?
  if [ -n "$pg_dir" ]; then
    bash tests/support/pg.sh stop "$pg_dir" >/dev/null 2>&1 || true
  fi
  if [ -n "$tmp" ]; then
    if [ "$keep" = 1 ] || [ "$failed" = 1 ]; then
      echo "run.sh: logs kept in $tmp" >&2
      # The data directory is large and useless after the run.
      [ "$keep" = 1 ] || rm -rf "$tmp/pg/data"
    else
      rm -rf "$tmp"
    fi
  fi
  exit $rc
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; failed=1; exit 130' INT TERM

# A TCP port nothing listens on (checked with ss; bash's /dev/tcp as fallback).
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 30000))
    if command -v ss >/dev/null 2>&1; then
      [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return 0; }
    elif ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

# ---------------------------------------------------------------- steps
step_deps() {
  local flags=()
  if [ "${HERALD_TEST_BROWSER:-0}" = 1 ] ||
    [ -n "$(find tests -name package.json -not -path '*/node_modules/*' 2>/dev/null | head -n 1)" ]; then
    flags+=(--browser)
  fi
  bash deploy/install-deps.sh ${flags[@]+"${flags[@]}"} || return 1
  # The browser test skips itself without Chromium; once installed, it counts.
  if [ ${#flags[@]} -gt 0 ] && [ -x /usr/bin/chromium ]; then
    export HERALD_E2E_BROWSER=1
    echo "browser tests enabled (HERALD_E2E_BROWSER=1)"
  fi
}

c_sources() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -- '*.c' '*.h' | grep -E '^(common|producers|workers|tests|bench)/' || true
  else
    find common producers workers tests bench -name '*.[ch]' -not -path '*/node_modules/*' 2>/dev/null | sort
  fi
}

step_format() {
  local files
  mapfile -t files < <(c_sources)
  [ ${#files[@]} -gt 0 ] || { echo "no C files"; return 0; }
  echo "clang-format --dry-run -Werror on ${#files[@]} files"
  clang-format --dry-run -Werror "${files[@]}"
}

step_compose() {
  if [ ! -f docker-compose.yml ]; then
    echo "skipped: no docker-compose.yml"
    return 0
  fi
  if ! command -v docker-compose >/dev/null 2>&1; then
    echo "skipped: docker-compose is not installed (apt-get install docker-compose)"
    return 0
  fi
  # Validates syntax, interpolation and references; needs no Docker engine.
  # The example env file stands in for the operator's .env (real secrets).
  local envf=()
  [ -f deploy/compose.env.example ] && envf=(--env-file deploy/compose.env.example)
  docker-compose "${envf[@]}" -f docker-compose.yml config -q &&
    echo "docker-compose.yml is valid ($(docker-compose "${envf[@]}" -f docker-compose.yml config --services | paste -sd ' '))"
}

# configure DIR [extra cmake args...]
step_build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -DHERALD_WERROR=ON "$@" >"$tmp/cmake-$(basename "$dir").log" 2>&1 ||
    { cat "$tmp/cmake-$(basename "$dir").log"; return 1; }
  cmake --build "$dir" -j "$jobs" 2>&1 | grep -vE '^\[ *[0-9]+%\] (Building|Linking|Built target)' 
  return "${PIPESTATUS[0]}"
}

step_pg() {
  local port
  port=$(free_port) || { echo "no free port"; return 1; }
  pg_dir="$tmp/pg"
  HERALD_TEST_DATABASE_URL=$(bash tests/support/pg.sh start "$pg_dir" "$port") || return 1
  export HERALD_TEST_DATABASE_URL
  echo "PostgreSQL: $HERALD_TEST_DATABASE_URL"
}

# ctest_tier DIR TIER LOGNAME [asan]: runs one label; adds its counts to the totals.
ctest_tier() {
  local dir=$1 tier=$2 log="$tmp/ctest-$3.log" par=$jobs rc line n nf envs=()
  [ "${4:-}" = asan ] && envs=("${asan_env[@]}")
  # End-to-end tests start several processes each and own their ports: serial.
  [ "$tier" = e2e ] && par=1
  local args=(--test-dir "$dir" -L "^${tier}\$" --output-on-failure -j "$par"
              --output-junit "Testing/junit-$tier.xml")
  [ -n "$regex" ] && args+=(-R "$regex")
  env ${envs[@]+"${envs[@]}"} ctest "${args[@]}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  if grep -q 'No tests were found' "$log"; then
    echo "note: no $tier tests registered"
    return "$rc"
  fi
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    n=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
    nf=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
    total_pass=$((total_pass + n - nf))
    total_fail=$((total_fail + nf))
  elif [ "$rc" -ne 0 ]; then
    total_fail=$((total_fail + 1))
  fi
  return "$rc"
}

# step_fuzz: builds the libFuzzer targets with clang (build-fuzz/) and runs
# each for fuzz_seconds; a crash fails the step (tests/fuzz/run.sh says how to
# reproduce). Its per-target lines go into the summary.
step_fuzz() {
  bash tests/fuzz/run.sh --seconds "$fuzz_seconds" --build-dir "${build}-fuzz" --jobs "$jobs" \
    2>&1 | tee "$tmp/fuzz.log"
  return "${PIPESTATUS[0]}"
}

# Sanitizer settings: stop at the first error, report leaks (LeakSanitizer
# works here: no ptrace restriction), and give Check's per-test timeouts room
# for the slowdown.
asan_env=(
  "ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:print_summary=1"
  "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:report_error_type=1"
  "LSAN_OPTIONS=suppressions=$root/tests/support/lsan.supp:print_suppressions=0"
  "CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4}"
)

# ---------------------------------------------------------------- main
t_start=$(date +%s)
tmp=$(mktemp -d /tmp/herald-test.XXXXXX)
chmod 755 "$tmp" # the PostgreSQL server runs as postgres and lives below it
builds=""
[ "$normal" = 1 ] && builds="$build"
[ "$asan" = 1 ] && builds="${builds:+$builds and }$build_asan"
echo "run.sh: source $root, builds ${builds:-none}, jobs $jobs, tiers ${tiers[*]}, temp $tmp"

if [ "$deps" = 1 ]; then
  run_step "dependencies" step_deps || { echo "run.sh: cannot continue without dependencies" >&2; exit 1; }
fi
[ "$format" = 1 ] && run_step "format (clang-format)" step_format
run_step "docker-compose.yml" step_compose

normal_ok=0 asan_ok=0
if [ "$normal" = 1 ]; then
  run_step "build ($build)" step_build "$build" && normal_ok=1
fi
if [ "$asan" = 1 ]; then
  run_step "build ($build_asan, address,undefined)" step_build "$build_asan" \
    -DHERALD_SANITIZE=address,undefined && asan_ok=1
fi

if [ $normal_ok = 1 ] || [ $asan_ok = 1 ]; then
  if has_tier integration || has_tier e2e; then
    run_step "PostgreSQL" step_pg || { normal_ok=0; asan_ok=0; }
  fi
fi

if [ $normal_ok = 1 ]; then
  for t in unit integration e2e; do
    has_tier "$t" && run_step "ctest $t ($build)" ctest_tier "$build" "$t" "$t"
  done
fi
if [ $asan_ok = 1 ]; then
  for t in unit integration; do
    has_tier "$t" && run_step "ctest $t ($build_asan, ASan+UBSan)" ctest_tier "$build_asan" "$t" "asan-$t" asan
  done
fi

if [ "$fuzz" = 1 ]; then
  run_step "fuzz (${build}-fuzz, ${fuzz_seconds}s per target)" step_fuzz
fi

# ---------------------------------------------------------------- summary
say "summary"
for i in "${!steps[@]}"; do
  printf '  %-50s %-14s %5ss\n' "${steps[$i]}" "${results[$i]}" "${times[$i]}"
done
printf '  %-50s %-14s %5ss\n' "total" "" "$(($(date +%s) - t_start))"
if [ -f "$tmp/fuzz.log" ]; then
  # "fuzz: <target> ok|CRASH execs=N cov=C ft=F corpus=K" from libFuzzer's final stats.
  echo
  grep -E '^fuzz: [a-z_]+ (ok|CRASH|MISSING)' "$tmp/fuzz.log" | sed 's/^/  /'
fi
if [ "$failed" = 0 ] && [ "$total_fail" -gt 0 ]; then failed=1; fi
echo
echo "tests: $total_pass passed, $total_fail failed"
if [ "$failed" != 0 ]; then
  # The assertions that failed, from every tier's log (Check prints them as
  # file:line:F:case:test:...; E for an error such as a timeout or signal),
  # repeated here so that a log cut in the middle still says why.
  if [ -n "$tmp" ] && ls "$tmp"/ctest-*.log >/dev/null 2>&1; then
    why=$(grep -hE '^[^ :]+:[0-9]+:[FE]:' "$tmp"/ctest-*.log 2>/dev/null | head -n 20)
    [ -n "$why" ] && printf '\nfailed assertions:\n%s\n' "$why"
    why=$(grep -hE '^(not ok|FAIL)' "$tmp"/ctest-*.log 2>/dev/null | head -n 20)
    [ -n "$why" ] && printf '\nfailed checks:\n%s\n' "$why"
  fi
  echo "run.sh: FAILED" >&2
  exit 1
fi
echo "run.sh: all steps passed"
exit 0
