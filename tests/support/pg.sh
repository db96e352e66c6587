#!/usr/bin/env bash
# Starts or stops a private PostgreSQL server for tests and the demo.
#
#   tests/support/pg.sh start DIR [PORT]   prints the connection URI on stdout
#   tests/support/pg.sh stop DIR
#
# The server runs as the `postgres` user when we are root (PostgreSQL refuses
# to run as root), keeps its data and socket in DIR, listens on 127.0.0.1 only
# and trusts local connections: it is a throwaway test instance.
set -euo pipefail

cmd=${1:-}; dir=${2:-}; port=${3:-55432}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2; }

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/pg_ctl" ] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$dir/data" -U herald --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
  as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U herald -d postgres -qtAc \
    "SELECT 1 FROM pg_database WHERE datname='herald'" | grep -q 1 ||
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U herald herald
  echo "postgresql://herald@127.0.0.1:$port/herald"
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] || exit 0
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  ;;
*)
  echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2 ;;
esac
