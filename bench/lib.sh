# shellcheck shell=bash
# Shared by the bench/*.sh scripts (sourced, not run): building the benchmark
# programs and a private PostgreSQL that is stopped on exit.
#
#   bench_build BUILD_DIR TARGET...   Release build (BUILD_TESTING: the
#                                     benchmarks link the tests' helper library)
#   bench_pg NAME                     starts PostgreSQL on a free loopback port
#                                     in a temporary directory; sets $bench_url;
#                                     stops it and removes the directory on exit

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_build() {
  local dir=$1
  shift
  echo "building in $dir ..." >&2
  cmake -S "$bench_root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON >/dev/null
  cmake --build "$dir" -j"$(nproc)" --target "$@" >/dev/null
}

# A free loopback TCP port on stdout (or nothing).
bench_free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
}

bench_pg() {
  local name=$1 port
  bench_tmp=$(mktemp -d "/tmp/herald-$name.XXXXXX")
  chmod 755 "$bench_tmp" # PostgreSQL runs as its own user
  port=$(bench_free_port)
  [ -n "$port" ] || { echo "$name: no free port found" >&2; exit 1; }
  trap bench_cleanup EXIT INT TERM
  bench_url=$(bash "$bench_root/tests/support/pg.sh" start "$bench_tmp/pg" "$port")
  echo "PostgreSQL at $bench_url" >&2
}

bench_cleanup() {
  bash "$bench_root/tests/support/pg.sh" stop "$bench_tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$bench_tmp"
}

# bench_pg_durable NAME [SERVER OPTION...]: as bench_pg, then restarted with PostgreSQL's default
# durability (fsync, synchronous_commit and full_page_writes on), which the
# test server turns off on its command line; without them there,
# synchronous_commit can be changed with ALTER SYSTEM and a reload. Extra
# arguments are added to the server's command line ("-c name=value").
bench_pg_durable() {
  bench_pg "$1"
  shift
  local bindir port=${bench_url##*:}
  port=${port%%/*}
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  local as=()
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$bindir/pg_ctl" -D "$bench_tmp/pg/data" -l "$bench_tmp/pg/server.log" -w -t 60 -m fast \
    -o "-p $port -k $bench_tmp/pg -c listen_addresses=127.0.0.1 -c max_connections=200 $*" \
    restart >/dev/null || { tail -20 "$bench_tmp/pg/server.log" >&2; exit 1; }
}
