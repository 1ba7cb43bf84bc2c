#!/usr/bin/env python3
"""A deterministic workload for the state dir tests (tests/integration.py): every
file operation ksight captures, a sqlite database committing transactions, a
single 3 MiB write, hundreds of pwrites at random offsets, a sparse extension,
hard links and symlinks, moves across the state dir's border.

  statedir_workload.py setup ROOT            files present before recording
  statedir_workload.py mix ROOT OUT SNAP STAMP
        phase 1, then a copy of ROOT into SNAP (cp -a) and the time after it into
        STAMP (Unix seconds), a pause, then phase 2
  statedir_workload.py kill ROOT READY       sqlite mid-transaction, then READY
                                             is created and it waits to be killed
  statedir_workload.py plain ROOT OUT        phase 1 and 2 without the pause
"""
import ctypes
import mmap
import os
import random
import sqlite3
import subprocess
import sys
import time

R = random.Random(20250131)
libc = ctypes.CDLL(None, use_errno=True)
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2
RENAME_EXCHANGE = 2


def fallocate(fd, mode, off, length):
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    if libc.fallocate(fd, mode, off, length) != 0:
        raise OSError(ctypes.get_errno(), "fallocate")


def renameat2(old, new, flags):
    libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                               ctypes.c_uint]
    AT_FDCWD = -100
    if libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), flags) != 0:
        raise OSError(ctypes.get_errno(), "renameat2")


