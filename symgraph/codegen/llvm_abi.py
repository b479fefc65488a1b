"""The calling convention of the kernels' Python entry point (llvm_entry.py renders it): the
ndarray and tuple field offsets, checked on live objects; a kernel's ``sg_kernel_info``
(kernels/c_kernel.h); the entry itself, loaded once per process; and the builtin function
that calls it for one kernel. Kept apart from the renderer, so that a process whose kernels
all come from the disk cache links them without importing llvmlite.ir.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import sys
import threading
from pathlib import Path

import numpy as np

from symgraph.codegen.kernel import Kernel

METH_FASTCALL = 0x0080
C_CONTIGUOUS, ALIGNED, WRITEABLE = 0x0001, 0x0100, 0x0400
GIL_RELEASE_MIN = 1 << 15  # elements; below this the loop is shorter than a GIL hand-off
# Elements from which a loop is split across threads: two threads double the bandwidth
# (FACTS.md), and a hand-off to a worker costs ~10-20 us, the time of ~50k float32 exps.
PARALLEL_MIN = 1 << 17
# From this many elements a loop runs on the BLAS's own OpenMP team where it has one
# (cblas.openmp_team): its threads spin after each product, so a fork and join costs ~1 us
# back to back and ~3 us right after a product (measured through ctypes on an empty body).
TEAM_MIN = 1 << 15
RUNTIME_VERSION = "2"
ENTRY_NAME = "symgraph_kernel_entry"
TEAM_STATE_NAME = "symgraph_team_state"  # returns the address of the team's state
TEAM_BODY_NAME = "symgraph_team_body"
STRIDED_NAME = "symgraph_kernel_strided"
# What each kind of kernel's module defines, read into its sg_kernel_info ("flat": a
# reduction's row fold; `strided` stays empty: llvm_strided.py's loop serves every kernel).
SYMBOLS = {"elemwise": ("flat",), "reduce": ("flat", "init")}
# sg_kernel_info (kernels/c_kernel.h), field by field: name, kind
INFO_FIELDS = (
    ("nin", "int32"),
    ("nout", "int32"),
    ("ndim", "int32"),
    ("reduce", "int32"),
    ("naxes", "int32"),
    ("empty_is_error", "int32"),
    ("parallel_min", "int64"),
    ("gil_release_min", "int64"),
    ("bcast", "bytes"),
    ("scalar", "bytes"),
    ("itemsize", "int64s"),
    ("reduced", "bytes"),
    ("flat", "flat"),
    ("strided", "strided"),
    ("init", "init"),
)
_CTYPES = {"int32": ctypes.c_int32, "int64": ctypes.c_int64}


def cpu_threads() -> int:
    """The threads a process's parallel work may use: SYMGRAPH_NUM_THREADS, else one per CPU
    this process may run on (the kernels' thread pool and team, the kernels' builds)."""
    wanted = os.environ.get("SYMGRAPH_NUM_THREADS", "").strip()
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class TeamState(ctypes.Structure):
    """The OpenMP team the entry runs large loops on (llvm_entry.TEAM): no team while `fork`
    is null."""

    _fields_ = [
        ("fork", ctypes.c_void_p),  # GOMP_parallel
        ("thread_num", ctypes.c_void_p),  # omp_get_thread_num
        ("num_threads", ctypes.c_void_p),  # omp_get_num_threads
        ("min_work", ctypes.c_int64),  # elements
        ("threads", ctypes.c_int32),
    ]


class KernelInfo(ctypes.Structure):
    """sg_kernel_info: what the shared entry knows of one kernel (built by `kernel_info`)."""

    _fields_ = [(name, _CTYPES.get(kind, ctypes.c_void_p)) for name, kind in INFO_FIELDS]


_PROBE = bytes(range(1, 17))


class ABIError(RuntimeError):
    """This interpreter's object layout is not the one the entry points are written for."""


