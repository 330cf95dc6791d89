"""Shared machinery of the gRPC test sinks (parca_sink.py, otlp_grpc_sink.py).

The sinks speak the real protocols: their messages come from the project's
.proto files (Python modules generated at test time with
`python3 -m grpc_tools.protoc`), served by python3-grpcio. Real Parca and
OTLP backends cannot run in the test environment, so the sinks also apply
the backends' validation rules and refuse what the backends would refuse.

Fault injection: a JSON control file, re-read on every request:
  {"mode": "ok" | "unavailable" | "hang" | "exhausted" | "exhausted_noretry",
   "hang_s": 5, "retry_ms": 300, "partial": 0}
Each request is recorded; stats.json in the output directory counts
requests, accepted series/profiles, faults and validation errors.
"""
import json
import os
import sys
import threading
import time
from concurrent import futures

import grpc


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def retry_status_bin(code, msg, retry_ms):
    """google.rpc.Status with one google.rpc.RetryInfo detail, by hand
    (googleapis-common-protos is not installed)."""
    dur = field_varint(1, retry_ms // 1000) + field_varint(2, (retry_ms % 1000) * 1000000)
    retry_info = field_bytes(1, dur)
    any_msg = field_bytes(1, b"type.googleapis.com/google.rpc.RetryInfo") + field_bytes(2, retry_info)
    return field_varint(1, code) + field_bytes(2, msg.encode()) + field_bytes(3, any_msg)


class Sink:
    def __init__(self, out_dir, control):
        self.out = out_dir
        self.control = control
        self.lock = threading.Lock()
        self.stats = {"requests": 0, "accepted_requests": 0, "series": 0,
                      "profiles": 0, "faults": 0, "invalid": 0, "errors": [],
                      "metadata": {}}
        os.makedirs(out_dir, exist_ok=True)
        self.save()

    def mode(self):
        try:
            with open(self.control) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"mode": "ok"}

    def save(self):
        tmp = os.path.join(self.out, ".stats.tmp")
        with open(tmp, "w") as f:
            json.dump(self.stats, f)
        os.replace(tmp, os.path.join(self.out, "stats.json"))

    def fault(self, context):
        """Applies the control file's fault; True when the request ends here."""
        m = self.mode()
        kind = m.get("mode", "ok")
        if kind == "ok":
            return False
        with self.lock:
            self.stats["faults"] += 1
            self.save()
        if kind == "unavailable":
            context.abort(grpc.StatusCode.UNAVAILABLE, "sink: unavailable (test fault)")
        if kind == "hang":
            time.sleep(float(m.get("hang_s", 5)))
            context.abort(grpc.StatusCode.UNAVAILABLE, "sink: hung (test fault)")
        if kind == "exhausted":
            ms = int(m.get("retry_ms", 300))
            context.set_trailing_metadata(
                (("grpc-status-details-bin", retry_status_bin(8, "slow down", ms)),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "sink: slow down (test fault)")
        if kind == "exhausted_noretry":
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "sink: quota (test fault)")
        return False

    def note_metadata(self, context):
        with self.lock:
            for k, v in context.invocation_metadata():
                if not k.startswith("grpc-") and k not in ("user-agent",):
                    self.stats["metadata"][k] = v if isinstance(v, str) else repr(v)

    def invalid(self, context, msg):
        with self.lock:
            self.stats["invalid"] += 1
            if len(self.stats["errors"]) < 50:
                self.stats["errors"].append(msg)
            self.save()
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, msg)


def serve(handler, port_file, port=0, workers=8):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, port_file)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        pass
    return 0

