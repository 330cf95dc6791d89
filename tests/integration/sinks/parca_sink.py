#!/usr/bin/env python3
"""A Parca ProfileStoreService/WriteRaw sink for the tests.

    parca_sink.py PB_DIR OUT_DIR PORT_FILE CONTROL_FILE [PORT]

Messages come from proto/parca/profilestore/v1alpha1/profilestore.proto and
proto/pprof/profile.proto (Python modules generated into PB_DIR). Parca
cannot run here, so the sink validates like Parca's WriteRaw path does
(pkg/normalizer): `__name__` present and a valid name, every label name
valid and unique, and each pprof: string_table[0] == "", mapping, location
and function ids 1..N in order, every string index in range, location /
function references in range, len(values) == len(sample_type), label keys
non-zero, and (profcol's promise) time_nanos set. Invalid requests get
INVALID_ARGUMENT; valid ones are recorded as OUT_DIR/r<N>_s<K>.pb.gz (the
raw profile as sent) and .json (its labels).
"""
import gzip
import json
import os
import re
import sys

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_sink_common as sink_common  # noqa: E402

NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METHOD = "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw"


def check_pprof(p):
    ns = len(p.string_table)
    if ns == 0 or p.string_table[0] != "":
        return "string_table[0] is not empty"

    def s(i, what):
        if i < 0 or i >= ns:
            raise ValueError("%s: string index %d out of range (%d)" % (what, i, ns))

    try:
        for i, m in enumerate(p.mapping):
            if m.id != i + 1:
                return "mapping id is not sequential"
            s(m.filename, "mapping.filename")
            s(m.build_id, "mapping.build_id")
        for i, f in enumerate(p.function):
            if f.id != i + 1:
                return "function id is not sequential"
            s(f.name, "function.name")
            s(f.system_name, "function.system_name")
            s(f.filename, "function.filename")
        for i, l in enumerate(p.location):
            if l.id != i + 1:
                return "location id is not sequential"
            if l.mapping_id > len(p.mapping):
                return "location mapping_id out of range"
            for ln in l.line:
                if ln.function_id > len(p.function):
                    return "line function_id out of range"
        for st in p.sample_type:
            s(st.type, "sample_type.type")
            s(st.unit, "sample_type.unit")
        if len(p.sample) and not len(p.sample_type):
            return "samples without sample_type"
        for smp in p.sample:
            if len(smp.value) != len(p.sample_type):
                return "sample has %d values, %d sample types" % (len(smp.value), len(p.sample_type))
            for lid in smp.location_id:
                if lid == 0 or lid > len(p.location):
                    return "sample location_id out of range"
            for lab in smp.label:
                if lab.key == 0:
                    return "label key is 0"
                s(lab.key, "label.key")
                s(lab.str, "label.str")
                s(lab.num_unit, "label.num_unit")
        if p.HasField("period_type"):
            s(p.period_type.type, "period_type.type")
            s(p.period_type.unit, "period_type.unit")
        for c in p.comment:
            s(c, "comment")
        s(p.drop_frames, "drop_frames")
        s(p.keep_frames, "keep_frames")
        s(p.default_sample_type, "default_sample_type")
    except ValueError as e:
        return str(e)
    if p.time_nanos == 0:
        return "time_nanos is 0 (Parca would store it at the epoch)"
    return None


def main():
    args = sys.argv[1:]
    if len(args) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    pb_dir, out_dir, port_file, control = args[:4]
    port = int(args[4]) if len(args) == 5 else 0
    sys.path.insert(0, pb_dir)
    from parca.profilestore.v1alpha1 import profilestore_pb2 as ps
    import profile_pb2

    sink = sink_common.Sink(out_dir, control)

    def write_raw(req, context):
        with sink.lock:
            sink.stats["requests"] += 1
            n = sink.stats["requests"]
            sink.save()
        sink.note_metadata(context)
        sink.fault(context)
        if len(req.series) == 0:
            sink.invalid(context, "no series")
        for k, series in enumerate(req.series):
            names = [l.name for l in series.labels.labels]
            if "__name__" not in names:
                sink.invalid(context, "missing __name__ label")
            for l in series.labels.labels:
                if not NAME.match(l.name):
                    sink.invalid(context, "invalid label name %r" % l.name)
            if len(set(names)) != len(names):
                sink.invalid(context, "duplicate label name")
            name = [l.value for l in series.labels.labels if l.name == "__name__"][0]
            if not NAME.match(name):
                sink.invalid(context, "invalid profile name %r" % name)
            if len(series.samples) == 0:
                sink.invalid(context, "series without samples")
            for smp in series.samples:
                raw = smp.raw_profile
                if raw[:2] != b"\x1f\x8b":
                    sink.invalid(context, "raw_profile is not gzipped")
                p = profile_pb2.Profile()
                p.ParseFromString(gzip.decompress(raw))
                err = check_pprof(p)
                if err:
                    sink.invalid(context, "%s: %s" % (name, err))
        for k, series in enumerate(req.series):
            base = os.path.join(out_dir, "r%04d_s%03d" % (n, k))
            with open(base + ".pb.gz", "wb") as f:
                f.write(series.samples[0].raw_profile)
            with open(base + ".json", "w") as f:
                json.dump({l.name: l.value for l in series.labels.labels}, f)
        with sink.lock:
            sink.stats["accepted_requests"] += 1
            sink.stats["series"] += len(req.series)
            sink.save()
        return ps.WriteRawResponse()

    handler = grpc.method_handlers_generic_handler(
        "parca.profilestore.v1alpha1.ProfileStoreService",
        {"WriteRaw": grpc.unary_unary_rpc_method_handler(
            write_raw,
            request_deserializer=ps.WriteRawRequest.FromString,
            response_serializer=ps.WriteRawResponse.SerializeToString)})
    return sink_common.serve(handler, port_file, port)


if __name__ == "__main__":
    sys.exit(main())
