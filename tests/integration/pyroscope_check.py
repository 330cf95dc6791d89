#!/usr/bin/env python3
"""pyroscope_check.py: drives profcol's `pyroscope` receiver over HTTP.

  pyroscope_check.py requests PORT PROFILES_DIR PROTO_DIR WORK_DIR
      sends good and bad /ingest and Push requests, checks each status and
      error message; exits 1 on the first mismatch.
  pyroscope_check.py verify JSON_DIR EXPECT...
      checks the items the file exporter wrote (json format): each EXPECT is
      service=NAME:labels=k=v;k=v:names=wall,memory:tenant=T.
"""
import base64
import glob
import gzip
import http.client
import json
import os
import subprocess
import sys
import urllib.parse

FAILED = []


def post(port, path, body, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("POST", path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def expect(what, got, want_status, want_text=None):
    status, body = got
    text = body.decode("utf-8", "replace")
    ok = status == want_status and (want_text is None or want_text in text)
    if want_status >= 400 and ok and want_text is not None:
        try:
            j = json.loads(text)
            ok = "code" in j and "message" in j
        except ValueError:
            ok = False
    print("%-4s %-48s -> %d %s" % ("ok" if ok else "FAIL", what, status,
                                   text[:160]))
    if not ok:
        FAILED.append("%s: want %d %r, got %d %r" % (what, want_status,
                                                    want_text, status, text))


def ingest_path(name, **params):
    q = {"name": name, "from": "1700000000", "until": "1700000010"}
    q.update(params)
    return "/ingest?" + urllib.parse.urlencode(q)


def multipart(parts, boundary="profcolBoundary42"):
    out = b""
    for name, filename, ctype, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        disp = 'form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        out += b"Content-Disposition: " + disp.encode() + b"\r\n"
        if ctype:
            out += b"Content-Type: " + ctype.encode() + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


def ingest_checks(port, profiles):
    cpu = open(os.path.join(profiles, "cpu.pb.gz"), "rb").read()
    block = open(os.path.join(profiles, "block.pb.gz"), "rb").read()
    # Good: raw gzipped pprof, folded, lines, go-style multipart with
    # sample_type_config, pyroscope path alias.
    expect("pprof raw", post(port, ingest_path(
        "pyapp{env=test}", format="pprof", spyName="gospy"), cpu), 200)
    expect("folded cpu", post(port, ingest_path(
        "foldapp.cpu{region=eu}", sampleRate="100"),
        b"main;work;fib 7\nmain;work 3\nmain;work;fib 2\n"), 200)
    expect("lines alloc_space", post(port, ingest_path(
        "linesapp.alloc_space", format="lines"), b"a;b\na;b\na;c\n"), 200)
    stc = json.dumps({"contentions": {"display-name": "block_count",
                                      "units": "lock_samples"},
                      "delay": {"display-name": "block_duration",
                                "units": "lock_nanoseconds"}}).encode()
    body, ct = multipart([("profile", "profile.pprof",
                           "application/octet-stream", block),
                          ("sample_type_config", "sample_type_config.json",
                           "application/octet-stream", stc)])
    expect("multipart block+config", post(port, "/pyroscope" + ingest_path(
        "blockapp{__session_id__=0123456789abcdef}", spyName="gospy"), body,
        {"Content-Type": ct}), 200)
    expect("empty pprof body", post(port, ingest_path("x", format="pprof"),
                                    b""), 200)
    # Bad.
    expect("bad name", post(port, ingest_path("bad app{a=b}"), b"a 1"), 400,
           "invalid service name")
    expect("bad tag key", post(port, ingest_path("app{a-b=c}"), b"a 1"), 400,
           "invalid tag key")
    expect("no name", post(port, "/ingest?format=pprof", cpu), 400,
           "service name is required")
    expect("unknown profile type", post(port, ingest_path("my.app"),
                                        b"a;b 1\n"), 400,
           "unknown profile type: app")
    expect("garbage pprof", post(port, ingest_path("app", format="pprof"),
                                 b"\x00\x01garbage" * 10), 422)
    expect("bad folded count", post(port, ingest_path("app.cpu"),
                                    b"a;b 12x\n"), 422, "bad sample count")
    bomb = gzip.compress(b"\x00" * (24 << 20))
    expect("gzip bomb pprof", post(port, ingest_path("app", format="pprof"),
                                   bomb), 422, "decompressed")
    expect("jfr format, not JFR", post(port, ingest_path("app", format="jfr"),
                                       b"x"), 422, "truncated chunk")
    expect("trie content type", post(port, ingest_path("app"), b"x",
                                     {"Content-Type":
                                      "binary/octet-stream+trie"}), 415)
    body, ct = multipart([("jfr", "jfr", None, b"JFR.....")])
    expect("multipart jfr, not JFR", post(port, ingest_path("app"), body,
                                          {"Content-Type": ct}), 422,
           "jfr: chunk 0")
    body, ct = multipart([("profile", "p", None, cpu),
                          ("prev_profile", "p", None, b"x")])
    expect("prev_profile", post(port, ingest_path("app"), body,
                                {"Content-Type": ct}), 422,
           "unsupported client version")
    body, ct = multipart([("profile", "p", None, cpu)])
    expect("truncated multipart", post(port, ingest_path("app"),
                                       body[:-30], {"Content-Type": ct}),
           422, "multipart")
    expect("multipart no boundary", post(port, ingest_path("app"), body,
                                         {"Content-Type":
                                          "multipart/form-data"}), 422)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/ingest?name=app")
    r = conn.getresponse()
    r.read()
    expect("GET /ingest", (r.status, b'{"code":"x","message":"x"}'), 405)


def push_request(proto_dir, work):
    gen = os.path.join(work, "pystubs")
    os.makedirs(gen, exist_ok=True)
    root = os.path.join(proto_dir, "pyroscope")
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc",
                           "-I" + root, "--python_out=" + gen,
                           "types/v1/types.proto", "push/v1/push.proto"])
    # The generated package "types" would shadow Python's own module of that
    # name: move it and point the import at the new place.
    os.rename(os.path.join(gen, "types"), os.path.join(gen, "pyro_types"))
    pb = os.path.join(gen, "push", "v1", "push_pb2.py")
    text = open(pb).read().replace("from types.v1 import",
                                   "from pyro_types.v1 import")
    open(pb, "w").write(text)
    sys.path.insert(0, gen)
    from push.v1 import push_pb2  # noqa: E402 (generated at test time)
    return push_pb2


