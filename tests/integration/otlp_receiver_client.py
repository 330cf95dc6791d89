#!/usr/bin/env python3
"""Real OTLP clients and checks for test_otlp_receiver.sh.

    otlp_receiver_client.py STUBS grpc ENDPOINT FILE [options]
        Sends FILE's bytes as ExportProfilesServiceRequest with python grpcio
        (stubs generated from proto/otlp at test time). Options: --gzip,
        --ca F, --cert F --key F (TLS / mTLS, target name "localhost"),
        --token T, --tenant T, --expect CODE (grpc status name, default OK),
        --rejected N (partial_success.rejected_profiles when OK),
        --message TEXT (substring of the status details).
    otlp_receiver_client.py STUBS unknown-method ENDPOINT
        Calls a method the receiver does not serve; expects UNIMPLEMENTED.
    otlp_receiver_client.py STUBS to-json IN OUT [--snake]
        protobuf request -> OTLP/JSON (protobuf's json_format, then ids as hex
        as OTLP requires; with --snake: original field names, base64 ids).
    otlp_receiver_client.py STUBS partial IN OUT
        IN plus one more resource whose profiles have no sample type (the
        receiver must reject exactly those); prints the rejected count.
    otlp_receiver_client.py STUBS links IN OUT
        IN with two trace/span links, used by every other sample.
    otlp_receiver_client.py STUBS big IN OUT BYTES
        IN with a string of BYTES bytes added (size limits).
    otlp_receiver_client.py STUBS response FILE KIND [--rejected N]
        Checks an OTLP/HTTP response body (KIND proto|json).
    otlp_receiver_client.py STUBS compare --sent F... --got DIR
        The data in the sent requests equals the data in every .pb the file
        exporter wrote under DIR: per resource attributes, sample type, stack
        (function names, lines, addresses) and labels, the summed values.
"""
import base64
import collections
import glob
import json
import os
import sys


def load(stubs):
    sys.path.insert(0, stubs)
    from opentelemetry.proto.collector.profiles.v1development import (
        profiles_service_pb2 as svc)
    return svc


def read(path):
    with open(path, "rb") as f:
        return f.read()


def cmd_grpc(svc, args):
    import grpc
    endpoint, path = args[0], args[1]
    opts = {"--expect": "OK"}
    flags = set()
    i = 2
    while i < len(args):
        if args[i] == "--gzip":
            flags.add("gzip")
            i += 1
        else:
            opts[args[i]] = args[i + 1]
            i += 2
    channel_opts = []
    if "--ca" in opts:
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(opts["--ca"]),
            private_key=read(opts["--key"]) if "--key" in opts else None,
            certificate_chain=read(opts["--cert"]) if "--cert" in opts else None)
        channel_opts.append(("grpc.ssl_target_name_override", "localhost"))
        channel = grpc.secure_channel(endpoint, creds, options=channel_opts)
    else:
        channel = grpc.insecure_channel(endpoint)
    md = []
    if "--token" in opts:
        md.append(("authorization", "Bearer " + opts["--token"]))
    if "--tenant" in opts:
        md.append(("x-scope-orgid", opts["--tenant"]))
    # The request goes as the file's bytes: what the converter wrote, or
    # garbage, unchanged.
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export",
        request_serializer=None,
        response_deserializer=svc.ExportProfilesServiceResponse.FromString)
    compression = grpc.Compression.Gzip if "gzip" in flags else None
    try:
        resp = export(read(path), metadata=md, timeout=30,
                      compression=compression)
        code, details = "OK", ""
    except grpc.RpcError as e:
        code, details, resp = e.code().name, e.details() or "", None
    channel.close()
    want = opts["--expect"]
    if code != want:
        print("FAIL: want %s, got %s (%s)" % (want, code, details))
        return 1
    if "--message" in opts and opts["--message"] not in details:
        print("FAIL: details %r lack %r" % (details, opts["--message"]))
        return 1
    if resp is not None:
        rejected = resp.partial_success.rejected_profiles
        want_rej = int(opts.get("--rejected", "0"))
        if rejected != want_rej:
            print("FAIL: rejected_profiles %d, want %d (%s)" % (
                rejected, want_rej, resp.partial_success.error_message))
            return 1
        if rejected and not resp.partial_success.error_message:
            print("FAIL: partial_success without error_message")
            return 1
        details = "rejected=%d %s" % (rejected,
                                      resp.partial_success.error_message)
    print("%s %s" % (code, details))
    return 0


