"""Cached object code as shared libraries: linked by the system linker, loaded with dlopen.

A process whose kernels are all in the disk cache needs no LLVM: importing llvmlite.binding
alone costs ~40 ms, most of a warm start. So the cache also keeps shared libraries linked from
the object files it holds: one per compiled function's set of kernels (llvm_load.py), one per
BLAS entry (blas_entry.py), each opened by ``load(cache, key)`` with ctypes. A library is linked
after its objects are first used, on a background thread (``link_later``): the process that
compiled keeps running its MCJIT copies, and the next one loads the library. One link is one
linker process (~5-8 ms); interpreter exit waits for those still queued.

The objects are the MCJIT's: large code model, not position independent (MCJIT needs the
former, and mis-relocates constant-pool loads in position-independent large-model code), so
the libraries carry text relocations (``-z notext``). Where the dynamic loader refuses them
(an SELinux policy against text relocations, say), ``load`` returns None and the object is
linked into the JIT as before: the library is an accelerator, never the only way in.

The linker is ``$SYMGRAPH_LD``, else ``ld`` on PATH; ``SYMGRAPH_LD=none`` turns libraries off.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading
from pathlib import Path

from symgraph.codegen.cache import DiskCache

SUFFIX = ".so"
LINK_TIMEOUT_S = 60
# -Bsymbolic: a library's calls to its own functions bind to them, never to another library's.
LINK_FLAGS = ("-shared", "-Bsymbolic", "-z", "notext")


class LinkError(RuntimeError):
    """The system linker rejected an object file."""


@functools.cache
def linker() -> str | None:
    """The linker's path, or None when there is none (or ``SYMGRAPH_LD=none``, or the system
    is not Linux: the flags and the loader's handling of text relocations are ELF's)."""
    wanted = os.environ.get("SYMGRAPH_LD", "ld")
    if wanted.lower() in ("", "none", "0", "off") or not sys.platform.startswith("linux"):
        return None
    return _executable(wanted)


def _executable(name: str) -> str | None:
    """`name` if it is an executable path, else the first executable of that name on PATH:
    shutil.which's answer on Linux, without importing shutil (~2 ms of a warm start, which
    asks for the linker before loading a function's linked kernels)."""
    dirs = [""] if os.sep in name else os.environ.get("PATH", os.defpath).split(os.pathsep)
    for folder in dirs:
        path = os.path.join(folder, name) if folder else name
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def link(objects: list[bytes], out: Path) -> None:
    """Link object files into the shared library ``out``; LinkError if that fails."""
    import subprocess  # here: a process that finds its libraries never links (~7 ms of imports)

    ld = linker()
    if ld is None:
        raise LinkError("no linker found (set SYMGRAPH_LD to one)")
    sources = [out.with_name(f"{out.name}.{i}.o") for i in range(len(objects))]
    cmd = [ld, *LINK_FLAGS, "-o", str(out), *map(str, sources)]
    try:
        for src, obj in zip(sources, objects):
            src.write_bytes(obj)
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
            with contextlib.suppress(OSError):
                # lowest priority: a link uses only what the process's own work leaves idle
                # (at normal priority it slowed the first call of a cold MLP from ~9 to ~20 ms)
                os.setpriority(os.PRIO_PROCESS, proc.pid, 19)
            message = proc.communicate(timeout=LINK_TIMEOUT_S)[0].decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LinkError(f"{' '.join(cmd)} failed: {exc}") from exc
    finally:
        for src in sources:
            src.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise LinkError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{message}")


def cached(cache: DiskCache, key: str) -> Path | None:
    """The path of the library cached under ``key``; None when there is none (or no linker:
    then libraries are not used)."""
    return None if linker() is None else cache.get_file(key, SUFFIX)


def load(cache: DiskCache, key: str) -> ctypes.CDLL | None:
    """The library cached under ``key``, opened; None when there is none or it will not load."""
    path = cached(cache, key)
    if path is None:
        return None
    try:
        return ctypes.CDLL(str(path))
    except OSError:  # removed since it was checked, or text relocations refused here
        return None


def load_or_link(cache: DiskCache, key: str, build, what: str) -> tuple:
    """The object code cached under ``key``, in this process: ``(library, None)`` from its
    linked library (no LLVM imported), else ``(None, module)``: the object (built by
    ``build()`` when the cache lacks it, by one process of several) linked into the process
    JIT, its library then linked in the background for the next process."""
    lib = load(cache, key)
    if lib is not None:
        return lib, None
    from symgraph.codegen import llvm_jit

    obj, _ = cache.get_or_build_bytes(key, build, {"what": what})
    module = llvm_jit.load_object(obj)
    link_later(cache, key, [key], what)
    return None, module


def address(lib: ctypes.CDLL, name: str) -> int:
    """The address of the symbol ``name`` in ``lib``; KeyError if it is not defined there."""
    try:
        return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
    except AttributeError:
        raise KeyError(f"symbol {name!r} is not defined in {lib._name}") from None


# --- linking in the background ------------------------------------------------------------


_PENDING: list[tuple] = []  # (cache, key, object_keys, what), under _WORKER_LOCK
_WORKER_LOCK = threading.Lock()
_worker: threading.Thread | None = None


def link_later(cache: DiskCache, key: str, object_keys: list[str], what: str) -> None:
    """Have the object files cached under ``object_keys`` linked into one library, cached
    under ``key``, soon: on a thread of its own that interpreter exit waits for (so a short
    script still leaves its libraries). Nothing is linked if an object is missing."""
    global _worker
    if linker() is None:
        return
    with _WORKER_LOCK:
        _PENDING.append((cache, key, object_keys, what))
        if _worker is None:
            _worker = threading.Thread(target=_drain, name="symgraph-link")
            _worker.start()


def _drain() -> None:
    global _worker
    while True:
        with _WORKER_LOCK:
            if not _PENDING:
                _worker = None  # the next link_later starts another
                return
            cache, key, object_keys, what = _PENDING.pop(0)
        try:
            if cached(cache, key) is not None:
                continue
            objects = [cache.get_bytes(k) for k in object_keys]
            if all(obj is not None for obj in objects):
                build = functools.partial(link, objects)
                cache.get_or_build_file(key, SUFFIX, build, {"what": what})
        except Exception:  # noqa: BLE001 (then the next process links the objects into the
            # JIT, as this one did; the worker lives on for the other links)
            pass


def wait() -> None:
    """Block until every queued library is linked (tests; exit does this by itself)."""
    while True:
        with _WORKER_LOCK:
            worker = _worker
        if worker is None:
            return
        worker.join()


def _after_fork_in_child() -> None:
    global _worker, _WORKER_LOCK
    _worker, _WORKER_LOCK = None, threading.Lock()  # the parent's thread did not come along
    _PENDING.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
