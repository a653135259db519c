# plwatch.py: a long-lived process for preload.sh's cache coherence checks.
# It runs under the preload library (its calls on the mount go over RPC, and
# libbenchfs caches what they learn) and answers one request a line on stdin:
#   stat PATH   "MODE INO SIZE NLINK" (octal permission bits) or the errno name
#   read PATH   the file's first line, or the errno name
#   fd PATH     where an open of PATH points (/dev/null: over RPC)
import errno
import os
import sys

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
        else:
            out = "BADCMD"
    except OSError as e:
        out = errno.errorcode.get(e.errno, str(e.errno))
    print(out, flush=True)