def push_checks(port, profiles, proto_dir, work):
    push_pb2 = push_request(proto_dir, work)
    heap = open(os.path.join(profiles, "heap.pb.gz"), "rb").read()
    mutex = open(os.path.join(profiles, "mutex.pb.gz"), "rb").read()
    req = push_pb2.PushRequest()
    s = req.series.add()
    for k, v in (("__name__", "memory"), ("service_name", "pushsvc"),
                 ("env", "proto"), ("__delta__", "false")):
        lp = s.labels.add()
        lp.name, lp.value = k, v
    s.samples.add(raw_profile=heap, ID="0b7f0a5e-1111-2222-3333-444455556666")
    s2 = req.series.add()
    lp = s2.labels.add()
    lp.name, lp.value = "service_name", "pushsvc2"
    s2.samples.add(raw_profile=gzip.decompress(mutex))
    raw = req.SerializeToString()
    hdr = {"Content-Type": "application/proto",
           "Connect-Protocol-Version": "1", "X-Scope-OrgID": "tenant-p"}
    st, body = post(port, "/push.v1.PusherService/Push", raw, hdr)
    expect("push proto", (st, body), 200)
    if st == 200 and body != b"":
        FAILED.append("push proto: response body not empty: %r" % body)
    gz = dict(hdr)
    gz["Content-Encoding"] = "gzip"
    expect("push proto gzip", post(port, "/push.v1.PusherService/Push",
                                   gzip.compress(raw), gz), 200)
    js = {"series": [{"labels": [{"name": "__name__", "value": "memory"},
                                 {"name": "service_name",
                                  "value": "pushjson"}],
                      "samples": [{"rawProfile":
                                   base64.b64encode(heap).decode(),
                                   "ID": "x"}]}]}
    st, body = post(port, "/push.v1.PusherService/Push",
                    json.dumps(js).encode(),
                    {"Content-Type": "application/json"})
    expect("push json", (st, body), 200)
    if st == 200 and body.strip() != b"{}":
        FAILED.append("push json: response body is %r, want {}" % body)
    # One good and one bad sample: the good one is kept, the call fails.
    js["series"][0]["samples"].append({"rawProfile":
                                       base64.b64encode(b"junk!").decode()})
    js["series"][0]["labels"][1]["value"] = "pushpartial"
    expect("push partial", post(port, "/push.v1.PusherService/Push",
                                json.dumps(js).encode(),
                                {"Content-Type": "application/json"}), 400,
           "1 of 2 profiles refused")
    expect("push bad json", post(port, "/push.v1.PusherService/Push",
                                 b"{nope", {"Content-Type":
                                            "application/json"}), 400)
    expect("push bad proto", post(port, "/push.v1.PusherService/Push",
                                  b"\x0a\xff\xff", {"Content-Type":
                                                    "application/proto"}),
           400)
    expect("push empty", post(port, "/push.v1.PusherService/Push", b"",
                              {"Content-Type": "application/proto"}), 400,
           "no profiles received")
    expect("push content type", post(port, "/push.v1.PusherService/Push",
                                     raw, {"Content-Type": "text/plain"}),
           415)
    expect("push gzip bomb", post(port, "/push.v1.PusherService/Push",
                                  gzip.compress(b"\x00" * (24 << 20)),
                                  {"Content-Type": "application/proto",
                                   "Content-Encoding": "gzip"}), 413,
           "decompressed body exceeds")
    expect("push encoding", post(port, "/push.v1.PusherService/Push", raw,
                                 {"Content-Type": "application/proto",
                                  "Content-Encoding": "br"}), 415)


