"""grpc_conn_client.py: clients of the gRPC listener's connection limits,
for test_grpc_limits.sh. Each command prints one result line.

  hold PORT N SECONDS [preface]
      opens N connections (with "preface": each sends the HTTP/2 client
      preface and an empty SETTINGS frame, then nothing) and watches them
      for SECONDS; prints "N_CONNECTED CLOSED_FAST CLOSED_LATER SLOWEST":
      closed by profcol within 1.5 s of connecting (refused), closed later,
      and the longest a later one stayed open (s, -1 for none)
  slow PORT N SECONDS HEX
      N connections sending the bytes HEX one every 0.5 s; prints
      "CLOSED SLOWEST": how many profcol closed and when the last was
  export PORT DEADLINE [wait | CA_FILE]
      one Export (an empty request) with grpcio and a deadline in seconds;
      "wait": wait_for_ready (retry while the server refuses connections);
      CA_FILE: over TLS, the server's certificate for "localhost" signed
      by it; prints the status code name and the seconds it took
  exports PORT N
      N Exports on one channel, then the channel is closed; prints how
      many were OK
  settings PORT
      sends the preface and reads the server's SETTINGS frame; prints its
      parameters as ID:VALUE (3 is SETTINGS_MAX_CONCURRENT_STREAMS)
"""
import socket
import sys
import time

from conn_probe import closed_now, connect, drip

METHOD = ("/opentelemetry.proto.collector.profiles.v1development."
          "ProfilesService/Export")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def hold(port, n, seconds, preface):
    socks, opened = [], []
    for _ in range(n):
        try:
            s = connect(port)
        except OSError:
            break
        if preface:
            s.sendall(PREFACE + SETTINGS)
        socks.append(s)
        opened.append(time.time())
    fast, later = set(), {}
    t0 = time.time()
    while time.time() - t0 < seconds:
        for k, s in enumerate(socks):
            if k in fast or k in later or not closed_now(s):
                continue
            after = time.time() - opened[k]
            if after < 1.5:
                fast.add(k)
            else:
                later[k] = after
        time.sleep(0.05)
    for s in socks:
        s.close()
    slowest = max(later.values()) if later else -1
    print("%d %d %d %.1f" % (len(socks), len(fast), len(later), slowest))


def slow(port, n, seconds, data):
    print("%d %.1f" % drip(port, n, seconds, data, 0.5))


def export(port, deadline, opt):
    import grpc
    wait = opt == "wait"
    if opt not in ("", "wait"):
        with open(opt, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        ch = grpc.secure_channel(
            "127.0.0.1:%d" % port, creds,
            options=[("grpc.ssl_target_name_override", "localhost")])
    else:
        ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    call = ch.unary_unary(METHOD, request_serializer=None,
                          response_deserializer=None)
    t0 = time.time()
    try:
        call(b"", timeout=deadline, wait_for_ready=wait)
        code = "OK"
    except grpc.RpcError as e:
        code = e.code().name
    ch.close()
    print("%s %.1f" % (code, time.time() - t0))


def exports(port, n):
    import grpc
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    call = ch.unary_unary(METHOD, request_serializer=None,
                          response_deserializer=None)
    ok = 0
    for _ in range(n):
        try:
            call(b"", timeout=10)
            ok += 1
        except grpc.RpcError:
            pass
    ch.close()
    print(ok)


def settings(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(PREFACE + SETTINGS)
    data = b""
    while True:
        while len(data) >= 9:
            n = int.from_bytes(data[0:3], "big")
            if len(data) < 9 + n:
                break
            ftype, flags, body = data[3], data[4], data[9:9 + n]
            data = data[9 + n:]
            if ftype == 4 and not flags & 1:
                print(" ".join("%d:%d" % (int.from_bytes(body[i:i + 2], "big"),
                                          int.from_bytes(body[i + 2:i + 6], "big"))
                               for i in range(0, len(body) - 5, 6)))
                s.close()
                return
        d = s.recv(65536)
        if not d:
            print("closed")
            return
        data += d


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "hold":
        hold(int(a[0]), int(a[1]), float(a[2]),
             len(a) > 3 and a[3] == "preface")
    elif cmd == "slow":
        slow(int(a[0]), int(a[1]), float(a[2]), bytes.fromhex(a[3]))
    elif cmd == "export":
        export(int(a[0]), float(a[1]), a[2] if len(a) > 2 else "")
    elif cmd == "settings":
        settings(int(a[0]))
    elif cmd == "exports":
        exports(int(a[0]), int(a[1]))
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
