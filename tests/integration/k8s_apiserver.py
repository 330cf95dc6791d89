#!/usr/bin/env python3
"""A Kubernetes API server double for the discovery tests.

A real API server cannot run on the test machines, so this serves
real-shaped answers over HTTPS (a test CA made by the test): lists paged
with `limit`/`continue` and a list resourceVersion, watches as chunked
streams of one JSON event per line (each line written in pieces, so chunks
split events mid-line), ADDED / MODIFIED / DELETED / BOOKMARK events,
ERROR 410 when a watch starts from a version that is too old, `Status`
bodies on errors, bearer tokens checked on every request (401 otherwise),
and simple label / field selectors (`k=v`, `spec.nodeName=x`).

The test steers it with POST /_control (JSON, same TLS port):
  {"op": "put", "resource": "pods", "object": {...}}   ADDED or MODIFIED
  {"op": "delete", "resource": "pods", "key": "ns/name"}
  {"op": "raw", "resource": "pods", "line": "..."}      a line as is
  {"op": "bookmark", "resource": "pods"}
  {"op": "expire"}            watches get ERROR 410; older versions expire
  {"op": "fail", "match": "watch|list|continue", "status": 410, "count": 1}
  {"op": "tokens", "valid": ["t2"]}
  {"op": "close_watches"}
and reads GET /_control/log (every request: method, path, query, status,
token) and GET /_control/state.
"""
import argparse
import base64
import json
import random
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {
    "/api/v1/pods": ("pods", "Pod", "PodList"),
    "/api/v1/services": ("services", "Service", "ServiceList"),
    "/api/v1/endpoints": ("endpoints", "Endpoints", "EndpointsList"),
    "/api/v1/nodes": ("nodes", "Node", "NodeList"),
    "/apis/discovery.k8s.io/v1/endpointslices":
        ("endpointslices", "EndpointSlice", "EndpointSliceList"),
}


class State:
    def __init__(self):
        self.cv = threading.Condition()
        self.rv = 1000
        self.objects = {}   # resource -> key -> object
        self.history = []   # (rv, resource, type, object or raw line)
        self.expired_below = 0
        self.valid_tokens = set()
        self.fails = []     # [match, status, count]
        self.log = []
        self.watch_epoch = 0
        self.pages = []     # continue tokens' key lists

    def next_rv(self):
        self.rv += 1
        return str(self.rv)


ST = State()


def key_of(o):
    md = o.get("metadata", {})
    ns = md.get("namespace")
    return "%s/%s" % (ns, md["name"]) if ns else md["name"]


def status(code, reason, msg):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": msg, "reason": reason,
            "code": code}


def get_path(o, dotted):
    for part in dotted.split("."):
        if not isinstance(o, dict):
            return None
        o = o.get(part)
    return o


def selected(o, q):
    for sel in q.get("labelSelector", []):
        labels = o.get("metadata", {}).get("labels") or {}
        for term in sel.split(","):
            k, _, v = term.partition("=")
            if labels.get(k) != v:
                return False
    for sel in q.get("fieldSelector", []):
        for term in sel.split(","):
            k, _, v = term.partition("=")
            if str(get_path(o, k)) != v:
                return False
    return True


def split_path(path):
    """(resource, namespace) of an API path, or (None, None)."""
    if path in RESOURCES:
        return RESOURCES[path][0], None
    parts = path.split("/")
    # /api/v1/namespaces/NS/pods or /apis/G/V/namespaces/NS/R
    if "namespaces" in parts:
        i = parts.index("namespaces")
        if i + 2 < len(parts):
            base = "/".join(parts[:i] + [parts[i + 2]])
            if base in RESOURCES:
                return RESOURCES[base][0], parts[i + 1]
    return None, None


