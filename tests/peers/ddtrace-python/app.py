"""A program for profcol's peer test: ddtrace (Python) with its profiler on,
uploading to the Datadog Agent address in DD_TRACE_AGENT_URL (profcol's
datadog receiver). It burns CPU inside web spans for SECONDS, so CPU and
wall samples carry span ids, then exits.

    DD_PROFILING_ENABLED=true python app.py SECONDS
"""
import hashlib
import sys
import time

import ddtrace.auto  # noqa: F401  (tracer and profiler, from the environment)
from ddtrace import tracer
import ddtrace


def burn(ms):
    end = time.monotonic() + ms / 1000
    h = b""
    while time.monotonic() < end:
        h = hashlib.sha256(h + b"x").digest()
    return h


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 8
    print(f"ddtrace {ddtrace.__version__} app for {seconds} s", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with tracer.trace("peer.work", resource="GET /work", span_type="web"):
            burn(50)
        time.sleep(0.005)


if __name__ == "__main__":
    main()
