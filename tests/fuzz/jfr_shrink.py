#!/usr/bin/env python3
"""Shrinks a JDK recording into a fuzz seed: jfr_shrink.py IN.jfr OUT.jfr

In every chunk the metadata event (about 96 KB on JDK 17) keeps only the
classes the chunk's events and constant pools need, without annotations or
settings; every other event byte stays as it is, offsets and checkpoint
links are patched. The JDK's `jfr` tool still reads the result. The seeds of
tests/fuzz/corpus/fuzz_jfr/ were made this way from recordings of
tests/fixtures/java/JfrWork.java."""
import struct, sys

def rv(b, p):
    v = 0
    for i in range(9):
        x = b[p]; p += 1
        if i == 8:
            v |= x << 56; break
        v |= (x & 0x7f) << (7 * i)
        if x < 0x80: break
    return v, p

def wv(v):
    out = bytearray()
    v &= (1 << 64) - 1
    for i in range(9):
        if i == 8:
            out.append(v & 0xff); break
        if v < 0x80:
            out.append(v); break
        out.append((v & 0x7f) | 0x80); v >>= 7
    return bytes(out)

def wv_len(v, n):
    """v padded to exactly n bytes (n <= 8)."""
    if n == 9 or len(wv(v)) == 9:
        assert len(wv(v)) == n; return wv(v)
    out = bytearray()
    for i in range(n):
        x = (v >> (7 * i)) & 0x7f
        out.append(x | (0x80 if i < n - 1 else 0))
    return bytes(out)

def rstr(b, p):
    enc = b[p]; p += 1
    if enc in (0, 1): return "", p
    if enc == 3 or enc == 5:
        n, p = rv(b, p); s = b[p:p+n].decode("utf-8" if enc == 3 else "latin-1"); return s, p + n
    if enc == 4:
        n, p = rv(b, p); cs = []
        for _ in range(n):
            c, p = rv(b, p); cs.append(c)
        return bytes(struct.pack(">%dH" % n, *cs)).decode("utf-16-be", "replace"), p
    raise ValueError(enc)

def relem(b, p, strs):
    name, p = rv(b, p)
    na, p = rv(b, p); attrs = []
    for _ in range(na):
        k, p = rv(b, p); v, p = rv(b, p); attrs.append((strs[k], strs[v]))
    nc, p = rv(b, p); kids = []
    for _ in range(nc):
        k, p = relem(b, p, strs); kids.append(k)
    return (strs[name], attrs, kids), p

def shrink(data):
    size, cp, meta = struct.unpack(">QQQ", data[8:32])
    events = []
    p = 68
    while p < size:
        s, q = rv(data, p); t, _ = rv(data, q)
        events.append((p, s, t)); p += s
    used = set(t for _, _, t in events if t > 1)
    # pool types from checkpoints: walk their headers
    def cp_pools(p):
        s, q = rv(data, p); t, q = rv(data, q)
        for _ in range(3): _, q = rv(data, q)
        q += 1
        n, q = rv(data, q)
        return q, n
    # metadata
    p = meta
    s, q = rv(data, p); _, q = rv(data, q)
    for _ in range(3): _, q = rv(data, q)
    n, q = rv(data, q); strs = []
    for _ in range(n):
        x, q = rstr(data, q); strs.append(x)
    root, _ = relem(data, q, strs)
    classes = {}
    for md in root[2]:
        if md[0] != "metadata": continue
        for c in md[2]:
            a = dict(c[1]); classes[int(a["id"])] = c
    # pool types: parse each checkpoint's pools with a value skipper
    def fields(cid):
        return [dict(f[1]) for f in classes[cid][2] if f[0] == "field"]
    PRIM = {"boolean": 1, "byte": 1, "float": 4, "double": 8}
    def skip(b, p, cid, depth=0):
        nm = dict(classes[cid][1])["name"]
        if nm in PRIM: return p + PRIM[nm]
        if nm in ("char", "short", "int", "long"): return rv(b, p)[1]
        if nm == "java.lang.String":
            enc = b[p]
            if enc == 2: return rv(b, p + 1)[1]
            return rstr(b, p)[1]
        for f in fields(cid):
            fc = int(f["class"]); arr = f.get("dimension") == "1"; pool = f.get("constantPool") == "true"
            cnt = 1
            if arr: cnt, p = rv(b, p)
            for _ in range(cnt):
                p = rv(b, p)[1] if pool else skip(b, p, fc, depth + 1)
        return p
    for (ep, es, et) in events:
        if et != 1: continue
        q, n = cp_pools(ep)
        for _ in range(n):
            t, q = rv(data, q); used.add(t); cnt, q = rv(data, q)
            for _ in range(cnt):
                _, q = rv(data, q); q = skip(data, q, t)
    # closure over field classes
    todo = list(used)
    while todo:
        c = todo.pop()
        for f in fields(c):
            fc = int(f["class"])
            if fc not in used: used.add(fc); todo.append(fc)
    # new metadata
    ns = []; idx = {}
    def si(s):
        if s not in idx: idx[s] = len(ns); ns.append(s)
        return idx[s]
    def welem(e):
        name, attrs, kids = e
        out = bytearray(wv(si(name)) + wv(len(attrs)))
        for k, v in attrs: out += wv(si(k)) + wv(si(v))
        out += wv(len(kids))
        for k in kids: out += welem(k)
        return out
    keep = []
    for cid in sorted(used):
        name, attrs, kids = classes[cid]
        keep.append((name, attrs, [(k[0], k[1], []) for k in kids if k[0] == "field"]))
    el = welem(("root", root[1], [("metadata", [], keep)] + [k for k in root[2] if k[0] != "metadata"]))
    body = bytearray(wv(0) + wv(0) + wv(0) + wv(len(ns)))
    for s in ns:
        bs = s.encode("utf-8"); body += bytes([3]) + wv(len(bs)) + bs
    body += el
    mevent = wv_len(len(body) + 4 + 1, 4) + b"\x00" + body
    # rebuild the chunk
    newpos = {}; out = bytearray(data[:68])
    for (ep, es, et) in events:
        newpos[ep] = len(out)
        out += mevent if ep == meta else data[ep:ep+es]
    # patch checkpoint deltas
    for (ep, es, et) in events:
        if et != 1: continue
        q = newpos[ep]
        s, q = rv(out, q); _, q = rv(out, q); _, q = rv(out, q); _, q = rv(out, q)
        d0 = q; d, q = rv(out, q)
        if d == 0: continue
        d = d - (1 << 64) if d >= 1 << 63 else d
        nd = newpos[ep + d] - newpos[ep]
        enc = wv_len(nd & ((1 << 64) - 1), q - d0)
        out[d0:q] = enc
    out[8:32] = struct.pack(">QQQ", len(out), newpos[cp], newpos[meta])
    return bytes(out)

whole = open(sys.argv[1], "rb").read()
res = bytearray(); off = 0
while off < len(whole):
    n = struct.unpack(">Q", whole[off+8:off+16])[0]
    res += shrink(whole[off:off+n]); off += n
open(sys.argv[2], "wb").write(res)
print(len(whole), "->", len(res))
