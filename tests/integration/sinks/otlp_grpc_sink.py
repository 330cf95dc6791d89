#!/usr/bin/env python3
"""An OTLP profiles ProfilesService/Export (gRPC) sink for the tests.

    otlp_grpc_sink.py PB_DIR OUT_DIR PORT_FILE CONTROL_FILE [PORT]

Messages come from proto/otlp (opentelemetry-proto v1.11.0, Python modules
generated into PB_DIR). A real OTLP backend cannot run here, so the sink
applies the v1.11.0 rules with the independent checker of
tests/integration/otlp_check.py and refuses a broken request with
INVALID_ARGUMENT. Valid requests are recorded as OUT_DIR/r<N>.otlp, the
message bytes as they came over the wire (a relay that forwards a request
as it got it can be told from one that encodes it again). With
"partial": K in the control file the response reports K rejected profiles
(partial_success), as a backend that refused some does. With
"canonical": false, dictionary tables may repeat entries (the format allows
it; profcol's own encoder never writes repeats, which the default checks).
"""
import os
import sys

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import otlp_check  # noqa: E402
import grpc_sink_common as sink_common  # noqa: E402

SERVICE = "opentelemetry.proto.collector.profiles.v1development.ProfilesService"


def main():
    args = sys.argv[1:]
    if len(args) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    pb_dir, out_dir, port_file, control = args[:4]
    port = int(args[4]) if len(args) == 5 else 0
    svc_pb2, pb = otlp_check.load_modules(pb_dir)
    sink = sink_common.Sink(out_dir, control)

    def export(wire, context):
        raw, req = wire
        with sink.lock:
            sink.stats["requests"] += 1
            n = sink.stats["requests"]
            sink.save()
        sink.note_metadata(context)
        sink.fault(context)
        c = otlp_check.Checker()
        canonical = bool(sink.mode().get("canonical", True))
        nprof = otlp_check.check_request(req, pb, c, canonical)
        if c.errors:
            sink.invalid(context, "; ".join(c.errors[:3]))
        if not nprof:
            sink.invalid(context, "request holds no profile")
        with open(os.path.join(out_dir, "r%04d.otlp" % n), "wb") as f:
            f.write(raw)
        resp = svc_pb2.ExportProfilesServiceResponse()
        partial = int(sink.mode().get("partial", 0))
        if partial:
            resp.partial_success.rejected_profiles = partial
            resp.partial_success.error_message = "sink: %d profiles refused (test)" % partial
        with sink.lock:
            sink.stats["accepted_requests"] += 1
            sink.stats["profiles"] += nprof
            sink.save()
        return resp

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {"Export": grpc.unary_unary_rpc_method_handler(
            export,
            request_deserializer=lambda b: (
                b, svc_pb2.ExportProfilesServiceRequest.FromString(b)),
            response_serializer=svc_pb2.ExportProfilesServiceResponse.SerializeToString)})
    return sink_common.serve(handler, port_file, port)


if __name__ == "__main__":
    sys.exit(main())
