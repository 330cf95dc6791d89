"""conn_probe.py: raw connections that watch when the server closes them,
shared by the connection-limit clients (abuse_client.py for the HTTP
listeners, grpc_conn_client.py for the gRPC one)."""
import socket
import time


def connect(port, timeout=5):
    """A non-blocking connection to 127.0.0.1:port."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setblocking(False)
    return s


def closed_now(s):
    """Whether the server closed s (end of file or reset); data it sent
    (a SETTINGS frame, a GOAWAY, an error page) is read and dropped."""
    try:
        while True:
            if s.recv(65536) == b"":
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def drip(port, n, seconds, data, interval):
    """n connections, each sending the next byte of data every interval
    seconds (nothing once data is used up), for at most seconds or until
    the server closed them all. Returns (how many it closed, the seconds
    after the start at which the last was closed, -1 for none)."""
    socks = [connect(port) for _ in range(n)]
    t0 = time.time()
    closed = {}
    i = 0
    while time.time() - t0 < seconds and len(closed) < n:
        for k, s in enumerate(socks):
            if k in closed:
                continue
            try:
                if i < len(data):
                    s.send(data[i:i + 1])
            except OSError:
                closed[k] = time.time() - t0
                continue
            if closed_now(s):
                closed[k] = time.time() - t0
        i += 1
        time.sleep(interval)
    for s in socks:
        s.close()
    return len(closed), max(closed.values()) if closed else -1
