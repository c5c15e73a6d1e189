#!/usr/bin/env python3
"""Raw-byte fuzzing of every path and query parameter of the API.

Schemathesis sends values shaped by the schema; this sends what a broken or hostile client
sends instead: every byte value percent-encoded (NUL and other controls among them), invalid
and overlong UTF-8, lone surrogates, stray and truncated '%' escapes, '+', very long values,
repeated and empty parameters. Each answer must be below 500, and every error a problem+json
document. Exits non-zero, listing what failed, on any other answer.

Usage: scripts/fuzz-raw.py BASE_URL OPENAPI_JSON [TOKEN]   (FUZZ_SEED, FUZZ_RAW_CASES)
"""
import http.client
import json
import os
import random
import sys
import urllib.parse

base, document_path = sys.argv[1], sys.argv[2]
token = sys.argv[3] if len(sys.argv) > 3 else None
rng = random.Random(int(os.environ.get("FUZZ_SEED", "1")))
cases_per_parameter = int(os.environ.get("FUZZ_RAW_CASES", "40"))
document = json.load(open(document_path))
host = urllib.parse.urlsplit(base).netloc

FIXED = [
    "%00", "a%00b", "%01", "%1b[31m", "%7f", "%ff", "%c0%80", "%ed%a0%80", "%f4%90%80%80",
    "%e2%82", "%", "%%", "%2", "%zz", "+", "%2b", "%20", "..%2f..%2fetc%2fpasswd", "%5c",
    "%27%3b--", "%22", "%3cscript%3e", "", "-1", "0", "99999999999999999999999", "1e309",
    "NaN", "true", "null", "%5B%5D", "%7B%7D", "9" * 400, "%25" * 300, "_" * 2000, "%e2%80%ae",
]


def random_value():
    length = rng.choice([1, 2, 5, 20, 200, 2000])
    return "".join("%{:02x}".format(rng.randrange(256)) for _ in range(length))


def request(method, target):
    connection = http.client.HTTPConnection(host, timeout=15)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method in ("POST", "PUT", "PATCH"):
        headers["Content-Type"] = "application/json"
        body = "{}"
    else:
        body = None
    # skip_host off, but http.client would re-encode nothing: the target goes out as written.
    connection.putrequest(method, target, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body.encode() if body else None)
    response = connection.getresponse()
    content_type = response.getheader("Content-Type", "")
    response.read()
    connection.close()
    return response.status, content_type


failures = []
count = 0
for path, item in document["paths"].items():
    for method, operation in item.items():
        method = method.upper()
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE") or path.endswith("/stream"):
            continue
        if path.startswith("/api/v1/auth/log"):
            continue  # logging in or out would end the fuzzer's session
        parameters = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
        path_names = [p["name"] for p in parameters if p["in"] == "path"]
        query_names = [p["name"] for p in parameters if p["in"] == "query"] + ["unknown_parameter"]
        for name in path_names + query_names:
            values = FIXED + [random_value() for _ in range(cases_per_parameter)]
            for value in values:
                target = path
                for other in path_names:
                    target = target.replace("{" + other + "}", value if other == name else "x_1")
                if name in query_names:
                    target += f"?{name}={value}&{name}={value}"
                count += 1
                try:
                    status, content_type = request(method, target)
                except (OSError, http.client.HTTPException) as error:
                    failures.append(f"{method} {target[:120]}: no answer ({error})")
                    continue
                # Past 8 KiB hyper may answer before Marquee does; our own bound is 8 KiB.
                if status >= 500 or (status >= 400 and content_type != "application/problem+json"):
                    failures.append(f"{method} {target[:120]}: {status} {content_type}")

print(f"raw-byte fuzzing: {count} requests, {len(failures)} failures")
for failure in failures[:50]:
    print("FAIL:", failure)
sys.exit(1 if failures else 0)