def parse_expect(spec):
    out = {"labels": {}, "names": [], "tenant": None}
    for part in spec.split(":"):
        k, _, v = part.partition("=")
        if k == "service":
            out["service"] = v
        elif k == "labels":
            for kv in filter(None, v.split(";")):
                a, _, b = kv.partition("=")
                out["labels"][a] = b
        elif k == "names":
            out["names"] = v.split(",")
        elif k == "tenant":
            out["tenant"] = v
    return out


def pb_fields(data):
    """(field, value) of one protobuf message; LEN values as bytes."""
    i, n = 0, len(data)

    def varint():
        nonlocal i
        v = shift = 0
        while True:
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v
    while i < n:
        key = varint()
        wt = key & 7
        if wt == 0:
            yield key >> 3, varint()
        elif wt == 2:
            ln = varint()
            yield key >> 3, data[i:i + ln]
            i += ln
        elif wt in (1, 5):
            i += 8 if wt == 1 else 4
        else:
            raise ValueError("wire type %d" % wt)


def otlp_resource_count(req):
    """resource_profiles (field 1) in an ExportProfilesServiceRequest."""
    return sum(1 for f, _ in pb_fields(req) if f == 1)


def verify(json_dir, specs):
    items = []
    for f in sorted(glob.glob(os.path.join(json_dir, "*"))):
        for line in open(f):
            if line.strip():
                items.append(json.loads(line))
    print("%d items written" % len(items))
    for spec in specs:
        want = parse_expect(spec)
        mine = [i for i in items
                if i["attributes"].get("service.name") == want["service"]]
        names = sorted({i["attributes"].get("__name__") for i in mine})
        for n in want["names"]:
            if n not in names:
                FAILED.append("%s: no %s profile (got %s)" % (
                    want["service"], n, names))
        for i in mine:
            for k, v in want["labels"].items():
                if i["attributes"].get(k) != v:
                    FAILED.append("%s: %s=%r, want %r" % (
                        want["service"], k, i["attributes"].get(k), v))
                    break
            if want["tenant"] is not None and i.get("tenant") != \
                    want["tenant"]:
                FAILED.append("%s: tenant %r, want %r" % (
                    want["service"], i.get("tenant"), want["tenant"]))
            if i.get("samples", 0) <= 0:
                FAILED.append("%s: item without samples" % want["service"])
            # Each item is one series: its payload holds its own resource,
            # not its neighbours' that share the same decoded upload.
            if i.get("format") == "otlp":
                got = otlp_resource_count(
                    base64.b64decode(i["payload_base64"]))
                if got != 1:
                    FAILED.append("%s %s: payload holds %d resources, "
                                  "want 1" % (want["service"],
                                              i["attributes"].get("__name__"),
                                              got))
        print("%-4s %s: %d items, names %s" % (
            "ok" if mine else "FAIL", want["service"], len(mine), names))
        if not mine:
            FAILED.append("%s: no items" % want["service"])


def main():
    if sys.argv[1] == "requests":
        port = int(sys.argv[2])
        ingest_checks(port, sys.argv[3])
        push_checks(port, sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        verify(sys.argv[2], sys.argv[3:])
    if FAILED:
        print("\n".join(["FAILED:"] + FAILED))
        sys.exit(1)


if __name__ == "__main__":
    main()
