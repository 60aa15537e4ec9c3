#!/usr/bin/python3
"""fs-random-ops: a seeded random workload on a mounted file system, for
the fidelity soak (tests/fidelity-random.sh), and the listing the
fidelity oracle judges events against.

    fs-random-ops.py run --seed S --ops N --root MNT --gone FILE DIR
    fs-random-ops.py list DIR

run: N random operations in DIR (made; under the file system mounted at
MNT): create, write at random offsets (small, large, far past the end),
append, truncate up and down, fallocate (plain, keep-size, punch hole,
zero range, collapse and insert range), rename (files and directories,
across directories, over an existing name, RENAME_EXCHANGE and
RENAME_NOREPLACE), link (also of an O_TMPFILE), unlink (also of files
held open and written after), mkdir, rmdir, symlink (inline and block
targets), mkfifo, chmod, chown, utime (nanoseconds, before 1970, past
2038), setxattr, interleaved with fsync, fdatasync, syncfs, sync and
short sleeps, so that journal commits and writeback fall in different
orders.  Names have odd bytes: spaces, UTF-8, bytes that are not UTF-8,
'%', '+', '#', control characters.  The same seed makes the same
operations on the same file system.  Each operation is printed, and
the paths that were made and are gone at the end are written to FILE
(escaped as events escape them, from the root of the file system: the
oracle's wl_gone patterns).

list: every path under DIR (from DIR) with its inode, type and access,
modification and change times, one per line, tab-separated, the path
escaped as events escape paths (docs/events.md): what fidelity-lib.sh's
snapshots are, for any name a guest may make.
"""

import argparse
import ctypes
import errno
import os
import random
import stat
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
libc.linkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                        ctypes.c_char_p, ctypes.c_int]
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint]
AT_FDCWD, AT_SYMLINK_FOLLOW = -100, 0x400
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
FALLOC_KEEP_SIZE, FALLOC_PUNCH_HOLE = 0x01, 0x02
FALLOC_COLLAPSE_RANGE, FALLOC_ZERO_RANGE, FALLOC_INSERT_RANGE = 0x08, 0x10, 0x20
BLOCK = 4096


def escape(name):
    """A path's bytes as events write them: '%', control characters and
    every byte that is not part of valid UTF-8 as %XX (Python's strict
    decoder refuses what docs/events.md says is not valid, each such
    byte on its own with surrogateescape)."""
    out = []
    for ch in name.decode("utf-8", "surrogateescape"):
        c = ord(ch)
        if 0xDC80 <= c <= 0xDCFF:
            out.append("%%%02X" % (c - 0xDC00))
        elif ch == "%" or c < 0x20 or c == 0x7F:
            out.append("%%%02X" % c)
        else:
            out.append(ch)
    return "".join(out)


def listing(top):
    """The lines of `list`: like find -printf '/%P\\t%i\\t%y\\t%A@\\t%T@\\t%C@'
    with escaped paths (only equality of times matters)."""
    types = {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l",
             stat.S_IFIFO: "p", stat.S_IFSOCK: "s", stat.S_IFCHR: "c",
             stat.S_IFBLK: "b"}
    top = os.fsencode(top)
    lines = []

    def add(rel, st):
        lines.append("/%s\t%d\t%s\t%d\t%d\t%d" % (
            escape(rel), st.st_ino, types.get(stat.S_IFMT(st.st_mode), "U"),
            st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns))

    add(b"", os.lstat(top))
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(d, n)
            add(os.path.relpath(p, top), os.lstat(p))
    lines.sort()
    for line in lines:
        print(line)


# Pieces of names: plain, and the bytes that paths must survive.  No
# '*', '?', '[' or '\\': the oracle's wl_gone patterns are globs.
PIECES = [b"a", b"file", b"data", b"x", b"log", b"tmp", b"dir", b"0", b"17",
          b" ", b"two words", b".hidden", b"-", b"_", b"~", b".",
          "é".encode(), "résumé".encode(), "日本語".encode(), "\U0001F600".encode(),
          b"\xe9", b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82",
          b"%", b"%25", b"+", b"#", b"\n", b"\t", b"\x01", b"\x7f", b"=", b"@"]