def kinds_of(resource):
    for _, (r, kind, lkind) in RESOURCES.items():
        if r == resource:
            return kind, lkind
    return None, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def record(self, code, extra=None):
        u = urllib.parse.urlsplit(self.path)
        auth = self.headers.get("Authorization", "")
        entry = {"method": self.command, "path": u.path, "query": u.query,
                 "status": code, "token": auth[7:] if auth.startswith("Bearer ") else "",
                 "accept": self.headers.get("Accept", ""), "t": time.time()}
        if extra:
            entry.update(extra)
        with ST.cv:
            ST.log.append(entry)

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def take_fail(self, match):
        with ST.cv:
            for f in ST.fails:
                if f[0] == match and f[2] > 0:
                    f[2] -= 1
                    return f[1]
        return None

    def do_POST(self):
        if self.path != "/_control":
            return self.send_json(404, status(404, "NotFound", "no"))
        n = int(self.headers.get("Content-Length", "0"))
        cmd = json.loads(self.rfile.read(n))
        self.send_json(200, control(cmd))

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/_control/log":
            with ST.cv:
                return self.send_json(200, ST.log)
        if u.path == "/_control/state":
            with ST.cv:
                return self.send_json(200, {"rv": ST.rv, "counts": {
                    r: len(v) for r, v in ST.objects.items()}})
        q = urllib.parse.parse_qs(u.query)
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else None
        if tok not in ST.valid_tokens:
            self.record(401)
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        resource, ns = split_path(u.path)
        if resource is None:
            self.record(404)
            return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
        if q.get("watch", ["false"])[0] == "true":
            return self.watch(resource, ns, q)
        return self.list(resource, ns, q)

    def list(self, resource, ns, q):
        match = "continue" if "continue" in q else "list"
        code = self.take_fail(match)
        if code == 410:
            self.record(410, {"kind": match})
            return self.send_json(410, status(410, "Expired", "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."))
        if code is not None:
            self.record(code, {"kind": match})
            reason = {403: "Forbidden", 429: "TooManyRequests"}.get(code, "InternalError")
            return self.send_json(code, status(code, reason, "injected %d" % code))
        limit = int(q.get("limit", ["0"])[0] or 0)
        with ST.cv:
            if "continue" in q:
                # like the API server's: version and where to go on; the
                # snapshot of keys stays here
                tok = json.loads(base64.b64decode(q["continue"][0]))
                items = ST.pages[tok["id"]]
                list_rv, start = tok["rv"], tok["start"]
            else:
                objs = ST.objects.get(resource, {})
                items = sorted(k for k, o in objs.items()
                               if (ns is None or o["metadata"].get("namespace") == ns)
                               and selected(o, q))
                list_rv, start = str(ST.rv), 0
            objs = ST.objects.get(resource, {})
            end = len(items) if limit <= 0 else min(len(items), start + limit)
            page = [objs[k] for k in items[start:end] if k in objs]
        md = {"resourceVersion": list_rv}
        if end < len(items):
            with ST.cv:
                ST.pages.append(items)
                pid = len(ST.pages) - 1
            md["continue"] = base64.b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "id": pid, "rv": list_rv,
                 "start": end}).encode()).decode()
        kind, lkind = kinds_of(resource)
        self.record(200, {"kind": "continue" if "continue" in q else "list",
                          "items": len(page)})
        self.send_json(200, {"kind": lkind, "apiVersion": "v1", "metadata": md,
                             "items": page})

    def chunk(self, data):
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.wfile.flush()

    def send_line(self, line):
        # In two or three pieces, each its own chunk, flushed apart: the
        # client sees events split anywhere.
        data = line.encode() + b"\n"
        cuts = sorted(random.sample(range(1, len(data)), min(2, len(data) - 1)))
        prev = 0
        for c in cuts + [len(data)]:
            self.chunk(data[prev:c])
            prev = c
            time.sleep(0.002)

    def watch(self, resource, ns, q):
        code = self.take_fail("watch")
        if code is not None:
            self.record(code, {"kind": "watch"})
            reason = {410: "Expired", 403: "Forbidden", 429: "TooManyRequests"}.get(code, "InternalError")
            return self.send_json(code, status(code, reason, "injected %d" % code))
        since = int(q.get("resourceVersion", ["0"])[0] or 0)
        timeout = min(int(q.get("timeoutSeconds", ["60"])[0]), 60)
        self.record(200, {"kind": "watch", "rv": since})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        end = time.time() + timeout
        pos = 0
        with ST.cv:
            epoch = ST.watch_epoch
            expired = since < ST.expired_below
        try:
            if expired:
                self.send_line(json.dumps({"type": "ERROR", "object": status(
                    410, "Expired", "too old resource version: %d (%d)" % (since, ST.expired_below))}))
                self.chunk(b"")
                return
            while time.time() < end:
                with ST.cv:
                    if ST.watch_epoch != epoch:
                        break
                    evs = []
                    while pos < len(ST.history):
                        ev = ST.history[pos]
                        pos += 1
                        if ev[1] != resource or ev[0] <= since:
                            continue
                        evs.append(ev)
                    if not evs:
                        ST.cv.wait(0.2)
                        continue
                for rv, _, typ, obj in evs:
                    if typ == "RAW":
                        self.send_line(obj)
                        continue
                    if typ == "ERROR":
                        self.send_line(json.dumps({"type": "ERROR", "object": obj}))
                        self.chunk(b"")
                        return
                    if typ != "BOOKMARK" and ns is not None and \
                            obj["metadata"].get("namespace") != ns:
                        continue
                    if typ != "BOOKMARK" and not selected(obj, q):
                        continue
                    self.send_line(json.dumps({"type": typ, "object": obj},
                                              separators=(",", ":")))
            self.chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass


