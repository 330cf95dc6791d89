#!/usr/bin/env python3
"""A Datadog profiling intake double for profcol's tests.

    datadog_intake_sink.py PB_DIR OUT_DIR PORT_FILE [--api-key KEY]

The real intake (https://intake.profile.<site>/api/v2/profile) cannot be
reached from the tests. This double answers POST /api/v2/profile (202) and
/profiling/v1/input (200, as the Agent), and checks every upload against the
documented contract (wire facts: multipart v4 as the tracers send it):
  - DD-API-KEY present (equal to KEY when given; else 403), no
    Content-Encoding, Content-Type multipart/form-data with a boundary;
  - a well-formed multipart body: an `event` part (filename event.json,
    application/json) with `attachments` (non-empty list of names), `start`
    and `end` (RFC 3339, end >= start), `family` (a backend family),
    `version` "4", `tags_profiler` (a "k:v,..." string with service,
    language or runtime, and profiler_version);
  - every listed attachment present as a part whose form name and file name
    are its name, no part unlisted, each gzip, zstd or plain, decoding as a
    pprof (profile.proto from PB_DIR) with at least one sample type.
A valid upload gets 202/200 and is recorded: OUT_DIR/NNNNNN.event.json and
OUT_DIR/NNNNNN.<attachment> (decompressed pprof). An invalid one gets 400
with the reason, and the reason is kept. OUT_DIR/stats.json counts
`accepted`, `invalid` and keeps `errors`.

Faults, set with POST /control (JSON): {"status": 503, "count": 2}: the next
`count` uploads are answered with that status (checked and counted as
`faulted`, not recorded). The port is written to PORT_FILE once listening.
"""
import datetime
import gzip
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PB_DIR, OUT_DIR, PORT_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
API_KEY = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--api-key" else None
sys.path.insert(0, PB_DIR)
import profile_pb2  # noqa: E402

