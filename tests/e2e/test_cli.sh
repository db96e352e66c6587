#!/usr/bin/env bash
# Every program (producers/, workers/, tests/support/) keeps the command-line
# contract of design.md: --help prints usage and exits 0; an unknown flag or a
# bad value is refused with ONE line on stderr that names it, exit 2; and none
# of that needs Kafka, PostgreSQL or Slack.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# No service is reachable: a program that tried to connect would fail or hang.
export HERALD_KAFKA_BROKERS=127.0.0.1:1 HERALD_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none
export HERALD_SLACK_API_URL=http://127.0.0.1:1/api
unset HERALD_LOG_LEVEL

programs=()
# producers/<name>.c and tests/support/<name>.c are one program each; a worker
# is a folder whose CMakeLists.txt names its program (herald_program(NAME ...)).
for src in "$HERALD_SOURCE_DIR"/producers/herald-*.c "$HERALD_SOURCE_DIR"/tests/support/*.c; do
  [ -f "$src" ] || continue
  n=$(basename "$src" .c)
  case "$src" in */tests/support/*) n=${n//_/-} ;; esac
  programs+=("$n")
done
while read -r n; do
  programs+=("$n")
done < <(sed -n 's/^herald_program(\([^ )]*\).*/\1/p' "$HERALD_SOURCE_DIR"/workers/*/CMakeLists.txt)
[ ${#programs[@]} -gt 0 ] || e2e_fail "no programs found under $HERALD_SOURCE_DIR"

# run_cli NAME ARGS...: runs with a time limit; sets rc, out, err.
run_cli() {
  local p=$1
  shift
  timeout 20 "$p" "$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err" </dev/null
  rc=$?
  out=$(cat "$E2E_TMP/out")
  err=$(cat "$E2E_TMP/err")
}

# expect_bad_flag PROG DESCRIPTION NEEDLE ARGS...: exit 2, one stderr line naming NEEDLE.
expect_bad() {
  local p=$1 what=$2 needle=$3 lines
  shift 3
  run_cli "$p" "$@"
  lines=$(printf '%s' "$err" | grep -c '')
  if [ "$rc" != 2 ]; then
    e2e_fail "$(basename "$p") $*: $what: exit $rc, expected 2" "stderr: $err" "stdout: $out"
  fi
  if [ "$lines" != 1 ]; then
    e2e_fail "$(basename "$p") $*: $what: $lines lines on stderr, expected one" "$err"
  fi
  if ! grep -qF -- "$needle" <<<"$err"; then
    e2e_fail "$(basename "$p") $*: $what: the error does not name '$needle'" "$err"
  fi
  e2e_ok "$(basename "$p") $*: exit 2, '$err'"
}

for name in "${programs[@]}"; do
  p=$(e2e_bin "$name") || exit 1

  run_cli "$p" --help
  [ "$rc" = 0 ] || e2e_fail "$name --help: exit $rc, expected 0" "stderr: $err"
  grep -qi 'usage' <<<"$out" || e2e_fail "$name --help: no usage line on stdout" "$out"
  e2e_ok "$name --help: exit 0"
  help=$out

  expect_bad "$p" "unknown flag" "--no-such-flag" --no-such-flag

  # A bad value for a flag the program documents.
  if grep -q -- '--log-level' <<<"$help"; then
    expect_bad "$p" "bad value" "--log-level" --log-level loud
  fi
done

# Subcommands of the programs that have them (issue 2): an unknown subcommand
# and a bad flag of a real one are refused the same way.
if [ -f "$HERALD_SOURCE_DIR/workers/heraldctl/main.c" ]; then
  ctl=$(e2e_bin heraldctl) || exit 1
  expect_bad "$ctl" "unknown subcommand" "frobnicate" frobnicate
  expect_bad "$ctl" "unknown flag of a subcommand" "--no-such-flag" target add --no-such-flag
  run_cli "$ctl" target add --help
  [ "$rc" = 0 ] && grep -q -- '--channel' <<<"$out" ||
    e2e_fail "heraldctl target add --help: exit $rc, expected 0 and the --channel flag" "$out" "$err"
  e2e_ok "heraldctl target add --help"
  # Issue 10: the target settings and silences refuse bad values before any
  # database is needed, naming the flag and the value.
  expect_bad "$ctl" "bad severity floor" "--min-severity: 'urgent': expected low, medium, high or critical" \
    target update 1 --min-severity urgent
  expect_bad "$ctl" "bad repeat policy" "--repeat: 'sometimes'" target update 1 --repeat sometimes
  expect_bad "$ctl" "repeat interval too short" "--repeat-every: '30s': at least 1m" \
    target update 1 --repeat-every 30s
  expect_bad "$ctl" "bad toggle" "--nudge: 'maybe' is not on or off" target update 1 --nudge maybe
  expect_bad "$ctl" "bad toggle" "--notify-resolved: 'yes'" target update 1 --notify-resolved yes
  expect_bad "$ctl" "no end" "exactly one of --for DURATION, --until TIME or --forever" \
    silence add --tenant acme --check weak_mfa --reason maintenance
  expect_bad "$ctl" "two ends" "exactly one of" \
    silence add --tenant acme --check weak_mfa --for 2h --forever --reason maintenance
  expect_bad "$ctl" "bad end" "--until: 'tomorrow'" \
    silence add --tenant acme --check weak_mfa --until tomorrow --reason maintenance
  expect_bad "$ctl" "bad duration" "--for" silence add --tenant acme --check weak_mfa --for soon --reason x
  expect_bad "$ctl" "bad silence id" "'x' is not a silence id" silence expire x
  expect_bad "$ctl" "bad state" "--state: 'quiet'" deliveries --state quiet
  expect_bad "$ctl" "bad kind" "--kind: 'ping'" deliveries --kind ping
  for sub in add list show expire; do
    run_cli "$ctl" silence "$sub" --help
    [ "$rc" = 0 ] && grep -q 'usage' <<<"$out" ||
      e2e_fail "heraldctl silence $sub --help: exit $rc, expected 0 and usage" "$out" "$err"
  done
  run_cli "$ctl" silence add --help
  grep -q -- '--forever' <<<"$out" || e2e_fail "heraldctl silence add --help lacks --forever" "$out"
  run_cli "$ctl" target update --help
  for f in --min-severity --repeat-every --notify-resolved --nudge; do
    grep -q -- "$f" <<<"$out" || e2e_fail "heraldctl target update --help lacks $f" "$out"
  done
  e2e_ok "heraldctl silence and target settings: --help"
fi
for prod in herald-checks herald-collect; do
  [ -f "$HERALD_SOURCE_DIR/producers/$prod.c" ] || continue
  p=$(e2e_bin "$prod") || exit 1
  expect_bad "$p" "unknown subcommand" "frobnicate" frobnicate
  expect_bad "$p" "unknown flag of publish" "--no-such-flag" publish --no-such-flag
done

# Bad values in the environment are named too (HERALD_LOG_LEVEL is common to all).
for name in "${programs[@]}"; do
  case "$name" in mock-kafka | fake-slack) continue ;; esac
  p=$(e2e_bin "$name") || exit 1
  HERALD_LOG_LEVEL=loud run_cli "$p" --help
  # --help may win over the environment; then nothing to check.
  [ "$rc" = 0 ] && continue
  [ "$rc" = 2 ] && grep -q HERALD_LOG_LEVEL <<<"$err" ||
    e2e_fail "$name with HERALD_LOG_LEVEL=loud: exit $rc, expected 2 and an error naming HERALD_LOG_LEVEL" "$err"
  e2e_ok "$name: HERALD_LOG_LEVEL=loud refused"
done
