"""One BLAS thread while a loop of small products runs.

OpenBLAS splits a product across its threads from ~64^3 multiply-adds on. A scan step's
products are small (an RNN step is 32x256 @ 256x256) and come one after another: each one
wakes the workers, splits a few microseconds of work, and leaves them spinning against the
calling thread's next step. On the 2-core machines (FACTS.md) 100 such products took 2x the
time of one thread when quiet and up to 10x with other processes running. So the loop of a
Scan whose per-step operands are small runs with one BLAS thread; the count in force before
is restored after the loop (the products around it, e.g. a gradient pushed out of the loop as
one big GEMM, keep all threads).

Only numpy's own OpenBLAS (the one codegen/cblas.py calls) is switched; without its
``openblas_set_num_threads`` this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
from contextlib import contextmanager

# Per-step operands (elements, all inner inputs of one step together) up to which one thread
# is used: a 256x256 weight and two 32x256 rows are ~82k; a 2048x2048 weight (4M) keeps the
# threads, its per-step product being large enough to split.
SMALL_STEP = 1 << 20


@functools.cache
def _functions() -> tuple | None:
    """(get, set) of the number of threads of numpy's OpenBLAS, or None."""
    if os.environ.get("SYMGRAPH_NO_CBLAS"):
        return None
    from symgraph.codegen import cblas

    lib = cblas.library()
    if lib is None:
        return None
    handle = ctypes.CDLL(lib.path)
    for get_name, set_name in (
        ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
        ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
        ("openblas_get_num_threads", "openblas_set_num_threads"),
    ):
        try:
            get, set_ = getattr(handle, get_name), getattr(handle, set_name)
        except AttributeError:
            continue
        get.restype, get.argtypes = ctypes.c_int, []
        set_.restype, set_.argtypes = None, [ctypes.c_int]
        return get, set_
    return None


def blas_threads() -> int | None:
    """The number of threads numpy's OpenBLAS uses now (None: not known)."""
    fns = _functions()
    return None if fns is None else fns[0]()


@contextmanager
def one_blas_thread(enabled: bool = True):
    """Run the body with one OpenBLAS thread (when `enabled`), then restore the count."""
    fns = _functions() if enabled else None
    before = fns[0]() if fns is not None else 1
    if before <= 1:
        yield
        return
    fns[1](1)
    try:
        yield
    finally:
        fns[1](before)


def small_step(values: list) -> bool:
    """Whether a step whose inner inputs are about `values` (arrays) has small products."""
    return sum(getattr(v, "size", 1) for v in values) <= SMALL_STEP
