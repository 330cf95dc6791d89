#!/usr/bin/env bash
# profcol's `parca` exporter against the real Parca server: Parca v0.28.0
# (github.com/parca-dev/parca, cmd/parca, built from the Go module proxy as
# a tool of its own module, tests/peers/parca: go.mod, go.sum; API only,
# the web UI is not in the module), run with in-memory storage on loopback.
# What it stored is read back through Parca's own query API (QueryService:
# ProfileTypes, then Query in merge mode with a pprof report, by
# parca/parcaquery, in the same module) and compared with what was sent.
# Loopback only; every wait bounded; Parca not building is a failure.
#
#   Go pprofs (tests/fixtures: cpu, heap, mutex, goroutine) -> file receiver
#     -> parca exporter, protocol writeraw (ProfileStoreService/WriteRaw)
#     -> Parca; then the same with protocol otlp (ProfilesService/Export)
#     against a fresh Parca
#
# Checked, per protocol: every profile exported; Parca lists every sample
# type of every profile under the `__name__` profcol gives it (process_cpu,
# memory, mutex, goroutine; over OTLP as the scope name, which is what
# Parca names a profile by), and per type the merged total, the function
# with the largest flat value and that value equal those of the pprofs sent
# (samples:count as samples x period, as Parca reports it).
# Over OTLP the top function's name is not compared, its flat value is:
# Parca v0.28.0 resolves a line's function_index i as function_table[i-1]
# (pkg/profile/encode.go, EncodeOtelLocation), while the specification
# (and Parca's own check that entry 0 is the zero value) makes it
# function_table[i]; every frame carries the name of the function table's
# previous entry. Stacks (leaf first, as sent) and values are read right,
# so the top flat value agrees; the names are printed, and the test fails
# if they ever agree (Parca fixed: compare them then).
# docs/conversion.md section 6a.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$PEERS/../integration/lib.sh"
need_cmd jq
PARCAV=v0.28.0

echo "== builds"
fixtures --skip-node
DIR="$BUILD/peers/parca"
mkdir -p "$DIR"
key=$(cat "$PEERS/parca/go.mod" "$PEERS/parca/go.sum" "$PEERS/parca/parcaquery/main.go" | sha256sum | cut -c1-16)
if [ "$(cat "$DIR/.built" 2>/dev/null)" != "$key" ] || [ ! -x "$DIR/parca" ] || [ ! -x "$DIR/parcaquery" ]; then
  start=$SECONDS
  (cd "$PEERS/parca" && timeout 2400 nice "$SRC/scripts/go.sh" build -o "$DIR/parca" github.com/parca-dev/parca/cmd/parca &&
     timeout 600 nice "$SRC/scripts/go.sh" build -o "$DIR/parcaquery" ./parcaquery) >"$WORK/build.log" 2>&1 ||
    { tail -n 30 "$WORK/build.log"; die "Parca $PARCAV did not build (tests/peers/parca)"; }
  echo "$key" >"$DIR/.built"
  echo "built Parca and parcaquery in $((SECONDS - start)) s"
fi
got=$("$SRC/scripts/go.sh" version -m "$DIR/parca" 2>/dev/null | awk '$1 == "mod" || $1 == "dep" {print $2, $3}' |
  grep '^github.com/parca-dev/parca ' || true)
[ "$got" = "github.com/parca-dev/parca $PARCAV" ] && pass "the server is built from $got" ||
  die "the server is not Parca $PARCAV: '$got'"

INPUTS="process_cpu=cpu memory=heap mutex=mutex goroutine=goroutine"
want=""
for i in $INPUTS; do want="$want ${i%%=*}=$PROF/${i#*=}.pb.gz"; done
"$DIR/parcaquery" expect $want >"$WORK/want.jsonl" || die "parcaquery expect failed"
echo "sent: $(wc -l <"$WORK/want.jsonl") profile types"

# otlp_compare TYPE GOT SENT: total and top flat value must agree; the top
# function's name must not (Parca v0.28.0 names each frame after the
# previous function table entry, see the header), so that a Parca that reads
# function_index right shows up here rather than passing unnoticed.
otlp_compare() {
  local names="Parca $(jq -r .top <<<"$2"), sent $(jq -r .top <<<"$3")"
  if [ "$(jq -c '[.total, .top_flat]' <<<"$2")" != "$(jq -c '[.total, .top_flat]' <<<"$3")" ]; then
    fail "(otlp) $1: Parca has $(jq -c '[.total, .top_flat]' <<<"$2") as [total, top flat], sent $(jq -c '[.total, .top_flat]' <<<"$3") ($names)"
  elif [ "$(jq -r .top <<<"$2")" = "$(jq -r .top <<<"$3")" ]; then
    fail "(otlp) $1: top function $(jq -r .top <<<"$2") as sent: Parca now reads function_index as specified; compare names over OTLP"
  else
    pass "(otlp) $1: total $(jq .total <<<"$2"), top flat value $(jq .top_flat <<<"$2"), as sent (top function named after the previous table entry: $names)"
  fi
}