@functools.cache
def abi() -> dict[str, int]:
    """Byte offsets of the fields the entry point reads, checked on live objects."""
    head = 16  # PyObject_HEAD: refcount, type
    if sys.version_info >= (3, 13) and not getattr(sys, "_is_gil_enabled", lambda: True)():
        raise ABIError("free-threaded CPython: object layout not supported by entry points")
    off = {
        "ob_type": 8,
        "data": head,
        "nd": head + 8,
        "dims": head + 16,
        "strides": head + 24,
        "descr": head + 40,
        "flags": head + 48,
        "tuple_items": head + 8,
        "bytes_data": head + 16,  # ob_size, ob_shash, then ob_sval
    }

    def word(obj, at, kind=ctypes.c_int64):
        return kind.from_address(id(obj) + at).value

    a = np.zeros((3, 4, 5), dtype="float32")[:, ::2]
    checks = [
        word(a, off["ob_type"]) == id(np.ndarray),
        word(a, off["data"]) == a.ctypes.data,
        word(a, off["nd"], ctypes.c_int32) == 3,
        [ctypes.c_int64.from_address(word(a, off["dims"]) + 8 * i).value for i in range(3)]
        == list(a.shape),
        [ctypes.c_int64.from_address(word(a, off["strides"]) + 8 * i).value for i in range(3)]
        == list(a.strides),
        word(a, off["descr"]) == id(a.dtype),
        word(a, off["flags"], ctypes.c_int32) & C_CONTIGUOUS == 0,
        word(a.copy(), off["flags"], ctypes.c_int32) & (C_CONTIGUOUS | ALIGNED | WRITEABLE)
        == C_CONTIGUOUS | ALIGNED | WRITEABLE,
        word((a, None), off["tuple_items"] + 8) == id(None),
        ctypes.string_at(id(_PROBE) + off["bytes_data"], len(_PROBE)) == _PROBE,
    ]
    if not all(checks):
        raise ABIError(f"unexpected ndarray / tuple layout (checks: {checks})")
    return off


class _MethodDef(ctypes.Structure):
    _fields_ = [
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    ]


_new_cfunction = ctypes.pythonapi.PyCFunction_NewEx
_new_cfunction.restype = ctypes.py_object
_new_cfunction.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]


def _table(ctype, values: list):
    return (ctype * max(len(values), 1))(*values)  # C has no empty arrays


def kernel_info(kernel: Kernel, addresses: dict[str, int]) -> tuple[KernelInfo, list]:
    """The kernel's sg_kernel_info, pointing at its functions' `addresses` (by SYMBOLS
    name), and the tables it points into (to keep alive with it)."""
    ops = list(kernel.inputs) + list(kernel.outputs)
    nd = kernel.ndim
    # The LLVM entry reads a row of `bcast` and `scalar` for every operand: an elementwise
    # output's axes of static size 1 are those every input broadcasts (then its size must be
    # 1), and no output is read once.
    pinned = [all(o.bcast[d] for o in kernel.inputs) for d in range(nd)]
    out_rows = [pinned] * len(kernel.outputs) if kernel.kind == "elemwise" else []
    tables = [
        _table(ctypes.c_ubyte, [b for o in kernel.inputs for b in o.bcast] + sum(out_rows, [])),
        _table(ctypes.c_ubyte, [o.is_scalar for o in kernel.inputs] + [0] * len(kernel.outputs)),
        _table(ctypes.c_int64, [np.dtype(o.dtype).itemsize for o in ops]),
        _table(ctypes.c_ubyte, [a in kernel.axes for a in range(nd)]),
    ]
    reduce = kernel.kind == "reduce"
    info = KernelInfo(
        len(kernel.inputs),
        len(kernel.outputs),
        nd,
        reduce,
        len(kernel.axes) if reduce else 0,
        reduce and kernel.reduce_op in ("maximum", "minimum"),
        PARALLEL_MIN,
        GIL_RELEASE_MIN,
        *(ctypes.addressof(t) for t in tables),
        *(addresses.get(name) or None for name in ("flat", "strided", "init")),
    )
    return info, tables


