"""Arrays in GPU memory: what shared variables hold on the cuda backend, and what flows
between the steps of a compiled function.

A ``DeviceArray`` is a shape, a dtype, strides (in bytes, as numpy's), a device pointer and
the allocation that owns the memory (so views keep it alive). ``SharedVariable.get_value()``
returns a numpy copy (``get()``), and a pickled DeviceArray loads as a numpy array, also on
machines without a GPU or pycuda: this module imports no GPU code until a copy is made.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np


def _driver():
    from symgraph.codegen.cuda.driver import get_driver

    return get_driver()


def c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """numpy's strides of a C-contiguous array."""
    strides, step = [], itemsize
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


_new = object.__new__


class DeviceArray:
    """An n-dimensional array in GPU memory (see the module docstring)."""

    __array_priority__ = 100  # numpy defers binary operators to us (and we refuse them)

    def __init__(self, shape: tuple[int, ...], dtype: Any, ptr: int, base: Any = None,
                 strides: tuple[int, ...] | None = None):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.ptr = int(ptr)
        self.base = base  # the allocation (or array) owning the memory
        self.strides = c_strides(self.shape, self.dtype.itemsize) if strides is None else (
            tuple(int(s) for s in strides))

    # --- numpy-like attributes ------------------------------------------------------------

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def is_c_contiguous(self) -> bool:
        """Whether the elements are one C-ordered block (size-1 axes' strides do not matter)."""
        step = self.itemsize
        for size, stride in zip(reversed(self.shape), reversed(self.strides)):
            if size != 1 and stride != step:
                return False
            step *= size
        return True

    def elem_strides(self) -> tuple[int, ...]:
        """Strides in elements, 0 on axes of size 1 (what kernels take)."""
        return tuple(0 if n == 1 else s // self.itemsize for n, s in zip(self.shape, self.strides))

    def view(self, shape: tuple[int, ...], strides: tuple[int, ...], offset: int = 0
             ) -> DeviceArray:
        """Another view of the same memory (offset in bytes)."""
        return DeviceArray(shape, self.dtype, self.ptr + offset, self.base or self, strides)

    def view_of(self, shape: tuple[int, ...], strides: tuple[int, ...]) -> DeviceArray:
        """view(shape, strides) for tuples of ints known good (a step's cached layout): no
        conversions, as cheap as a Python object gets."""
        out = _new(DeviceArray)
        out.shape, out.dtype, out.ptr, out.strides = shape, self.dtype, self.ptr, strides
        out.base = self.base or self
        return out

    def transpose(self, *axes: int) -> DeviceArray:
        axes = axes or tuple(reversed(range(self.ndim)))
        return self.view(tuple(self.shape[a] for a in axes), tuple(self.strides[a] for a in axes))

    @property
    def T(self) -> DeviceArray:  # noqa: N802 (numpy's name)
        return self.transpose()

    def reshape(self, shape: tuple[int, ...]) -> DeviceArray:
        """A view with a new shape (C-contiguous arrays only: others need a copy first)."""
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != self.size:
            raise ValueError(f"cannot reshape a device array of shape {self.shape} into {shape}")
        if not self.is_c_contiguous:
            raise ValueError("reshape of a non-contiguous device array: copy it first")
        return self.view(shape, c_strides(shape, self.itemsize))

    # --- host copies ----------------------------------------------------------------------

    def get(self, purpose: str = "get") -> np.ndarray:
        """A numpy copy of the array (one device-to-host copy, counted by the driver)."""
        from symgraph.codegen.cuda.arrays import contiguous

        src = self if self.is_c_contiguous else contiguous(self)
        host = np.empty(self.shape, self.dtype)
        if host.nbytes:
            _driver().dtoh(host, src.ptr, purpose)
        return host

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        host = self.get()
        return host if dtype is None else host.astype(dtype)

    def copy(self) -> DeviceArray:
        """A C-contiguous copy on the device."""
        from symgraph.codegen.cuda.arrays import contiguous

        return contiguous(self, force=True)

    def __reduce__(self):
        return self.get("pickle").__reduce__()  # unpickles as the numpy array: no GPU needed

    @property
    def __cuda_array_interface__(self) -> dict:
        """For torch / cupy / numba: they can use this memory without a copy."""
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.ptr, False),
                "strides": None if self.is_c_contiguous else self.strides, "version": 3}

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d device array")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype.name}, ptr=0x{self.ptr:x})"


def empty(shape: tuple[int, ...], dtype: Any, what: str = "an array") -> DeviceArray:
    """A new C-contiguous device array (uninitialized) from the driver's pool."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    alloc = _driver().alloc(nbytes, f"{what} {tuple(shape)} {dtype.name}")
    return DeviceArray(shape, dtype, int(alloc), alloc)


def to_device(host: Any, purpose: str, what: str = "an array") -> DeviceArray:
    """A device copy of a host value (one host-to-device copy, counted by purpose)."""
    host = np.ascontiguousarray(host)
    dev = empty(host.shape, host.dtype, what)
    if host.nbytes:
        _driver().htod(dev.ptr, host, purpose)
    return dev


def take_buffer(buffers: list, k: int, shape: tuple[int, ...], dtype: Any, what: str
                ) -> DeviceArray:
    """A step's output buffer k, kept from its last call when it has this shape and nobody
    holds it or a view of it any more; else its spare (``buffers[k + len(buffers) // 2]``:
    an update swapped into a shared variable each call ping-pongs between two buffers); else
    a new one. As the CPU backend's take_buffer; on the GPU it also spares the pool's call and
    a DeviceArray per output. Reuse is safe against the device's own work: every kernel, copy
    and cuBLAS call is ordered on the driver's one stream."""
    spare = k + len(buffers) // 2
    for slot in (k, spare):
        buf = buffers[slot]
        # references: the list, `buf`, getrefcount's argument; the allocation's: buf.base
        # and the argument (a view of buf holds the allocation, not buf)
        if (buf is not None and sys.getrefcount(buf) == 3 and buf.shape == shape
                and sys.getrefcount(buf.base) == 2):
            if slot == spare:  # the fast path looks at slot k first next time
                buffers[k], buffers[spare] = buf, buffers[k]
            return buf
    buffers[spare] = buffers[k]
    buf = buffers[k] = empty(shape, dtype, what)
    return buf
