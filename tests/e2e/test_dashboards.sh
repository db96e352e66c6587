#!/usr/bin/env bash
# The installable dashboards and alerts (deploy/grafana, deploy/prometheus):
#
#   - every PostgreSQL panel's rawSql of deploy/grafana/dashboards/herald.json,
#     with Grafana's macros replaced ($__timeFilter(x), $__timeFrom(),
#     $__timeTo(): the last 7 days), runs against a migrated database holding
#     200,000 deliveries over 30 days of 1,000 targets of 200 tenants: each
#     must succeed, return rows, and not scan the deliveries table
#     sequentially; its server time is printed (the benches hold the goals,
#     tests never assert timings);
#   - the datasources the panels name are the provisioned ones;
#   - `promtool check rules` and `promtool test rules` on the alerting rules,
#     `promtool check config` on the scrape config.
source "$(dirname "$0")/lib.sh"

dash="$HERALD_SOURCE_DIR/deploy/grafana/dashboards/herald.json"
prom="$HERALD_SOURCE_DIR/deploy/prometheus"
command -v promtool >/dev/null || e2e_fail "promtool is missing: deploy/install-deps.sh installs Debian's prometheus"
command -v python3 >/dev/null || e2e_fail "python3 is missing"

# ---- alerting rules
out=$(promtool check rules "$prom/alerts.yml" 2>&1) || e2e_fail "promtool check rules" "$out"
e2e_ok "promtool check rules: $(grep -o '[0-9]* rules found' <<<"$out")"
out=$(promtool test rules "$prom/alerts_test.yml" 2>&1) || e2e_fail "promtool test rules" "$out"
e2e_ok "promtool test rules alerts_test.yml"
out=$(promtool check config "$prom/prometheus.yml" 2>&1) || e2e_fail "promtool check config" "$out"
e2e_ok "promtool check config prometheus.yml"

# ---- the dashboard's datasources are the provisioned ones
ds_uids=$(python3 - "$HERALD_SOURCE_DIR/deploy/grafana/provisioning/datasources/herald.yml" <<'PY'
import re, sys
print(" ".join(sorted(re.findall(r"^\s+uid:\s*(\S+)", open(sys.argv[1]).read(), re.M))))
PY
)
used=$(python3 - "$dash" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(sorted({p["datasource"]["uid"] for p in d["panels"] if p.get("type") != "row"})))
PY
)
e2e_eq "$used" "$ds_uids" "the panels use exactly the provisioned datasources"

# ---- the PostgreSQL panels' SQL, one file per panel (title on its first line)
qdir="$E2E_TMP/queries"
mkdir -p "$qdir"
python3 "$HERALD_SOURCE_DIR/deploy/grafana/panel_sql.py" "$dash" "$qdir" >"$E2E_TMP/extract.log" 2>&1 ||
  e2e_fail "cannot extract the dashboard's SQL" "$(cat "$E2E_TMP/extract.log")"
nq=$(ls "$qdir"/*.sql | wc -l)
[ "$nq" -ge 6 ] && e2e_ok "$nq PostgreSQL panel queries extracted" || e2e_fail "expected at least 6 PostgreSQL panels, found $nq"

# ---- a migrated database with a month of history (bench/history_bench.sh's spread)
ctl=$(e2e_bin heraldctl) || exit 1
e2e_db_create
export HERALD_LOG_LEVEL=error
"$ctl" migrate >"$E2E_TMP/migrate.log" 2>&1 || e2e_fail "heraldctl migrate failed" "$(cat "$E2E_TMP/migrate.log")"
targets=1000 tenants=200 days=30 rows=200000
t0=$(date +%s%N)
source "$HERALD_SOURCE_DIR/tests/support/history.sh"
{ history_targets "$HERALD_DATABASE_URL" "$targets" "$tenants" &&
  history_grow "$HERALD_DATABASE_URL" 0 "$rows" "$targets" "$tenants" "$days" &&
  psql "$HERALD_DATABASE_URL" -XAtq -c ANALYZE; } >"$E2E_TMP/load.log" 2>&1 ||
  e2e_fail "loading the history failed" "$(cat "$E2E_TMP/load.log")"
t1=$(date +%s%N)
n=$(e2e_sql "SELECT count(*) FROM deliveries")
e2e_eq "$n" "$rows" "history loaded in $(((t1 - t0) / 1000000)) ms"

# ---- each panel query: succeeds, returns rows, no sequential scan of deliveries
for f in "$qdir"/*.sql; do
  title=$(head -n 1 "$f")
  sql=$(tail -n +2 "$f")
  res=$(psql "$HERALD_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -c "$sql" 2>&1) ||
    e2e_fail "panel '$title': the query failed" "$res" "$sql"
  nrows=$(printf '%s' "$res" | grep -c '')
  [ "$nrows" -ge 1 ] || e2e_fail "panel '$title': no rows over a loaded history" "$sql"
  plan=$(psql "$HERALD_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -c "EXPLAIN (ANALYZE, COSTS OFF) $sql" 2>&1) ||
    e2e_fail "panel '$title': EXPLAIN failed" "$plan"
  if grep -q 'Seq Scan on deliveries' <<<"$plan"; then
    e2e_fail "panel '$title' scans the deliveries table" "$plan"
  fi
  ms=$(sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p' <<<"$plan")
  e2e_ok "panel '$title': $nrows rows, ${ms} ms, no scan of deliveries"
done
