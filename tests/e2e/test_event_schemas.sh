#!/usr/bin/env bash
# The JSON Schemas in schema/events/ and Herald's C validation (common/event.c,
# run through `herald-checks validate` / `herald-collect validate`) agree:
# the sample events pass both, and a few hundred edited events (one field
# missing, null, of the wrong type, out of its enum, a bad timestamp, too many
# entries...) are accepted or refused by both alike, the C error naming a
# field the schema also complains about. The few rules JSON Schema cannot
# express (failing_count <= total_count, sample size <= failing_count,
# finished_at >= started_at) are listed below and checked to be C-only.
# Needs python3 with jsonschema >= 4 (Debian: python3-jsonschema); no broker.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

py=""
for c in python3 /usr/bin/python3; do
  if command -v "$c" >/dev/null 2>&1 &&
    "$c" -c 'from jsonschema import Draft202012Validator' 2>/dev/null; then
    py=$c
    break
  fi
done
[ -n "$py" ] || e2e_fail "python3 with jsonschema >= 4 is needed (apt-get install python3-jsonschema)"
checks=$(e2e_bin herald-checks) || exit 1
collect=$(e2e_bin herald-collect) || exit 1

"$py" - "$HERALD_SOURCE_DIR" "$checks" "$collect" "$E2E_TMP" <<'PY' || e2e_fail "schema and C validation disagree (see above)"
import copy, json, re, subprocess, sys
from jsonschema import Draft202012Validator as V

src, checks_bin, collect_bin, tmp = sys.argv[1:5]
def load(name):
    with open(f"{src}/schema/events/{name}.schema.json") as f:
        s = json.load(f)
    V.check_schema(s)
    fc = getattr(V, "FORMAT_CHECKER", None)
    return V(s, format_checker=fc), bool(fc and "date-time" in fc.checkers)
(check_v, fmt), (coll_v, _) = load("check_result.v1"), load("collection_event.v1")
routed_v, _ = load("routed_delivery.v1")

def examples(name):
    with open(f"{src}/examples/events/{name}") as f:
        return [json.loads(l) for l in f if l.strip()]
good_check, good_coll = examples("checks.jsonl")[0], examples("collections.jsonl")[0]
failed_coll = next(e for e in examples("collections.jsonl") if e["status"] == "failed")

DEL = object()
def edit(base, path, value):
    e = copy.deepcopy(base)
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    cur = e
    for p in parts[:-1]:
        cur = cur[int(p[1:-1])] if p.startswith("[") else cur[p]
    last = parts[-1]
    key = int(last[1:-1]) if last.startswith("[") else last
    if value is DEL:
        del cur[key]
    else:
        cur[key] = value
    return e

bad_times = ["2026-13-01T00:00:00Z", "yesterday", "2026-11-28 09:00:00Z", "2026-11-28T09:00:00",
             "", 1795856400, "2026-11-28", "2026-11-28T24:00:00Z", "2026-11-28T09:00:00+0200",
             "2026-11-28T09:00:00.Z", "2026-11-28T09:00:00.1234567890Z", "2026-00-10T00:00:00Z"]
good_times = ["2026-11-28T09:00:00Z", "2026-11-28t09:00:00z", "2026-11-28T10:00:00.5+01:00",
              "2026-11-28T09:00:00.123456789-04:30"]
day_times = ["2026-02-29T00:00:00Z", "2026-11-31T00:00:00Z"]  # the day must exist: format only

def users(n):
    return [{"id": f"u{i}"} for i in range(n)]

cases = {"check": [], "coll": []}   # (event, c_only_rule or None)
C = cases["check"]
C += [(e, None) for e in examples("checks.jsonl")]
for f in ["schema", "event_id", "tenant_id", "trigger", "check", "check.type", "check.name",
          "check.severity", "evaluated_at", "failing_count", "total_count", "failing_users[0].id"]:
    C.append((edit(good_check, f, DEL), None))
    C.append((edit(good_check, f, None), None))
for f, vals in {
    "schema": ["herald.collection_event.v1", "herald.check_result.v2", 1],
    "event_id": [42, "x", "7C3E9A10-4001-4001-8001-000000000001", "7c3e9a10-4001-4001-8001-00000000000g"],
    "tenant_id": [5, "", "a b", "a" * 129, "a" * 128, "acme:eu-1_x.y", "caf\u00e9"],
    "run_id": ["run-7", None, "5d2b8f41-6a0c-4e19-9b37-2c4d6e8fa001"],
    "trigger": ["cron", "MANUAL", 1, "scheduled"],
    "check": ["weak_mfa", []],
    "check.type": ["a,b", "", 3, "weak_mfa.v2"],
    "check.name": ["", True, "Schwache MFA \u2013 \U0001f512"],
    "check.severity": ["HIGH", "urgent", "critical", "low", "medium"],
    "check.url": ["javascript:alert(1)", "https://x.example/a|b", "https://x.example/a b",
                  "https://", "ftp://x.example/", "https://x.example/" + "a" * 2040, "http://x.example/ok?a=1&b=%20",
                  None, 7],
    "evaluated_at": bad_times + good_times,
    "failing_count": [-1, 1.5, "3", 3.0, 1e300, 4],
    "total_count": [-480, "480", 480.0, 9007199254740992],
    "failing_users": [{}, ["bob"], [{}], [{"id": ""}], [{"id": "x", "display_name": 5}],
                      [{"id": "x", "email": None, "display_name": None}], None, []],
    "extra_field": [{"anything": [1, 2]}],
}.items():
    for v in vals:
        C.append((edit(good_check, f, v), None))
