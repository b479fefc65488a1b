"""LLVM kernels from the disk cache into the process, without the renderer.

``compile_kernels(kernels)`` returns the process-wide `CompiledKernel` of each. When the disk
cache holds a shared library of exactly these kernels (native_lib.py: one per set, i.e. per
compiled function, linked for the next process that compiles it) it is opened with dlopen,
importing no LLVM at all. Otherwise each kernel whose object code is cached is linked into
the process JIT, which imports llvmlite.binding but neither llvmlite.ir nor the renderer
(llvm.py, llvm_entry.py, llvm_math.py, llvm_scalar.py), llvm.py renders, optimizes and caches
the others, and the library of the set is linked in the background, for the next process.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import llvmlite

from symgraph.codegen import native_lib
from symgraph.codegen.cache import DiskCache, cache_key, host_cpu
from symgraph.codegen.kernel import Kernel, NotLowerable
from symgraph.codegen.llvm_abi import SYMBOLS

RENDERER_VERSION = "2"
STATS = {"compiled": 0, "cache_hits": 0, "loaded": 0, "built_on_threads": 0}
_COMPILED: dict[str, CompiledKernel] = {}
_BUILDING: dict[str, _Claim] = {}  # the kernels some thread is building now
_LOCK = threading.Lock()  # guards both dicts (and linking into the JIT)
_CACHE = DiskCache()
# The modules whose code decides the IR and object code rendered from a kernel listing.
_RENDERER_MODULES = (
    "kernel",
    "llvm",
    "llvm_build",
    "llvm_jit",
    "llvm_math",
    "llvm_scalar",
)


class CompiledKernel:
    """A kernel living in this process (in the JIT, or in a shared library): its entry point
    and what it came from."""

    def __init__(self, kernel: Kernel, ir_text: str | None, module, call, hit, compile_s, keep):
        self.kernel = kernel
        self._ir = ir_text
        self.module = module  # llvm_jit.CompiledModule, or the library's ctypes.CDLL
        self.call: Callable = call  # call(*inputs, *outputs[, part, nparts]) -> int
        self.cache_hit: bool = hit
        self.compile_s: float = compile_s
        self.keep: list = keep  # ctypes objects the entry point points into

    @property
    def ir(self) -> str:
        """The LLVM IR the object code was compiled from (rendered now if it came from disk)."""
        if self._ir is None:
            from symgraph.codegen import llvm

            self._ir = llvm.render_module(self.kernel)
        return self._ir


@functools.cache
def renderer_fingerprint() -> str:
    """The sha256 of the renderer's source files.

    The disk cache is keyed on the kernel listing plus this, not on the rendered IR: on a hit
    nothing is rendered (rendering costs milliseconds a kernel, most of a warm start), and any
    edit of the renderer still gives new keys.
    """
    h = hashlib.sha256(RENDERER_VERSION.encode())
    here = Path(__file__).parent
    for name in _RENDERER_MODULES:
        h.update((here / f"{name}.py").read_bytes())
    return h.hexdigest()


def kernel_key(kernel: Kernel) -> str:
    """The disk-cache key of a kernel's object code (and part of its library's) on this host."""
    flags = [host_cpu(), renderer_fingerprint()]
    return cache_key(kernel.listing(), "llvm", flags, {"llvmlite": llvmlite.__version__})


def link(kernel: Kernel, obj: bytes, hit: bool, ir_text: str | None, t0: float) -> CompiledKernel:
    """Link `obj` into the JIT and register the kernel (the caller holds _LOCK)."""
    from symgraph.codegen import llvm_jit

    module = llvm_jit.load_object(obj)
    return _register(kernel, module, _addresses(kernel, module.address), hit, ir_text, t0)


def _addresses(kernel: Kernel, lookup: Callable[[str], int]) -> dict[str, int]:
    """The addresses of the kernel's functions (SYMBOLS), by name; KeyError if one is missing."""
    return {s: lookup(f"{kernel.name}_{s}") for s in SYMBOLS[kernel.kind]}


def _register(kernel: Kernel, module, addresses: dict, hit: bool, ir_text, t0) -> CompiledKernel:
    from symgraph.codegen.llvm_abi import make_entry

    STATS["cache_hits" if hit else "compiled"] += 1
    call, keep = make_entry(kernel, addresses)
    compiled = CompiledKernel(kernel, ir_text, module, call, hit, time.perf_counter() - t0, keep)
    _COMPILED[kernel.name] = compiled
    return compiled