for proto in writeraw otlp; do
  echo "== protocol $proto"
  PPORT=$(free_port)
  mkdir -p "$WORK/parca-$proto" "$WORK/in-$proto"
  cat >"$WORK/parca-$proto/parca.yaml" <<EOF2
object_storage:
  bucket:
    type: FILESYSTEM
    config: {directory: $WORK/parca-$proto/data}
EOF2
  start_proc "parca-$proto" env -C "$WORK/parca-$proto" "$DIR/parca" --config-path=parca.yaml \
    --http-address="127.0.0.1:$PPORT" --log-level=warn --debuginfo-cache-dir="$WORK/parca-$proto/cache"
  await "parca-$proto" 60 port_open 127.0.0.1 "$PPORT"
  new_ports
  cat >"$WORK/profcol-$proto.yaml" <<EOF2
receivers:
  file:
    include: $WORK/in-$proto
    pattern: "*.pb.gz"
    poll_interval: 100ms
exporters:
  parca:
    endpoint: 127.0.0.1:$PPORT
    insecure: true
    protocol: $proto
service:
  pipelines:
    profiles: {receivers: [file], exporters: [parca]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
EOF2
  start_profcol "profcol-$proto" "$WORK/profcol-$proto.yaml"
  n=0
  for i in $INPUTS; do
    drop "$PROF/${i#*=}.pb.gz" "${i#*=}.pb.gz" "$WORK/in-$proto"
    n=$((n + 1))
  done
  if wait_until 60 at_least "$n" metric_sum profcol_exporter_sent_profiles_total 'exporter="parca"'; then
    pass "($proto) $n profiles exported to Parca"
  else
    fail "($proto) $(metric_sum profcol_exporter_sent_profiles_total 'exporter="parca"') of $n profiles exported; dropped: $(metric_sum profcol_exporter_dropped_profiles_total)"
  fi
  stop "profcol-$proto" >/dev/null || true
  # Parca makes what it was sent queryable at once; poll a little anyway.
  end=$((SECONDS + 30))
  until "$DIR/parcaquery" query "127.0.0.1:$PPORT" >"$WORK/got-$proto.jsonl" 2>"$WORK/query-$proto.err" &&
        [ "$(wc -l <"$WORK/got-$proto.jsonl")" -ge "$(wc -l <"$WORK/want.jsonl")" ]; do
    [ $SECONDS -ge $end ] && break
    sleep 0.5
  done
  echo "Parca holds: $(jq -r .type "$WORK/got-$proto.jsonl" | xargs)"
  [ -s "$WORK/query-$proto.err" ] && cat "$WORK/query-$proto.err"
  while read -r line; do
    t=$(jq -r .type <<<"$line")
    g=$(jq -c --arg t "$t" 'select(.type == $t)' "$WORK/got-$proto.jsonl")
    if [ -z "$g" ]; then
      fail "($proto) Parca has no profile type $t"
    elif [ "$proto" = otlp ]; then
      otlp_compare "$t" "$g" "$line"
    elif [ "$(jq -c '[.total, .top, .top_flat]' <<<"$g")" = "$(jq -c '[.total, .top, .top_flat]' <<<"$line")" ]; then
      pass "($proto) $t: total $(jq .total <<<"$g"), top function $(jq -r .top <<<"$g") (flat $(jq .top_flat <<<"$g")), as sent"
    else
      fail "($proto) $t: Parca has $(jq -c '[.total, .top, .top_flat]' <<<"$g"), sent $(jq -c '[.total, .top, .top_flat]' <<<"$line")"
    fi
  done <"$WORK/want.jsonl"
  extra=$(jq -r .type "$WORK/got-$proto.jsonl" | grep -vxF -f <(jq -r .type "$WORK/want.jsonl") | xargs || true)
  [ -z "$extra" ] && pass "($proto) Parca holds no other profile type" ||
    fail "($proto) Parca holds profile types that were not sent: $extra"
  stop "parca-$proto" >/dev/null || true
done

finish