def control(cmd):
    op = cmd["op"]
    with ST.cv:
        if op == "put":
            r = cmd["resource"]
            o = cmd["object"]
            objs = ST.objects.setdefault(r, {})
            k = key_of(o)
            typ = "MODIFIED" if k in objs else "ADDED"
            o.setdefault("metadata", {})["resourceVersion"] = ST.next_rv()
            objs[k] = o
            ST.history.append((ST.rv, r, typ, o))
        elif op == "delete":
            r = cmd["resource"]
            o = ST.objects.get(r, {}).pop(cmd["key"], None)
            if o is not None:
                o = json.loads(json.dumps(o))
                o["metadata"]["resourceVersion"] = ST.next_rv()
                ST.history.append((ST.rv, r, "DELETED", o))
        elif op == "raw":
            ST.history.append((int(ST.next_rv()), cmd["resource"], "RAW", cmd["line"]))
        elif op == "bookmark":
            rv = ST.next_rv()
            ST.history.append((int(rv), cmd["resource"], "BOOKMARK", {
                "kind": kinds_of(cmd["resource"])[0], "apiVersion": "v1",
                "metadata": {"resourceVersion": rv}}))
        elif op == "expire":
            # Every version seen so far is now too old: running watches get
            # ERROR 410 and new watches from an old version too.
            ST.expired_below = int(ST.next_rv())
            for r in RESOURCES.values():
                ST.history.append((ST.expired_below, r[0], "ERROR", status(
                    410, "Expired", "too old resource version")))
        elif op == "fail":
            ST.fails.append([cmd["match"], cmd["status"], cmd.get("count", 1)])
        elif op == "tokens":
            ST.valid_tokens = set(cmd["valid"])
        elif op == "close_watches":
            ST.watch_epoch += 1
        ST.cv.notify_all()
        return {"ok": True, "rv": ST.rv}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--objects", help="JSON file: {resource: [objects]}")
    a = ap.parse_args()
    ST.valid_tokens = set(a.token)
    if a.objects:
        with open(a.objects) as f:
            for r, objs in json.load(f).items():
                for o in objs:
                    control({"op": "put", "resource": r, "object": o})
    srv = ThreadingHTTPServer((a.addr, 0), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
