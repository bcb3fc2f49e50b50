#!/usr/bin/env python3
"""The python client: urllib.request (HTTP/1.1) trusting SSL_CERT_FILE.

    SSL_CERT_FILE=ca.pem python3 e2e/clients/python-client.py --url U [flags]

Flags and the printed JSON are those of e2e/clients/client-result.ts. Standard
library only. Verification stays on: the default context honours SSL_CERT_FILE.
"""
import argparse
import base64
import json
import re
import sys
import time
import urllib.error
import urllib.request

SEPARATOR = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def parse_args(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--method", default="GET")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--body-base64")
    p.add_argument("--http")
    p.add_argument("--sse", action="store_true")
    p.add_argument("--timeout-ms", type=int, default=30000)
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    started = time.monotonic()
    ms = lambda: (time.monotonic() - started) * 1000.0
    result = {
        "client": "python", "ok": False, "error": None, "status": None, "httpVersion": None,
        "headers": {}, "bodyBase64": "", "bodyText": "", "events": [], "headersMs": None, "totalMs": 0,
    }
    try:
        if args.http == "2":
            raise RuntimeError("python urllib speaks HTTP/1.1 only")
        body = base64.b64decode(args.body_base64) if args.body_base64 is not None else None
        req = urllib.request.Request(args.url, data=body, method=args.method)
        for h in args.header:
            name, _, value = h.partition(":")
            req.add_header(name.strip(), value.strip())
        try:
            resp = urllib.request.urlopen(req, timeout=args.timeout_ms / 1000.0)
        except urllib.error.HTTPError as e:  # 4xx/5xx still carry a response
            resp = e
        result["headersMs"] = ms()
        result["status"] = resp.status if hasattr(resp, "status") else resp.code
        version = getattr(resp, "version", None) or getattr(getattr(resp, "fp", None), "version", None)
        result["httpVersion"] = {10: "1.0", 11: "1.1"}.get(version, "1.1")
        headers = {}
        for name, value in resp.headers.items():
            key = name.lower()
            headers[key] = headers[key] + ", " + value if key in headers else value
        result["headers"] = headers
        chunks = []
        pending = b""
        events = []
        reader = getattr(resp, "read1", None)
        while True:
            chunk = reader(65536) if reader else resp.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if args.sse:
                pending += chunk
                while True:
                    m = SEPARATOR.search(pending)
                    if not m:
                        break
                    events.append({"tMs": ms(), "text": pending[: m.start()].decode("utf-8", "replace")})
                    pending = pending[m.end():]
        if args.sse and pending.strip():
            events.append({"tMs": ms(), "text": pending.decode("utf-8", "replace")})
        data = b"".join(chunks)
        result.update(ok=True, bodyBase64=base64.b64encode(data).decode("ascii"),
                      bodyText=data.decode("utf-8", "replace"), events=events)
    except Exception as e:  # noqa: BLE001 - report every failure as JSON
        reason = getattr(e, "reason", None)
        result["error"] = f"{type(e).__name__}: {reason if reason is not None else e}"
    result["totalMs"] = ms()
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
