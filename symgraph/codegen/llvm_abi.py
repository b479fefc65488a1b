"""The calling convention of the kernels' Python entry points (llvm_entry.py renders them):
the ndarray and tuple field offsets, checked on live objects, and the builtin function that
wraps an entry's address. Kept apart from the renderer, so that a process whose kernels all
come from the disk cache links them without importing llvmlite.ir.
"""

from __future__ import annotations

import ctypes
import functools
import sys

import numpy as np

from symgraph.codegen.kernel import Kernel

METH_FASTCALL = 0x0080
C_CONTIGUOUS, ALIGNED, WRITEABLE = 0x0001, 0x0100, 0x0400
GIL_RELEASE_MIN = 1 << 15  # elements; below this the loop is shorter than a GIL hand-off
# Elements from which a loop is split across threads: two threads double the bandwidth
# (FACTS.md), and a hand-off to a worker costs ~10-20 us, the time of ~50k float32 exps.
PARALLEL_MIN = 1 << 17


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


def make_entry(kernel: Kernel, address: int) -> tuple[object, list]:
    """The builtin function calling the entry at `address`, and the objects to keep alive.

    `self` holds what the entry compares types and descrs against, then the method table the
    function points to: whoever holds the function keeps its table alive (a freed table was
    read by the garbage collector while a compiled function still held the entry). The entry
    reads `self` by position and never looks at that last item.
    """
    method = _MethodDef(kernel.name.encode(), address, METH_FASTCALL, None)
    dtypes = tuple(np.dtype(o.dtype) for o in list(kernel.inputs) + list(kernel.outputs))
    self = (np.ndarray, *dtypes, method)
    fn = _new_cfunction(ctypes.addressof(method), self, None)
    return fn, [method, self]
