"""The push agent: a stdlib-only program the workstation ships to each node and runs there.

It speaks framed messages on stdin/stdout (``>BI`` type + length, then the payload):
``J`` a JSON control message, ``D`` raw chunk bytes, ``Z`` zlib, ``S`` zstd (only when the
node can decompress it), ``E`` an error text. It keeps an index of what the node holds
(per file: size, mtime, sha256, chunk table as computed by the workstation) in one JSON-lines
file, trusted only while a file's size and mtime are unchanged, so a push never re-reads the
node's disk to learn what is there. The node cannot compute xxh3, so it stores chunk hashes
as reported and proves each assembled file with sha256 (stdlib, SHA-NI/ARMv8 accelerated,
FIPS-approved). Files are assembled in a temporary file, checked, fsynced and renamed, so a
file is always old or new. With ``serve`` it hands chunks to other nodes over TCP after an
HMAC challenge with the push's one-time secret (the relay).

Nothing here may import anything but the standard library: it runs on the node's python3.
"""

import base64
import fcntl
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import threading
import time
import zlib

HEADER = struct.Struct(">BI")
J, D, Z, S, E, R = (ord(c) for c in "JDZSER")
REC = 20  # a chunk table record: 16-byte xxh3_128 + 4-byte big-endian length
VERSION = 1
TMP_MARK = ".wbpush-"


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


def frame(kind, payload):
    return HEADER.pack(kind, len(payload)) + payload


def records(table):
    for i in range(0, len(table), REC):
        yield table[i : i + 16], int.from_bytes(table[i + 16 : i + REC], "big")


def zstd_decompressor():
    try:
        import zstandard  # not stdlib: used only when the node happens to have it

        return zstandard.ZstdDecompressor()
    except ImportError:
        return None


