#!/usr/bin/env python3
"""Checks that every configuration key of every registered component (as
`profcol components --keys` lists them from the components' own tables) is
documented in docs/configuration.md, in that component's section."""
import re
import subprocess
import sys

KIND_SECTION = {"receiver": "Receivers", "processor": "Processors",
                "exporter": "Exporters"}
COMMON_EXPORTER = "Settings every exporter has"


def sections(doc):
    """{("Receivers", "otlp"): text, ...} plus the common exporter section."""
    out = {}
    kind = None
    name = None
    buf = []
    for line in doc.splitlines():
        m2 = re.match(r"^## (\S.*)$", line)
        m3 = re.match(r"^### (\S.*)$", line)
        if m2 or m3:
            if kind and name:
                out[(kind, name)] = "\n".join(buf)
            buf = []
            if m2:
                kind, name = m2.group(1).strip(), None
            else:
                name = m3.group(1).strip()
            continue
        buf.append(line)
    if kind and name:
        out[(kind, name)] = "\n".join(buf)
    return out


def main():
    profcol, doc_path = sys.argv[1], sys.argv[2]
    listing = subprocess.run([profcol, "components", "--keys"], check=True,
                             capture_output=True, text=True).stdout
    doc = open(doc_path, encoding="utf-8").read()
    secs = sections(doc)
    common = next((t for (k, n), t in secs.items()
                   if k == "Exporters" and n.startswith(COMMON_EXPORTER)), "")
    missing = []
    checked = 0
    kind = typ = None
    for line in listing.splitlines():
        m = re.match(r"^(receiver|processor|exporter)\s+(\S+)\s", line)
        if m:
            kind, typ = m.group(1), m.group(2)
            continue
        m = re.match(r"^\s+([A-Za-z_][A-Za-z0-9_]*) \(", line)
        if not m or kind is None:
            continue
        key = m.group(1)
        text = secs.get((KIND_SECTION[kind], typ))
        if text is None:
            missing.append(f"{kind} {typ}: no '### {typ}' section")
            continue
        pattern = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(key) +
                             r"(?![A-Za-z0-9_])")
        checked += 1
        if pattern.search(text):
            continue
        if kind == "exporter" and pattern.search(common):
            continue
        missing.append(f"{kind} {typ}: key '{key}' is not documented")
    for m in sorted(set(missing)):
        print("FAIL:", m)
    print(f"checked {checked} keys, {len(set(missing))} problems")
    return 1 if missing or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
