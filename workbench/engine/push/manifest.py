"""What a push sends and what it is made of: the file list, chunks and a cached manifest.

Files are cut with FastCDC (content-defined, so an insert shifts only the chunks around it)
and each chunk is named by its xxh3_128; the whole file by the xxh3_128 of its size and
chunk table (its content id: what the node's index compares) and by its CRC-32, which the
node checks with its standard library (verify = full, see docs/push.md). Results are cached
by path + size + mtime, so a push after a rebuild reads only the files that changed.
"""

from __future__ import annotations

import base64
import json
import mmap
import os
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyfastcdc
import xxhash

from workbench.engine.provision.tree import salt_tree
from workbench.errors import ProfileError, WorkbenchError
from workbench.profile import Profile
from workbench.state import atomic_write

AVG_CHUNK = 16 * 1024
REC = 20  # chunk table record: 16-byte xxh3_128 + 4-byte big-endian length
_PLATFORM_TAR = re.compile(r"-(linux|darwin|windows|freebsd)-([a-z0-9]+)\.tar\.gz$")
# the full multi-platform bundle and the sources: no node uses them (add via push.extra)
_NEVER = ("kubernetes.tar.gz", "kubernetes-src.tar.gz")


@dataclass(frozen=True)
class Source:
    """One local file and where it goes on the node."""

    path: Path
    dest: str


@dataclass(frozen=True)
class LocalFile:
    source: Path
    dest: str
    size: int
    mtime_ns: int
    mode: int
    digest: str  # content id: content_id(size, table)
    table: bytes  # chunk table: REC bytes per chunk
    crc32: int  # zlib.crc32 of the whole file: the node's check of what it assembled

    def chunks(self) -> Iterator[tuple[bytes, int, int]]:
        """(xxh3_128, offset, length) of every chunk, in order."""
        offset, t = 0, self.table
        for i in range(0, len(t), REC):
            n = int.from_bytes(t[i + 16 : i + REC], "big")
            yield t[i : i + 16], offset, n
            offset += n


def select_sources(profile: Profile, root: Path | None = None) -> list[Source]:
    """The release tars for the profile's platforms and the salt tree, per ``[push]``."""
    root = root or profile.kube.root
    if root is None:
        raise ProfileError(profile.path or "(no profile)", "kube.root", "the path of KUBE_ROOT")
    root = Path(root)
    release = profile.paths.release_dir.rstrip("/") or "/"
    out: list[Source] = []
    if profile.push.include_tars:
        tars_dir = root / "_output" / "release-tars"
        if not tars_dir.is_dir():
            raise WorkbenchError(f"{tars_dir}: no release tars; build first")
        wanted = {p.replace("/", "-") for p in profile.kube.platforms}
        for tar in sorted(tars_dir.glob("*.tar.gz")):
            m = _PLATFORM_TAR.search(tar.name)
            if tar.name in _NEVER or "-test" in tar.name:
                continue
            if m is None or f"{m.group(1)}-{m.group(2)}" in wanted:
                out.append(Source(tar, f"{release}/{tar.name}"))
        have = {s.path.name for s in out}
        for platform in profile.kube.platforms:
            if not any(platform.replace("/", "-") in name for name in have):
                raise WorkbenchError(f"{tars_dir}: no release tars for {platform}; build it first")
    if profile.push.include_salt:
        # kube-up's tree while KUBE_ROOT has one (before v1.10), else the workbench's own
        out += _tree(salt_tree(root), profile.paths.salt_tree.rstrip("/") or "/")
    for extra in profile.push.extra:
        path = root / extra
        if not path.exists():
            raise ProfileError(profile.path or "(no profile)", "push.extra", f"paths under KUBE_ROOT ({extra} is missing)")
        dest = f"{release}/{path.name}"
        out += _tree(path, dest) if path.is_dir() else [Source(path, dest)]
    return out


def push_roots(profile: Profile) -> list[str]:
    """The node directories a push owns: files the agent put there and the build dropped go."""
    release = profile.paths.release_dir.rstrip("/") or "/"
    roots = [release] if profile.push.include_tars else []
    if profile.push.include_salt:
        roots.append(profile.paths.salt_tree.rstrip("/") or "/")
    roots += [f"{release}/{Path(extra).name}" for extra in profile.push.extra if not profile.push.include_tars]
    return roots


def _tree(base: Path, dest: str) -> list[Source]:
    return [
        Source(p, f"{dest}/{p.relative_to(base).as_posix()}")
        for p in sorted(base.rglob("*"))
        if p.is_file() and not p.is_symlink()
    ]


