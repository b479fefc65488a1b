"""Object code of LLVM kernels, built on several threads at once.

A function's kernels that are missing from the disk cache are rendered (llvm.py) and compiled
(llvm_jit.py) together: LLVM's optimization and codegen release the GIL and run outside
llvmlite's lock, each in its own context on a borrowed target machine, so two kernels compile
at once on two cores while a third thread may render. llvm_load.compile_kernels links the
results into the process JIT one by one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from symgraph.codegen import llvm, llvm_jit, llvm_load
from symgraph.codegen.kernel import Kernel
from symgraph.codegen.llvm_abi import cpu_threads
from symgraph.codegen.llvm_load import STATS, kernel_key


def compile_threads() -> int:
    """How many kernels are built at once: llvm_abi.cpu_threads (SYMGRAPH_NUM_THREADS, else one
    per CPU this process may use)."""
    return cpu_threads()


def _settle(fn: Callable, x) -> object:
    """fn(x), or the exception it raised."""
    try:
        return fn(x)
    except Exception as exc:
        return exc


def _map_threads(fn: Callable, items: list) -> list:
    """[fn(x) for x in items], an exception in place of the result of a call that raised, on
    up to compile_threads() threads, this one included. LLVM's optimization and codegen release
    the GIL (llvm_jit.emit_object), and one thread renders (Python) while another compiles."""
    nthreads = min(compile_threads(), len(items))
    if nthreads <= 1:
        return [_settle(fn, x) for x in items]
    results: list = [None] * len(items)
    todo = iter(range(len(items)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                k = next(todo, None)
            if k is None:
                return
            results[k] = _settle(fn, items[k])

    threads = [
        threading.Thread(target=work, name=f"symgraph-build-{t}") for t in range(1, nthreads)
    ]
    for t in threads:
        t.start()
    work()
    for t in threads:
        t.join()
    STATS["built_on_threads"] += len(items)
    return results


def _object_code(kernel: Kernel) -> tuple[bytes, bool, str | None, float]:
    """(object code, disk-cache hit, IR text if rendered, seconds) of one kernel; thread-safe."""
    t0 = time.perf_counter()
    rendered: list[str] = []

    def build() -> bytes:
        rendered.append(llvm.render_module(kernel))
        # A 0-d kernel computes one element: there is no loop to optimize, and the O3
        # pipeline cost ~20 of its ~27 ms (the scalar plumbing of a mean, a cast of a
        # shape) in every cold compile.
        return llvm_jit.emit_object(rendered[0], optimize=kernel.ndim > 0)

    cache = llvm_load._CACHE  # looked up now: tests point it at a directory of their own
    obj, hit = cache.get_or_build_bytes(kernel_key(kernel), build, meta={"kernel": kernel.name})
    return obj, hit, rendered[0] if rendered else None, time.perf_counter() - t0


_ENTRY = object()  # the work item that loads the kernels' shared entry point


def _build_one(item) -> object:
    from symgraph.codegen import llvm_abi

    return llvm_abi.entry_address() if item is _ENTRY else _object_code(item)


def build_objects(kernels: list[Kernel]) -> list[tuple[bytes, bool, str | None, float] | Exception]:
    """The object code of each kernel, (object, disk-cache hit, IR text if rendered, seconds),
    or the exception its build raised (NotLowerable: the renderer cannot express it), built on
    several threads at once. llvm_load.compile_kernels links them. The kernels' entry point,
    when this process has not loaded it yet, is loaded (or, the first time on this machine,
    built) alongside, first: it is the longest single item."""
    from symgraph.codegen import llvm_abi

    llvm_jit.jit()  # the process-wide objects are made here, not raced for by threads
    llvm_abi.abi()
    items = ([] if llvm_abi.entry_loaded() else [_ENTRY]) + list(kernels)
    # an entry that failed to build is built again, and its error raised, by the first kernel
    # registered (llvm_abi.make_entry)
    return _map_threads(_build_one, items)[len(items) - len(kernels):]