class Index:
    """What this node holds: {path: entry}, journalled as JSON lines, compacted at exit."""

    def __init__(self, path):
        self.path = path
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
        self.entries = {}
        try:
            with open(path) as f:
                for line in f:
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

    def valid(self, path):
        e = self.entries.get(path)
        if e is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        return e if st.st_size == e["s"] and st.st_mtime_ns == e["m"] else None

    def record(self, path, entry):
        entry = dict(entry, p=path)
        self.entries[path] = entry
        self.journal.write(json.dumps(entry) + "\n")
        self.journal.flush()

    def forget(self, path):
        if self.entries.pop(path, None) is not None:
            self.journal.write(json.dumps({"p": path, "x": 1}) + "\n")
            self.journal.flush()

    def chunk_sources(self):
        """hash -> (path, offset, length) over every file still as indexed."""
        found = {}
        for path in list(self.entries):
            e = self.valid(path)
            if e is None:
                continue
            offset = 0
            for h, n in records(base64.b64decode(e["c"])):
                found.setdefault(h, (path, offset, n))
                offset += n
        return found

    def compact(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            for path in list(self.entries):
                if self.valid(path) is not None:
                    f.write(json.dumps(self.entries[path]) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


class Agent:
    def __init__(self, index_path, inp, out):
        self.inp, self.out = inp, out
        self.index = Index(index_path)
        self.zstd = zstd_decompressor()
        self.plan = []  # [(path, digest, size, mode, table, ops)] of the current push
        self.fds = {}
        self.server = None

    def send(self, kind, payload):
        try:
            self.out.write(frame(kind, payload))
            self.out.flush()
        except OSError:
            pass  # the workstation went away; finish what is safe and exit

    def reply(self, **msg):
        self.send(J, json.dumps(msg).encode())

    def run(self):
        codecs = ["zlib"] + (["zstd"] if self.zstd else [])
        self.reply(op="hello", version=VERSION, codecs=codecs, pid=os.getpid())
        while True:
            kind, payload = read_frame(self.inp)
            if kind is None:
                break
            msg = json.loads(payload)
            getattr(self, "op_" + msg["op"])(msg)
        self.close()

    def close(self):
        if self.server is not None:
            self.server.stop()
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        self.index.compact()

    # -- check: which files differ --------------------------------------------------------
    def op_check(self, msg):
        changed = []
        dirs = set()
        for i, (path, size, digest) in enumerate(msg["files"]):
            path = os.path.abspath(path)
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
        self.reply(op="changed", files=changed)

    # -- plan: which chunks must travel ---------------------------------------------------
    def op_plan(self, msg):
        sources = self.index.chunk_sources()
        fresh = {}  # hash -> (file number, offset) for chunks arriving in this push
        self.plan, wanted = [], []
        for number, (path, digest, size, mode, table64) in enumerate(msg["files"]):
            path = os.path.abspath(path)
            table = base64.b64decode(table64)
            ops, need, offset = [], [], 0
            for i, (h, n) in enumerate(records(table)):
                if h in fresh:
                    ops.append(("new",) + fresh[h] + (n,))
                elif h in sources:
                    ops.append(("old",) + sources[h])
                else:
                    fresh[h] = (number, offset)
                    need.append(i)
                    ops.append(("recv", h, n))
                offset += n
            self.plan.append((path, digest, size, mode, table, merge(ops)))
            wanted.append(need)
        for op in (o for p in self.plan for o in p[5]):
            if op[0] == "old" and op[1] not in self.fds:  # hold old inodes across renames
                self.fds[op[1]] = os.open(op[1], os.O_RDONLY)
        self.reply(op="missing", files=wanted)

    # -- send: assemble every planned file ------------------------------------------------
    def op_send(self, msg):
        if msg.get("source") == "relay":
            reader = relay_reader(msg["host"], msg["port"], bytes.fromhex(msg["secret"]), self.plan)
        else:
            reader = self.inp
        new_fds, ok_count = {}, 0
        for number, (path, digest, size, mode, table, ops) in enumerate(self.plan):
            try:
                self.assemble(number, path, digest, mode, ops, reader, new_fds)
                st = os.stat(path)
                self.index.record(path, {"s": st.st_size, "m": st.st_mtime_ns, "d": digest,
                                         "c": base64.b64encode(table).decode()})
                ok_count += 1
                self.reply(op="file", path=path, ok=True, size=size)
            except (OSError, ValueError, EOFError, RuntimeError) as exc:
                self.index.forget(path)
                for op in ops:  # a source that lied about its content is no longer trusted
                    if op[0] == "old":
                        self.index.forget(op[1])
                self.reply(op="file", path=path, ok=False, error=str(exc))
                if isinstance(exc, EOFError):
                    break
        for fd in new_fds.values():
            os.close(fd)
        synced = {os.path.dirname(p[0]) for p in self.plan}
        for d in synced:
            dfd = os.open(d, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
        self.reply(op="done", ok=ok_count == len(self.plan), files=ok_count)
        self.plan = []

    def assemble(self, number, path, digest, mode, ops, reader, new_fds):
        """Write ``path`` from its ops into a temp file, prove it, rename it into place."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + TMP_MARK + str(os.getpid()) + ".tmp")
        fd = new_fds[number] = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        sha, error = hashlib.sha256(), None
        try:
            for op in ops:
                if op[0] == "recv":
                    data = self.decode(*read_frame(reader))  # always consumed: keeps the stream in step
                    if error is None and len(data) != op[2]:
                        error = ValueError("chunk of the wrong length")
                elif error is not None:
                    continue
                elif op[1] not in (self.fds if op[0] == "old" else new_fds):
                    error = RuntimeError("a file this one shares chunks with failed")
                    continue
                else:
                    src = self.fds[op[1]] if op[0] == "old" else new_fds[op[1]]
                    data = os.pread(src, op[3], op[2])
                    if len(data) != op[3]:
                        error = ValueError("a local source file is shorter than indexed")
                if error is None:
                    sha.update(data)
                    os.write(fd, data)
            if error is None and sha.hexdigest() != digest:
                error = ValueError("sha256 mismatch after assembly")
            if error is not None:
                raise error
            os.fsync(fd)
            os.fchmod(fd, mode)
            os.replace(tmp, path)
        except BaseException:
            del new_fds[number]
            os.close(fd)
            os.unlink(tmp)
            raise

    def decode(self, kind, payload):
        if kind == D:
            return payload
        if kind == Z:
            return zlib.decompress(payload)
        if kind == S and self.zstd is not None:
            return self.zstd.decompress(payload)
        if kind is None:
            raise EOFError("the chunk stream ended early")
        raise ValueError("bad chunk frame: " + payload.decode(errors="replace")[:200])

    # -- relay: serve this node's chunks to the others ------------------------------------
    def op_serve(self, msg):
        self.server = RelayServer(msg["host"], bytes.fromhex(msg["secret"]), self.index.chunk_sources())
        self.reply(op="serving", port=self.server.port)

    def op_stop(self, msg):
        sent = self.server.stop() if self.server is not None else 0
        self.server = None
        self.reply(op="stopped", bytes=sent)


def merge(ops):
    """Coalesce adjacent reads from the same local file into one pread (up to 8 MiB)."""
    out = []
    for op in ops:
        last = out[-1] if out else None
        if (last is not None and op[0] != "recv" and last[0] == op[0] and last[1] == op[1]
                and last[2] + last[3] == op[2] and last[3] + op[3] <= 8 << 20):
            out[-1] = (last[0], last[1], last[2], last[3] + op[3])
        else:
            out.append(op)
    return out


def mac(secret, nonce, role):
    return hmac.new(secret, role + nonce, hashlib.sha256).digest()


def relay_reader(host, port, secret, plan):
    sock = socket.create_connection((host, port), timeout=30)
    f = sock.makefile("rwb")
    nonce = read_exact(f, 32)
    f.write(mac(secret, nonce, b"client"))
    f.flush()
    if not hmac.compare_digest(read_exact(f, 32), mac(secret, nonce, b"server")):
        raise RuntimeError("the relay failed the challenge")
    wanted = b"".join(op[1] for p in plan for op in p[5] if op[0] == "recv")
    f.write(frame(R, wanted))
    f.flush()
    return f


class RelayServer:
    """Serves chunks by hash to nodes that answer the HMAC challenge; one thread each."""

    def __init__(self, host, secret, sources):
        self.secret, self.sources, self.sent = secret, sources, 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        try:
            conn.settimeout(60)
            f = conn.makefile("rwb")
            nonce = os.urandom(32)
            f.write(nonce)
            f.flush()
            if not hmac.compare_digest(read_exact(f, 32), mac(self.secret, nonce, b"client")):
                return
            f.write(mac(self.secret, nonce, b"server"))
            f.flush()
            kind, wanted = read_frame(f)
            files, sent = {}, 0
            for i in range(0, len(wanted) if kind == R else 0, 16):
                where = self.sources.get(wanted[i : i + 16])
                if where is None:
                    f.write(frame(E, b"chunk not on the relay"))
                    break
                path, offset, n = where
                if path not in files:
                    files[path] = open(path, "rb")  # noqa: SIM115
                data = os.pread(files[path].fileno(), n, offset)
                f.write(frame(D, data))
                sent += len(data)
            f.flush()
            for fh in files.values():
                fh.close()
            with self.lock:
                self.sent += sent
        except OSError:
            pass
        finally:
            conn.close()

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
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
