# Shell helpers shared by the gRPC exporter tests (sourced, not run).
# Needs: WORK (scratch dir), PROFCOL, SRC, PY set by the caller.

export PYTHONDONTWRITEBYTECODE=1  # keep the source tree clean
passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Generates Python modules for the .proto files into $WORK/pb.
gen_pb() {
  local pb="$WORK/pb"
  mkdir -p "$pb"
  (cd "$SRC/proto/otlp" && "$PY" -m grpc_tools.protoc -I . --python_out="$pb" \
     $(find . -name '*.proto' | sed 's|^\./||'))
  (cd "$SRC/proto" && "$PY" -m grpc_tools.protoc -I . --python_out="$pb" \
     parca/profilestore/v1alpha1/profilestore.proto)
  "$PY" -m grpc_tools.protoc -I "$SRC/proto/pprof" --python_out="$pb" \
     "$SRC/proto/pprof/profile.proto"
  # Packages for the generated modules (older protoc emits none).
  find "$pb" -type d -exec touch {}/__init__.py \;
}

# start_sink KIND NAME [PORT]: starts sinks/KIND_sink.py; sets SINK_PORT.
start_sink() {
  local kind=$1 name=$2 port=${3:-0}
  mkdir -p "$WORK/$name"
  rm -f "$WORK/$name.port"
  [ -f "$WORK/$name.ctl" ] || echo '{"mode":"ok"}' > "$WORK/$name.ctl"
  "$PY" "$SRC/tests/integration/sinks/${kind}_sink.py" "$WORK/pb" "$WORK/$name" \
    "$WORK/$name.port" "$WORK/$name.ctl" "$port" > "$WORK/$name.log" 2>&1 &
  eval "SINK_PID_$name=$!"
  PIDS="$PIDS $!"
  local i
  for i in $(seq 1 100); do
    [ -s "$WORK/$name.port" ] && break
    sleep 0.1
  done
  SINK_PORT=$(cat "$WORK/$name.port" 2>/dev/null || echo "")
  [ -n "$SINK_PORT" ] || { cat "$WORK/$name.log"; echo "FAIL: sink $name did not start"; exit 1; }
}

control() { # NAME JSON
  echo "$2" > "$WORK/$1.ctl.tmp" && mv "$WORK/$1.ctl.tmp" "$WORK/$1.ctl"
}

stat_of() { # NAME KEY
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "$WORK/$1/stats.json" "$2" 2>/dev/null || echo 0
}

# wait_stat NAME KEY MIN SECONDS: waits until stats KEY >= MIN.
wait_stat() {
  local end=$((SECONDS + $4))
  while [ $SECONDS -lt $end ]; do
    [ "$(stat_of "$1" "$2")" -ge "$3" ] && return 0
    sleep 0.2
  done
  return 1
}

# drop FILE NAME: puts a profile into the watched directory atomically.
drop() {
  cp "$1" "$WORK/in/.tmp.$2" && mv "$WORK/in/.tmp.$2" "$WORK/in/$2"
}

metric() { # NAME-AND-LABEL-SUBSTRING: sum of matching series
  curl -s "http://127.0.0.1:$MPORT/metrics" | grep -F "$1" | grep -v '^#' |
    awk '{s += $NF} END {print s + 0}'
}

start_profcol() { # CONFIG
  "$PROFCOL" --config "$1" > "$WORK/profcol.log" 2>&1 &
  PROFCOL_PID=$!
  PIDS="$PIDS $!"
  local i
  for i in $(seq 1 100); do
    curl -s "http://127.0.0.1:$MPORT/metrics" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$WORK/profcol.log"
  echo "FAIL: profcol did not start"
  exit 1
}

cleanup() {
  local p
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $PIDS; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
