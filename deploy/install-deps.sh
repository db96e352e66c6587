#!/usr/bin/env bash
# Installs every build and test dependency of Herald from Debian 12's packages.
#
#   deploy/install-deps.sh [--browser] [--bench] [--dry-run]
#
#   --browser   also install what the browser tests need: Debian's chromium,
#               Node.js + npm when npm is missing, and the npm packages of every
#               package.json under tests/ (npm ci / npm install) that has no
#               node_modules yet
#   --bench     also install what bench/e2e_bench.sh compares against and
#               profiles with: prometheus-alertmanager and linux-perf
#   --dry-run   print what would be installed, change nothing
#
# Idempotent and quick when everything is there: it asks dpkg first and only
# runs `apt-get update` + `apt-get install` (once) for what is missing. Needs
# root for installing (CI and the demo run as root); as another user it only
# reports what is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

# Build: compiler, CMake, and the libraries CMakeLists.txt finds via pkg-config.
build_pkgs=(build-essential cmake pkg-config git ca-certificates
            librdkafka-dev libpq-dev libcurl4-openssl-dev libcjson-dev check
            libmicrohttpd-dev libssl-dev)
# Tests and the demo: PostgreSQL server (tests/support/pg.sh), psql, curl and
# jq (end-to-end assertions), openssl (demo secret key), kcat (inspecting
# topics), clang-format (format check), docker-compose (validating
# docker-compose.yml; there is no Docker engine needed for that), iproute2 (ss),
# python3-jsonschema (tests/e2e/test_event_schemas.sh: JSON Schemas vs C validation),
# prometheus (promtool: tests/e2e/test_dashboards.sh checks deploy/prometheus/alerts.yml),
# clang + libfuzzer-14-dev (tests/fuzz/: libFuzzer targets, -fsanitize=fuzzer).
test_pkgs=(postgresql postgresql-client curl jq openssl kcat clang-format
           docker-compose iproute2 procps util-linux python3-jsonschema prometheus
           clang libfuzzer-14-dev)
browser_pkgs=(chromium)
bench_pkgs=(prometheus-alertmanager linux-perf)

browser=0 bench=0 dry=0
for a in "$@"; do
  case "$a" in
  --browser) browser=1 ;;
  --bench) bench=1 ;;
  --dry-run) dry=1 ;;
  -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install-deps.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done
[ "${HERALD_DEPS_BROWSER:-0}" = 1 ] && browser=1

want=("${build_pkgs[@]}" "${test_pkgs[@]}")
[ "$bench" = 1 ] && want+=("${bench_pkgs[@]}")
if [ "$browser" = 1 ]; then
  want+=("${browser_pkgs[@]}")
  # Node.js may come from elsewhere (the machine image's own); only install
  # Debian's when there is no npm at all.
  command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  if [ "$dry" = 1 ]; then
    :
  elif [ "$(id -u)" != 0 ]; then
    echo "install-deps: not root: install these with apt-get (as root) and rerun" >&2
    exit 1
  else
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 NEEDRESTART_MODE=l
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "install-deps: all Debian packages present" >&2
fi

if [ "$browser" = 1 ] && [ "$dry" = 0 ]; then
  # npm packages of the browser tests (playwright-core drives Debian's
  # chromium; it never downloads a browser of its own).
  while IFS= read -r pj; do
    d=$(dirname "$pj")
    [ -d "$d/node_modules" ] && continue
    echo "install-deps: npm packages in ${d#"$root"/}" >&2
    if [ -f "$d/package-lock.json" ]; then
      (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
    else
      (cd "$d" && npm install --no-audit --no-fund --loglevel=error)
    fi
  done < <(find "$root/tests" -name package.json -not -path '*/node_modules/*' 2>/dev/null | sort)
fi
