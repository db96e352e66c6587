#!/usr/bin/env python3
"""Writes the SQL of every PostgreSQL panel of a Grafana dashboard, one file
per query (NN.sql: the panel's title on the first line, then the SQL), with
Grafana's time macros replaced by the last 7 days ($__timeFilter(x),
$__timeFrom(), $__timeTo()), so the queries can be run with psql.

  deploy/grafana/panel_sql.py DASHBOARD.json OUTDIR

Used by tests/e2e/test_dashboards.sh (every query must run) and
bench/history_bench.sh (their timings over a growing history). Exits non-zero
naming the panel when a query uses a macro or variable it does not replace.
"""
import json
import re
import sys

if len(sys.argv) != 3:
    sys.exit(__doc__.strip())
d = json.load(open(sys.argv[1]))
rng = "now() - interval '7 days'"
n = 0
for p in d["panels"]:
    if p.get("datasource", {}).get("uid") != "herald-postgres":
        continue
    for t in p["targets"]:
        sql = t["rawSql"]
        sql = re.sub(r"\$__timeFilter\(([^)]+)\)", r"\1 BETWEEN " + rng + " AND now()", sql)
        sql = sql.replace("$__timeFrom()", "(" + rng + ")").replace("$__timeTo()", "now()")
        if "$__" in sql or "$" in re.sub(r"'[^']*'", "", sql):
            sys.exit("panel %r uses a macro or variable panel_sql.py does not replace" % p["title"])
        n += 1
        with open("%s/%02d.sql" % (sys.argv[2], n), "w") as f:
            f.write(p["title"] + "\n" + sql + "\n")
