#!/usr/bin/env python3
"""Sends one hand-made Datadog profile upload, for test_datadog*.sh.

    datadog_upload.py URL [--event JSON | --no-event] [--field NAME=VALUE]...
                      [--part NAME[@FILENAME]=FILE[:gzip|zstd|badzstd|lz4|badlz4|plain]]...
                      [--truncate N] [--header 'K: V']... [--content-type T]

Builds a multipart/form-data body: the `event` part (filename event.json)
first unless --no-event, then plain form fields, then each part (form name
and file name NAME (or FILENAME), FILE's bytes compressed as asked;
`badzstd` / `badlz4` are a zstd / LZ4 frame cut in half; zstd and lz4 by
their command-line tools). --truncate N cuts the body N bytes before its
end. Prints the status, a space, and the response body.
"""
import argparse
import gzip
import subprocess
import sys
import urllib.error
import urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("--event")
ap.add_argument("--no-event", action="store_true")
ap.add_argument("--field", action="append", default=[])
ap.add_argument("--part", action="append", default=[])
ap.add_argument("--truncate", type=int, default=0)
ap.add_argument("--header", action="append", default=[])
ap.add_argument("--content-type")
a = ap.parse_args()

B = "0123456789abcdef"


def part(name, data, filename=None, ctype=None):
    h = f'--{B}\r\nContent-Disposition: form-data; name="{name}"'
    if filename:
        h += f'; filename="{filename}"'
    h += "\r\n"
    if ctype:
        h += f"Content-Type: {ctype}\r\n"
    return h.encode() + b"\r\n" + data + b"\r\n"


def compress(data, how):
    if how == "gzip":
        return gzip.compress(data)
    if how == "zstd":
        return subprocess.run(["zstd", "-cq"], input=data, stdout=subprocess.PIPE, check=True).stdout
    if how == "badzstd":
        z = compress(data, "zstd")
        return z[:len(z) // 2]
    if how == "lz4":
        return subprocess.run(["lz4", "-cq"], input=data, stdout=subprocess.PIPE, check=True).stdout
    if how == "badlz4":
        z = compress(data, "lz4")
        return z[:len(z) // 2]
    return data


body = b""
if not a.no_event:
    body += part("event", (a.event or "{}").encode(), "event.json", "application/json")
for f in a.field:
    k, _, v = f.partition("=")
    body += part(k, v.encode())
for p in a.part:
    name, _, spec = p.partition("=")
    name, _, fname = name.partition("@")
    path, _, how = spec.partition(":")
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    body += part(name, compress(data, how or "plain"), fname or name, "application/octet-stream")
body += f"--{B}--\r\n".encode()
if a.truncate:
    body = body[:-a.truncate]
req = urllib.request.Request(a.url, data=body, method="POST")
req.add_header("Content-Type", a.content_type or f"multipart/form-data; boundary={B}")
for h in a.header:
    k, _, v = h.partition(":")
    req.add_header(k.strip(), v.strip())
try:
    with urllib.request.urlopen(req, timeout=20) as r:
        print(r.status, r.read().decode(errors="replace"))
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode(errors="replace"))