def content_id(size: int, table: bytes) -> str:
    """The file's identity for the node's index: chunks are named by xxh3_128 already."""
    return "x3:" + xxhash.xxh3_128_hexdigest(size.to_bytes(8, "big") + table)


def chunk_file(path: Path, avg: int = AVG_CHUNK) -> tuple[str, bytes, int]:
    """(content id, chunk table, crc32) of one file; the CRC runs beside the chunker."""
    with ThreadPoolExecutor(1) as pool:
        crc, table, done = _chunk_started(path, avg, pool)
        try:
            return content_id(os.path.getsize(path), table), table, crc.result()
        finally:
            done()


def _chunk_started(path: Path, avg: int, pool: ThreadPoolExecutor) -> tuple[Future[int], bytes, Callable[[], None]]:
    """Cut ``path`` here and start its CRC-32 on ``pool`` (zlib drops the GIL); call the
    returned closer after the CRC."""
    f = open(path, "rb")  # noqa: SIM115 (closed by the closer, after the CRC)
    if os.fstat(f.fileno()).st_size == 0:
        f.close()
        empty: Future[int] = Future()
        empty.set_result(0)
        return empty, b"", lambda: None
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mm)
    crc = pool.submit(zlib.crc32, view)

    def done() -> None:
        view.release()
        mm.close()
        f.close()

    try:
        return crc, chunk_table(view, avg), done
    except BaseException:
        crc.result()
        done()
        raise


def chunk_table(data: bytes | memoryview, avg: int = AVG_CHUNK) -> bytes:
    parts: list[bytes] = []
    for c in pyfastcdc.FastCDC(avg_size=avg).cut_buf(data):
        parts.append(xxhash.xxh3_128_digest(c.data))
        parts.append(c.length.to_bytes(4, "big"))
    return b"".join(parts)


class ChunkCache:
    """Manifest entries of local files keyed by path + size + mtime (one JSON file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, list[object]] = {}
        self.dirty = False
        if path is not None:
            try:
                self.entries = json.loads(path.read_text())
            except (OSError, ValueError):
                self.entries = {}

    def lookup(self, path: Path, size: int, mtime_ns: int) -> tuple[str, bytes, int] | None:
        """(content id, chunk table, crc32), or None (unknown, changed, or an older format)."""
        e = self.entries.get(str(path))
        if e is None or len(e) != 5 or e[0] != size or e[1] != mtime_ns or not isinstance(e[4], int):
            return None
        return str(e[2]), base64.b64decode(str(e[3])), e[4]

    def store(self, path: Path, size: int, mtime_ns: int, digest: str, table: bytes, crc: int) -> None:
        self.entries[str(path)] = [size, mtime_ns, digest, base64.b64encode(table).decode(), crc]
        self.dirty = True

    def save(self, keep: set[str]) -> None:
        stale = set(self.entries) - keep
        for key in stale:
            del self.entries[key]
        if self.path is not None and (self.dirty or stale):
            atomic_write(self.path, json.dumps(self.entries))
            self.dirty = False


def build_manifest(sources: Sequence[Source], cache: ChunkCache, avg: int = AVG_CHUNK) -> list[LocalFile]:
    """Stat every source; chunk only those whose size or mtime the cache doesn't know.

    The chunker holds the GIL; each file's CRC-32 runs on a second core meanwhile, and the
    next file is cut while the previous one is still being checked.
    """
    out: list[LocalFile | None] = []
    started: list[tuple[int, Source, os.stat_result, Future[int], bytes, Callable[[], None]]] = []
    with ThreadPoolExecutor(2) as pool:
        try:
            for src in sources:
                st = src.path.stat()
                hit = cache.lookup(src.path, st.st_size, st.st_mtime_ns)
                if hit is None:
                    started.append((len(out), src, st, *_chunk_started(src.path, avg, pool)))
                    out.append(None)
                else:
                    out.append(LocalFile(src.path, src.dest, st.st_size, st.st_mtime_ns, st.st_mode & 0o777, *hit))
            for i, src, st, crc, table, _ in started:
                after = src.path.stat()
                if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
                    raise WorkbenchError(f"{src.path}: changed while it was read; is a build running?")
                digest = content_id(st.st_size, table)
                cache.store(src.path, st.st_size, st.st_mtime_ns, digest, table, crc.result())
                out[i] = LocalFile(src.path, src.dest, st.st_size, st.st_mtime_ns, st.st_mode & 0o777,
                                   digest, table, crc.result())
        finally:
            for *_, crc, _, done in started:
                crc.exception()  # wait: the mapping must outlive the hashing
                done()
    cache.save({str(s.path) for s in sources})
    return [f for f in out if f is not None]
