"""The push agent: a stdlib-only program the workstation ships to each node and runs there.

It speaks framed messages on stdin/stdout (``>BI`` type + length, then the payload):
``J`` a JSON control message, ``D`` raw bytes, ``Z`` zlib, ``S`` zstd, ``E`` an error text.
It keeps an index of what the node holds, assembles each file in a temp file put in place
atomically, and with ``serve`` relays chunks to other nodes. Details: docs/push.md.

Nothing here may import anything but the standard library: it runs on the node's python3.
"""

import base64
import contextlib
import errno
import fcntl
import hashlib
import hmac
import itertools
import json
import mmap
import os
import socket
import stat
import struct
import sys
import threading
import time
import zlib

HEADER = struct.Struct(">BI")
J, D, Z, S, E, R = (ord(c) for c in "JDZSER")
REC = 20  # a chunk table record: 16-byte xxh3_128 + 4-byte big-endian length
VERSION = 2
TMP_MARK = ".wbpush-"
PIECE = 4 << 20  # hash/copy granularity: big enough for few syscalls, small enough for cache
MAPPED_PIECE = 1 << 20  # checked then written while still in the CPU's cache
CACHESTAT = 451  # syscall number (Linux >= 6.5) on these machines (not alpha, not mips)
CACHESTAT_MACHINES = ("x86_64", "i386", "i686", "aarch64", "arm64", "armv7l", "armv6l", "riscv64",
                      "ppc64le", "ppc64", "s390x", "loongarch64")
NO_KERNEL_COPY = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF, errno.EPERM)
RENAME_EXCHANGE = 2  # linux/fs.h
NO_EXCHANGE = (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)
NO_FALLOCATE = (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL)


class StreamError(Exception):
    """The data stream is unusable (closed, or the relay refused): stop this send."""


def read_exact(stream, n):
    buf = stream.read(n)
    while len(buf) < n:
        more = stream.read(n - len(buf))
        if not more:
            raise EOFError("stream closed")
        buf += more
    return buf


def read_frame(stream):
    head = stream.read(HEADER.size)
    if not head:
        return None, b""
    if len(head) < HEADER.size:
        head += read_exact(stream, HEADER.size - len(head))
    kind, size = HEADER.unpack(head)
    return kind, read_exact(stream, size) if size else b""


def frame(kind: int, payload: bytes) -> bytes:  # annotated: push/session.py calls it under mypy --strict
    return HEADER.pack(kind, len(payload)) + payload


def split(table):
    """(records, lengths) of a chunk table; a record (hash + length) names a chunk."""
    count = len(table) // REC
    recs = [table[i : i + REC] for i in range(0, count * REC, REC)]
    return recs, struct.unpack_from(">" + "16xI" * count, table) if count else ()


def boot_id():
    """This boot's id (Linux), or None: entries written in another boot may have lost data."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip() or None
    except OSError:
        return None


def file_crc(fd, size, buf):
    crc, done = 0, 0
    while done < size:
        k = os.preadv(fd, [buf], done)
        if k == 0:
            break
        crc, done = zlib.crc32(buf[:k], crc), done + k
    return crc if done == size else None


def identity(st):
    return {"s": st.st_size, "m": st.st_mtime_ns, "t": st.st_ctime_ns, "i": st.st_ino}


class Index:
    """What this node holds: {path: entry}, journalled as JSON lines, compacted when it grows.

    An entry is trusted while its file's stat identity is unchanged. A file put in place is
    not on disk yet (preallocated and renamed, its data waits for the kernel's writeback), so
    a power loss can leave the right name, size and identity over zeros. Each entry therefore
    carries this boot's id (``b``), the file's CRC-32 (``k``) and when it was written (``w``);
    once its data is known to be on disk it gets ``f``. After a reboot, an entry without
    ``f`` is a suspect: ``confirm`` checks its CRC once and drops it if the bytes are wrong.
    """

    def __init__(self, path, durable):
        self.path, self.durable = path, durable
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.lock = open(path + ".lock", "a")  # noqa: SIM115 (held for the session)
        deadline = time.monotonic() + 10  # an agent cut off a moment ago may still be exiting
        while True:
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("another push is running on this node") from None
                time.sleep(0.05)
        self.entries, self.lines = {}, 0
        try:
            with open(path) as f:
                for line in f:
                    self.lines += 1
                    try:
                        e = json.loads(line)
                    except ValueError:
                        continue  # a line torn by a crash
                    if e.get("x"):
                        self.entries.pop(e["p"], None)
                    else:
                        self.entries[e["p"]] = e
        except FileNotFoundError:
            pass
        self.journal = open(path, "a")  # noqa: SIM115 (held for the session)
        self.boot = boot_id()
        self.suspects = [p for p, e in self.entries.items()
                         if e.get("b") not in (None, self.boot) and not e.get("f")]

    def valid(self, path, st=None):
        """The entry for ``path`` if the file on disk is still the one indexed."""
        e = self.entries.get(path)
        if e is None:
            return None
        try:
            st = st or os.stat(path)
        except OSError:
            return None
        now = identity(st)  # entries of agent v1 lack t/i: size and mtime decide alone
        return e if all(now[k] == e[k] for k in "smti" if k in e) else None

    def record(self, path, entry):
        entry = dict(entry, p=path)
        self.entries[path] = entry
        self._append(entry)

    def confirm(self, buf):
        """Check each suspect's bytes against its CRC-32: on disk now if they match, else dropped."""
        for path in self.suspects:
            e, crc = self.valid(path), None
            if e is not None and "k" in e:
                with contextlib.suppress(OSError):
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        crc = file_crc(fd, e["s"], buf)
                    finally:
                        os.close(fd)
            if crc is not None and crc == e["k"]:
                self.record(path, dict(e, b=self.boot, f=1))
            else:
                self.forget(path)
        self.suspects = []

    def unflushed(self, older_than):
        """(path, identity) of this boot's entries not known on disk, written before ``older_than``."""
        return [(p, {k: e[k] for k in "smti"}) for p, e in list(self.entries.items())
                if self.boot is not None and e.get("b") == self.boot and not e.get("f")
                and e.get("w", 0) < older_than]

    def flushed(self, done):
        """Mark entries whose data ``flush`` saw reach the disk (if they are still those files)."""
        for path, ident in done:
            e = self.entries.get(path)
            if e is not None and not e.get("f") and all(e.get(k) == v for k, v in ident.items()):
                self.record(path, dict(e, f=1))

    def forget(self, path):
        if self.entries.pop(path, None) is not None:
            self._append({"p": path, "x": 1})

    def _append(self, entry):
        self.journal.write(json.dumps(entry) + "\n")
        self.journal.flush()
        self.lines += 1

    def sources(self):
        """record -> (path, offset) over every file still as indexed (first holder wins)."""
        found = {}
        for path in reversed(list(self.entries)):  # later updates win: the first file holds
            e = self.valid(path)
            if e is not None:
                recs, lens = split(base64.b64decode(e["c"]))
                offsets = itertools.accumulate(lens, initial=0)
                found.update(zip(recs, zip(itertools.repeat(path), offsets)))  # noqa: B905
        return found

    def close(self):
        self.journal.close()
        if self.lines <= 2 * len(self.entries) + 8:
            return  # the journal is still small: replaying it is as cheap as compacting
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            for path in list(self.entries):
                if self.valid(path) is not None:
                    f.write(json.dumps(self.entries[path]) + "\n")
            if self.durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.path)


