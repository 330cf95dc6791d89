#!/usr/bin/env python3
"""An HTTP sink that breaks connections, for test_export_faults.sh.

    reset_sink.py OUT_DIR PORT_FILE [--port N] [--reset N] [--lost N] [--hang]

Plain sockets, one thread per connection, HTTP/1.1 keep-alive, bodies by
Content-Length. Faults, in this order over the requests received:
  --reset N  the first N requests: read about half the body, then close the
             connection with a TCP RST (SO_LINGER 0): the request never
             arrived, the client sees "connection reset";
  --lost N   the next N requests: read the whole body (it counts as
             delivered), then RST instead of answering: the response is
             lost, so a retry will deliver the same body again;
  --hang     every request: read it, never answer (a dead backend that
             keeps the connection open).
Otherwise it answers 200 with an empty body. Every delivered body is saved
as OUT_DIR/bNNNNNN.bin; OUT_DIR/stats.json counts requests, resets, lost
responses and delivered bodies.
"""
import json
import os
import socket
import struct
import sys
import threading
import time

args = sys.argv[1:]
OUT, PORT_FILE = args[0], args[1]
opts = {"--port": 0, "--reset": 0, "--lost": 0}
HANG = "--hang" in args
for i, a in enumerate(args):
    if a in opts:
        opts[a] = int(args[i + 1])

LOCK = threading.Lock()
STATS = {"requests": 0, "resets": 0, "lost": 0, "delivered": 0}
os.makedirs(OUT, exist_ok=True)


def save_stats():
    tmp = os.path.join(OUT, ".stats.tmp")
    with open(tmp, "w") as f:
        json.dump(STATS, f)
    os.replace(tmp, os.path.join(OUT, "stats.json"))


def rst(conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def read_until(conn, buf, marker):
    while marker not in buf:
        d = conn.recv(65536)
        if not d:
            return None
        buf += d
    return buf


def read_n(conn, buf, n):
    while len(buf) < n:
        d = conn.recv(65536)
        if not d:
            return None
        buf += d
    return buf


def deliver(body):
    with LOCK:
        STATS["delivered"] += 1
        path = os.path.join(OUT, "b%06d.bin" % STATS["delivered"])
        with open(path + ".tmp", "wb") as f:
            f.write(body)
        os.replace(path + ".tmp", path)
        save_stats()


def fault_for_next():
    with LOCK:
        STATS["requests"] += 1
        n = STATS["requests"]
        save_stats()
    if n <= opts["--reset"]:
        return "reset"
    if n <= opts["--reset"] + opts["--lost"]:
        return "lost"
    return "hang" if HANG else "ok"


def count(key):
    with LOCK:
        STATS[key] += 1
        save_stats()


def serve(conn):
    buf = b""
    try:
        while True:
            buf = read_until(conn, buf, b"\r\n\r\n")
            if buf is None:
                return
            head, _, rest = buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            fault = fault_for_next()
            if fault == "reset":
                read_n(conn, rest, min(length, max(1, length // 2)))
                count("resets")
                rst(conn)
                return
            rest = read_n(conn, rest, length)
            if rest is None:
                return
            body, buf = rest[:length], rest[length:]
            deliver(body)
            if fault == "lost":
                count("lost")
                rst(conn)
                return
            if fault == "hang":
                time.sleep(3600)
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                         b"Content-Length: 0\r\n\r\n")
    except OSError:
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", opts["--port"]))
    srv.listen(64)
    save_stats()
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.replace(PORT_FILE + ".tmp", PORT_FILE)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
