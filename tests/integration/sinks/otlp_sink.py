#!/usr/bin/env python3
"""An OTLP/HTTP profiles sink for profcol's integration tests.

    otlp_sink.py PB_DIR OUT_DIR PORT_FILE

POST /v1development/profiles: the body (Content-Encoding gzip or none;
Content-Type application/x-protobuf or application/json) must parse as an
ExportProfilesServiceRequest (stubs generated from proto/otlp into PB_DIR);
its protobuf form is stored as OUT_DIR/NNNNNN.otlp and the body as it came
over the wire (still compressed) as OUT_DIR/NNNNNN.body, and every request
is logged to OUT_DIR/requests.jsonl. POST /control (JSON) sets faults:
{"status": 503, "count": 3} answers the next requests with that status and
a google.rpc.Status body carrying "message"; {"rejected": 1, "message": "x"}
makes the next success a partial success.
"""
import gzip
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PB_DIR, OUT_DIR, PORT_FILE = sys.argv[1:4]
sys.path.insert(0, PB_DIR)
from google.protobuf import json_format  # noqa: E402
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps  # noqa: E402

LOCK = threading.Lock()
STATE = {"seq": 0, "fault": None, "partial": None}


def status_pb(code, message):
    """google.rpc.Status {code = 1, message = 2}, encoded by hand."""
    m = message.encode()
    return bytes([0x08, code, 0x12, len(m)]) + m


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype="application/x-protobuf"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/control":
            cfg = json.loads(body)
            with LOCK:
                if "status" in cfg:
                    STATE["fault"] = cfg
                if "rejected" in cfg:
                    STATE["partial"] = cfg
            return self.answer(200, b"{}", "application/json")
        entry = {"path": self.path, "t": time.time(),
                 "content_type": self.headers.get("Content-Type"),
                 "content_encoding": self.headers.get("Content-Encoding"),
                 "x_test": self.headers.get("X-Test")}
        with LOCK:
            fault = STATE["fault"]
            if fault and fault["count"] > 0:
                fault["count"] -= 1
            else:
                fault = None
        if fault:
            entry["status"] = fault["status"]
            self.log(entry)
            return self.answer(fault["status"], status_pb(3, fault.get("message", "sink fault")))
        wire = body
        try:
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            req = ps.ExportProfilesServiceRequest()
            if self.headers.get("Content-Type") == "application/json":
                json_format.Parse(body, req)
            else:
                req.ParseFromString(body)
            if not req.resource_profiles:
                raise ValueError("no resource_profiles")
        except Exception as exc:
            entry["status"] = 400
            entry["error"] = str(exc)
            self.log(entry)
            return self.answer(400, status_pb(3, str(exc)))
        with LOCK:
            STATE["seq"] += 1
            n = STATE["seq"]
            partial, STATE["partial"] = STATE["partial"], None
        with open(os.path.join(OUT_DIR, "%06d.otlp" % n), "wb") as f:
            f.write(req.SerializeToString())
        with open(os.path.join(OUT_DIR, "%06d.body" % n), "wb") as f:
            f.write(wire)
        entry["status"] = 200
        self.log(entry)
        resp = ps.ExportProfilesServiceResponse()
        if partial:
            resp.partial_success.rejected_profiles = partial["rejected"]
            resp.partial_success.error_message = partial.get("message", "")
        self.answer(200, resp.SerializeToString())

    def log(self, entry):
        with LOCK:
            with open(os.path.join(OUT_DIR, "requests.jsonl"), "a") as f:
                f.write(json.dumps(entry) + "\n")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
