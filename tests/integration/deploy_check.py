#!/usr/bin/env python3
"""Helper of test_deploy_manifests.sh: checks deploy/kubernetes/*.yaml.

  deploy_check.py MANIFEST_DIR OUT_DIR
Every YAML document must parse and have apiVersion, kind and metadata.name;
workloads need the probes, annotations and resources the docs promise.
Every profcol config found in a ConfigMap (data key config.yaml) is written
to OUT_DIR/<configmap>.yaml with each ${env:VAR} replaced by a dummy value,
for `profcol validate`. Prints one line per finding; exit 1 on any error.
"""
import glob
import os
import re
import sys

import yaml

ENV_RE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")
DUMMY = {"PROFCOL_GATEWAY": "gateway.example:4317",
         "PYROSCOPE_ENDPOINT": "http://pyroscope.example:4040"}
errors = []


def err(msg):
    errors.append(msg)
    print("ERROR: " + msg)


def check_pod(where, spec):
    for c in spec.get("containers", []):
        if not str(c.get("image", "")).startswith("profcol"):
            continue
        for probe in ("livenessProbe", "readinessProbe"):
            path = c.get(probe, {}).get("httpGet", {}).get("path")
            if path != "/health":
                err("%s: container %s: %s is not /health" % (where, c["name"], probe))
        res = c.get("resources", {})
        if "requests" not in res or "limits" not in res:
            err("%s: container %s: resources need requests and limits" % (where, c["name"]))
        ports = {p.get("containerPort") for p in c.get("ports", [])}
        if not {8888, 13133} <= ports:
            err("%s: container %s: ports 8888 and 13133 not declared" % (where, c["name"]))


def check_doc(path, doc, configs):
    for k in ("apiVersion", "kind"):
        if not doc.get(k):
            err("%s: document without %s" % (path, k))
    name = (doc.get("metadata") or {}).get("name")
    if not name:
        err("%s: %s without metadata.name" % (path, doc.get("kind")))
        return
    where = "%s: %s/%s" % (os.path.basename(path), doc.get("kind"), name)
    kind = doc.get("kind")
    if kind in ("Deployment", "DaemonSet", "StatefulSet"):
        tmpl = doc["spec"]["template"]
        ann = (tmpl.get("metadata") or {}).get("annotations") or {}
        if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != "8888":
            err("%s: missing prometheus.io annotations" % where)
        check_pod(where, tmpl["spec"])
    if kind == "ConfigMap" and "config.yaml" in (doc.get("data") or {}):
        configs[name] = doc["data"]["config.yaml"]
    print("ok %s" % where)


def main():
    mdir, out = sys.argv[1], sys.argv[2]
    configs = {}
    kinds = set()
    files = sorted(glob.glob(os.path.join(mdir, "*.yaml")))
    if not files:
        err("no manifests in %s" % mdir)
    for path in files:
        try:
            with open(path) as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            err("%s: does not parse: %s" % (path, e))
            continue
        for d in docs:
            if not isinstance(d, dict):
                err("%s: a document is not a mapping" % path)
                continue
            kinds.add(d.get("kind"))
            check_doc(path, d, configs)
    for k in ("Deployment", "DaemonSet", "Service", "HorizontalPodAutoscaler",
              "PodDisruptionBudget", "ConfigMap"):
        if k not in kinds:
            err("no %s among the manifests" % k)
    os.makedirs(out, exist_ok=True)
    for name, text in configs.items():
        yaml.safe_load(text)  # the embedded config is YAML too
        subst = ENV_RE.sub(lambda m: DUMMY.get(m.group(1), "dummy"), text)
        with open(os.path.join(out, name + ".yaml"), "w") as f:
            f.write(subst)
        print("config %s" % name)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
