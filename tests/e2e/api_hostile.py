#!/usr/bin/env python3
"""Hostile requests against a running herald-api (tests/e2e/test_api_hostile.sh).

usage: api_hostile.py API_URL OPERATOR_TOKEN TENANT_TOKEN [SEED]

Sends malformed, oversized and malicious requests (huge headers, bad and
deeply nested JSON, invalid UTF-8, NUL bytes, path traversal into the console
files, bad cookies, ids that overflow, odd methods, random bytes) and checks
after every one that herald-api still answers, that it never answered 5xx to
bad input, and that no console request ever served a file from outside the
console. Loopback only; bounded in count and time. Prints one line per
failure and a closing "N passed, N failed" line; exits 1 on any failure.
"""
import http.client
import json
import random
import socket
import sys
import time
import urllib.parse

API, OP, TEN = sys.argv[1], sys.argv[2], sys.argv[3]
SEED = int(sys.argv[4]) if len(sys.argv) > 4 else 1
u = urllib.parse.urlparse(API)
HOST, PORT = u.hostname, u.port
assert HOST in ("127.0.0.1", "localhost", "::1"), "loopback only"

passed = failed = 0
deadline = time.monotonic() + 240


def fail(what, detail):
    global failed
    failed += 1
    print(f"FAIL: {what}: {detail}")


def ok():
    global passed
    passed += 1


def raw(data, timeout=10):
    """Sends raw bytes; returns the status code (0 when the server closed
    without an answer, which is fine for garbage) and the body."""
    s = socket.create_connection((HOST, PORT), timeout=timeout)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            chunks.append(b)
    except OSError:  # the server may close on garbage before reading it all
        return 0, b""
    finally:
        s.close()
    resp = b"".join(chunks)
    if not resp.startswith(b"HTTP/1."):
        return 0, resp
    try:
        return int(resp.split(b" ", 2)[1]), resp.split(b"\r\n\r\n", 1)[-1]
    except (IndexError, ValueError):
        return 0, resp


def req(method, path, body=None, headers=None, token=OP):
    h = {"Host": f"{HOST}:{PORT}"}
    if token:
        h["Authorization"] = "Bearer " + token
    if body is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    c = http.client.HTTPConnection(HOST, PORT, timeout=20)
    try:
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            c.putheader(k, v)
        data = body if isinstance(body, (bytes, type(None))) else body.encode("utf-8", "surrogatepass")
        if data is not None:
            c.putheader("Content-Length", str(len(data)))
        c.endheaders(data)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def alive(what):
    try:
        st, _ = req("GET", "/healthz", token=None)
    except OSError as e:
        fail(what, f"herald-api no longer answers: {e}")
        print("aborting: the server is down")
        print(f"{passed} passed, {failed} failed")
        sys.exit(1)
    if st != 200:
        fail(what, f"/healthz answered {st} afterwards")


def check(what, status, allowed=None, body=b""):
    """Bad input: any 4xx (or the statuses allowed), never 5xx, never a
    dropped connection."""
    if status == 0:
        fail(what, "connection closed without an answer")
    elif allowed is not None and status not in allowed:
        fail(what, f"status {status}, expected one of {sorted(allowed)}: {body[:200]!r}")
    elif allowed is None and not 400 <= status < 500:
        fail(what, f"status {status}, expected 4xx: {body[:200]!r}")
    else:
        ok()
    alive(what)


def send(what, method, path, body=None, allowed=None, **kw):
    try:
        st, b = req(method, path, body, **kw)
    except OSError as e:
        fail(what, f"{type(e).__name__}: {e}")
        alive(what)
        return
    check(what, st, allowed, b)


# ---------------------------------------------------------------- headers
for n in (9000, 70000, 300000):
    st, _ = raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * n + b"\r\n\r\n")
    # libmicrohttpd answers 431 (or closes) when the header does not fit.
    if st not in (0, 200, 413, 414, 431, 400):
        fail(f"{n}-byte header", f"status {st}")
    else:
        ok()
    alive(f"{n}-byte header")
