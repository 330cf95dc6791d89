"""A program using the real Pyroscope Python SDK (PyPI pyroscope-io, pinned in
requirements.txt and requirements-0.8.txt) for
tests/peers/test_pyroscope_python.sh:

    python app.py SERVER_URL APP_NAME RUN_SECONDS

Static tags peer=pyroscope-python and sdk_version=<the installed version>;
the work inside pyroscope.tag_wrapper carries handler=tagged. With 1.x the
upload interval is 1 s and memory profiling is on (0.8.x profiles CPU only
and uploads every 10 s, not configurable).
shutdown() flushes the last upload.
"""
import importlib.metadata
import sys
import time

import pyroscope


KEEP = []


def burn(seconds):
    x = 1
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(2000):
            x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        KEEP.append(bytearray(64 * 1024))
        del KEEP[:-32]
    return x


def tagged_work(seconds):
    return burn(seconds)


def untagged_work(seconds):
    return burn(seconds)


def main():
    server, app, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    version = importlib.metadata.version("pyroscope-io")
    print("pyroscope-io", version, flush=True)
    kwargs = {}
    if int(version.split(".")[0]) >= 1:
        kwargs["upload_interval"] = 1
        kwargs["mem_enabled"] = True
    pyroscope.configure(
        application_name=app,
        server_address=server,
        tags={"peer": "pyroscope-python", "sdk_version": version},
        enable_logging=True,
        **kwargs,
    )
    end = time.monotonic() + secs
    while time.monotonic() < end:
        untagged_work(0.1)
        with pyroscope.tag_wrapper({"handler": "tagged"}):
            tagged_work(0.1)
    pyroscope.shutdown()
    print("pyroscope-io", version, "shut down (last upload flushed)", flush=True)


if __name__ == "__main__":
    main()