FAMILIES = {"go", "node", "python", "java", "ruby", "dotnet", "php", "native"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
LOCK = threading.Lock()
STATE = {"seq": 0, "fault": None,
         "stats": {"accepted": 0, "invalid": 0, "faulted": 0, "errors": []}}


def save_stats():
    tmp = os.path.join(OUT_DIR, ".stats.tmp")
    with open(tmp, "w") as f:
        json.dump(STATE["stats"], f)
    os.replace(tmp, os.path.join(OUT_DIR, "stats.json"))


def parse_time(s):
    if not isinstance(s, str) or not RFC3339.match(s):
        raise ValueError(f"not an RFC 3339 time: {s!r}")
    head, frac = s[:19], "0"
    rest = s[19:]
    if rest.startswith("."):
        m = re.match(r"\.(\d+)", rest)
        frac, rest = m.group(1), rest[m.end():]
    t = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    ns = int(t.timestamp()) * 10**9 + int(frac.ljust(9, "0")[:9])
    if rest != "Z":
        sign = 1 if rest[0] == "+" else -1
        ns -= sign * (int(rest[1:3]) * 3600 + int(rest[4:6]) * 60) * 10**9
    return ns


def parts_of(body, boundary):
    """The parts of a multipart body: (headers dict, data)."""
    delim = b"--" + boundary.encode()
    if not body.startswith(delim):
        raise ValueError("body does not start with the boundary")
    chunks = body.split(b"\r\n" + delim)
    first = chunks[0][len(delim):]
    chunks = [first] + chunks[1:]
    if not chunks[-1].startswith(b"--"):
        raise ValueError("no closing boundary")
    out = []
    for c in chunks[:-1]:
        if not c.startswith(b"\r\n"):
            raise ValueError("boundary line not ended by CRLF")
        head, sep, data = c[2:].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("part without a header block")
        hdrs = {}
        for line in head.split(b"\r\n"):
            k, _, v = line.decode().partition(":")
            hdrs[k.strip().lower()] = v.strip()
        out.append((hdrs, data))
    return out


def disposition(h):
    d = h.get("content-disposition", "")
    name = re.search(r'\bname="([^"]*)"', d)
    fname = re.search(r'\bfilename="([^"]*)"', d)
    return (name.group(1) if name else None), (fname.group(1) if fname else None)


def inflate(data):
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-dcq"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
    return data


def check(headers, body):
    """Raises ValueError with the reason; returns (event, {name: pprof})."""
    if headers.get("Content-Encoding"):
        raise ValueError("Content-Encoding set: attachments are compressed one by one")
    ct = headers.get("Content-Type", "")
    m = re.match(r'multipart/form-data;\s*boundary="?([^";]+)"?', ct)
    if not m:
        raise ValueError(f"Content-Type is not multipart/form-data with a boundary: {ct!r}")
    parts = parts_of(body, m.group(1))
    event, files = None, {}
    for h, data in parts:
        name, fname = disposition(h)
        if name == "event":
            if fname != "event.json" or "application/json" not in h.get("content-type", ""):
                raise ValueError("event part without filename event.json / application/json")
            event = json.loads(data)
        else:
            if not name or name != fname:
                raise ValueError(f"attachment part name {name!r} != filename {fname!r}")
            files[name] = data
    if event is None:
        raise ValueError("no event part")
    att = event.get("attachments")
    if not isinstance(att, list) or not att or not all(isinstance(a, str) for a in att):
        raise ValueError("event.attachments is not a non-empty list of names")
    if sorted(att) != sorted(files):
        raise ValueError(f"attachments {att} but parts {sorted(files)}")
    if parse_time(event.get("end")) < parse_time(event.get("start")):
        raise ValueError("end before start")
    if event.get("family") not in FAMILIES:
        raise ValueError(f"family {event.get('family')!r}")
    if event.get("version") != "4":
        raise ValueError(f"version {event.get('version')!r}, want \"4\"")
    tags = event.get("tags_profiler")
    if not isinstance(tags, str):
        raise ValueError("tags_profiler is not a string")
    keys = {t.partition(":")[0] for t in tags.split(",") if ":" in t}
    for need in ("service", "profiler_version"):
        if need not in keys:
            raise ValueError(f"tags_profiler without {need}: {tags!r}")
    if not keys & {"language", "runtime"}:
        raise ValueError(f"tags_profiler without language or runtime: {tags!r}")
    pprofs = {}
    for name, data in files.items():
        raw = inflate(data)
        p = profile_pb2.Profile()
        p.ParseFromString(raw)
        if not p.sample_type:
            raise ValueError(f"attachment {name}: no sample type")
        pprofs[name] = raw
    return event, pprofs


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.path == "/control":
            with LOCK:
                STATE["fault"] = json.loads(body)
            return self.reply(200)
        if self.path not in ("/api/v2/profile", "/profiling/v1/input"):
            return self.reply(404)
        key = self.headers.get("DD-API-KEY")
        if key is None or (API_KEY is not None and key != API_KEY):
            with LOCK:
                STATE["stats"]["invalid"] += 1
                STATE["stats"]["errors"].append("bad or missing DD-API-KEY")
                save_stats()
            return self.reply(403, b'{"errors":["Forbidden"]}')
        try:
            event, pprofs = check(self.headers, body)
        except Exception as e:  # every failure is the client's
            with LOCK:
                STATE["stats"]["invalid"] += 1
                STATE["stats"]["errors"].append(str(e)[:300])
                save_stats()
            return self.reply(400, json.dumps({"errors": [str(e)]}).encode())
        with LOCK:
            f = STATE["fault"]
            if f and f.get("count", 0) > 0:
                f["count"] -= 1
                STATE["stats"]["faulted"] += 1
                save_stats()
                return self.reply(int(f["status"]))
            STATE["seq"] += 1
            seq = STATE["seq"]
            STATE["stats"]["accepted"] += 1
        base = os.path.join(OUT_DIR, f"{seq:06d}")
        for name, raw in pprofs.items():
            with open(f"{base}.{name}", "wb") as fh:
                fh.write(raw)
        with open(f"{base}.event.json", "w") as fh:
            json.dump(event, fh)
        with LOCK:
            save_stats()
        self.reply(202 if self.path == "/api/v2/profile" else 200)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    save_stats()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(PORT_FILE + ".tmp", PORT_FILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