for n, ok_total in [(100, True), (101, True)]:
    e = edit(edit(good_check, "failing_users", users(n)), "failing_count", n)
    C.append((e, None))
C.append((edit(good_check, "failing_count", 481), "failing_count <= total_count"))
C.append((edit(good_check, "failing_count", 1), "failing_users no larger than failing_count"))
for t in day_times:
    C.append((edit(good_check, "evaluated_at", t), None if fmt else "date-time format"))

K = cases["coll"]
K += [(e, None) for e in examples("collections.jsonl")]
for f in ["schema", "event_id", "tenant_id", "integration", "integration.id", "integration.name",
          "integration.kind", "trigger", "status", "started_at", "finished_at"]:
    K.append((edit(good_coll, f, DEL), None))
    K.append((edit(good_coll, f, None), None))
for f, vals in {
    "integration": ["okta", {"id": "x", "name": "y", "kind": "Okta X"}],
    "integration.id": ["", 5, "okta prod (eu)"],
    "status": ["done", "FAILED", "failed", 0],
    "trigger": ["webhook"],
    "started_at": bad_times,
    "stats": ["x", [], {}, None, {"users": "many"}, {"users": 2.5}, {"users": -3},
              {f"s{i}": i for i in range(64)}, {f"s{i}": i for i in range(65)}],
    "error": ["boom", {"code": "x"}, {"message": "y"}, {"code": "", "message": "y"},
              {"code": "x", "message": ""}, {"code": "x", "message": 5}, None],
}.items():
    for v in vals:
        K.append((edit(good_coll, f, v), None))
for f in ["error", "error.code", "error.message"]:
    K.append((edit(failed_coll, f, DEL), None))
K.append((edit(failed_coll, "error", None), None))
K.append((edit(good_coll, "finished_at", "2026-11-28T08:00:00Z"), "finished_at >= started_at"))

def schema_paths(err):
    """Dotted field paths an error (and its sub-errors) points at."""
    out = set()
    todo = [err]
    while todo:
        e = todo.pop()
        path = ""
        for p in e.absolute_path:
            path += f"[{p}]" if isinstance(p, int) else (f".{p}" if path else p)
        if e.validator == "required":
            m = re.match(r"'([^']+)' is a required property", e.message)
            if m:
                out.add(f"{path}.{m.group(1)}" if path else m.group(1))
        out.add(path or "(event)")
        todo.extend(e.context or [])
    return out

problems = 0
for kind, validator, binary in [("check", check_v, checks_bin), ("coll", coll_v, collect_bin)]:
    lines = cases[kind]
    path = f"{tmp}/{kind}.jsonl"
    with open(path, "w") as f:
        for e, _ in lines:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    r = subprocess.run([binary, "validate", path], capture_output=True, text=True, timeout=60)
    c_err = {}
    for l in r.stderr.splitlines():
        m = re.match(r"line (\d+): (.*)$", l)
        if m:
            c_err[int(m.group(1))] = m.group(2)
    agree = c_only = 0
    for i, (e, rule) in enumerate(lines, 1):
        errs = list(validator.iter_errors(e))
        c_bad, s_bad = i in c_err, bool(errs)
        if rule:
            if not (c_bad and not s_bad):
                print(f"{kind} line {i}: expected a C-only rejection ({rule}): C={c_err.get(i)} "
                      f"schema={[x.message for x in errs]}")
                problems += 1
            c_only += 1
            continue
        if c_bad != s_bad:
            print(f"{kind} line {i}: C {'rejects' if c_bad else 'accepts'} ({c_err.get(i)}), "
                  f"schema {'rejects' if s_bad else 'accepts'} {[x.message for x in errs]}\n    {json.dumps(e)[:300]}")
            problems += 1
            continue
        if c_bad:
            field = c_err[i].split(": ", 1)[0]
            named = set().union(*(schema_paths(x) for x in errs))
            if field not in named and not any(n.startswith(field) for n in named):
                print(f"{kind} line {i}: C names '{field}', the schema {sorted(named)}")
                problems += 1
                continue
        agree += 1
    want_rc = 1 if c_err else 0
    if r.returncode != want_rc:
        print(f"{kind}: validate exited {r.returncode}, expected {want_rc}: {r.stderr[-300:]}")
        problems += 1
    print(f"ok: {kind}: {agree} events judged alike by C and schema, {c_only} C-only rules confirmed"
          f" ({len(c_err)} rejected by C)")

# The routed delivery schema against a delivery shaped like the router's.
d = {"schema": "herald.routed_delivery.v1", "delivery_id": 12, "event_id": good_check["event_id"],
     "target_id": 3, "tenant_id": "acme", "team_id": "T0DEMO", "destination": "#sec-alerts",
     "destination_kind": "channel", "kind": "check_result", "event": good_check,
     "routed_at": "2026-11-28T09:00:01.123Z"}
bad = [edit(d, "kind", "collection_event"), edit(d, "event", json.dumps(good_check)),
       edit(d, "delivery_id", 0), edit(d, "destination_kind", "sms"), edit(d, "team_id", DEL)]
if list(routed_v.iter_errors(d)) or any(not list(routed_v.iter_errors(b)) for b in bad):
    print("routed_delivery.v1: the schema does not judge the sample deliveries as C does")
    problems += 1
else:
    print("ok: routed_delivery.v1 accepts a routed delivery and refuses 5 broken ones")
sys.exit(1 if problems else 0)
PY
e2e_ok "schemas and C validation agree"
