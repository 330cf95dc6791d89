"""abuse_client.py: hostile and well-behaved clients for test_limits_abuse.sh.

Raw sockets and hand-made frames, so every byte a client sends is the
test's choice. Commands (each prints one result line):

  grpc-frames OUT KIND         write a gRPC body (length-prefixed messages)
                               KIND: empty, two, flagged, bomb:MIB
  slowloris PORT N SECONDS     N connections sending a header byte every
                               0.5 s; prints how many profcol closed and the
                               slowest close in seconds
  idle PORT N SECONDS          N connections that send nothing: the same
  hold PORT N SECONDS          N connections held open SECONDS; prints how
                               many connected
  push-proto OUT VALUE_HEX     a Pyroscope PushRequest, one series with
                               label a=VALUE (hex bytes) and one pprof
  otlp-strings OUT STR_HEX     an ExportProfilesServiceRequest whose
                               dictionary string_table is ["", STR]
  json OUT KIND MIB            OTLP/JSON of about MIB MiB, gzipped: KIND
                               numbers (a sample of MIB/2 Mi values "1,",
                               a tree ~20x the text) or string (one long
                               attribute value, a tree ~1x the text)
"""
import gzip
import socket
import struct
import sys
import time
import zlib

from conn_probe import drip


def frame(flag, body):
    return bytes([flag]) + struct.pack(">I", len(body)) + body


def gzip_zeros(mib):
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    out = [co.compress(chunk) for _ in range(mib)]
    out.append(co.flush())
    return b"".join(out)


def grpc_frames(out, kind):
    if kind == "empty":
        data = frame(0, b"")
    elif kind == "two":
        data = frame(0, b"") + frame(0, b"")
    elif kind == "flagged":
        data = frame(1, b"")
    elif kind.startswith("bomb:"):
        data = frame(1, gzip_zeros(int(kind[5:])))
    else:
        raise SystemExit("unknown kind " + kind)
    with open(out, "wb") as f:
        f.write(data)
    print(len(data))


def varint(n):
    b = bytearray()
    while True:
        x = n & 0x7F
        n >>= 7
        if n:
            b.append(x | 0x80)
        else:
            b.append(x)
            return bytes(b)


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def tiny_pprof():
    """One sample of one function: Profile{sample_type, sample, location,
    function, string_table}."""
    vt = varint(1 << 3) + varint(1) + varint(2 << 3) + varint(2)
    sample = field(1, varint(1)) + field(2, varint(100))
    line = varint(1 << 3) + varint(1)
    loc = varint(1 << 3) + varint(1) + field(4, line)
    fn = varint(1 << 3) + varint(1) + varint(2 << 3) + varint(3)
    strings = b"".join(field(6, x) for x in (b"", b"cpu", b"nanoseconds", b"main"))
    return (field(1, vt) + field(2, sample) + field(4, loc) + field(5, fn) +
            strings)


def push_proto(out, value_hex):
    label = field(1, b"a") + field(2, bytes.fromhex(value_hex))
    svc = field(1, b"service_name") + field(2, b"abuse")
    sample = field(1, tiny_pprof())
    series = field(1, svc) + field(1, label) + field(2, sample)
    with open(out, "wb") as f:
        f.write(field(1, series))


def otlp_strings(out, str_hex):
    dictionary = field(5, b"") + field(5, bytes.fromhex(str_hex))
    with open(out, "wb") as f:
        f.write(field(2, dictionary))


def closed_within(port, n, seconds, send_bytes):
    header = b"POST /v1development/profiles HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 10000
    data = header if send_bytes else b""
    print("%d %.1f" % drip(port, n, seconds, data, 0.5 if send_bytes else 0.1))


def hold(port, n, seconds):
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    print(len(socks))
    sys.stdout.flush()
    time.sleep(seconds)
    for s in socks:
        s.close()


def json_body(out, kind, mib):
    n = mib << 20
    if kind == "numbers":
        body = ('{"resourceProfiles":[{"scopeProfiles":[{"profiles":[{"samples":'
                '[{"values":[' + "1," * (n // 2 - 1) + '1]}]}]}]}]}')
    else:
        body = ('{"resourceProfiles":[{"resource":{"attributes":[{"key":"a",'
                '"value":{"stringValue":"' + "x" * n + '"}}]}}]}')
    with open(out, "wb") as f:
        f.write(gzip.compress(body.encode(), 6))
    print(len(body))


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "grpc-frames":
        grpc_frames(a[0], a[1])
    elif cmd == "slowloris":
        closed_within(int(a[0]), int(a[1]), float(a[2]), True)
    elif cmd == "idle":
        closed_within(int(a[0]), int(a[1]), float(a[2]), False)
    elif cmd == "hold":
        hold(int(a[0]), int(a[1]), float(a[2]))
    elif cmd == "push-proto":
        push_proto(a[0], a[1])
    elif cmd == "otlp-strings":
        otlp_strings(a[0], a[1])
    elif cmd == "json":
        json_body(a[0], a[1], int(a[2]))
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