def make_entry(kernel: Kernel, addresses: dict[str, int]) -> tuple[object, list]:
    """The kernel's builtin function (the entry with its info), and the objects to keep alive.

    `self` is ``(ndarray, the info's bytes, dtype of operand 0, ...)``, then the method
    table the function points to and the tables the info points into: whoever holds the
    function keeps them alive (a freed table was read by the garbage collector while a
    compiled function still held the entry). The entry reads `self` by position and never
    looks past the dtypes.
    """
    info, tables = kernel_info(kernel, addresses)
    method = _MethodDef(kernel.name.encode(), entry_address(), METH_FASTCALL, None)
    dtypes = tuple(np.dtype(o.dtype) for o in list(kernel.inputs) + list(kernel.outputs))
    self = (np.ndarray, bytes(info), *dtypes, method, tables)
    fn = _new_cfunction(ctypes.addressof(method), self, None)
    return fn, [method, self]


# --- the entry, once per process ----------------------------------------------------------

_RUNTIME: list = []  # [entry's address, library or JIT module holding it, team getter's address]
_RUNTIME_LOCK = threading.Lock()
_RUNTIME_SOURCES = ("llvm_abi.py", "llvm_entry.py", "llvm_strided.py", "llvm_jit.py", "llvm.py")


def runtime_key() -> str:
    """The disk-cache key of the entry's object code: the sources deciding it, the host."""
    import llvmlite

    from symgraph.codegen.cache import cache_key, host_cpu

    source = hashlib.sha256(RUNTIME_VERSION.encode())
    here = Path(__file__).parent
    for name in _RUNTIME_SOURCES:
        source.update((here / name).read_bytes())
    return cache_key(
        source.hexdigest(), "llvm-kernel-entry", [host_cpu()], {"llvmlite": llvmlite.__version__}
    )


def entry_address() -> int:
    """The address of ``symgraph_kernel_entry``: from its cached library (no LLVM), else its
    cached object linked into the JIT, else rendered and compiled now (once per machine)."""
    loaded = False
    with _RUNTIME_LOCK:
        if not _RUNTIME:
            _RUNTIME[:] = _load_runtime()
            loaded = True
    if loaded:
        adopt_blas_team()
    return _RUNTIME[0]


def entry_loaded() -> bool:
    """Whether this process has loaded the entry already."""
    return bool(_RUNTIME)


def team_state() -> TeamState:
    """The entry's team state (in the loaded runtime; loads it)."""
    entry_address()
    return TeamState.from_address(ctypes.CFUNCTYPE(ctypes.c_void_p)(_RUNTIME[2])())


def adopt_blas_team() -> None:
    """Run large loops on the chosen BLAS's OpenMP team, if it has one and has been chosen
    (when the entry loads, and when a function calling BLAS is built)."""
    from symgraph.codegen import cblas

    team = cblas.openmp_team()
    if team is not None:
        use_team(team, TEAM_MIN)


def use_team(team: tuple[int, int, int, int] | None, min_work: int) -> None:
    """Run every kernel loop of at least `min_work` elements on this OpenMP team: `team` is the
    addresses of its runtime's GOMP_parallel, omp_get_thread_num and omp_get_num_threads and
    its thread count (None, or one thread: no team, loops split on the driver's thread pool).
    The entry reads a null `fork` as no team."""
    state = team_state()
    if team is None or team[3] < 2:
        state.fork = None
        return
    fork, thread_num, num_threads, threads = team
    state.thread_num, state.num_threads = thread_num, num_threads
    state.min_work, state.threads = min_work, threads
    state.fork = fork  # last: a loop that sees it sees the rest


def _load_runtime() -> list:
    from symgraph.codegen import native_lib
    from symgraph.codegen.cache import DiskCache

    abi()

    def build() -> bytes:
        from symgraph.codegen import llvm_jit
        from symgraph.codegen.llvm_entry import render_runtime

        return llvm_jit.emit_object(render_runtime(), optimize=False)

    lib, module = native_lib.load_or_link(DiskCache(), runtime_key(), build, "kernel entry")
    if lib is not None:
        return [native_lib.address(lib, ENTRY_NAME), lib, native_lib.address(lib, TEAM_STATE_NAME)]
    return [module.address(ENTRY_NAME), module, module.address(TEAM_STATE_NAME)]