class Workload:
    def __init__(self, seed, top, root_rel):
        self.r = random.Random(seed)
        self.top = top                # the workload's directory (bytes)
        self.root_rel = root_rel      # it, from the file system's root
        # What is there, as the file system says: relative path -> type
        # ('f' file, 'd' directory, 'l' symlink, 'p' fifo).
        self.tree = {b"": "d"}
        # Who is where: path -> an identity (an inode: hard links share
        # it), and every (directory identity, name) each identity had.
        self.ids = {b"": 0}
        self.where = {0: set()}
        self.held = []                # open descriptors: (fd, path or None)
        self.serial = 0

    # ---- the model -------------------------------------------------------

    def put(self, p, kind, ident=None):
        if ident is None:
            ident = len(self.where)
            self.where[ident] = set()
        self.tree[p] = kind
        self.ids[p] = ident
        self.where[ident].add((self.ids[os.path.dirname(p)], os.path.basename(p)))

    def below(self, p):
        return [q for q in self.tree if q == p or q.startswith(p + b"/")]

    def move(self, old, new):
        moved = {new + q[len(old):]: (self.tree.pop(q), self.ids.pop(q))
                 for q in self.below(old)}
        for q, (k, i) in moved.items():
            self.put(q, k, i)

    def drop(self, p):
        for q in self.below(p):
            del self.tree[q]
            del self.ids[q]

    def of(self, *kinds):
        return sorted(p for p, k in self.tree.items() if k in kinds and p)

    def pick(self, *kinds):
        c = self.of(*kinds)
        return self.r.choice(c) if c else None

    def dirs(self):
        return sorted(p for p, k in self.tree.items() if k == "d")

    def abs(self, p):
        return os.path.join(self.top, p) if p else self.top

    # ---- choices ---------------------------------------------------------

    def name(self):
        r = self.r
        self.serial += 1
        n = b"".join(r.choice(PIECES) for _ in range(r.randint(1, 4)))
        n = n + b"%d" % self.serial    # unique, and never '.' or '..'
        if r.random() < 0.03:         # long names, up to the limit
            n = (n * (255 // len(n) + 1))[:r.randint(100, 255)]
        return n

    def new_path(self):
        d = self.r.choice(self.dirs())
        return os.path.join(d, self.name()) if d else self.name()

    def size(self):
        r = self.r.random()
        if r < 0.4:
            return self.r.randint(0, 300)
        if r < 0.8:
            return self.r.randint(1, 3 * BLOCK + 7)
        return self.r.randint(1, 1 << 20)

    def offset(self):
        r = self.r.random()
        if r < 0.5:
            return self.r.randint(0, 64 << 10)
        if r < 0.85:
            return self.r.randint(0, 2 << 20)
        return self.r.randint(0, 64 << 20)  # sparse, far out

    def data(self, n):
        return self.r.randbytes(n) if self.r.random() < 0.5 else \
            (b"%d " % self.serial) * (n // 4) + b"z" * (n % 4)

    # ---- operations --------------------------------------------------------

    def op_create(self):
        p = self.new_path()
        fd = os.open(self.abs(p), os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                     self.r.choice([0o644, 0o600, 0o755, 0o4755, 0o1777, 0]))
        self.put(p, "f")
        os.write(fd, self.data(self.size()))
        self.keep_or_close(fd, p)
        return p

    def op_mkdir(self):
        p = self.new_path()
        os.mkdir(self.abs(p), self.r.choice([0o755, 0o700, 0o2775]))
        self.put(p, "d")
        return p

    def op_write(self):
        """At a random offset, or appended."""
        p = self.pick("f")
        if p is None:
            return None
        if self.r.random() < 0.3:
            fd = os.open(self.abs(p), os.O_WRONLY | os.O_APPEND)
            os.write(fd, self.data(self.r.randint(1, 2 * BLOCK)))
        else:
            fd = os.open(self.abs(p), os.O_WRONLY)
            os.pwrite(fd, self.data(self.size()), self.offset())
        self.keep_or_close(fd, p)
        return p

    def op_truncate(self):
        p = self.pick("f")
        if p is None:
            return None
        now = os.lstat(self.abs(p)).st_size
        n = self.r.choice([0, now // 2, max(now - 1, 0), now + 1, self.offset(),
                           now + self.r.randint(1, 3 * BLOCK)])
        os.truncate(self.abs(p), n)
        return "%s to %d" % (escape(p), n)

    def op_fallocate(self):
        p = self.pick("f")
        if p is None:
            return None
        mode = self.r.choice([0, FALLOC_KEEP_SIZE,
                              FALLOC_PUNCH_HOLE | FALLOC_KEEP_SIZE,
                              FALLOC_ZERO_RANGE, FALLOC_ZERO_RANGE | FALLOC_KEEP_SIZE,
                              FALLOC_COLLAPSE_RANGE, FALLOC_INSERT_RANGE])
        off, n = self.offset(), self.r.randint(1, 1 << 20)
        if mode in (FALLOC_COLLAPSE_RANGE, FALLOC_INSERT_RANGE):
            off, n = off // BLOCK * BLOCK, max(n // BLOCK, 1) * BLOCK
        fd = os.open(self.abs(p), os.O_WRONLY)
        rc = libc.fallocate(fd, mode, off, n)
        e = ctypes.get_errno()
        os.close(fd)
        # Ranges past the end, or the kernel without a mode: no change.
        if rc != 0 and e not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSPC):
            raise OSError(e, os.strerror(e))
        return "%s mode %#x %d+%d%s" % (escape(p), mode, off, n, "" if rc == 0 else " (refused)")

    def op_rename(self):
        old = self.pick("f", "d", "l", "p")
        if old is None:
            return None
        if self.r.random() < 0.35:
            new = self.pick("f", "d", "l", "p")     # over an existing name
        else:
            new = self.new_path()
        if new is None or new == old or new.startswith(old + b"/") or \
           old.startswith(new + b"/"):
            return None
        flags = self.r.choice([0, 0, 0, RENAME_EXCHANGE, RENAME_NOREPLACE])
        same = new in self.tree and \
            os.lstat(self.abs(old)).st_ino == os.lstat(self.abs(new)).st_ino
        if flags == RENAME_EXCHANGE and new not in self.tree:
            flags = 0
        if libc.renameat2(AT_FDCWD, self.abs(old), AT_FDCWD, self.abs(new), flags) != 0:
            e = ctypes.get_errno()
            # Over a directory that is not empty, a directory over a
            # file and so on: the kernel says no; nothing changed.
            if e in (errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR, errno.EEXIST):
                return None
            raise OSError(e, os.strerror(e))
        if flags == RENAME_EXCHANGE:
            a = {q[len(old):]: (self.tree.pop(q), self.ids.pop(q)) for q in self.below(old)}
            b = {q[len(new):]: (self.tree.pop(q), self.ids.pop(q)) for q in self.below(new)}
            for rest, (k, i) in a.items():
                self.put(new + rest, k, i)
            for rest, (k, i) in b.items():
                self.put(old + rest, k, i)
        elif same:
            pass                      # two names of one inode: rename does nothing
        else:
            if new in self.tree:
                self.drop(new)
            self.move(old, new)
        return "%s -> %s flags %d" % (escape(old), escape(new), flags)

    def op_link(self):
        p = self.pick("f", "l", "p")
        if p is None:
            return None
        new = self.new_path()
        os.link(self.abs(p), self.abs(new), follow_symlinks=False)
        self.put(new, self.tree[p], self.ids[p])
        return "%s -> %s" % (escape(p), escape(new))

    def op_tmpfile(self):
        d = self.r.choice(self.dirs())
        fd = os.open(self.abs(d), os.O_TMPFILE | os.O_WRONLY, 0o640)
        os.write(fd, self.data(self.size()))
        if self.r.random() < 0.3:
            os.fsync(fd)
        new = self.new_path()
        # os.link calls link(2), which links the magic symlink itself
        # (EXDEV): linkat with AT_SYMLINK_FOLLOW links the open file.
        if libc.linkat(AT_FDCWD, b"/proc/self/fd/%d" % fd, AT_FDCWD,
                       self.abs(new), AT_SYMLINK_FOLLOW) != 0:
            e = ctypes.get_errno()
            os.close(fd)
            raise OSError(e, os.strerror(e))
        self.put(new, "f")
        self.keep_or_close(fd, new)
        return new

    def op_unlink(self):
        p = self.pick("f", "l", "p")
        if p is None:
            return None
        os.unlink(self.abs(p))
        self.drop(p)
        return p

    def op_rmdir(self):
        empty = [d for d in self.of("d") if len(self.below(d)) == 1]
        if not empty:
            return None
        p = self.r.choice(empty)
        os.rmdir(self.abs(p))
        self.drop(p)
        return p

    def op_symlink(self):
        p = self.new_path()
        if self.r.random() < 0.5:
            target = self.r.choice(self.of("f", "d") or [b"nowhere"])
        else:                         # past the inode's 60 bytes: a block
            target = b"/".join(self.name() for _ in range(self.r.randint(2, 40)))[:4000]
        os.symlink(target, self.abs(p))
        self.put(p, "l")
        return p

    def op_mkfifo(self):
        p = self.new_path()
        os.mkfifo(self.abs(p), 0o620)
        self.put(p, "p")
        return p

    def op_chmod(self):
        p = self.pick("f", "d", "p")
        if p is None:
            return None
        m = self.r.choice([0o644, 0o600, 0o755, 0o4755, 0o2755, 0o1777, 0o000, 0o777,
                           self.r.randint(0, 0o7777)])
        os.chmod(self.abs(p), m)
        return "%s %o" % (escape(p), m)

    def op_chown(self):
        p = self.pick("f", "d", "l", "p")
        if p is None:
            return None
        ids = [0, 1, 1000, 65534, 65535, 65536, 70000, 1 << 31, (1 << 32) - 2]
        u, g = self.r.choice(ids), self.r.choice(ids)
        os.chown(self.abs(p), u, g, follow_symlinks=False)
        return "%s %d:%d" % (escape(p), u, g)

    def op_utime(self):
        p = self.pick("f", "d", "l", "p")
        if p is None:
            return None

        def t():
            s = self.r.choice([0, 1, -1, 981173106, 1700000000, (1 << 31) - 1, 1 << 31,
                               4000000000, 16000000000, -(1 << 31), self.r.randint(-2 ** 33, 2 ** 34)])
            return s * 1000000000 + self.r.randint(0, 999999999)
        ns = (t(), t())
        os.utime(self.abs(p), ns=ns, follow_symlinks=False)
        return "%s %d %d" % (escape(p), ns[0], ns[1])

    def op_xattr(self):
        p = self.pick("f", "d")
        if p is None:
            return None
        name = "user.k%d" % self.r.randint(0, 5)
        if self.r.random() < 0.25:
            try:
                os.removexattr(self.abs(p), name)
            except OSError as e:
                if e.errno != errno.ENODATA:
                    raise
            return "%s -%s" % (escape(p), name)
        # Small ones fit in the inode; larger go to a block of their own.
        v = self.data(self.r.choice([5, 40, 300, 1500, 3000]))
        try:
            os.setxattr(self.abs(p), name, v)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        return "%s %s %d" % (escape(p), name, len(v))

    def op_held(self):
        """A file held open: unlinked and written through the descriptor
        (an orphan), or closed."""
        if not self.held:
            return None
        i = self.r.randrange(len(self.held))
        fd, p = self.held[i]
        what = self.r.choice(["close", "write", "unlink"])
        if what == "unlink" and p is not None and self.tree.get(p) == "f":
            os.unlink(self.abs(p))
            self.drop(p)
            self.held[i] = (fd, None)
        elif what == "write":
            os.pwrite(fd, self.data(self.size()), self.offset())
        else:
            os.close(fd)
            del self.held[i]
        return "%s %s" % (what, escape(p) if p else "(no name)")

    def op_sync(self):
        how = self.r.choice(["fsync", "fdatasync", "syncfs", "sync", "sleep", "sleep"])
        if how in ("fsync", "fdatasync"):
            p = self.pick("f", "d")
            if p is None:
                return None
            fd = os.open(self.abs(p), os.O_RDONLY)
            (os.fsync if how == "fsync" else os.fdatasync)(fd)
            os.close(fd)
            return "%s %s" % (how, escape(p))
        if how == "syncfs":
            fd = os.open(self.top, os.O_RDONLY)
            libc.syncfs(fd)
            os.close(fd)
        elif how == "sync":
            os.sync()
        else:
            time.sleep(self.r.choice([0.001, 0.01, 0.05, 0.2]))
        return how

    def keep_or_close(self, fd, p):
        if len(self.held) < 4 and self.r.random() < 0.1:
            self.held.append((fd, p))
        else:
            os.close(fd)

    OPS = [("create", 14), ("mkdir", 5), ("write", 20),
           ("truncate", 6), ("fallocate", 5), ("rename", 10), ("link", 4),
           ("tmpfile", 1), ("unlink", 6), ("rmdir", 3), ("symlink", 3),
           ("mkfifo", 1), ("chmod", 3), ("chown", 3), ("utime", 3),
           ("xattr", 2), ("held", 3), ("sync", 8)]

    def run(self, n):
        names = [o for o, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        os.mkdir(self.top)
        for i in range(n):
            op = self.r.choices(names, weights)[0]
            try:
                what = getattr(self, "op_" + op)()
            except OSError as e:
                # ENOSPC and the like: said, and the workload goes on
                # (the model follows only what succeeded).
                what = "failed: %s" % e
            if what is not None:
                if isinstance(what, bytes):
                    what = escape(what)
                print("%d %s %s" % (i, op, what), flush=True)
        for fd, _ in self.held:
            os.close(fd)
        self.held = []

    def paths(self, ident, memo, busy):
        """Every path identity ident may have had in an order of events
        that replays the run: any name it had, below any path its
        directory had then or at another time.  Within one journal
        transaction the order of renames is not on the disk (mv d/f
        d/s/f; mv d e and mv d e; mv e/f e/s/f look the same), and the
        events may take either: e/f and d/s/f are both names of the run.
        Returns them and whether a directory on the way was left out
        (below itself, moved there later: busy); only whole answers are
        kept in memo."""
        if ident == 0:
            return {b""}, False
        if ident in memo:
            return memo[ident], False
        busy.add(ident)
        out, partial = set(), False
        for parent, name in self.where[ident]:
            if parent in busy:
                partial = True
                continue
            above, cut = self.paths(parent, memo, busy)
            partial |= cut
            for q in above:
                out.add(q + b"/" + name if q else name)
        busy.discard(ident)
        if not partial:
            memo[ident] = out
        return out, partial

    def gone(self):
        """The paths made during the run (or that an order of its events
        may give) that are not there at the end."""
        prefix = self.root_rel.rstrip(b"/") + b"/"
        memo = {}
        ever = set()
        for ident in self.where:
            ever |= self.paths(ident, memo, set())[0]
        return sorted("/" + escape(prefix + p) for p in ever - set(self.tree))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--seed", type=int, required=True)
    r.add_argument("--ops", type=int, default=300)
    r.add_argument("--root", required=True, help="where the file system is mounted")
    r.add_argument("--gone", required=True, help="where the gone paths go")
    r.add_argument("dir")
    l = sub.add_parser("list")
    l.add_argument("dir")
    a = ap.parse_args()
    if a.cmd == "list":
        listing(a.dir)
        return 0
    top = os.path.abspath(os.fsencode(a.dir))
    w = Workload(a.seed, top, os.path.relpath(top, os.fsencode(os.path.abspath(a.root))))
    w.run(a.ops)
    with open(a.gone, "a") as f:
        for g in w.gone():
            f.write(g + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
