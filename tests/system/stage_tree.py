#!/usr/bin/env python3
"""tests/system/stage_tree.py - benchfs-stage's test trees.

  stage_tree.py make DIR N     a tree of N small files in N/100 directories, big
                               sparse files, symlinks, hard links, a FIFO, odd
                               names, odd modes, owners (as root) and old times
  stage_tree.py compare [--meta] A B
                               exit 0 when B is A again: names, types, modes,
                               owners, sizes, mtimes (ns), symlink targets, hard
                               link groups, holes (B stores no more blocks than
                               A plus a little), contents unless --meta; prints
                               each difference
"""
import os, stat, sys

def make(top, n):
    os.makedirs(top)
    ndirs = max(1, n // 100)
    for d in range(ndirs):
        sub = os.path.join(top, "d%03d" % d, "sub")
        os.makedirs(sub)
    for i in range(n):
        d = os.path.join(top, "d%03d" % (i % ndirs))
        if i % 7 == 0:
            d = os.path.join(d, "sub")
        with open(os.path.join(d, "f%05d" % i), "wb") as f:
            f.write((b"%08d" % i) * (i % 600))   # 0..4792 bytes, some empty
    # Big sparse files: data at the start, in the middle and at the end; one
    # larger than a stage segment (64 MiB), one ending in a hole.
    mib = 1 << 20
    for name, size, at in (("big-a", 150 * mib, (0, 70 * mib, 150 * mib - 4096)),
                           ("big-b", 20 * mib, (5 * mib,)),
                           ("hole-only", 8 * mib, ())):
        with open(os.path.join(top, name), "wb") as f:
            for k, off in enumerate(at):
                f.seek(off)
                f.write(os.urandom(4096) if k else bytes(range(256)) * 4096)
            f.truncate(size)
    odd = os.path.join(top, "odd names")
    os.makedirs(odd)
    for name in ("with space", "new\nline", "ünïcødé-名前", "-dash", "*?[x]", "a" * 255, "tab\there", "'quote\""):
        with open(os.path.join(odd, name), "w") as f:
            f.write(name)
    os.symlink("../d000/f00000", os.path.join(odd, "rel-link"))
    os.symlink("/nonexistent/target", os.path.join(odd, "dangling"))
    os.symlink("x" * 1000, os.path.join(odd, "long-target"))
    os.symlink("sub", os.path.join(top, "d001", "dirlink"))
    hl = os.path.join(top, "d002", "linked")
    with open(hl, "w") as f:
        f.write("three names\n")
    os.link(hl, os.path.join(top, "d003", "linked-too"))
    os.link(hl, os.path.join(odd, "linked three"))
    os.mkfifo(os.path.join(odd, "fifo"))
    os.chmod(os.path.join(odd, "with space"), 0o4755)
    os.chmod(os.path.join(odd, "-dash"), 0o600)
    if os.geteuid() == 0:
        os.chown(os.path.join(odd, "*?[x]"), 1234, 5678)
        os.chown(os.path.join(top, "d004"), 4321, 8765)
        os.lchown(os.path.join(odd, "dangling"), 2222, 3333)
    t = 981173106123456789   # 2001-02-03 04:05:06.123456789
    for p in (os.path.join(top, "big-b"), os.path.join(odd, "ünïcødé-名前"), os.path.join(odd, "dangling")):
        os.utime(p, ns=(t, t), follow_symlinks=False)
    ro = os.path.join(top, "readonly")
    os.makedirs(ro)
    with open(os.path.join(ro, "inside"), "w") as f:
        f.write("in a read-only directory\n")
    os.chmod(ro, 0o555)
    os.utime(odd, ns=(t, t))

def walk(top):
    out = {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(root, name)
            out[os.path.relpath(p, top)] = os.lstat(p)
    return out

def compare(a, b, meta_only):
    A, B = walk(a), walk(b)
    bad = []
    for rel in sorted(set(A) | set(B)):
        if rel not in B:
            bad.append("missing in copy: %r" % rel); continue
        if rel not in A:
            bad.append("extra in copy: %r" % rel); continue
        x, y = A[rel], B[rel]
        if stat.S_IFMT(x.st_mode) != stat.S_IFMT(y.st_mode):
            bad.append("%r: type %o vs %o" % (rel, x.st_mode, y.st_mode)); continue
        checks = [("owner", (x.st_uid, x.st_gid), (y.st_uid, y.st_gid))]
        if not stat.S_ISLNK(x.st_mode):
            checks.append(("mode", oct(x.st_mode), oct(y.st_mode)))
        if not stat.S_ISDIR(x.st_mode):
            checks += [("size", x.st_size, y.st_size), ("nlink", x.st_nlink, y.st_nlink)]
        checks.append(("mtime_ns", x.st_mtime_ns, y.st_mtime_ns))
        for what, u, v in checks:
            if u != v:
                bad.append("%r: %s %s vs %s" % (rel, what, u, v))
        if stat.S_ISLNK(x.st_mode) and os.readlink(os.path.join(a, rel)) != os.readlink(os.path.join(b, rel)):
            bad.append("%r: symlink target differs" % rel)
        if stat.S_ISREG(x.st_mode):
            if y.st_blocks > x.st_blocks + 64 and y.st_blocks * 512 > x.st_size // 4:
                bad.append("%r: holes filled: %d blocks vs %d" % (rel, y.st_blocks, x.st_blocks))
            if meta_only:
                continue
            with open(os.path.join(a, rel), "rb") as f, open(os.path.join(b, rel), "rb") as g:
                while True:
                    u, v = f.read(1 << 20), g.read(1 << 20)
                    if u != v:
                        bad.append("%r: content differs" % rel); break
                    if not u:
                        break
    # Hard links: names of one inode in A are names of one inode in B.
    groups = {}
    for rel, x in A.items():
        if not stat.S_ISDIR(x.st_mode) and x.st_nlink > 1:
            groups.setdefault(x.st_ino, []).append(rel)
    for names in groups.values():
        if len({B[r].st_ino for r in names if r in B}) != 1:
            bad.append("hard links %r are not one file in the copy" % names)
    for line in bad[:20]:
        print(line)
    if len(bad) > 20:
        print("... %d differences" % len(bad))
    print("compared %d entries, %d differences" % (len(A), len(bad)))
    return 0 if not bad else 1

if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    else:
        meta = sys.argv[2] == "--meta"
        sys.exit(compare(sys.argv[2 + meta], sys.argv[3 + meta], meta))