def compile_kernels(
    kernels: list[Kernel], meanwhile: Callable[[], None] | None = None
) -> list[CompiledKernel | NotLowerable]:
    """The compiled kernels, each built once per process, or in place of one the renderer
    cannot express, its NotLowerable. Disk-cache hits are linked here; only when some kernel
    is missing is llvm.py imported, to render and compile the missing ones on several threads
    at once (they are then linked one by one). Any other build error is raised.

    ``meanwhile`` runs on this thread while the missing kernels build on others (inline when
    none is missing): a scan's inner function compiles while its outer function's kernels
    build. Several threads may call this at once: each builds the kernels nobody else is
    building, then waits for those another thread claimed first."""
    if not kernels:
        return []
    keys = {kernel_key(k): k for k in kernels}
    library_key = cache_key("\n".join(sorted(keys)), "llvm-library")
    if _from_library(library_key, kernels):
        return _compile(kernels, meanwhile)  # only what the library lacks: NotLowerable ones
    done = _compile(kernels, meanwhile)
    built = [key for key, k in keys.items() if isinstance(_COMPILED.get(k.name), CompiledKernel)]
    what = f"library of {len(built)} kernel{'' if len(built) == 1 else 's'}"
    native_lib.link_later(_CACHE, library_key, built, what)
    return done


def _from_library(key: str, kernels: list[Kernel]) -> bool:
    """Register the kernels not yet in this process from the cached library ``key``; False
    when there is no such library."""
    t0 = time.perf_counter()
    with _LOCK:
        wanted = [k for k in kernels if k.name not in _COMPILED and k.name not in _BUILDING]
        if not wanted:
            return native_lib.cached(_CACHE, key) is not None
        lib = native_lib.load(_CACHE, key)
        if lib is None:
            return False
        for kernel in wanted:
            try:
                addresses = _addresses(kernel, functools.partial(native_lib.address, lib))
            except KeyError:
                continue  # not lowerable when the library was linked: built (and refused) again
            _register(kernel, lib, addresses, True, None, t0)
    return True


def _compile(kernels: list[Kernel], meanwhile: Callable[[], None] | None):
    """compile_kernels without the library: link the cached objects, build the others."""
    while True:
        mine, theirs = _claim(kernels)
        try:
            if mine and meanwhile is not None:
                _alongside(functools.partial(_build, mine), meanwhile)
            else:
                if meanwhile is not None:
                    meanwhile()
                _build(mine)
            meanwhile = None
        finally:
            _release(mine.values())
        failed = {}
        for name, claim in {**theirs, **mine}.items():
            claim.done.wait()
            if claim.failure is not None:
                failed[name] = claim.failure
        with _LOCK:
            done = [failed.get(k.name) or _COMPILED.get(k.name) for k in kernels]
        if all(done):  # else another thread's build raised: claim what it left, and retry
            return done


def _alongside(work: Callable[[], None], meanwhile: Callable[[], None]) -> None:
    """work() on a new thread while this one runs meanwhile(); work's exception is raised."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 (handed to the calling thread)
            failure.append(exc)

    thread = threading.Thread(target=run, name="symgraph-build")
    thread.start()
    try:
        meanwhile()
    finally:
        thread.join()
    if failure:
        raise failure[0]


class _Claim:
    """A kernel one thread is building: `done` is set when it is linked or has failed."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.done = threading.Event()
        self.failure: NotLowerable | None = None


def _claim(kernels: list[Kernel]) -> tuple[dict[str, _Claim], dict[str, _Claim]]:
    """Link the disk-cache hits; claim the missing kernels nobody is building (to build them
    here), and find those another thread is building."""
    mine: dict[str, _Claim] = {}
    theirs: dict[str, _Claim] = {}
    with _LOCK:
        for kernel in kernels:
            name = kernel.name
            if name in _COMPILED or name in mine or name in theirs:
                continue
            if name in _BUILDING:
                theirs[name] = _BUILDING[name]
                continue
            t0 = time.perf_counter()
            obj = _CACHE.get_bytes(kernel_key(kernel))
            if obj is None:
                mine[name] = _BUILDING[name] = _Claim(kernel)
            else:
                link(kernel, obj, True, None, t0)
    return mine, theirs


def _build(mine: dict[str, _Claim]) -> None:
    """Build and link the kernels this thread claimed, releasing each as soon as it is done
    (a thread waiting for it may be the one that runs `meanwhile` for this build)."""
    if not mine:
        return
    from symgraph.codegen.llvm_build import build_objects

    claims = list(mine.values())
    try:
        for claim, built in zip(claims, build_objects([c.kernel for c in claims])):
            if isinstance(built, NotLowerable):
                claim.failure = built
            elif isinstance(built, BaseException):
                raise built
            else:
                obj, hit, ir_text, seconds = built
                with _LOCK:
                    link(claim.kernel, obj, hit, ir_text, time.perf_counter() - seconds)
            _release([claim])
    finally:
        _release(claims)  # those left by an error: their waiters retry


def _release(claims) -> None:
    """Mark claims done (linked, failed, or given up); a claim may be released twice."""
    with _LOCK:
        for claim in claims:
            if _BUILDING.get(claim.kernel.name) is claim:
                del _BUILDING[claim.kernel.name]
            claim.done.set()


def compile_kernel(kernel: Kernel) -> CompiledKernel:
    """The compiled kernel: from this process, from the disk cache, or built by llvm.py."""
    result = compile_kernels([kernel])[0]
    if isinstance(result, NotLowerable):
        raise result
    return result