def cmd_unknown(args):
    import grpc
    channel = grpc.insecure_channel(args[0])
    call = channel.unary_unary("/opentelemetry.proto.collector.profiles."
                               "v1development.ProfilesService/Nope",
                               request_serializer=None,
                               response_deserializer=None)
    try:
        call(b"", timeout=30)
        print("FAIL: unknown method answered OK")
        return 1
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.UNIMPLEMENTED:
            print("FAIL: want UNIMPLEMENTED, got %s" % e.code().name)
            return 1
        print("UNIMPLEMENTED %s" % e.details())
        return 0
    finally:
        channel.close()


def b64_to_hex(s):
    return base64.b64decode(s).hex()


def cmd_to_json(svc, args):
    from google.protobuf import json_format
    req = svc.ExportProfilesServiceRequest.FromString(read(args[0]))
    snake = "--snake" in args
    doc = json.loads(json_format.MessageToJson(
        req, preserving_proto_field_name=snake))
    if not snake:
        # OTLP/JSON: trace/span/profile ids are hex, not base64.
        for link in doc.get("dictionary", {}).get("linkTable", []):
            for k in ("traceId", "spanId"):
                if k in link:
                    link[k] = b64_to_hex(link[k])
        for rp in doc.get("resourceProfiles", []):
            for sp in rp.get("scopeProfiles", []):
                for p in sp.get("profiles", []):
                    if "profileId" in p:
                        p["profileId"] = b64_to_hex(p["profileId"])
    with open(args[1], "w") as f:
        json.dump(doc, f)
    return 0


def cmd_partial(svc, args):
    req = svc.ExportProfilesServiceRequest.FromString(read(args[0]))
    bad = req.resource_profiles.add()
    bad.CopyFrom(req.resource_profiles[0])
    attr = bad.resource.attributes.add()
    attr.key = "test.rejected"
    attr.value.string_value = "yes"
    n = 0
    for sp in bad.scope_profiles:
        for p in sp.profiles:
            p.sample_type.type_strindex = 0
            n += 1
    with open(args[1], "wb") as f:
        f.write(req.SerializeToString())
    print(n)
    return 0


