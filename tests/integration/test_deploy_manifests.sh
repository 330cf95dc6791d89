#!/usr/bin/env bash
# Deployment files: deploy/kubernetes manifests (every YAML document parses,
# names its apiVersion/kind/metadata.name, workloads carry /health probes,
# prometheus.io annotations and resources; every profcol config in a
# ConfigMap passes `profcol validate` with dummy values for ${env:...}),
# the systemd unit (systemd-analyze verify when available, plus the
# hardening directives), and the Dockerfile (parsed: stages, runtime
# packages that exist in Debian 12's archive index when apt knows them,
# non-root user, config path, ports, healthcheck).
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_py yaml

echo "== kubernetes manifests"
if PYTHONDONTWRITEBYTECODE=1 "$PY" "$HERE/deploy_check.py" "$SRC/deploy/kubernetes" "$WORK/configs" \
     > "$WORK/k8s.out" 2>&1; then
  pass "manifests: $(grep -c '^ok ' "$WORK/k8s.out") documents checked"
else
  fail "manifests"; cat "$WORK/k8s.out"
fi
n=0
for c in "$WORK"/configs/*.yaml; do
  [ -e "$c" ] || continue
  n=$((n + 1))
  if "$PROFCOL" validate --config "$c" > "$WORK/v.out" 2>&1; then
    pass "profcol validate: ConfigMap $(basename "$c" .yaml)"
  else
    fail "profcol validate: ConfigMap $(basename "$c" .yaml)"; cat "$WORK/v.out"
  fi
done
[ "$n" -ge 4 ] && pass "$n embedded configs" || fail "only $n embedded configs"

echo "== systemd unit"
UNIT="$SRC/deploy/systemd/profcol.service"
for d in DynamicUser=yes ProtectSystem=strict StateDirectory=profcol ProtectHome=yes \
         NoNewPrivileges=yes PrivateTmp=yes 'CapabilityBoundingSet=$' RestrictAddressFamilies= \
         SystemCallFilter=@system-service 'ExecReload=/bin/kill -HUP $MAINPID' \
         Restart=on-failure; do
  grep -qE "^${d//\$MAINPID/\\\$MAINPID}" "$UNIT" && pass "unit has $d" || fail "unit lacks $d"
done
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify needs the binary named in ExecStart: point it at the build.
  sed "s|/usr/local/bin/profcol|$PROFCOL|g" "$UNIT" > "$WORK/profcol.service"
  if systemd-analyze verify "$WORK/profcol.service" > "$WORK/sa.out" 2>&1 &&
     ! grep -v "Failed to .*cgroup\|bus\|Failed to connect" "$WORK/sa.out" | grep -c . >/dev/null; then
    pass "systemd-analyze verify"
  else
    fail "systemd-analyze verify"; cat "$WORK/sa.out"
  fi
  score=$(systemd-analyze security --offline=true "$WORK/profcol.service" 2>/dev/null |
          grep -oE 'Overall exposure level[^0-9]*[0-9.]+' | grep -oE '[0-9.]+$' || true)
  [ -n "$score" ] && pass "systemd-analyze security exposure: $score" || true
else
  # scripts/install-deps.sh installs systemd: its absence is a set-up bug.
  fail "systemd-analyze not installed"
fi

echo "== Dockerfile"
if PYTHONDONTWRITEBYTECODE=1 "$PY" - "$SRC/deploy/docker/Dockerfile" > "$WORK/df.out" 2>&1 <<'PYEOF'
import re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
ins = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l else "") for l in lines]
bad = [i for i, _ in ins if i not in {"FROM", "RUN", "COPY", "WORKDIR", "ENV", "ARG", "USER",
       "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD", "LABEL", "VOLUME", "STOPSIGNAL"}]
assert not bad, "unknown instructions %s" % bad
froms = [a for i, a in ins if i == "FROM"]
assert len(froms) == 2 and froms[0].startswith("debian:12") and " AS " in froms[0].upper(), froms
assert froms[1].startswith("debian:12-slim"), froms
last = max(k for k, (i, _) in enumerate(ins) if i == "FROM")
runtime = ins[last:]
assert any(i == "COPY" and "--from=" in a for i, a in runtime), "no COPY --from"
user = [a for i, a in runtime if i == "USER"]
assert user and user[-1].split(":")[0] not in ("root", "0"), "runtime runs as root"
exposed = " ".join(a for i, a in runtime if i == "EXPOSE")
for p in ("4317", "4318", "4040", "8888", "13133"):
    assert p in exposed, "port %s not exposed" % p
assert any(i == "HEALTHCHECK" and "/health" in a for i, a in runtime), "no HEALTHCHECK on /health"
assert "/etc/profcol/config.yaml" in " ".join(a for i, a in runtime if i in ("CMD", "ENTRYPOINT"))
pk = re.findall(r"apt-get install[^&;]*", " ".join(a for i, a in runtime if i == "RUN"))
print("runtime packages:", " ".join(w for p in pk for w in p.split()[2:] if not w.startswith("-")))
PYEOF
then pass "Dockerfile structure ($(tail -1 "$WORK/df.out"))"; else fail "Dockerfile"; cat "$WORK/df.out"; fi
# The runtime packages must exist (apt's index, when this machine has one).
if command -v apt-cache >/dev/null 2>&1 && apt-cache policy libc6 2>/dev/null | grep -c Candidate >/dev/null; then
  missing=""
  for p in $(tail -1 "$WORK/df.out" | sed 's/^runtime packages://'); do
    apt-cache show "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  [ -z "$missing" ] && pass "every runtime package is in the apt index" ||
    fail "runtime packages unknown to apt:$missing"
fi

finish