def write_file(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.close(fd)


def setup(root):
    os.makedirs(os.path.join(root, "pre/deep"), exist_ok=True)
    write_file(os.path.join(root, "pre/one.txt"), b"present before recording\n")
    write_file(os.path.join(root, "pre/deep/blob.bin"), R.randbytes(1 << 20))
    write_file(os.path.join(root, "pre/readonly.txt"), b"read only\n", 0o400)
    os.chmod(os.path.join(root, "pre/readonly.txt"), 0o400)
    write_file(os.path.join(root, "pre/empty"), b"")
    write_file(os.path.join(root, "pre/doomed.txt"), b"will be removed\n")
    os.link(os.path.join(root, "pre/one.txt"), os.path.join(root, "pre/one.hardlink"))
    os.symlink("deep/blob.bin", os.path.join(root, "pre/blob.link"))
    os.makedirs(os.path.join(root, "pre/private"), exist_ok=True)
    os.chmod(os.path.join(root, "pre/private"), 0o700)
    write_file(os.path.join(root, "pre/sparse.pre"), b"x")
    os.truncate(os.path.join(root, "pre/sparse.pre"), 8 << 20)


def sqlite_work(root, transactions):
    db = sqlite3.connect(os.path.join(root, "db.sqlite"), isolation_level=None)
    db.execute("create table if not exists t(id integer primary key, v blob, n integer)")
    for i in range(transactions):
        db.execute("begin")
        db.execute("insert into t(v, n) values (?, ?)", (R.randbytes(R.randint(10, 3000)), i))
        if i % 7 == 0:
            db.execute("delete from t where id % 5 = 0")
        if i % 11 == 0:
            db.execute("update t set n = n + 1 where id % 3 = 0")
        db.execute("commit")
    db.close()


def phase1(root, out):
    j = lambda *p: os.path.join(root, *p)
    sqlite_work(root, 100)
    # one 3 MiB write(2): past what the probe carries, read back from the file
    write_file(j("big.bin"), R.randbytes(3 << 20))
    # hundreds of pwrite(2) at random offsets
    fd = os.open(j("rand.bin"), os.O_RDWR | os.O_CREAT, 0o600)
    for _ in range(300):
        os.pwrite(fd, R.randbytes(R.randint(1, 5000)), R.randint(0, 1 << 20))
    os.close(fd)
    # a sparse extension: ftruncate up, a write far past the end, truncate(2) by path
    fd = os.open(j("sparse.bin"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"head")
    os.ftruncate(fd, 50 << 20)
    os.pwrite(fd, b"tail", 100 << 20)
    os.close(fd)
    os.truncate(j("sparse.bin"), 120 << 20)
    # vectors, appends, allocation
    fd = os.open(j("vec.bin"), os.O_RDWR | os.O_CREAT, 0o644)
    os.writev(fd, [b"a" * 100, b"", b"b" * 20000, b"c" * 5])
    os.pwritev(fd, [b"x" * 10, b"y" * 70000], 12345)
    os.posix_fallocate(fd, 200000, 50000)
    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 20000, 30000)
    os.fchmod(fd, 0o664)
    os.close(fd)
    fd = os.open(j("log.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for i in range(50):
        os.write(fd, b"line %d\n" % i)
    os.close(fd)
    # links
    os.link(j("rand.bin"), j("rand.hardlink"))
    os.symlink("big.bin", j("big.link"))
    os.symlink("/etc/passwd", j("abs.link"))
    # directories, renames, removal, modes
    os.makedirs(j("a/b/c"))
    write_file(j("a/b/c/f.txt"), b"in c\n")
    os.rename(j("a/b"), j("a/bb"))
    os.unlink(j("a/bb/c/f.txt"))
    os.rmdir(j("a/bb/c"))
    os.mkdir(j("gone"))
    os.rmdir(j("gone"))
    os.unlink(j("pre/doomed.txt"))
    os.chmod(j("big.bin"), 0o640)
    write_file(j("x.txt"), b"xxxx")
    write_file(j("y.txt"), b"yy")
    renameat2(j("x.txt"), j("y.txt"), RENAME_EXCHANGE)
    write_file(j("save.tmp"), b"atomically saved\n")
    os.rename(j("save.tmp"), j("x.txt"))  # over an existing file
    # copies the kernel makes: copy_file_range, sendfile
    src = os.open(j("rand.bin"), os.O_RDONLY)
    dst = os.open(j("copy.bin"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.copy_file_range(src, dst, 200000)
    os.close(dst)
    dst = os.open(j("sent.bin"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.sendfile(dst, src, 1000, 77777)
    os.close(dst)
    os.close(src)
    # a shared writable mapping
    fd = os.open(j("mapped.bin"), os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, 65536)
    m = mmap.mmap(fd, 65536, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    m[100:200] = b"m" * 100
    m[60000:60010] = b"0123456789"
    m.flush()
    m.close()
    os.close(fd)
    # by directory fd, and relative to the working directory with ".."
    dfd = os.open(j("a"), os.O_RDONLY | os.O_DIRECTORY)
    fd = os.open("byfd.txt", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=dfd)
    os.write(fd, b"opened relative to a directory fd\n")
    os.close(fd)
    os.rename("byfd.txt", "byfd2.txt", src_dir_fd=dfd, dst_dir_fd=dfd)
    os.mkdir("sub", 0o750, dir_fd=dfd)
    os.close(dfd)
    cwd = os.getcwd()
    os.chdir(j("a/bb"))
    write_file("rel.txt", b"relative\n")
    os.rename("rel.txt", "../../rel-moved.txt")
    os.symlink("../../x.txt", "x.link")
    os.chdir(cwd)
    # across the border: out, in, and a directory in
    write_file(j("leaving.txt"), b"leaves the state dir\n")
    os.rename(j("leaving.txt"), os.path.join(out, "left.txt"))
    write_file(os.path.join(out, "arriving.txt"), b"comes in from outside\n")
    os.rename(os.path.join(out, "arriving.txt"), j("arrived.txt"))
    os.makedirs(os.path.join(out, "indir/sub"), exist_ok=True)
    write_file(os.path.join(out, "indir/sub/f"), b"inside a moved directory\n")
    os.rename(os.path.join(out, "indir"), j("indir"))
    # the read-only file, rewritten by its owner after a chmod
    os.chmod(j("pre/readonly.txt"), 0o600)
    with open(j("pre/readonly.txt"), "ab") as f:
        f.write(b"appended\n")
    os.chmod(j("pre/readonly.txt"), 0o400)


def phase2(root):
    j = lambda *p: os.path.join(root, *p)
    sqlite_work(root, 20)
    fd = os.open(j("rand.hardlink"), os.O_RDWR)
    for _ in range(50):
        os.pwrite(fd, R.randbytes(R.randint(1, 3000)), R.randint(0, 1 << 20))
    os.close(fd)
    os.unlink(j("big.link"))
    os.symlink("rand.bin", j("big.link"))
    os.truncate(j("big.bin"), 1000)
    write_file(j("pre/one.txt"), b"rewritten through one name\n")
    os.rename(j("indir"), j("a/indir"))
    os.chmod(j("a"), 0o711)


def main():
    cmd, root = sys.argv[1], sys.argv[2]
    if cmd == "setup":
        setup(root)
    elif cmd == "mix":
        out, snap, stamp = sys.argv[3:6]
        phase1(root, out)
        subprocess.run(["cp", "-a", root, snap], check=True)
        with open(stamp, "w") as f:
            f.write("%.6f\n" % time.time())
        time.sleep(0.3)
        phase2(root)
    elif cmd == "plain":
        phase1(root, sys.argv[3])
        phase2(root)
    elif cmd == "kill":
        ready = sys.argv[3]
        sqlite_work(root, 30)
        db = sqlite3.connect(os.path.join(root, "db.sqlite"), isolation_level=None)
        db.execute("pragma cache_size = 10")  # small: dirty pages spill mid-transaction
        db.execute("begin")
        for i in range(3000):
            db.execute("insert into t(v, n) values (?, ?)", (R.randbytes(500), -i))
        open(ready, "w").close()
        time.sleep(600)
    else:
        sys.exit("unknown mode " + cmd)


if __name__ == "__main__":
    main()
