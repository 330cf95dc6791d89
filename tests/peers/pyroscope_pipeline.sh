# pyroscope_pipeline.sh: sourced by the Pyroscope peer tests after
# tests/integration/lib.sh (and gen_pb, gen_pyro_pb).
#
# start_pyroscope_pipeline: an OTLP gRPC sink `otlp` and a Pyroscope sink
# `pyro`, and profcol taking Pyroscope uploads on PPORT and OTLP/HTTP on
# HPORT, sending everything to both sinks (the `pyroscope` and `otlp`
# exporters); sets PPORT, HPORT, METRICS_PORT and HEALTH_PORT.
start_pyroscope_pipeline() {
  local otlp pyro
  start_sink otlp_grpc otlp
  otlp=$SINK_PORT
  start_pyro_sink pyro
  pyro=$SINK_PORT
  PPORT=$(free_port)
  HPORT=$(free_port)
  new_ports
  cat >"$WORK/profcol.yaml" <<EOF2
receivers:
  pyroscope: {endpoint: 127.0.0.1:$PPORT}
  otlp:
    protocols:
      http: {endpoint: 127.0.0.1:$HPORT}
exporters:
  pyroscope:
    endpoint: http://127.0.0.1:$pyro
  otlp:
    endpoint: 127.0.0.1:$otlp
    insecure: true
service:
  pipelines:
    profiles: {receivers: [pyroscope, otlp], exporters: [pyroscope, otlp]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
EOF2
  start_profcol profcol "$WORK/profcol.yaml"
}
