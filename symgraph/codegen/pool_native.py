"""2x2 max pooling and its gradient through codegen/kernels/pool2d.c (built once, cached).

`maxpool(op, x, alloc)` / `maxpool_grad(op, x, z, gz, alloc)` return None when the C kernel
does not apply (another mode, window, stride, padding or dtype; a partial window; no C
compiler): the caller then runs the op's numpy kernel. Arrays that are not C-contiguous are
copied first.
"""

from __future__ import annotations

import ctypes
import functools
import os

import numpy as np

SUFFIX = {np.dtype("float32"): "f32", np.dtype("float64"): "f64"}


class _Params(ctypes.Structure):  # sg_pool2d
    _fields_ = [(name, ctypes.c_long) for name in ("planes", "h", "w", "oh", "ow")]


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None when there is no working C toolchain."""
    from symgraph.codegen.c_toolchain import CCompileError, build_shared_library, toolchain
    from symgraph.codegen.cstyle import read_template

    if not toolchain().available:
        return None
    try:
        path, _ = build_shared_library(read_template("pool2d.c"), "pool2d")
    except (CCompileError, OSError):
        return None
    return ctypes.CDLL(str(path), mode=os.RTLD_LOCAL)


def _kernel(name: str, op, x: np.ndarray, out_hw: tuple):
    """The kernel for this op and input, or None where it does not apply."""
    two_by_two = op.mode == "max" and op.ws == op.stride == (2, 2) and op.pad == (0, 0)
    if not two_by_two or x.dtype not in SUFFIX or x.ndim < 2 or x.size == 0:
        return None
    if tuple(out_hw) != (x.shape[-2] // 2, x.shape[-1] // 2) or 0 in out_hw:
        return None  # a partial window at the border (ignore_border=False)
    lib = library()
    return None if lib is None else getattr(lib, f"{name}_{SUFFIX[x.dtype]}")


def _params(x: np.ndarray, out_hw: tuple) -> _Params:
    h, w = x.shape[-2:]
    return _Params(x.size // (h * w), h, w, *out_hw)


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def maxpool(op, x: np.ndarray, alloc) -> np.ndarray | None:
    """Pool (mode 'max') of x, or None where the C kernel does not apply."""
    out_hw = op.out_hw(*x.shape[-2:])
    kernel = _kernel("sg_maxpool2x2", op, x, out_hw)
    if kernel is None:
        return None
    x = np.ascontiguousarray(x)
    z = alloc("out", x.shape[:-2] + tuple(out_hw), x.dtype)
    kernel(ctypes.byref(_params(x, out_hw)), _ptr(x), _ptr(z))
    return z


def maxpool_grad(op, x: np.ndarray, z: np.ndarray, gz: np.ndarray, alloc) -> np.ndarray | None:
    """MaxPoolGrad of (x, z, gz), or None where the C kernel does not apply."""
    out_hw = tuple(z.shape[-2:])
    kernel = _kernel("sg_maxpool2x2_grad", op, x, out_hw)
    if kernel is None or not x.dtype == z.dtype == gz.dtype:
        return None
    if z.shape != gz.shape or z.shape[:-2] != x.shape[:-2] or out_hw != op.out_hw(*x.shape[-2:]):
        return None  # the numpy kernel raises or broadcasts as the reference does
    x, z, gz = (np.ascontiguousarray(a) for a in (x, z, gz))
    gx = alloc("out", x.shape, x.dtype)
    kernel(ctypes.byref(_params(x, out_hw)), _ptr(x), _ptr(z), _ptr(gz), _ptr(gx))
    return gx
