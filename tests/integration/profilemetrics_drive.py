"""Uploads synthetic CPU profiles to a Pyroscope /ingest endpoint at a steady
pace, for the profilemetrics test.

Usage: profilemetrics_drive.py PB_DIR URL TICKS_PER_PHASE T0_FILE

Two phases of TICKS_PER_PHASE one-second ticks. Every tick, services svcA and
svcB each upload one pprof holding 1 s of CPU (svcA: 1.2 s in the second
phase): 0.6 of it on a stack through main.handle (sample label
span_name="GET /api"), 0.4 on runtime.gcBgMarkWorker (no label). The
wall-clock start (unix seconds, float) is written to T0_FILE first.
"""
import sys
import time
import urllib.request

sys.path.insert(0, sys.argv[1])
import profile_pb2  # noqa: E402

URL, TICKS, T0_FILE = sys.argv[2], int(sys.argv[3]), sys.argv[4]


def pprof(cpu_ns):
    p = profile_pb2.Profile()
    strings = ["", "samples", "count", "cpu", "nanoseconds", "main.handle",
               "main.main", "runtime.gcBgMarkWorker", "span_name", "GET /api"]
    p.string_table.extend(strings)
    s = {v: i for i, v in enumerate(strings)}
    p.sample_type.add(type=s["samples"], unit=s["count"])
    p.sample_type.add(type=s["cpu"], unit=s["nanoseconds"])
    p.period_type.type, p.period_type.unit = s["cpu"], s["nanoseconds"]
    p.period = 10000000
    for fid, name in ((1, "main.handle"), (2, "main.main"),
                      (3, "runtime.gcBgMarkWorker")):
        p.function.add(id=fid, name=s[name])
        loc = p.location.add(id=fid)
        loc.line.add(function_id=fid)
    hot = cpu_ns * 6 // 10
    smp = p.sample.add(location_id=[1, 2], value=[hot // 10000000, hot])
    smp.label.add(key=s["span_name"], str=s["GET /api"])
    p.sample.add(location_id=[3], value=[(cpu_ns - hot) // 10000000,
                                         cpu_ns - hot])
    p.time_nanos = time.time_ns()
    p.duration_nanos = 1000000000
    return p.SerializeToString()


def upload(service, cpu_ns):
    url = "%s?name=%s%%7Benv%%3Dproduction%%7D&format=pprof" % (URL, service)
    req = urllib.request.Request(url, data=pprof(cpu_ns), method="POST")
    # Generous: a loaded machine may be slow, but a hung answer still fails.
    start = time.time()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            if r.status != 200:
                sys.exit("upload %s: HTTP %d" % (service, r.status))
    except OSError as e:
        sys.exit("upload %s: no answer after %.1f s: %s"
                 % (service, time.time() - start, e))


t0 = time.time()
with open(T0_FILE, "w") as f:
    f.write("%.3f\n" % t0)
for tick in range(2 * TICKS):
    delay = t0 + tick - time.time()
    if delay > 0:
        time.sleep(delay)
    upload("svcA", 1200000000 if tick >= TICKS else 1000000000)
    upload("svcB", 1000000000)
print("uploads done")