def flush(pending):
    """fdatasync each file that is still the one indexed; the ones that made it to disk. Run
    on files written at least a minute ago, long after the kernel's writeback (30 s), so it
    is nearly free: it only makes sure, so that a reboot need not re-read them."""
    done = []
    for path, ident in pending:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            if identity(os.fstat(fd)) == ident:
                os.fdatasync(fd)
                done.append((path, ident))
        except OSError:
            pass
        finally:
            os.close(fd)
    return done


class Held:
    """Source files opened once per push: the inode stays readable across a rename over it."""

    def __init__(self):
        self.fds, self.identities, self.maps = {}, {}, {}
        self.released = {}  # path -> bytes given back below this offset (files being replaced)

    def fd(self, path, index):
        if path not in self.fds:
            fd = os.open(path, os.O_RDONLY)
            st = os.fstat(fd)
            if index.valid(path, st) is None:
                os.close(fd)
                raise ValueError(path + " changed since it was indexed")
            self.fds[path], self.identities[path] = fd, identity(st)
        return self.fds[path]

    def view(self, path):
        """The held file mapped read-only: checked and written from in one pass, no copy into
        a buffer first (a source truncated under the push would end this agent with SIGBUS,
        leaving every file old or new)."""
        if path not in self.maps:
            m = mmap.mmap(self.fds[path], 0, prot=mmap.PROT_READ)
            with contextlib.suppress(AttributeError, OSError):  # MADV_SEQUENTIAL: Python >= 3.8, Linux
                m.madvise(mmap.MADV_SEQUENTIAL)
            self.maps[path] = (m, memoryview(m))
        return self.maps[path][1]

    def replacing(self, path):
        """``path`` is the old version of the file being assembled: once copied, its pages are
        garbage (the rename unlinks it), so give them back as the copy goes, and the new file
        reuses them at once instead of doubling this file's page cache (on a VM that reports
        free memory to its host, fresh pages cost a host fault each: measured 3-6x slower
        writes). Only when none is dirty: dropping a dirty page would first write it back."""
        if path not in self.released:
            self.released[path] = 0 if dirty_pages(self.fds[path]) == 0 else None

    def release(self, path, upto):
        """Give back the pages of a file being replaced below ``upto``; how many bytes."""
        start = self.released.get(path)
        end = int(upto) // mmap.PAGESIZE * mmap.PAGESIZE
        if start is None or end <= start:
            return 0
        try:
            if path in self.maps:
                self.maps[path][0].madvise(mmap.MADV_DONTNEED, start, end - start)  # unmap first
            os.posix_fadvise(self.fds[path], start, end - start, os.POSIX_FADV_DONTNEED)
        except (OSError, ValueError):
            self.released[path] = None  # cannot: keep them
            return 0
        self.released[path] = end
        return end - start

    def unchanged(self, path):
        """Nothing wrote to the held file since it was opened. ctime is left out here: this
        push's own rename over the path unlinks the old inode, which moves its ctime."""
        now, then = identity(os.fstat(self.fds[path])), self.identities[path]
        return all(now[k] == then[k] for k in "smi")

    def close(self):
        for m, view in self.maps.values():
            with contextlib.suppress(BufferError):  # a slice still alive: the GC unmaps it
                view.release()
                m.close()
        for fd in self.fds.values():
            os.close(fd)
        self.fds, self.maps = {}, {}


