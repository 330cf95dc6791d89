#!/usr/bin/env python3
"""A Pyroscope ingest sink for profcol's integration tests.

    pyroscope_sink.py PB_DIR OUT_DIR PORT_FILE [--port N]

Speaks the two ingest APIs of Grafana Pyroscope:
  POST /push.v1.PusherService/Push  Connect unary, application/proto,
       optional Content-Encoding: gzip; PushRequest parsed with stubs
       generated from proto/pyroscope (PB_DIR).
  POST /ingest?name=...             raw pprof body.
Each received profile is written to OUT_DIR/NNNNNN.pb(.gz) with its labels
in OUT_DIR/NNNNNN.json; OUT_DIR/requests.jsonl logs every request (path,
headers of interest, status answered).

Faults, set with POST /control (JSON): {"status": 503, "count": 5,
"retry_after": "2", "body": "{...}", "delay": 3.0}: the next `count`
requests are answered with that status (and Retry-After / body); `delay`
sleeps that many seconds before answering every request (a slow server).
The port is written to PORT_FILE once listening (port 0 = pick a free one).
"""
import gzip
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PB_DIR, OUT_DIR, PORT_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
PORT = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--port" else 0
sys.path.insert(0, PB_DIR)


def load_stubs():
    """push_pb2 imports `types.v1.types_pb2`, which the standard library's
    `types` module shadows: register the generated module under that name
    first."""
    import importlib.util
    import types as std_types
    path = os.path.join(PB_DIR, "types", "v1", "types_pb2.py")
    spec = importlib.util.spec_from_file_location("types.v1.types_pb2", path)
    mod = importlib.util.module_from_spec(spec)
    pkg = std_types.ModuleType("types.v1")
    pkg.types_pb2 = mod
    sys.modules["types.v1"] = pkg
    sys.modules["types.v1.types_pb2"] = mod
    spec.loader.exec_module(mod)
    from push.v1 import push_pb2 as p
    return p


push_pb2 = load_stubs()

LOCK = threading.Lock()
STATE = {"seq": 0, "fault": None, "delay": 0.0}


def next_seq():
    with LOCK:
        STATE["seq"] += 1
        return STATE["seq"]


def log_request(entry):
    with LOCK:
        with open(os.path.join(OUT_DIR, "requests.jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\n")


def save_profile(raw, labels, tenant, api):
    n = next_seq()
    ext = ".pb.gz" if raw[:2] == b"\x1f\x8b" else ".pb"
    with open(os.path.join(OUT_DIR, "%06d%s" % (n, ext)), "wb") as f:
        f.write(raw)
    with open(os.path.join(OUT_DIR, "%06d.json" % n), "w") as f:
        json.dump({"labels": labels, "tenant": tenant, "api": api}, f)


def take_fault():
    with LOCK:
        fault = STATE["fault"]
        if fault is None or fault.get("count", 0) <= 0:
            return None
        fault["count"] -= 1
        return dict(fault)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle(self):
        # A client that timed out has gone: not an error of the sink.
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def answer(self, status, body=b"", ctype="application/json", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        url = urllib.parse.urlparse(self.path)
        if url.path == "/control":
            with LOCK:
                cfg = json.loads(body or b"{}")
                STATE["delay"] = float(cfg.pop("delay", STATE["delay"]))
                STATE["fault"] = cfg if cfg.get("status") else None
            return self.answer(200, b"{}")
        entry = {"path": url.path, "t": time.time(),
                 "tenant": self.headers.get("X-Scope-OrgID"),
                 "content_type": self.headers.get("Content-Type"),
                 "content_encoding": self.headers.get("Content-Encoding"),
                 "connect": self.headers.get("Connect-Protocol-Version"),
                 "authorization": self.headers.get("Authorization"),
                 "x_test": self.headers.get("X-Test"),
                 "query": url.query, "bytes": len(body)}
        if STATE["delay"] > 0:
            time.sleep(STATE["delay"])
        fault = take_fault()
        if fault is not None:
            entry["status"] = fault["status"]
            log_request(entry)
            extra = {"Retry-After": fault["retry_after"]} if "retry_after" in fault else {}
            msg = fault.get("body", json.dumps({"code": "unavailable", "message": "sink fault"}))
            return self.answer(fault["status"], msg.encode(), extra=extra)
        try:
            if url.path == "/push.v1.PusherService/Push":
                status = self.push(body, entry)
            elif url.path == "/ingest":
                status = self.ingest(body, url.query, entry)
            else:
                status = 404
        except Exception as exc:  # a malformed request is the test's failure
            entry["error"] = str(exc)
            status = 400
        entry["status"] = status
        log_request(entry)
        if status == 200:
            return self.answer(200, b"", ctype="application/proto")
        msg = json.dumps({"code": "invalid_argument", "message": entry.get("error", "bad request")})
        return self.answer(status, msg.encode())

    def push(self, body, entry):
        if self.headers.get("Content-Type") != "application/proto":
            entry["error"] = "content type %s" % self.headers.get("Content-Type")
            return 415
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        req = push_pb2.PushRequest()
        req.ParseFromString(body)
        entry["series"] = len(req.series)
        for s in req.series:
            labels = [[lp.name, lp.value] for lp in s.labels]
            for sample in s.samples:
                save_profile(sample.raw_profile, labels, entry["tenant"], "push")
        return 200

    def ingest(self, body, query, entry):
        q = urllib.parse.parse_qs(query)
        name = q["name"][0]
        app, _, rest = name.partition("{")
        labels = [["service_name", app]]
        for kv in rest.rstrip("}").split(","):
            if kv:
                k, _, v = kv.partition("=")
                labels.append([k, v])
        for k in ("from", "until", "format", "spyName", "sampleRate"):
            if k in q:
                labels.append(["?" + k, q[k][0]])
        save_profile(body, labels, entry["tenant"], "ingest")
        return 200


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    # A restarted sink (the "backend down" tests) continues the numbering.
    done = [int(f[:6]) for f in os.listdir(OUT_DIR) if f.endswith(".json")]
    STATE["seq"] = max(done, default=0)
    srv = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    tmp = PORT_FILE + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, PORT_FILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
