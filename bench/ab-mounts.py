#!/usr/bin/env python3
"""bench/ab-mounts.py OLD_MNT NEW_MNT [PAIRS] - two mounts (e.g. of two builds) measured
in alternation, batch by batch, so that the load of a shared machine falls on both
alike: for each metric, PAIRS (default 40) pairs of batches (old then new, the order
swapped every other pair), each batch BATCH (default 200) operations; prints each
build's median rate and the median of the per-pair ratios NEW/OLD.
  create   open(O_CREAT|O_EXCL) + close of a new empty file
  write4k  pwrite of 4 KiB at offsets 0, 4K, ... of one open file
  unlink   unlink of the files create made
"""
import os, statistics, sys, time

old, new = sys.argv[1], sys.argv[2]
pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 40
batch = int(os.environ.get("BATCH", "200"))
for m in (old, new):
    os.makedirs(os.path.join(m, "ab"), exist_ok=True)
buf = b"x" * 4096
fds = {m: os.open(os.path.join(m, "ab", "w"), os.O_CREAT | os.O_WRONLY, 0o644) for m in (old, new)}
seq = {old: 0, new: 0}

def create(m, i):
    base = os.path.join(m, "ab", "c%d_" % i)
    t = time.perf_counter()
    for k in range(batch):
        os.close(os.open(base + str(k), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    return batch / (time.perf_counter() - t)

def unlink(m, i):
    base = os.path.join(m, "ab", "c%d_" % i)
    t = time.perf_counter()
    for k in range(batch):
        os.unlink(base + str(k))
    return batch / (time.perf_counter() - t)

def write4k(m, i):
    fd = fds[m]
    t = time.perf_counter()
    for k in range(batch):
        os.pwrite(fd, buf, ((i * batch + k) % 4096) * 4096)
    return batch / (time.perf_counter() - t)

print("%-9s %10s %10s %8s   (ops/s, medians of %d pairs of %d ops)" % ("metric", "old", "new", "new/old", pairs, batch))
for name, fn in (("create", create), ("unlink", unlink), ("write4k", write4k)):
    o, n, r = [], [], []
    for i in range(pairs):
        order = (old, new) if i % 2 == 0 else (new, old)
        got = {m: fn(m, i) for m in order}
        o.append(got[old]); n.append(got[new]); r.append(got[new] / got[old])
    print("%-9s %10.0f %10.0f %8.2f" % (name, statistics.median(o), statistics.median(n), statistics.median(r)))
for fd in fds.values():
    os.close(fd)
