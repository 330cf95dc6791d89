#!/usr/bin/env python3
"""Helper of test_loadbalancing_exporter.sh.

  gen PB TEMPLATE OUTDIR FIRST COUNT PER_FILE NSERVICES
      writes COUNT/PER_FILE OTLP request files, each with PER_FILE resources
      (one series each: service.name = svc-<seq % NSERVICES>, test.seq = seq)
      copying TEMPLATE's profile; written as .name then renamed.
  owner KEY MEMBER...
      prints the member owning KEY: an independent implementation of the
      exporter's ring (XXH3 from libxxhash through ctypes).
  check PHASES_JSON GWNAME=DIR...
      reads every item the gateways wrote (file exporter, JSON lines); every seq of the phases must
      arrive exactly once, at the owner of its service for the member set of
      its phase. Prints a summary; exit 1 on any mismatch.
"""
import bisect
import ctypes
import ctypes.util
import glob
import json
import os
import sys

VNODES = 200


def xxh():
    lib = ctypes.CDLL(ctypes.util.find_library("xxhash") or "libxxhash.so.0")
    lib.XXH3_64bits.restype = ctypes.c_uint64
    lib.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.XXH3_64bits_withSeed.restype = ctypes.c_uint64
    lib.XXH3_64bits_withSeed.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                                         ctypes.c_uint64]
    return lib


class Ring:
    def __init__(self, members):
        self.lib = xxh()
        self.members = sorted(set(m.encode() for m in members))
        pts = []
        for i, m in enumerate(self.members):
            for v in range(VNODES):
                pts.append((self.lib.XXH3_64bits_withSeed(m, len(m), v), i))
        pts.sort()
        self.hashes = [p[0] for p in pts]
        self.owners = [p[1] for p in pts]

    def owner(self, key):
        k = key.encode()
        h = self.lib.XXH3_64bits(k, len(k))
        i = bisect.bisect_left(self.hashes, h)
        if i == len(self.hashes):
            i = 0
        return self.members[self.owners[i]].decode()


def load_pb(pbdir):
    sys.path.insert(0, pbdir)
    from opentelemetry.proto.collector.profiles.v1development import \
        profiles_service_pb2 as svc
    return svc


def cmd_gen(args):
    pbdir, template, outdir = args[0], args[1], args[2]
    first, count, per_file, nserv = (int(a) for a in args[3:7])
    svc = load_pb(pbdir)
    tmpl = svc.ExportProfilesServiceRequest()
    with open(template, "rb") as f:
        tmpl.ParseFromString(f.read())
    base = tmpl.resource_profiles[0]
    seq = first
    while seq < first + count:
        req = svc.ExportProfilesServiceRequest()
        req.dictionary.CopyFrom(tmpl.dictionary)
        for _ in range(min(per_file, first + count - seq)):
            rp = req.resource_profiles.add()
            rp.CopyFrom(base)
            del rp.resource.attributes[:]
            a = rp.resource.attributes.add()
            a.key = "service.name"
            a.value.string_value = "svc-%d" % (seq % nserv)
            a = rp.resource.attributes.add()
            a.key = "test.seq"
            a.value.int_value = seq
            seq += 1
        name = "p-%06d.pb" % seq
        tmp = os.path.join(outdir, "." + name)
        with open(tmp, "wb") as f:
            f.write(req.SerializeToString())
        os.rename(tmp, os.path.join(outdir, name))


def cmd_owner(args):
    print(Ring(args[1:]).owner(args[0]))


def received(gateways):
    """seq -> list of (gateway, service), from the gateways' JSON lines."""
    got = {}
    for name, d in gateways.items():
        for path in glob.glob(os.path.join(d, "**", "*.jsonl"), recursive=True):
            if os.path.basename(path).startswith("."):
                continue
            with open(path) as f:
                for line in f:
                    if not line.strip():
                        continue
                    attrs = json.loads(line)["attributes"]
                    seq = int(attrs["test.seq"])
                    got.setdefault(seq, []).append(
                        (name, attrs["service.name"]))
    return got


def cmd_check(args):
    with open(args[0]) as f:
        phases = json.load(f)
    gateways = dict(a.split("=", 1) for a in args[1:])
    got = received(gateways)
    bad = 0
    total = 0
    per_gw = {}
    for ph in phases:
        ring = Ring(ph["members"])
        for seq in range(ph["first"], ph["first"] + ph["count"]):
            total += 1
            arr = got.get(seq, [])
            serv = "svc-%d" % (seq % ph["nservices"])
            want = ring.owner(serv)
            if len(arr) != 1 or arr[0][0] != want or arr[0][1] != serv:
                bad += 1
                if bad <= 10:
                    print("seq %d (%s, phase %s): want once at %s, got %s"
                          % (seq, serv, ph["name"], want, arr))
            else:
                per_gw[want] = per_gw.get(want, 0) + 1
    extra = [s for s in got if not any(
        p["first"] <= s < p["first"] + p["count"] for p in phases)]
    print("checked %d profiles, %d wrong, %d unexpected; per gateway %s"
          % (total, bad, len(extra), json.dumps(per_gw, sort_keys=True)))
    return 1 if bad or extra else 0


def main(argv):
    cmd = argv[1]
    if cmd == "gen":
        cmd_gen(argv[2:])
    elif cmd == "owner":
        cmd_owner(argv[2:])
    elif cmd == "check":
        return cmd_check(argv[2:])
    else:
        print("unknown command", cmd)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
