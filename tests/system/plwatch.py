# plwatch.py: a long-lived process for preload.sh's cache coherence checks.
# It runs under the preload library (its calls on the mount go over RPC, and
# libbenchfs caches what they learn) and answers one request a line on stdin:
#   stat PATH   "MODE INO SIZE NLINK" (octal permission bits) or the errno name
#   read PATH   the file's first line, or the errno name
#   fd PATH     where an open of PATH points (/dev/null: over RPC)
#   hold PATH   opens PATH and keeps it (one at a time): its first line
#   again -     the held file's first line, read anew at offset 0
import errno
import os
import sys

held = None


def first_line(fd):
    return os.pread(fd, 4096, 0).decode().split("\n")[0] or "(empty)"


for line in sys.stdin:
    cmd, _, path = line.rstrip("\n").partition(" ")
    try:
        if cmd == "stat":
            st = os.stat(path)
            out = "%o %d %d %d" % (st.st_mode & 0o7777, st.st_ino, st.st_size, st.st_nlink)
        elif cmd == "read":
            with open(path) as f:
                out = f.readline().rstrip("\n") or "(empty)"
        elif cmd == "fd":
            fd = os.open(path, os.O_RDONLY)
            out = os.readlink("/proc/self/fd/%d" % fd)
            os.close(fd)
        elif cmd == "hold":
            if held is not None:
                os.close(held)
            held = os.open(path, os.O_RDONLY)
            out = first_line(held)
        elif cmd == "again":
            out = first_line(held)
        else:
            out = "BADCMD"
    except OSError as e:
        out = errno.errorcode.get(e.errno, str(e.errno))
    print(out, flush=True)
