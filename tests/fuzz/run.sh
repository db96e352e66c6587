#!/usr/bin/env bash
# Builds Herald's libFuzzer targets and runs each for a bounded time.
#
#   bash tests/fuzz/run.sh [--seconds N] [--build-dir D] [--jobs N] [--merge] [--no-build] [TARGET...]
#
#   --seconds N    run each target for N seconds (-max_total_time; default 20)
#   --build-dir D  the clang build (default: build-fuzz; configured here with
#                  CC=clang -DHERALD_FUZZ=ON, every library instrumented with
#                  -fsanitize=fuzzer-no-link,address,undefined)
#   --jobs N       parallel build jobs (default: nproc)
#   --merge        afterwards, fold the inputs that add coverage into the seed
#                  corpus in the repo (libFuzzer -merge=1): commit them
#   --no-build     use the targets already built
#   TARGET...      only these (default: every tests/fuzz/fuzz_*.c)
#
# Targets (tests/fuzz/fuzz_*.c; seeds in tests/fuzz/corpus/<target>/):
#   fuzz_event     event_parse_any / event_parse (validation), event_parse_time
#   fuzz_routed    routed_delivery_decode + routed_delivery_event, encode round trip
#   fuzz_render    every message kind from a parsed event (check, repeat, collection,
#                  digest, resolved reply, nudge, test message), marks and opts from
#                  the input's first bytes; Slack's limits asserted on the output
#   fuzz_slack     slack_classify_response on arbitrary status, Retry-After and body
#   fuzz_api_json  the API's JSON bodies: the parse rules of httpd_req_json and the
#                  store validators the target/silence/settings handlers call
#   fuzz_config    cfg_parse_duration, cfg_parse_long, cfg_parse (every option type),
#                  httpd_parse_addr, crypto_key_from_base64
#
# New inputs go to <build>/fuzz-corpus/<target>/ (the repo's seeds are read only);
# a crash writes <build>/fuzz-artifacts/<target>/crash-* and fails the run. Keep a
# crashing input as tests/fuzz/corpus/<target>/regress-<what> once it is fixed.
# Reproduce one: <build>/fuzz/<target> <file>. Longer runs: --seconds 600.
# The last line per target is "fuzz: <target> ok|CRASH execs=N cov=C ft=F corpus=K".
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

seconds=20 build=build-fuzz jobs=$(nproc 2>/dev/null || echo 2) merge=0 do_build=1 targets=()
bad() { echo "fuzz/run.sh: $1" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
  --seconds) [ $# -ge 2 ] || bad "--seconds needs a value"
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || bad "--seconds: '$2' is not a positive number"
    seconds=$2; shift ;;
  --seconds=*) set -- --seconds "${1#--seconds=}" "${@:2}"; continue ;;
  --build-dir) [ $# -ge 2 ] || bad "--build-dir needs a value"; build=$2; shift ;;
  --jobs) [ $# -ge 2 ] || bad "--jobs needs a value"
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || bad "--jobs: '$2' is not a positive number"
    jobs=$2; shift ;;
  --merge) merge=1 ;;
  --no-build) do_build=0 ;;
  -h | --help) sed -n '2,33p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -*) bad "unknown option '$1'" ;;
  *) [ -f "$here/$1.c" ] || bad "unknown target '$1' (no tests/fuzz/$1.c)"; targets+=("$1") ;;
  esac
  shift
done
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$here"/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

if [ "$do_build" = 1 ]; then
  command -v clang >/dev/null 2>&1 || bad "clang is not installed (apt-get install clang libfuzzer-14-dev)"
  # Warnings are the gcc build's gate (tests/run.sh); clang has a few more.
  mkdir -p "$build"
  CC=clang cmake -S . -B "$build" -DHERALD_FUZZ=ON -DHERALD_WERROR=OFF -DBUILD_TESTING=OFF \
    >"$build/cmake-fuzz.log" 2>&1 || { cat "$build/cmake-fuzz.log"; exit 1; }
  cmake --build "$build" -j "$jobs" --target "${targets[@]}" 2>&1 |
    grep -vE '^\[ *[0-9]+%\] (Building|Linking|Built target)|warning generated'
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "fuzz/run.sh: build failed" >&2; exit 1; }
fi

# Stop at the first sanitizer report; leaks count as crashes too.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

failed=0
for t in "${targets[@]}"; do
  exe="$build/fuzz/$t"
  [ -x "$exe" ] || { echo "fuzz: $t MISSING ($exe not built)"; failed=1; continue; }
  work="$build/fuzz-corpus/$t" art="$build/fuzz-artifacts/$t" log="$build/fuzz-$t.log"
  mkdir -p "$work" "$art" "$here/corpus/$t"
  echo "fuzz: running $t for ${seconds}s"
  # -timeout: an input taking 10 s is a hang; -rss_limit_mb: 2 GB is a leak.
  "$exe" "$work" "$here/corpus/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" >"$log" 2>&1
  rc=$?
  # libFuzzer's last status line: "#N DONE cov: C ft: F corp: K/..." (or pulse/NEW).
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}')
  [ -n "$execs" ] || execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
  if [ $rc -eq 0 ]; then
    status=ok
  else
    status=CRASH failed=1
    # The report: sanitizer summary and the artifact written.
    grep -E 'ERROR: |SUMMARY: |Test unit written to|^==[0-9]+==' "$log" | head -n 20
    echo "fuzz: full log $log"
  fi
  echo "fuzz: $t $status execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?}"
  if [ "$merge" = 1 ] && [ $rc -eq 0 ]; then
    "$exe" -merge=1 "$here/corpus/$t" "$work" >"$build/fuzz-$t.merge.log" 2>&1 &&
      echo "fuzz: $t merged: $(find "$here/corpus/$t" -type f | wc -l) seed files"
  fi
done
exit $failed