class Stream:
    """The decoded data bytes of a send, taken in exact amounts across frame boundaries."""

    def __init__(self, inp, zstd):
        self.inp, self.zstd, self.rest = inp, zstd, memoryview(b"")

    def pieces(self, n):
        while n:
            if not self.rest:
                self.rest = memoryview(self.decode(*read_frame(self.inp)))
            piece, self.rest = self.rest[:n], self.rest[n:]
            n -= len(piece)
            yield piece

    def decode(self, kind, payload):
        if kind == D:
            return payload
        if kind == Z:
            return zlib.decompress(payload)
        if kind == S and self.zstd is not None:
            return self.zstd.decompress(payload)
        if kind is None:
            raise StreamError("the chunk stream ended early")
        raise StreamError("bad chunk frame: " + payload.decode(errors="replace")[:200])


def zstd_decompressor():
    """zstandard's decompressor if the node has it (not stdlib), else None. The agent runs
    with -S (no site start-up): the site-packages directories are added only for this."""
    for attempt in range(2):
        try:
            import zstandard

            return zstandard.ZstdDecompressor()
        except ImportError:
            if attempt or sys.flags.no_site == 0:
                return None
            try:
                import site

                prefixes = [sys.prefix]  # and a virtualenv's own, which only site.main() finds
                venv = os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))
                if os.path.exists(os.path.join(venv, "pyvenv.cfg")):
                    prefixes.insert(0, venv)
                for d in [*site.getsitepackages(prefixes), site.getusersitepackages()]:
                    if d not in sys.path:
                        sys.path.append(d)
            except (ImportError, AttributeError):
                return None
    return None


def release_limits(plan):
    """Append to every "old" op that reads a file this push replaces how far that file's
    pages may be given back once the op is done: up to the lowest offset any later op reads
    (a chunk repeated in a file is copied from its first place, again and again)."""
    replaced, lowest = {p[0] for p in plan}, {}
    for p in reversed(plan):
        for op in reversed(p[5]):
            if op[0] == "old" and op[1] in replaced:
                op.append(lowest.get(op[1], float("inf")))
                lowest[op[1]] = min(lowest.get(op[1], op[2]), op[2])


def plan_file(number, table, sources, fresh):
    """Coalesced ops for one file and the runs of chunk indices that must travel.

    ops: ("old", path, src_offset, n) | ("new", file number, src_offset, n) | ("recv", n, chunks)
    where chunks lists (record, offset in this file) of what arrives, for the relay.
    """
    recs, lens = split(table)
    ops, runs, offset = [], [], 0
    for i, (r, n) in enumerate(zip(recs, lens)):  # noqa: B905
        if r in fresh:
            op = ("new",) + fresh[r]
        elif r in sources:
            op = ("old",) + sources[r]
        else:
            fresh[r] = (number, offset)
            op = None
        last = ops[-1] if ops else None
        if op is None:
            if last is not None and last[0] == "recv":
                last[1] += n
                last[2].append((r, offset))
                runs[-1][1] += 1
            else:
                ops.append(["recv", n, [(r, offset)]])
                runs.append([i, 1])
        elif last is not None and last[0] == op[0] and last[1] == op[1] and last[2] + last[3] == op[2]:
            last[3] += n
        else:
            ops.append([op[0], op[1], op[2], n])
        offset += n
    return ops, runs


class Delta:
    """push.verify = delta: the bytes that travelled are proven, either by SSH (they came on
    the agent's stdin: the channel is authenticated end to end) or, relayed over TCP, by the
    sha256 of each run against digests the workstation sent over SSH; the bytes copied from
    this node's own files are trusted because each source is still, by inode, size, mtime
    and ctime, the very file this agent wrote and proved; the size must match."""

    whole = None

    def __init__(self, size, digests, agent):
        self.size, self.agent = size, agent
        self.digests = None if digests is None else iter(digests)

    def run_hasher(self):
        return None if self.digests is None else hashlib.sha256()

    def run_done(self, hasher):
        if hasher is None:
            return None
        if hasher.hexdigest() != next(self.digests, None):
            return ValueError("a run of received bytes does not match its sha256")
        return None

    def finish(self, size, sources):
        if size != self.size:
            return ValueError(f"assembled {size} bytes, expected {self.size}")
        for path in set(sources):  # unchanged while we copied from it
            if not self.agent.held.unchanged(path):
                return ValueError(path + " changed while it was copied")
        return None


class Crc:
    """zlib.crc32 of a byte stream, fed in order (releases the GIL, several GB/s)."""

    def __init__(self):
        self.value = 0

    def update(self, data):
        self.value = zlib.crc32(data, self.value)


class Full(Delta):
    """push.verify = full: everything delta checks, plus a CRC-32 of every byte written, in
    order, from the very bytes written, against the workstation's CRC-32 of the file: catches
    a wrong assembly (a bug, a stale chunk table) and a node file corrupted under an unchanged
    identity, which delta trusts. Why CRC-32 and not sha256 here: docs/push.md."""

    def __init__(self, size, crc, digests, agent):
        super().__init__(size, digests, agent)
        self.crc, self.whole = crc, Crc()

    def finish(self, size, sources):
        error = super().finish(size, sources)
        if error is None and self.whole.value != self.crc:
            return ValueError("crc32 mismatch after assembly")
        return error


