#!/usr/bin/env python3
"""Checks profcol's JFR conversion against the JDK's own reading of the file.

    jfr_check.py PB_DIR OUT_PREFIX DROPPED FILE.jfr...

The JDK's `jfr print --json` gives the events of each FILE; OUT_PREFIX<i>.pb.gz
are the pprofs `profcol convert --to pprof IN OUT_PREFIX%d.pb.gz` wrote, IN
being the FILEs concatenated. (Each file is printed on its own: the JDK's
reader keeps constants across chunks, which is right inside one recording
but mixes up the frames of two recordings put back to back.) For
every profile kind with events in the file (cpu from jdk.ExecutionSample,
allocations from the three allocation events, mutex from
jdk.JavaMonitorEnter, block from jdk.ThreadPark) it compares:
  - the number of events with a stack trace with the count value summed;
  - the summed value (10 ms per execution sample, bytes, delay in ns);
  - the leaf frame with the most value ("<class>.<method>").
Prints one line per check and exits 1 when any fails.

After a chunk rotation the JDK writes some events whose stack trace is in no
pool of their chunk. The JDK's reader keeps constants across the chunks of a
file: it shows such a stack null when no chunk before defined the key, else
it takes that earlier chunk's stack. profcol reads each chunk on its own and
drops such events, counted: DROPPED is that count (`profcol inspect`'s
"samples with unknown stacks dropped"). So profcol's side may be short of
the JDK's by DROPPED events with stacks (the count by at most DROPPED, the
sums by at most the DROPPED largest values of the kind), and the JDK's null
stacks bound nothing but are left out of its side.
"""
import collections
import gzip
import json
import re
import subprocess
import sys

PERIOD_NS = 10_000_000

# event type -> (sample type of the count, sample type of the value, field)
KINDS = {
    "jdk.ExecutionSample": (None, "cpu", None),
    "jdk.ObjectAllocationInNewTLAB": ("alloc_in_new_tlab_objects",
                                      "alloc_in_new_tlab_bytes", "tlabSize"),
    "jdk.ObjectAllocationOutsideTLAB": ("alloc_outside_tlab_objects",
                                        "alloc_outside_tlab_bytes",
                                        "allocationSize"),
    "jdk.ObjectAllocationSample": ("alloc_sample_objects",
                                   "alloc_sample_bytes", "weight"),
    "jdk.JavaMonitorEnter": ("contentions@mutex", "delay@mutex", "duration"),
    "jdk.ThreadPark": ("contentions@block", "delay@block", "duration"),
}

failed = 0


def check(ok, msg):
    global failed
    print(("PASS: " if ok else "FAIL: ") + msg)
    if not ok:
        failed += 1


def iso_ns(s):
    """ISO-8601 duration as the JDK prints it (PT0.021747865S) to ns."""
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", s)
    if not m:
        raise ValueError("duration " + s)
    h, mi, sec = m.group(1), m.group(2), m.group(3) or "0"
    whole, _, frac = sec.partition(".")
    ns = int(whole) * 10**9 + int((frac + "000000000")[:9])
    return ns + (int(h or 0) * 3600 + int(mi or 0) * 60) * 10**9


def frame_name(f):
    cls = f["method"]["type"]["name"]
    name = cls + "." + f["method"]["name"]
    name = re.sub(r"\$\$Lambda\$\d+(?:[+/.]0x[0-9a-fA-F]+)?(?:/\d+)?",
                  "$$Lambda_", name)
    return name


def jdk_events(path):
    out = subprocess.run(["jfr", "print", "--json", "--events",
                          ",".join(KINDS), path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["recording"]["events"]


def expected(events, exp):
    """Adds to exp: type -> [events, count, value sum, Counter leaf -> value,
    events with a null stack, their value sum, values of the events with
    stacks]"""
    for ev in events:
        t, v = ev["type"], ev["values"]
        st = v.get("stackTrace")
        if t == "jdk.ExecutionSample" and v.get("state") == "STATE_SLEEPING":
            continue
        field = KINDS[t][2]
        if field is None:
            val = PERIOD_NS
        elif field == "duration":
            val = iso_ns(v["duration"])
        else:
            val = int(v[field])
        e = exp[t]
        if st is None:
            e[4] += 1
            e[5] += val
            continue
        if not st.get("frames"):
            continue
        e[0] += 1
        e[1] += 1
        e[2] += val
        e[3][frame_name(st["frames"][0])] += val
        e[6].append(val)


def load_pprofs(pb_dir, prefix):
    sys.path.insert(0, pb_dir)
    import profile_pb2  # noqa: E402
    got = {}
    i = 0
    while True:
        try:
            data = gzip.open("%s%d.pb.gz" % (prefix, i)).read()
        except FileNotFoundError:
            break
        p = profile_pb2.Profile()
        p.ParseFromString(data)
        s = p.string_table
        period = s[p.period_type.type]
        names = []
        for st in p.sample_type:
            n = s[st.type]
            if n in ("contentions", "delay"):
                n += "@" + period
            names.append(n)
        fn = {f.id: s[f.name] for f in p.function}
        loc = {l.id: fn[l.line[0].function_id] for l in p.location}
        for k, n in enumerate(names):
            tot = 0
            leaf = collections.Counter()
            for smp in p.sample:
                tot += smp.value[k]
                leaf[loc[smp.location_id[0]]] += smp.value[k]
            got[n] = (tot, leaf)
        i += 1
    return got


def main():
    pb_dir, prefix, dropped = sys.argv[1], sys.argv[2], int(sys.argv[3])
    exp = {t: [0, 0, 0, collections.Counter(), 0, 0, []] for t in KINDS}
    for path in sys.argv[4:]:
        expected(jdk_events(path), exp)
    got = load_pprofs(pb_dir, prefix)
    kinds_seen = 0
    for t, (cnt_name, val_name, _) in KINDS.items():
        n, c, total, leaf, nnull, vnull, vals = exp[t]
        # What the events profcol dropped could have held at most.
        vdrop = sum(sorted(vals, reverse=True)[:dropped])
        if n == 0:
            check(val_name not in got, "%s: no events, no profile" % t)
            continue
        kinds_seen += 1
        if cnt_name is not None:
            g = got.get(cnt_name, (None, None))[0]
            check(g is not None and c - dropped <= g <= c + nnull,
                  "%s: %d events with stacks (+%d null in jfr, -%d dropped "
                  "by profcol at most), count %s" % (t, c, nnull, dropped, g))
        g = got.get(val_name, (None, collections.Counter()))
        check(g[0] is not None and total - vdrop <= g[0] <= total + vnull,
              "%s: value sum %d (+%d null in jfr, -%d dropped at most) vs %s "
              "(profcol)" % (t, total, vnull, vdrop, g[0]))
        top_exp = leaf.most_common(1)[0]
        top_got = g[1].most_common(1)[0] if g[1] else None
        # With drops, a leaf within their reach of the top may come first.
        near = [k for k, v in leaf.items() if v >= top_exp[1] - vdrop]
        check(top_got is not None and top_got[0] in near and
              leaf[top_got[0]] - vdrop <= top_got[1] <= leaf[top_got[0]] + vnull,
              "%s: top leaf %s = %d (profcol %s)" % (t, top_exp[0],
                                                      top_exp[1], top_got))
    check(kinds_seen >= 4, "%d profile kinds with events" % kinds_seen)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