def cmd_links(svc, args):
    req = svc.ExportProfilesServiceRequest.FromString(read(args[0]))
    d = req.dictionary
    if len(d.link_table) == 0:
        d.link_table.add()
    for k in (1, 2):
        link = d.link_table.add()
        link.trace_id = bytes(range(k, k + 16))
        link.span_id = bytes(range(0xf0 + k, 0xf8 + k))
    n = 0
    for rp in req.resource_profiles:
        for sp in rp.scope_profiles:
            for p in sp.profiles:
                for i, smp in enumerate(p.samples):
                    if i % 2 == 0:
                        smp.link_index = len(d.link_table) - 1 - (i // 2) % 2
                        n += 1
    with open(args[1], "wb") as f:
        f.write(req.SerializeToString())
    print(n)
    return 0


def cmd_big(svc, args):
    req = svc.ExportProfilesServiceRequest.FromString(read(args[0]))
    req.dictionary.string_table.append("x" * int(args[2]))
    with open(args[1], "wb") as f:
        f.write(req.SerializeToString())
    return 0


def cmd_response(svc, args):
    body, kind = read(args[0]), args[1]
    want = int(args[3]) if len(args) > 3 and args[2] == "--rejected" else 0
    if kind == "proto":
        resp = svc.ExportProfilesServiceResponse.FromString(body)
        got = resp.partial_success.rejected_profiles
        msg = resp.partial_success.error_message
    else:
        doc = json.loads(body.decode("utf-8"))
        ps = doc.get("partialSuccess", {})
        # OTLP/JSON: int64 as a string.
        if "rejectedProfiles" in ps and not isinstance(ps["rejectedProfiles"], str):
            print("FAIL: rejectedProfiles is not a string: %r" % ps)
            return 1
        got = int(ps.get("rejectedProfiles", "0"))
        msg = ps.get("errorMessage", "")
    if got != want:
        print("FAIL: rejected %d, want %d" % (got, want))
        return 1
    print("response ok: rejected=%d %s" % (got, msg))
    return 0


def anyvalue_key(v):
    which = v.WhichOneof("value")
    if which is None:
        return ("empty",)
    if which in ("array_value", "kvlist_value"):
        return (which, v.SerializeToString(deterministic=True))
    return (which, getattr(v, which))


def summarize(req, out):
    d = req.dictionary
    S = d.string_table

    def s(i):
        return S[i] if 0 <= i < len(S) else "<bad %d>" % i

    def frames(li):
        loc = d.location_table[li]
        return (loc.address,) + tuple(
            (s(d.function_table[ln.function_index].name_strindex), ln.line)
            for ln in loc.lines)

    for rp in req.resource_profiles:
        rattrs = tuple(sorted((kv.key, anyvalue_key(kv.value))
                              for kv in rp.resource.attributes))
        for sp in rp.scope_profiles:
            for p in sp.profiles:
                st = (s(p.sample_type.type_strindex),
                      s(p.sample_type.unit_strindex))
                for smp in p.samples:
                    stack = tuple(frames(li) for li in
                                  d.stack_table[smp.stack_index].location_indices)
                    labels = tuple(sorted(
                        (s(d.attribute_table[i].key_strindex),
                         anyvalue_key(d.attribute_table[i].value))
                        for i in smp.attribute_indices))
                    v = sum(smp.values) if len(smp.values) else \
                        len(smp.timestamps_unix_nano)
                    link = d.link_table[smp.link_index] if smp.link_index else None
                    lk = (link.trace_id.hex(), link.span_id.hex()) if link else ()
                    out[(rattrs, st, stack, labels, lk)] += v


def cmd_compare(svc, args):
    sent, got_dir = [], None
    i = 0
    mode = None
    while i < len(args):
        if args[i] in ("--sent", "--got"):
            mode = args[i]
        elif mode == "--sent":
            sent.append(args[i])
        else:
            got_dir = args[i]
        i += 1
    want, got = collections.Counter(), collections.Counter()
    for path in sent:
        summarize(svc.ExportProfilesServiceRequest.FromString(read(path)), want)
    files = sorted(glob.glob(os.path.join(got_dir, "**", "*.pb"),
                             recursive=True))
    for path in files:
        summarize(svc.ExportProfilesServiceRequest.FromString(read(path)), got)
    want = +want
    got = +got
    if want != got:
        missing = want - got
        extra = got - want
        print("FAIL: exported data differs: %d keys missing, %d extra "
              "(sent %d requests, %d files exported)" % (
                  len(missing), len(extra), len(sent), len(files)))
        for k in list(missing)[:3]:
            print("  missing %r: %d" % (k[:2], missing[k]))
        for k in list(extra)[:3]:
            print("  extra %r: %d" % (k[:2], extra[k]))
        return 1
    print("equal: %d series/stack keys, total value %d, %d requests sent, "
          "%d files exported" % (len(want), sum(want.values()), len(sent),
                                 len(files)))
    return 0


def main(argv):
    stubs, cmd, args = argv[1], argv[2], argv[3:]
    svc = load(stubs)
    if cmd == "grpc":
        return cmd_grpc(svc, args)
    if cmd == "unknown-method":
        return cmd_unknown(args)
    if cmd == "to-json":
        return cmd_to_json(svc, args)
    if cmd == "partial":
        return cmd_partial(svc, args)
    if cmd == "links":
        return cmd_links(svc, args)
    if cmd == "big":
        return cmd_big(svc, args)
    if cmd == "response":
        return cmd_response(svc, args)
    if cmd == "compare":
        return cmd_compare(svc, args)
    print("unknown command " + cmd)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