class Arrivals:
    """Chunks this push brings to a relaying node, published as soon as they are written."""

    def __init__(self, plan):
        self.cond = threading.Condition()
        self.at, self.finished = {}, False
        self.coming = {r for p in plan for op in p[5] if op[0] == "recv" for r, _ in op[2]}

    def publish(self, fd, chunks):
        with self.cond:
            for r, offset in chunks:
                self.at.setdefault(r, (fd, offset))
            self.cond.notify_all()

    def finish(self):
        with self.cond:
            self.finished = True
            self.cond.notify_all()

    def wait(self, r, timeout=120):
        deadline = time.monotonic() + timeout
        with self.cond:
            while r not in self.at:
                left = deadline - time.monotonic()
                if self.finished or r not in self.coming or left <= 0:
                    return None
                self.cond.wait(left)
            return self.at[r]


class Agent:
    def __init__(self, index_path, inp, out):
        self.inp, self.out = inp, out
        self.index = Index(index_path, durable=False)
        self.zstd = zstd_decompressor()
        self.plan, self.sources, self.stale, self.crcs = [], None, set(), []
        self.early, self.early_sources = None, None
        self.held = Held()
        self.written, self.ok = {}, set()  # file number -> temp fd (kept for refs and the relay)
        self.kernel_copy = hasattr(os, "copy_file_range")
        self.replacer = Replacer()
        self.server = self.arrivals = None
        self.stats = {}
        self.timers = {}  # seconds per activity of the current send (phase timings)
        self.buffer = memoryview(bytearray(PIECE))  # reused: hashing reads sources through it
        self.index.confirm(self.buffer)  # after a reboot only: the last push's files, once
        self.mapped = True  # verify = full checks and writes old runs from a mapping
        self.fallocate = "auto"  # libc's fallocate, looked up at the first file
        self.flusher, self.flushed = None, None

    def send(self, kind, payload):
        try:
            self.out.write(frame(kind, payload))
            self.out.flush()
        except OSError:
            pass  # the workstation went away; finish what is safe and exit

    def reply(self, **msg):
        self.send(J, json.dumps(msg).encode())

    def run(self):
        # where every indexed chunk lies, worked out while the workstation still chunks
        self.early = threading.Thread(target=self.locate_early, daemon=True)
        self.early.start()
        codecs = ["zlib"] + (["zstd"] if self.zstd else [])
        self.reply(op="hello", version=VERSION, codecs=codecs, pid=os.getpid(),
                   copy="copy_file_range" if self.kernel_copy else "read/write")
        while True:
            kind, payload = read_frame(self.inp)
            if kind is None:
                break
            msg = json.loads(payload)
            getattr(self, "op_" + msg["op"])(msg)
        self.close()

    def locate_early(self):
        try:
            self.early_sources = self.index.sources()
        except (OSError, ValueError):
            self.early_sources = None
        pending = self.index.unflushed(time.time() - 60)
        if pending:  # then, off the critical path, make sure older pushes reached the disk
            flusher = threading.Thread(target=lambda: setattr(self, "flushed", flush(pending)), daemon=True)
            flusher.start()
            self.flusher = flusher  # only once started: settle() may look at any moment

    def settle(self):
        """Record what the flusher saw reach the disk: it has nothing left to write unless the
        disk is slow, so it gets two seconds; if not done by then, the next push will see."""
        if self.early is not None:  # a push with nothing to plan never joined it
            self.early.join(2)
        if self.flusher is not None:
            self.flusher.join(2)
        if self.flusher is not None and not self.flusher.is_alive() and self.flushed:
            self.index.flushed(self.flushed)
            self.flusher = self.flushed = None

    def located(self):
        """index.sources(), from the early thread when it got there (plan re-checks each
        source it uses: Held.fd refuses one changed since it was indexed)."""
        if self.early is not None:
            self.early.join()
            self.early, found = None, self.early_sources
            if found is not None:
                return found
        return self.index.sources()

    def op_quit(self, msg):
        """Close the index, say so, and exit: the kernel closes the held files afterwards
        (dropping a replaced file's last reference frees its pages, which takes a while)."""
        if self.server is not None:
            self.server.stop()
        self.settle()
        self.index.close()
        self.reply(op="bye")
        os._exit(0)

    def close(self):
        if self.server is not None:
            self.server.stop()
        self.held.close()
        for fd in self.written.values():
            os.close(fd)
        self.written = {}
        self.settle()
        self.index.close()

    # -- check: which files differ, which of ours are no longer in the build -------------
    def op_check(self, msg):
        changed, dirs, wanted = [], set(), set()
        for i, (path, size, digest) in enumerate(msg["files"]):
            path = os.path.abspath(path)
            wanted.add(path)
            dirs.add(os.path.dirname(path))
            e = self.index.valid(path)
            if e is None or e["d"] != digest or e["s"] != size:
                changed.append(i)
        for d in dirs:  # temp files of an interrupted push: the index lock says none is live
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for name in names:
                if name.startswith(".") and TMP_MARK in name and name.endswith(".tmp"):
                    os.unlink(os.path.join(d, name))
        roots = [os.path.abspath(r).rstrip("/") + "/" for r in msg.get("roots", ())]
        self.stale = {p for p in self.index.entries
                      if p not in wanted and any(p.startswith(r) for r in roots)}
        self.roots = roots
        self.reply(op="changed", files=changed, stale=sorted(self.stale))

    def op_prune(self, msg):
        """Remove files this agent put under the pushed roots that the build no longer has."""
        removed = 0
        for path in msg["paths"]:
            if path not in self.stale:
                continue  # only what check named, never anything the agent did not write
            if self.index.valid(path) is not None:
                try:
                    os.unlink(path)
                    removed += 1
                except FileNotFoundError:
                    pass
                self.remove_empty_dirs(os.path.dirname(path))
            self.index.forget(path)
        self.stale = set()
        self.reply(op="pruned", files=removed)

    def remove_empty_dirs(self, d):
        root = next((r for r in self.roots if (d + "/").startswith(r)), None)
        while root is not None and len(d) + 1 > len(root):
            try:
                os.rmdir(d)
            except OSError:
                return
            d = os.path.dirname(d)

    # -- plan: which chunks must travel ---------------------------------------------------
    def op_plan(self, msg):
        t0 = time.monotonic()
        files = [(os.path.abspath(f[0]), f[1], f[2], f[3], base64.b64decode(f[4])) for f in msg["files"]]
        self.crcs = [f[5] if len(f) > 5 else None for f in msg["files"]]
        self.sources = self.located()
        for _ in range(3):
            fresh, self.plan, wanted = {}, [], []
            for number, (path, digest, size, mode, table) in enumerate(files):
                ops, runs = plan_file(number, table, self.sources, fresh)
                self.plan.append((path, digest, size, mode, table, ops))
                wanted.append(runs)
            try:  # hold the old sources now: this push's renames must not change what we read
                for op in (o for p in self.plan for o in p[5] if o[0] == "old"):
                    self.held.fd(op[1], self.index)
                break
            except (OSError, ValueError):  # changed under us: plan without it
                self.sources = self.index.sources()
        release_limits(self.plan)
        self.reply(op="missing", files=wanted, seconds=time.monotonic() - t0)

    # -- send: assemble every planned file ------------------------------------------------
    def op_send(self, msg):
        t0 = time.monotonic()
        fsync, delta = bool(msg.get("fsync")), msg.get("verify") == "delta"
        if msg.get("copy") == "read/write":
            self.kernel_copy = self.mapped = False
        if not msg.get("preallocate", True):
            self.fallocate = None
        self.stats = {"kernel_copied": 0, "mapped": 0, "written": 0, "received": 0, "fsynced": 0, "hashed": 0,
                      "checked": 0, "exchanged": 0, "renamed": 0, "preallocated": 0, "released": 0}
        if msg.get("replace", "rename") == "rename":  # as rsync: ext4 guards replace-by-rename
            self.replacer.exchange = None
        elif self.replacer.exchange is None:
            self.replacer.exchange = "auto"
        self.timers = dict.fromkeys(("read", "check", "copy", "receive", "fsync", "replace"), 0.0)
        cpu0 = os.times()
        ok_count, dirs = 0, set()
        try:
            if msg.get("source") == "relay":
                inp = relay_reader(msg["host"], msg["port"], bytes.fromhex(msg["secret"]), self.plan)
            else:
                inp = self.inp
        except (OSError, RuntimeError, EOFError) as exc:
            self.reply(op="done", ok=False, files=0, error="relay: " + str(exc))
            self.plan = []
            return
        stream = Stream(inp, self.zstd)
        runs = msg.get("runs")
        if runs is None and inp is not self.inp:  # relayed bytes are proven by sha256 only
            runs = [[] for _ in self.plan]  # (every run then fails: the workstation must send them)
        elif runs is None:
            runs = [None for _ in self.plan]
        for number, (path, digest, size, mode, table, ops) in enumerate(self.plan):
            try:
                if delta:
                    check = Delta(size, runs[number], self)
                elif self.crcs[number] is None:
                    raise ValueError("verify = full needs the file's crc32 from the workstation")
                else:
                    check = Full(size, self.crcs[number], runs[number], self)
                self.assemble(number, path, size, mode, ops, stream, fsync, check)
                st = os.stat(path)
                entry = dict(identity(st), d=digest, c=base64.b64encode(table).decode(), k=self.crcs[number],
                             b=self.index.boot, w=time.time())
                self.index.record(path, dict(entry, f=1) if fsync else entry)
                ok_count += 1
                dirs.add(os.path.dirname(path))
                self.reply(op="file", path=path, ok=True, size=size)
            except (OSError, ValueError, RuntimeError, StreamError, EOFError) as exc:
                self.index.forget(path)
                if isinstance(exc, ValueError):  # a source that lied is no longer trusted
                    for src in {op[1] for op in ops if op[0] == "old"}:
                        e = self.index.entries.get(src)
                        if e is not None and all(e.get(k) == v for k, v in self.held.identities[src].items()):
                            self.index.forget(src)
                self.reply(op="file", path=path, ok=False, error=str(exc))
                if isinstance(exc, (StreamError, EOFError)):
                    break  # the stream is out of step: the rest cannot be read
        if fsync:
            for d in dirs:
                dfd = os.open(d, os.O_RDONLY)
                os.fsync(dfd)
                os.close(dfd)
        if self.arrivals is not None:
            self.arrivals.finish()
        if inp is not self.inp:
            inp.close()
        cpu = os.times()
        timers = {"t_" + k: round(v, 4) for k, v in self.timers.items()}
        self.reply(op="done", ok=ok_count == len(self.plan), files=ok_count,
                   stats=dict(self.stats, seconds=time.monotonic() - t0, **timers,
                              cpu_user=cpu.user - cpu0.user, cpu_sys=cpu.system - cpu0.system))
        self.plan = []

    def assemble(self, number, path, size, mode, ops, stream, fsync, check):
        """Write ``path`` from its ops into a temp file, prove it, rename it into place."""
        d = os.path.dirname(path)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, "." + os.path.basename(path) + TMP_MARK + str(os.getpid()) + ".tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.written[number] = fd  # kept open to the end: the relay may still read from it
        error, pos = None, 0
        try:
            try:
                self.preallocate(fd, size)
            except OSError as exc:  # a full disk: this file fails, its bytes are still read
                error = exc
            for op in ops:
                if op[0] == "recv":  # always consumed, even after an error: keeps the stream in step
                    live = error is None
                    hasher = check.run_hasher() if live else None
                    pos, failed = self.receive(op, stream, fd, pos, live, hasher, check.whole)
                    if live:
                        error = failed or check.run_done(hasher)
                    continue
                if error is None:
                    try:
                        self.copy(op, number, fd, pos, check.whole)
                    except (OSError, ValueError, RuntimeError) as exc:
                        error = exc
                pos += op[3]
            error = error or check.finish(pos, [op[1] for op in ops if op[0] == "old"])
            if error is not None:
                raise error
            t = time.perf_counter()
            if fsync:
                os.fsync(fd)
                self.stats["fsynced"] += 1
            t1 = time.perf_counter()
            os.fchmod(fd, mode)
            self.stats[self.replacer.put(tmp, path) + "d"] += 1
            self.timers["fsync"] += t1 - t
            self.timers["replace"] += time.perf_counter() - t1
            self.ok.add(number)
        except BaseException:
            os.unlink(tmp)
            raise

    def preallocate(self, fd, size):
        """Allocate the whole temp file first: the file gets few extents, one that can never
        fit (a file size limit) fails before anything is written, and ext4 has no delayed
        allocation left to force out when the file is renamed over the old one (auto_da_alloc),
        so the rename is instant and writeback stays in the background (see Index for power
        loss). Short of space it goes on without: copies may share blocks (XFS, btrfs)."""
        if self.fallocate == "auto":  # fallocate64: 64-bit offsets on 32-bit glibc too
            self.fallocate = libc_function("fallocate64", "iiqq")
        if self.fallocate is None or size == 0:
            return
        err = self.fallocate(fd, 0, 0, size)
        if err in NO_FALLOCATE:
            self.fallocate = None  # this filesystem cannot: write as it comes
        elif err == errno.ENOSPC:
            pass  # no room for a whole copy; where copies share blocks (XFS, btrfs) far less
            # may do: go on, and a write that fails fails this file alone, the stream in step
        elif err:
            raise OSError(err, os.strerror(err) + " (preallocating " + str(size) + " bytes)")
        else:
            self.stats["preallocated"] += 1

    def receive(self, op, stream, fd, pos, live, hasher, whole):
        """Write the next ``op[1]`` stream bytes at ``pos`` (only read when not ``live``);
        ``hasher`` (if any) proves the run, ``whole`` (full) checks the file, in order."""
        chunks, published, end, failed = op[2], 0, pos, None
        t0 = time.perf_counter()
        for piece in stream.pieces(op[1]):
            if live:
                if hasher is not None:
                    hasher.update(piece)
                    self.stats["hashed"] += len(piece)
                if whole is not None:
                    whole.update(piece)
                    self.stats["checked"] += len(piece)
                try:
                    write_all(fd, piece, end)
                except OSError as exc:  # disk full, I/O error: the rest is still read, in step
                    live, failed = False, exc
            end += len(piece)
            if self.arrivals is not None and live:
                ready = published
                while ready < len(chunks) and chunks[ready][1] + int.from_bytes(chunks[ready][0][16:], "big") <= end:
                    ready += 1
                if ready > published:
                    self.arrivals.publish(fd, chunks[published:ready])
                    published = ready
        self.stats["received"] += end - pos
        self.timers["receive"] += time.perf_counter() - t0
        return end, failed

    def copy(self, op, number, fd, pos, whole):
        """Copy one run this node already holds; with ``whole``, check its bytes in order too."""
        kind, where, offset, n = op[:4]
        if kind == "old":
            src = self.held.fd(where, self.index)
            if where == self.plan[number][0]:
                self.held.replacing(where)
            try:
                self.copy_old(src, where, offset, n, fd, pos, whole)
            finally:
                if len(op) > 4:  # release_limits: no later op reads below op[4]
                    self.stats["released"] += self.held.release(where, min(offset + n, op[4]))
            return
        if where != number and where not in self.ok:
            raise RuntimeError("a file this one shares chunks with failed")
        data = os.pread(self.written[where], n, offset)  # a chunk repeated within this push
        if len(data) != n:
            raise ValueError("a chunk written earlier in this push is missing")
        if whole is not None:
            whole.update(data)
            self.stats["checked"] += n
        write_all(fd, data, pos)
        self.stats["written"] += n

    def copy_old(self, src, where, offset, n, fd, pos, whole):
        """A run of a file this node holds: by the kernel, or checked on the way (full)."""
        if whole is None:  # nothing to check: the kernel copies the whole run
            t0 = time.perf_counter()
            if self.kernel_copy and kernel_copy(src, fd, n, offset, pos):
                self.stats["kernel_copied"] += n
                self.timers["copy"] += time.perf_counter() - t0
                return
            self.kernel_copy = False
            for done in range(0, n, PIECE):
                part = os.pread(src, min(PIECE, n - done), offset + done)
                if not part:
                    raise ValueError(where + " is shorter than indexed")
                write_all(fd, part, pos + done)
            self.stats["written"] += n
            return
        if self.mapped:
            try:
                view = self.held.view(where)
            except (OSError, ValueError):  # cannot be mapped here (FUSE direct_io): read it
                self.mapped = False
            else:
                self.copy_mapped(view, where, offset, n, fd, pos, whole)
                return
        done, buf, timers, clock = 0, self.buffer, self.timers, time.perf_counter
        while done < n:
            k = min(PIECE, n - done)
            t0 = clock()
            if os.preadv(src, [buf[:k]], offset + done) != k:
                raise ValueError(where + " is shorter than indexed")
            part = buf[:k]
            t1 = clock()
            whole.update(part)  # the bytes the kernel copies next, checked in order
            t2 = clock()
            self.stats["kernel_copied" if self.kernel_copy else "written"] += k
            if not self.kernel_copy or not kernel_copy(src, fd, k, offset + done, pos + done):
                self.kernel_copy = False
                write_all(fd, part, pos + done)
            done += k
            timers["read"] += t1 - t0
            timers["check"] += t2 - t1
            timers["copy"] += clock() - t2
        self.stats["checked"] += n

    def copy_mapped(self, view, where, offset, n, fd, pos, whole):
        """verify = full: each piece of the old run is checked and written straight from the
        source's mapping, one pass over the bytes instead of read, check, copy."""
        timers, clock = self.timers, time.perf_counter
        if offset + n > len(view):
            raise ValueError(where + " is shorter than indexed")
        for done in range(0, n, MAPPED_PIECE):
            part = view[offset + done : offset + min(n, done + MAPPED_PIECE)]
            t0 = clock()
            whole.update(part)
            t1 = clock()
            write_all(fd, part, pos + done)
            part.release()
            timers["check"] += t1 - t0
            timers["copy"] += clock() - t1
        self.stats["mapped"] += n
        self.stats["checked"] += n

    # -- relay: serve this node's chunks to the others ------------------------------------
    def op_serve(self, msg):
        sources = self.sources if self.sources is not None else self.index.sources()
        fds = {}
        for path in {p for p, _ in sources.values()}:
            try:
                fds[path] = self.held.fd(path, self.index)
            except (OSError, ValueError):
                continue
        located = {r: (fds[p], off) for r, (p, off) in sources.items() if p in fds}
        self.arrivals = Arrivals(self.plan)
        self.server = RelayServer(msg["host"], bytes.fromhex(msg["secret"]), located, self.arrivals)
        self.reply(op="serving", port=self.server.port)

    def op_stop(self, msg):
        sent = self.server.stop() if self.server is not None else 0
        self.server = None
        self.reply(op="stopped", bytes=sent)