st, _ = raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n")
ok() if st in (0, 200, 400, 431) else fail("5000 headers", f"status {st}")
alive("5000 headers")
st, _ = raw(b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
ok() if st in (0, 404, 414, 431, 400) else fail("100 kB URL", f"status {st}")
alive("100 kB URL")
for junk in (b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
             b"POST /api/v1/targets HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
             b"POST /api/v1/targets HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
             b"POST /api/v1/targets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
             b"GET /console/%00 HTTP/1.1\r\nHost: x\r\n\r\n",
             b"GET /console/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n"):
    st, _ = raw(junk)
    # 3xx: "%00" cuts the path to /console/, whose page sends a stranger to sign in
    ok() if st == 0 or 300 <= st < 500 or st == 505 else fail(f"raw {junk[:40]!r}", f"status {st}")
    alive(f"raw {junk[:40]!r}")

# ---------------------------------------------------------------- authentication
for tok in ("", "hrld_", "hrld_" + "A" * 43, "hrld_" + "\u00e9" * 43, "x" * 8000, "Bearer", "hrld_\x7f" + "a" * 42):
    send(f"bearer {tok[:12]!r}", "GET", "/api/v1/targets", token=None,
         headers={"Authorization": "Bearer " + tok}, allowed={401})
for cookie in ("herald_session=" + "A" * 43, "herald_session=" + "A" * 5000, "herald_session=%00%00",
               "herald_session", "=;=;=;", "herald_session=\u00e9\u00e9", ";" * 3000,
               "; ".join(f"c{i}=v" for i in range(2000))):
    send(f"cookie {cookie[:20]!r}", "GET", "/api/v1/session", token=None,
         headers={"Cookie": cookie}, allowed={401, 431, 400})
# A page without a session redirects to sign-in, whatever the path holds.
send("page redirect with long path", "GET", "/slack/install?x=" + "%41" * 3000, token=None,
     allowed={303})

# ---------------------------------------------------------------- console files
for p in ("/console/../../etc/passwd", "/console/%2e%2e/%2e%2e/etc/passwd",
          "/console/..%2f..%2fetc%2fpasswd", "/console/%2F%2Fetc%2Fpasswd", "/console/.%2e/",
          "/console/..\\..\\etc\\passwd", "/console/%5c..%5cetc%5cpasswd", "/console/.hidden",
          "/console/%00index.html", "/console/index.html%00.png", "/console/" + "a" * 5000,
          "/console/app.js/../../../etc/passwd", "/console//etc/passwd"):
    try:
        st, b = req("GET", p, token=None)
    except OSError as e:
        fail(f"console {p[:40]}", str(e))
        continue
    if b"root:" in b or st >= 500 or st == 0:
        fail(f"console {p[:40]}", f"status {st}: {b[:100]!r}")
    else:
        ok()
    alive(f"console {p[:40]}")

# ---------------------------------------------------------------- bodies
# Deeper than any parser should recurse, yet under the 64 KiB body cap.
nested_obj = "{\"a\":" * 5000 + "1" + "}" * 5000
nested_arr = "[" * 30000 + "]" * 30000
bodies = {
    "empty": b"", "not json": b"hello", "truncated": b"{\"name\": \"x", "array": b"[1,2]",
    "array of objects": b"[{}]", "number": b"1", "string": b"\"x\"", "null": b"null",
    "trailing garbage": b"{}{}", "nul inside": b"{\"name\":\"a\x00b\"}",
    "nested object": nested_obj.encode(), "nested array": nested_arr.encode(),
    "invalid utf-8": b"{\"workspace\":\"T1\",\"name\":\"\xff\xfe\xc3\",\"destination\":\"#general\",\"uses\":[\"failed_check\"]}",
    "overlong utf-8": b"{\"name\":\"\xc0\xaf\"}", "surrogate escape": b"{\"name\":\"\\ud800\"}",
    "nul escape": b"{\"name\":\"a\\u0000b\"}", "huge number": b"{\"enabled\": 1e999999}",
    "wrong types": b"{\"name\": 5, \"uses\": {}, \"checks\": 7, \"enabled\": \"yes\"}",
    "uses not strings": b"{\"uses\": [1, null, {}]}", "checks huge": json.dumps({"checks": ["a"] * 10000}).encode(),
    "unknown field": b"{\"__proto__\": 1}", "target_ids wrong": b"{\"target_ids\": [\"1\", null, 1e300, -1]}",
    "target_ids object": b"{\"target_ids\": {\"a\": 1}}",
}
endpoints = [("POST", "/api/v1/targets"), ("PATCH", "/api/v1/targets/1"), ("PUT", "/api/v1/targets/1"),
             ("PUT", "/api/v1/checks/weak_mfa/targets"), ("POST", "/api/v1/session"),
             ("POST", "/api/v1/targets/1/test")]
for (m, p) in endpoints:
    for name, b in bodies.items():
        tok = None if p == "/api/v1/session" else OP
        for t in ((tok, TEN) if tok else (None,)):
            send(f"{m} {p} {name}", m, p, body=b, token=t, allowed=None if p != "/api/v1/targets/1/test" else {404, 400})
send("form login junk", "POST", "/api/v1/session", body=b"token=%ZZ%00&&&=&token",
     token=None, headers={"Content-Type": "application/x-www-form-urlencoded"})
send("body over the cap", "POST", "/api/v1/targets", body=b"{" + b" " * 200000 + b"}", allowed={413})

# ---------------------------------------------------------------- ids and queries
for idp in ("99999999999999999999", "9223372036854775807", "9223372036854775808", "-1", "0", "0x10",
            "1e3", " 1", "1 ", "+1", "%00", "1%2f2", "１"):
    q = urllib.parse.quote(idp, safe="%")
    for path in (f"/api/v1/targets/{q}", f"/api/v1/deliveries/{q}", f"/api/v1/targets/{q}/deliveries",
                 f"/api/v1/targets/{q}/health"):
        send(f"id {idp!r} {path.split('/')[3]}", "GET", path, allowed={400, 404})
for qs in ("limit=99999999999999999999", "limit=-1", "limit=0", "offset=-5", "offset=1e9",
           "before_id=9223372036854775808", "target_id=abc", "since=2026-13-45T99:99:99Z",
           "since=" + "9" * 5000, "state=%ff", "tenant=%00", "limit=1&limit=2&limit=x"):
    send(f"deliveries ?{qs[:30]}", "GET", "/api/v1/deliveries?" + qs, allowed={200, 400, 403})
for t in ("a" * 300, "%00", "..", "a%20b", "%ff%fe", "<script>"):
    send(f"check type {t[:12]!r}", "PUT", f"/api/v1/checks/{t}/targets", body=b"{\"target_ids\":[]}",
         allowed={400, 404})
for w in ("a" * 200, "%00", "T..%2f", "%ff"):
    send(f"workspace {w[:12]!r}", "GET", f"/api/v1/workspaces/{w}", allowed={400, 404})
    send(f"workspace {w[:12]!r} channels", "GET", f"/api/v1/workspaces/{w}/channels", allowed={400, 404})
for m in ("FOO", "TRACE", "CONNECT", "OPTIONS", "PROPFIND", "DELETE"):
    send(f"method {m}", m, "/api/v1/targets", allowed={400, 404, 405, 501})
send("OAuth callback junk", "GET", "/slack/oauth/callback?state=" + "x" * 300 + "&code=%00", token=None)
send("OAuth callback error", "GET", "/slack/oauth/callback?error=%0d%0aSet-Cookie:x=1", token=None)
send("OAuth callback bad state", "GET", "/slack/oauth/callback?state=%ff%fe&code=1", token=None)

# ---------------------------------------------------------------- random junk
rng = random.Random(SEED)
alphabet = [b"{", b"}", b"[", b"]", b"\"", b":", b",", b"1", b"-", b"e", b"\\", b"u", b"\x00", b"\xff",
            b"\xc3", b"true", b"null", b"\"name\"", b"\"uses\"", b"\"target_ids\"", b"\"checks\"", b" "]
for i in range(300):
    if time.monotonic() > deadline:
        break
    body = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
    m, p = rng.choice(endpoints[:4])
    send(f"random body {i} to {m} {p}", m, p, body=body, token=rng.choice((OP, TEN)))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
