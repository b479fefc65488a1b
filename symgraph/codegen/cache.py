"""On-disk cache of compiled artifacts: LLVM object code, C shared libraries, CUDA cubins.

Never stale: ``cache_key(source, backend, flags, versions)`` hashes the generated source, the
backend, the compile flags in order, the caller's tool versions (llvmlite, the compiler's
``--version``), the cache format, Python and numpy versions, OS and CPU architecture: all that can
change an artifact, so an entry is never replaced by different content. Anything else a backend
compiles with (an environment variable, a header read from disk) must go in ``flags``/``versions``.
Layout, sharded by the key's first two hex digits::

    root/ab/abcdef....obj              an artifact: object code bytes, or a file such as .so
    root/ab/abcdef....obj.meta.json    its sidecar: size + sha256 + meta, written after it
    root/ab/abcdef....lock             the key's lock file (fcntl.flock)
    root/ab/abcdef....<token>.tmp...   a write in progress, or left behind by a crash

An artifact without a valid sidecar is absent; each read checks size and sha256, and a truncated
or corrupt entry is deleted and rebuilt, never loaded. A builder takes the key's lock, looks again
(another process may have just built it), builds into a temp file in the same directory and
``os.replace``-s it into place, then the sidecar; so of several processes (or threads) wanting one
key, one builds and the others wait and read its result. Readers of a complete entry take no lock.
Nothing is fsynced: a crash may lose or tear recent entries, which the sha256 check then rejects
(4 fsyncs an entry, ~3 ms each here: 0.1 s of the MLP train function's cold compile).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from symgraph.config import config

FORMAT_VERSION = "1"
_BLOB, _LOCK, _SIDECAR = ".obj", ".lock", ".meta.json"
_COMMANDS = ("list", "size", "clear", "prune")
_KEY_RE = re.compile(r"[0-9a-f]{8,128}")
_SUFFIX_RE = re.compile(r"(\.[0-9A-Za-z_]+)+")


def cache_key(
    source: str | bytes,
    backend: str,
    flags: Sequence[str] = (),
    versions: Mapping[str, str] | None = None,
) -> str:
    """Return the sha256 (64 hex digits) of everything that determines a compiled artifact.

    Parameters
    ----------
    source : str or bytes
        The generated source (C, LLVM IR, CUDA C) exactly as it is compiled.
    backend : str
        The backend's name: ``"llvm"``, ``"c"``, ``"cuda"`` ...
    flags : sequence of str
        Compile flags, in order (order can matter to a compiler).
    versions : mapping of str to str, optional
        Tool versions (``{"llvmlite": ..., "gcc": ...}``); the cache format, Python and numpy
        versions, OS and CPU architecture are added automatically.
    """
    if isinstance(flags, str):
        raise TypeError(f"cache_key: flags must be a sequence of str, not the string {flags!r}")
    env = [f"symgraph-cache-{FORMAT_VERSION}", sys.version, np.__version__, sys.platform]
    items = [s for item in sorted((versions or {}).items()) for s in item]
    parts = [*env, platform.machine(), backend, source, f"flags:{len(flags)}", *flags]
    h = hashlib.sha256()
    for part in [*parts, f"versions:{len(items)}", *items]:
        data = part.encode() if isinstance(part, str) else bytes(part)
        h.update(len(data).to_bytes(8, "little"))  # length prefixes keep the encoding unambiguous
        h.update(data)
    return h.hexdigest()


# What /proc/cpuinfo says of a CPU's model and features (x86, then ARM spellings); not its
# clock, cache or core numbering.
_CPU_FIELDS = frozenset({
    "vendor_id", "cpu family", "model", "model name", "stepping", "flags",
    "CPU implementer", "CPU architecture", "CPU variant", "CPU part", "CPU revision", "Features",
})


@functools.cache
def host_cpu() -> str:
    """The host CPU, for the keys of code compiled for it (LLVM's host target, the C
    compiler's -march=native): `cpu_identity()` where /proc/cpuinfo exists, read without a
    compiler (asking LLVM costs a warm start ~40 ms of imports); else LLVM's name and features
    for it; else the machine's name."""
    identity = cpu_identity()
    if identity is not None:
        return identity
    try:
        from symgraph.codegen import llvm_jit

        return f"{llvm_jit.host_cpu_name()} {llvm_jit.host_cpu_features()}"
    except Exception:  # noqa: BLE001 (llvmlite absent or unusable: the machine name still
        return platform.processor() or platform.machine()  # separates most CPUs)


@functools.cache
def cpu_identity() -> str | None:
    """The host CPU's model and feature flags as /proc/cpuinfo gives them for its first
    processor, or None where there is no such file."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    fields = []
    for line in text.split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(":")
        if name.strip() in _CPU_FIELDS:
            fields.append(f"{name.strip()}={value.strip()}")
    return "; ".join(fields) or None


class Entry(NamedTuple):
    """One complete artifact in the cache."""

    key: str
    path: Path
    size: int  # bytes on disk, sidecar included
    mtime: float  # time of the last build or hit
    meta: dict


def _size(path: Path) -> int:
    """Size of a file, 0 if it has just been removed."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read(path: Path, sidecar: Path) -> bytes | None:
    """The content of a complete entry (a hit); None if absent, incomplete, truncated or corrupt."""
    try:
        info = json.loads(sidecar.read_bytes())
        data = path.read_bytes()
    except (OSError, ValueError):
        return None
    want = {"format": FORMAT_VERSION, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if not isinstance(info, dict) or not want.items() <= info.items():
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # a hit: prune removes the least recently used first
    return data


def _build(path: Path, sidecar: Path, build: Callable[[Path], None], meta: dict | None) -> bytes:
    """Under the key's lock: ``build`` a temp file, rename it onto ``path``, then the sidecar."""
    sidecar.unlink(missing_ok=True)  # sidecar first: an artifact without one is absent
    path.unlink(missing_ok=True)
    key, suffix = path.name.split(".", 1)
    side_tmp = path.with_name(f"{key}.{os.urandom(6).hex()}.tmp")  # named to group with key
    tmp = side_tmp.with_name(f"{side_tmp.name}.{suffix}")
    try:
        build(tmp)
        if not tmp.is_file():
            raise RuntimeError(f"cache build for {path.name} wrote nothing at {tmp}")
        data = tmp.read_bytes()
        info = {"format": FORMAT_VERSION, "size": len(data), "meta": meta or {}}
        info |= {"sha256": hashlib.sha256(data).hexdigest(), "created": time.time()}
        side_tmp.write_bytes(json.dumps(info, sort_keys=True, default=str).encode())
        os.replace(tmp, path)
        os.replace(side_tmp, sidecar)  # the sidecar last
    finally:
        tmp.unlink(missing_ok=True)
        side_tmp.unlink(missing_ok=True)
    return data


@contextlib.contextmanager
def _locked(path: Path, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive flock on ``path``; yield False if not ``blocking`` and it is taken."""
    import fcntl  # here: a warm start reads its hits without locks, and skips this import

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        os.close(fd)  # clear() unlinked the lock file while we waited: lock the new one
    try:
        yield True
    finally:
        os.close(fd)


class DiskCache:
    """A directory of compiled artifacts, safe to share between processes.

    ``get_or_build_bytes(cache_key(src, "llvm"), compile_to_object)`` returns ``(data, hit)``.

    Parameters
    ----------
    root : path, optional
        The cache directory; by default ``config.compiledir``, read at each use.
    """

    def __init__(self, root: Path | str | None = None) -> None:
        self._root = None if root is None else Path(root)

    @property
    def root(self) -> Path:
        """The cache directory."""
        return self._root if self._root is not None else Path(config.compiledir)

    def _paths(self, key: str, suffix: str) -> tuple[Path, Path]:
        """The artifact and sidecar paths of an entry (creating its shard directory)."""
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise ValueError(f"cache key must be 8 to 128 lowercase hex digits, got {key!r}")
        reserved = suffix == _LOCK or ".tmp" in suffix or suffix.endswith(_SIDECAR)
        if not _SUFFIX_RE.fullmatch(suffix) or reserved:
            raise ValueError(f"cache file suffix must look like '.so', got {suffix!r}")
        path = self.root / key[:2] / (key + suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, path.with_name(path.name + _SIDECAR)

    def _get_or_build(
        self, key: str, suffix: str, build: Callable[[Path], None], meta: dict | None
    ) -> tuple[Path, bytes, bool]:
        """Shared body of the get_or_build methods: ``(path, content, hit)``."""
        path, sidecar = self._paths(key, suffix)
        data = _read(path, sidecar)
        if data is not None:
            return path, data, True
        with _locked(path.with_name(key + _LOCK)):
            data = _read(path, sidecar)  # another process may have built it while we waited
            if data is not None:
                return path, data, True
            data = _build(path, sidecar, build, meta)
        return path, data, False

    def get_or_build_bytes(
        self, key: str, build: Callable[[], bytes], meta: dict | None = None
    ) -> tuple[bytes, bool]:
        """Return ``(data, hit)``: the cached bytes, or ``build()``'s, built once for all."""
        _, data, hit = self._get_or_build(key, _BLOB, lambda tmp: tmp.write_bytes(build()), meta)
        return data, hit

    def get_or_build_file(
        self, key: str, suffix: str, build: Callable[[Path], None], meta: dict | None = None
    ) -> tuple[Path, bool]:
        """Return ``(path, hit)`` of a file artifact; ``build(tmp)`` writes it at ``tmp``."""
        path, _, hit = self._get_or_build(key, suffix, build, meta)
        return path, hit

    def get_bytes(self, key: str) -> bytes | None:
        """Return the bytes stored under ``key``, or None if absent (or corrupt, then deleted)."""
        path, sidecar = self._paths(key, _BLOB)
        data = _read(path, sidecar)
        if data is None and path.exists():
            with _locked(path.with_name(key + _LOCK)):
                data = _read(path, sidecar)  # maybe rebuilt while we waited
                if data is None:
                    path.unlink(missing_ok=True)  # a lone sidecar is harmless and reclaimed
        return data

    def get_file(self, key: str, suffix: str) -> Path | None:
        """The path of the complete file artifact ``key + suffix``, or None (absent, or
        incomplete or corrupt: never a path to a file that does not match its sidecar)."""
        path, sidecar = self._paths(key, suffix)
        return path if _read(path, sidecar) is not None else None

    def put_bytes(self, key: str, data: bytes, meta: dict | None = None) -> None:
        """Store ``data`` under ``key`` atomically, with JSON ``meta`` shown by ``list``."""
        path, sidecar = self._paths(key, _BLOB)
        with _locked(path.with_name(key + _LOCK)):
            _build(path, sidecar, lambda tmp: tmp.write_bytes(data), meta)

    def _groups(self) -> dict[str, list[Path]]:
        """Every file under the root, grouped by key."""
        groups: dict[str, list[Path]] = {}
        for shard in self.root.iterdir() if self.root.is_dir() else ():
            if len(shard.name) == 2 and shard.is_dir():
                for p in shard.iterdir():
                    key = p.name.split(".", 1)[0]
                    if _KEY_RE.fullmatch(key) and key.startswith(shard.name):
                        groups.setdefault(key, []).append(p)
        return groups

    def entries(self) -> list[Entry]:
        """Complete-looking entries, oldest first (content is checked on read, not here)."""
        out = []
        for key, paths in self._groups().items():
            for side in (p for p in paths if p.name.endswith(_SIDECAR)):
                art = side.with_name(side.name[: -len(_SIDECAR)])
                try:
                    info, st = json.loads(side.read_bytes()), art.stat()
                except (OSError, ValueError):
                    continue  # removed under us, or a broken sidecar
                if isinstance(info, dict) and info.get("size") == st.st_size:
                    size = st.st_size + _size(side)
                    out.append(Entry(key, art, size, st.st_mtime, info.get("meta") or {}))
        return sorted(out, key=lambda e: e.mtime)

    def total_size(self) -> int:
        """Bytes on disk in the cache, incomplete and orphaned files included."""
        return sum(_size(p) for paths in self._groups().values() for p in paths)

    def _remove_key(self, key: str) -> bool:
        """Delete every file of ``key``; False (nothing deleted) if it is being built."""
        lock = self.root / key[:2] / (key + _LOCK)
        with _locked(lock, blocking=False) as got:
            if not got:
                return False
            for p in sorted(lock.parent.glob(key + ".*"), key=lambda p: p == lock):
                p.unlink(missing_ok=True)  # the lock last, while held: waiters lock afresh
        return True

    def clear(self) -> int:
        """Delete every key not being built right now; return how many were deleted."""
        return sum(self._remove_key(key) for key in self._groups())

    def prune(self, max_bytes: int) -> int:
        """Delete least recently used keys until at most ``max_bytes`` remain; return the count."""
        groups = self._groups()
        newest = {e.key: e.mtime for e in self.entries()}  # oldest first, so the newest wins
        sizes = {key: sum(_size(p) for p in paths) for key, paths in groups.items()}
        total, removed = sum(sizes.values()), 0
        for key in sorted(groups, key=lambda k: newest.get(k, 0.0)):  # orphans go first
            if total <= max_bytes:
                break
            if self._remove_key(key):
                total -= sizes[key]
                removed += 1
        return removed


def _human(n: float) -> str:
    """Bytes for people."""
    exp = min(int(math.log(max(n, 1), 1024)), 3)
    return f"{n / 1024**exp:.1f} {('B', 'KiB', 'MiB', 'GiB')[exp]}"


def _age(seconds: float) -> str:
    """A duration for people."""
    spans = ((86400, "d"), (3600, "h"), (60, "m"), (1, "s"))
    span, unit = next((s, u) for s, u in spans if seconds >= s or u == "s")
    return f"{seconds / span:.0f}{unit}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``symgraph-cache [list|size|clear|prune --max-mb N] [--dir PATH]`` on ``argv``."""
    import argparse  # only for the command line: a compile never pays for it

    parser = argparse.ArgumentParser("symgraph-cache", description="symgraph's compiled code cache")
    parser.add_argument("command", nargs="?", default="list", choices=_COMMANDS)
    parser.add_argument("--max-mb", type=float, help="prune: keep at most this many MiB")
    parser.add_argument("--dir", help="cache directory (default: config.compiledir)")
    args = parser.parse_args(argv)
    if args.command == "prune" and args.max_mb is None:
        parser.error("prune needs --max-mb N")
    cache = DiskCache(args.dir)
    if args.command == "list":
        now, entries = time.time(), cache.entries()
        for e in entries:
            meta = " ".join(f"{k}={v}" for k, v in sorted(e.meta.items()))
            kind = e.path.name[len(e.key) :]
            print(f"{e.key[:12]}  {kind:<6} {_human(e.size):>10}  {_age(now - e.mtime):>4}  {meta}")
        print(f"{len(entries)} entries, {_human(cache.total_size())} in {cache.root}")
    elif args.command == "size":
        print(f"{cache.total_size()} bytes in {len(cache.entries())} entries at {cache.root}")
    elif args.command == "clear":
        print(f"removed {cache.clear()} keys from {cache.root}")
    else:
        removed = cache.prune(int(args.max_mb * 2**20))
        print(f"removed {removed} keys; {_human(cache.total_size())} left in {cache.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
