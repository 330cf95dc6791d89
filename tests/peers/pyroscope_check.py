#!/usr/bin/env python3
"""What profcol exported for a real Pyroscope SDK, for tests/peers/test_pyroscope_*.sh.

    pyroscope_check.py pyro SINK_DIR      one line per profile the Pyroscope
        sink (tests/integration/sinks/pyroscope_sink.py) recorded: its labels
        as JSON, and its file name as "_file"
    pyroscope_check.py otlp PB_DIR GLOB   one line per OTLP profile the gRPC
        sink recorded: {"resource": {...}, "sample_types": [...],
        "samples": N}
    pyroscope_check.py pprof PB_DIR FILE [KEY]  a pprof's sample types,
        "type:unit,...", then (with KEY) a line with the sorted values of
        that sample label, comma-separated
"""
import glob
import json
import os
import sys


def pyro(sink_dir):
    for path in sorted(glob.glob(os.path.join(sink_dir, "[0-9]*.json"))):
        with open(path) as f:
            d = json.load(f)
        labels = dict(d["labels"])
        labels["_file"] = [f for f in os.listdir(sink_dir)
                           if f.startswith(os.path.basename(path)[:-5] + ".pb")][0]
        print(json.dumps(labels, sort_keys=True))


def otlp(pb_dir, pattern):
    sys.path.insert(0, pb_dir)
    from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps
    for path in sorted(glob.glob(pattern)):
        req = ps.ExportProfilesServiceRequest()
        with open(path, "rb") as f:
            req.ParseFromString(f.read())
        strings = req.dictionary.string_table
        for rp in req.resource_profiles:
            res = {}
            for a in rp.resource.attributes:
                v = a.value
                res[a.key] = v.string_value if v.WhichOneof("value") == "string_value" else str(v)
            for sp in rp.scope_profiles:
                for p in sp.profiles:
                    st = p.sample_type
                    print(json.dumps({
                        "resource": res,
                        "sample_types": [strings[st.type_strindex] + ":" + strings[st.unit_strindex]],
                        "samples": len(p.samples),
                    }, sort_keys=True))


def pprof(pb_dir, path, key=None):
    import gzip
    sys.path.insert(0, pb_dir)
    import profile_pb2
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    p = profile_pb2.Profile()
    p.ParseFromString(raw)
    st = p.string_table
    print(",".join(st[t.type] + ":" + st[t.unit] for t in p.sample_type))
    if key is not None:
        vals = {st[l.str] for s in p.sample for l in s.label if st[l.key] == key and l.str}
        print(",".join(sorted(vals)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["pyro"] and len(sys.argv) == 3:
        pyro(sys.argv[2])
    elif sys.argv[1:2] == ["otlp"] and len(sys.argv) == 4:
        otlp(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["pprof"] and len(sys.argv) in (4, 5):
        pprof(*sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