def libc_function(name, argtypes):
    """A Linux libc call through ctypes that returns 0 or the errno, or None where there is
    none (not Linux, no ctypes, an old glibc). ``argtypes``: i int, q int64, s char *."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (ImportError, OSError, AttributeError):
        return None
    types = {"i": ctypes.c_int, "q": ctypes.c_int64, "s": ctypes.c_char_p}
    fn.argtypes = [types[t] for t in argtypes]
    fn.restype = ctypes.c_int
    return lambda *args: 0 if fn(*args) == 0 else ctypes.get_errno()


def libc_renameat2():
    """renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE), or None (glibc < 2.28 too)."""
    fn = libc_function("renameat2", "isisi")
    return None if fn is None else lambda a, b: fn(-100, a, -100, b, RENAME_EXCHANGE)


class Replacer:
    """Puts a proven temp file at its path, atomically: readers see the old file or the new.

    Where the kernel can, it swaps the two names (renameat2 RENAME_EXCHANGE) and then unlinks
    the old file, now under the temp name; else (not Linux, a filesystem without exchange, no
    file there yet) it renames over the path. Same old-or-new guarantee, but a rename over an
    existing file makes ext4 (auto_da_alloc) start writing the whole new file back at once,
    in the middle of the push; the swap leaves that to the kernel's usual writeback. What that
    means on power loss without push.fsync is in docs/push.md.
    """

    def __init__(self, exchange="auto"):
        self.exchange = exchange  # "auto": looked up at the first put (a push with nothing
        # to replace does not import ctypes)

    def put(self, tmp, path):
        """Returns "exchange" or "rename", the way it went."""
        if self.exchange == "auto":
            self.exchange = libc_renameat2()
        if self.exchange is not None:
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                st = None
            if st is not None and not stat.S_ISDIR(st.st_mode):
                err = self.exchange(os.fsencode(tmp), os.fsencode(path))
                if err == 0:
                    with contextlib.suppress(OSError):  # a crash here leaves it to the next check
                        os.unlink(tmp)  # the old file
                    return "exchange"
                if err in NO_EXCHANGE:
                    self.exchange = None  # this filesystem cannot: rename from now on
                # else (the file went away meanwhile, or anything odd): the rename decides
        os.replace(tmp, path)
        return "rename"


def dirty_pages(fd):
    """Dirty or under-writeback pages of ``fd`` in the page cache (cachestat), or None where
    the kernel cannot say (before 6.5, not Linux)."""
    global _cachestat
    if _cachestat is None and os.uname().machine not in CACHESTAT_MACHINES:
        _cachestat = False
    if _cachestat is False:
        return None
    try:
        import ctypes

        if _cachestat is None:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            _cachestat = libc.syscall
        ranges = (ctypes.c_uint64 * 2)(0, 0)  # offset 0, length 0: the whole file
        stat_ = (ctypes.c_uint64 * 5)()  # cache, dirty, writeback, evicted, recently evicted
        if _cachestat(CACHESTAT, fd, ctypes.byref(ranges), ctypes.byref(stat_), 0) != 0:
            _cachestat = False
            return None
        return stat_[1] + stat_[2]
    except (ImportError, OSError, AttributeError):
        _cachestat = False
        return None


_cachestat = None


def write_all(fd, data, pos):
    view = memoryview(data)
    while view:
        k = os.pwrite(fd, view, pos)
        view, pos = view[k:], pos + k


def kernel_copy(src, dst, n, src_offset, dst_offset):
    """Copy in the kernel; False when this filesystem pair cannot (the caller writes)."""
    while n:
        try:
            k = os.copy_file_range(src, dst, n, src_offset, dst_offset)
        except OSError as exc:
            if exc.errno in NO_KERNEL_COPY:
                return False
            raise
        if k == 0:
            raise ValueError("a local source file is shorter than indexed")
        n, src_offset, dst_offset = n - k, src_offset + k, dst_offset + k
    return True


def mac(secret, nonce, role):
    return hmac.new(secret, role + nonce, hashlib.sha256).digest()


def relay_reader(host, port, secret, plan):
    sock = socket.create_connection((host, port), timeout=120)
    f = sock.makefile("rwb")
    sock.close()  # the file object keeps the socket open
    nonce = read_exact(f, 32)
    f.write(mac(secret, nonce, b"client"))
    f.flush()
    if not hmac.compare_digest(read_exact(f, 32), mac(secret, nonce, b"server")):
        raise RuntimeError("the relay failed the challenge")
    f.write(frame(R, b"".join(r for p in plan for op in p[5] if op[0] == "recv" for r, _ in op[2])))
    f.flush()
    return f


class RelayServer:
    """Serves chunks by record to nodes that answer the HMAC challenge; one thread each."""

    def __init__(self, host, secret, located, arrivals):
        self.secret, self.located, self.arrivals, self.sent = secret, located, arrivals, 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        sent = 0
        try:
            conn.settimeout(120)
            f = conn.makefile("rwb")
            nonce = os.urandom(32)
            f.write(nonce)
            f.flush()
            if not hmac.compare_digest(read_exact(f, 32), mac(self.secret, nonce, b"client")):
                return
            f.write(mac(self.secret, nonce, b"server"))
            f.flush()
            kind, wanted = read_frame(f)
            run = None  # [fd, offset, length]: adjacent chunks leave in one read
            for i in range(0, len(wanted) if kind == R else 0, REC):
                r = wanted[i : i + REC]
                n = int.from_bytes(r[16:], "big")
                where = self.located.get(r)
                if where is None:
                    if run is not None:  # keep the pipe moving while we wait
                        sent += self.ship(f, run)
                        run = None
                        f.flush()
                    where = self.arrivals.wait(r)
                if where is None:
                    f.write(frame(E, b"chunk not on the relay"))
                    break
                if run is not None and run[0] == where[0] and run[1] + run[2] == where[1] and run[2] < (1 << 20):
                    run[2] += n
                    continue
                if run is not None:
                    sent += self.ship(f, run)
                run = [where[0], where[1], n]
            if run is not None:
                sent += self.ship(f, run)
            f.flush()
        except (OSError, ValueError, EOFError):
            pass
        finally:
            with self.lock:
                self.sent += sent
            conn.close()

    def ship(self, f, run):
        data = os.pread(run[0], run[2], run[1])
        f.write(frame(D, data))
        return len(data)

    def stop(self):
        self.sock.close()
        return self.sent


def main(argv):
    if len(argv) != 3 or argv[1] != "serve":
        sys.stderr.write("usage: agent.py serve INDEX_PATH\n")
        return 2
    try:
        agent = Agent(argv[2], sys.stdin.buffer, sys.stdout.buffer)
    except RuntimeError as exc:
        sys.stdout.buffer.write(frame(E, str(exc).encode()))
        sys.stdout.buffer.flush()
        return 1
    agent.run()  # the index is closed: skip the interpreter's teardown, the push waits on it
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
