"""Matrix products on the GPU: cuBLAS through ctypes, on the driver's stream and memory.

libcublas is found in ``$SYMGRAPH_CUBLAS``, the CUDA toolkit (``$CUDA_ROOT``, or beside nvcc),
the ``nvidia-cublas`` pip packages (PyTorch's), or the loader's path. Dot, Gemm, Gemv and Ger
on float32 / float64 are all one ``gemm`` on 2-d views: row-major C = A @ B is column-major
C^T = B^T A^T, and a transposed view (a DimShuffle) becomes cuBLAS's transpose flag, not a copy.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from symgraph.codegen.cuda.arrays import contiguous, copy_into, fill
from symgraph.codegen.cuda.compiler import nvcc_path
from symgraph.codegen.cuda.driver import get_driver
from symgraph.codegen.cuda.elemwise import remember
from symgraph.codegen.cuda.steps import Step, lower
from symgraph.codegen.cuda.storage import DeviceArray, take_buffer
from symgraph.graph import Apply
from symgraph.ops.blas import Dot, check_runtime_alignment
from symgraph.ops.gemm import Gemm, Gemv, Ger

OP_N, OP_T = 0, 1
_GEMM = {"float32": ("cublasSgemm_v2", ctypes.c_float),
         "float64": ("cublasDgemm_v2", ctypes.c_double)}


def _candidates() -> list[str]:
    found = [os.environ.get("SYMGRAPH_CUBLAS", "")]
    roots = [os.environ.get(v, "") for v in ("CUDA_ROOT", "CUDA_HOME", "CUDA_PATH")]
    if nvcc_path():
        roots.append(str(Path(nvcc_path()).resolve().parent.parent))
    for root in filter(None, roots):
        for sub in ("lib64", "lib", "targets/x86_64-linux/lib", "targets/sbsa-linux/lib"):
            found += sorted(glob.glob(f"{root}/{sub}/libcublas.so*"), reverse=True)
    for entry in sys.path:  # pip's nvidia-cublas-cu12 / nvidia-cublas (cu13) wheels
        found += sorted(glob.glob(f"{entry}/nvidia/*/lib/libcublas.so*"), reverse=True)
    return [p for p in found if p and Path(p).is_file()] + ["libcublas.so"]


@functools.cache
def cublas() -> ctypes.CDLL:
    """libcublas, loaded once (its libcublasLt first, from the same directory)."""
    errors = []
    for path in _candidates():
        try:
            lt = sorted(glob.glob(str(Path(path).parent / "libcublasLt.so*")), reverse=True)
            if lt:
                ctypes.CDLL(lt[0], mode=ctypes.RTLD_GLOBAL)
            return ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
    raise OSError("cuBLAS not found (set SYMGRAPH_CUBLAS to libcublas.so, or install the CUDA "
                  "toolkit or `pip install nvidia-cublas`); tried:\n" + "\n".join(errors))


@functools.cache
def handle() -> ctypes.c_void_p:
    """The cuBLAS handle of the driver's context, on the driver's stream."""
    lib, drv = cublas(), get_driver()
    h = ctypes.c_void_p()
    _check(lib.cublasCreate_v2(ctypes.byref(h)), "cublasCreate")
    _check(lib.cublasSetStream_v2(h, ctypes.c_void_p(drv.stream.handle)), "cublasSetStream")
    return h


def _check(status: int, what: str) -> None:
    if status != 0:
        raise RuntimeError(f"{what} failed with cuBLAS status {status}")


class BoundGemm:
    """One cuBLAS gemm function, bound once: its ctypes argument types set (so pointers go
    as plain ints), the handle fetched, and alpha / beta kept as ctypes values by reference
    (so a call converts nothing it did before)."""

    def __init__(self, dtype: str):
        name, self.scalar = _GEMM[dtype]
        self.name = name
        self.fn = cublas()[name]  # our own function object: its argtypes are ours to set
        p, i = ctypes.c_void_p, ctypes.c_int
        self.fn.argtypes = [p, i, i, i, i, i, p, p, i, p, i, p, p, i]
        self.fn.restype = ctypes.c_int
        self.handle = handle().value
        self.scalars: dict[float, Any] = {}

    def ref(self, value: float) -> Any:
        """value as a ctypes scalar by reference (one per distinct value)."""
        found = self.scalars.get(value)
        if found is None:
            if len(self.scalars) > 64:  # a value that changes each call: do not keep them all
                self.scalars.clear()
            found = self.scalars[value] = ctypes.byref(self.scalar(value))
        return found


_BOUND: dict[Any, BoundGemm] = {}


def bound(dtype: Any) -> BoundGemm:
    """The process's cuBLAS gemm of `dtype` (float32 / float64, a name or a numpy dtype)."""
    found = _BOUND.get(dtype)
    if found is None:
        found = _BOUND[dtype] = BoundGemm(np.dtype(dtype).name)
    return found


def _layout(m: DeviceArray) -> tuple[int, int] | None:
    """(cuBLAS op, leading dimension) giving m^T in column-major terms, None if m's strides
    fit neither row- nor column-major."""
    rows, cols = m.shape
    s0, s1 = m.elem_strides()
    if (s1 == 1 or cols == 1) and (s0 >= cols or rows == 1):
        return OP_N, max(s0, cols, 1)  # row-major: column-major m^T, leading dimension s0
    if (s0 == 1 or rows == 1) and (s1 >= rows or cols == 1):
        return OP_T, max(s1, rows, 1)  # column-major storage of m: transpose it
    return None


def gemm_plan(a: DeviceArray, b: DeviceArray) -> tuple | str | None:
    """What ``c = alpha * a @ b + beta * c`` (c C-contiguous) passes cuBLAS besides pointers
    and scalars, for a and b laid out as these: (opb, opa, n, m, k, ldb, lda, ldc); None:
    nothing to compute (an empty output); "empty": an empty inner dimension; "copy": a or b
    fits no cuBLAS layout (``gemm`` copies it first)."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return None
    if k == 0:
        return "empty"
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None:
        return "copy"
    if max(m, n, k, la[1], lb[1]) >= 2**31:
        raise NotImplementedError("matrices of 2**31 rows or columns on cuBLAS")
    return (lb[0], la[0], n, m, k, lb[1], la[1], max(n, 1))


def gemm(alpha: float, a: DeviceArray, b: DeviceArray, beta: float, c: DeviceArray,
         plan: tuple | str | None = False) -> None:
    """c = alpha * a @ b + beta * c for 2-d device arrays (c C-contiguous; beta 0: c unread);
    `plan`: gemm_plan's for these layouts, when the caller kept it."""
    if plan is False:
        plan = gemm_plan(a, b)
    if plan is None:
        return
    if plan == "empty":  # no products: c = beta * c
        if beta == 0:
            fill(c, 0)
            return
        raise NotImplementedError("gemm with an empty inner dimension and beta != 0")
    if plan == "copy":
        if _layout(a) is None:
            a = contiguous(a, force=True)
        if _layout(b) is None:
            b = contiguous(b, force=True)
        plan = gemm_plan(a, b)
    g = bound(c.dtype)
    opb, opa, n, m, k, ldb, lda, ldc = plan
    status = g.fn(g.handle, opb, opa, n, m, k, g.ref(alpha), b.ptr, ldb, a.ptr, lda,
                  g.ref(beta), c.ptr, ldc)
    if status:
        _check(status, g.name)


def as_matrix(x: DeviceArray, column: bool) -> DeviceArray:
    """A vector as a (k, 1) column or (1, k) row view; a matrix as it is."""
    if x.ndim == 2:
        return x
    if x.ndim == 0:
        return x.view((1, 1), (0, 0))
    (k,), (s,) = x.shape, x.strides
    return x.view((k, 1), (s, 0)) if column else x.view((1, k), (0, s))


class DotStep(Step):
    """Dot of vectors and matrices as one gemm (float32 / float64); the layout's checks and
    cuBLAS arguments are worked out once per layout of the operands."""

    def __init__(self, node: Apply):
        super().__init__(node)
        self.buffers: list = [None, None]
        self.plans: dict = {}
        self.dtype = node.outputs[0].dtype

    def run(self, ctx: Any) -> list:
        x, y = ctx.device(0), ctx.device(1)
        key = (x.shape, x.strides, y.shape, y.strides)
        plan = self.plans.get(key)
        if plan is None:
            check_runtime_alignment("dot", self.node, [x, y], Dot.ALIGN)
            a, b = as_matrix(x, column=False), as_matrix(y, column=True)
            plan = remember(self.plans, key, (x.shape[:-1] + y.shape[1:], a.shape[0],
                                              b.shape[1], gemm_plan(a, b)))
        shape, rows, cols, blas = plan
        out = take_buffer(self.buffers, 0, shape, self.dtype, "the output of Dot")
        if type(blas) is tuple:  # the common case: one call, nothing to convert
            g = bound(self.dtype)
            opb, opa, n, m, k, ldb, lda, ldc = blas
            status = g.fn(g.handle, opb, opa, n, m, k, g.ref(1.0), y.ptr, ldb, x.ptr, lda,
                          g.ref(0.0), out.ptr, ldc)
            if status:
                _check(status, g.name)
        else:
            a, b = as_matrix(x, column=False), as_matrix(y, column=True)
            c = out.view((rows, cols), (cols * out.itemsize, out.itemsize))
            gemm(1.0, a, b, 0.0, c, blas)
        return [out]


class BlasUpdateStep(Step):
    """Gemm, Gemv, Ger: beta * z + alpha * product into z (in place) or into a copy of z."""

    def __init__(self, node: Apply):
        super().__init__(node)
        self.buffers: list = [None, None]
        self.plans: dict = {}
        self.what = f"the output of {node.op}"

    def run(self, ctx: Any) -> list:
        node, op = self.node, self.node.op
        if isinstance(op, Ger):
            z, alpha, x, y = ctx.device(0), ctx.host(1), ctx.device(2), ctx.device(3)
            beta = 1.0
        else:
            z, alpha, x, y, beta = (ctx.device(0), ctx.host(1), ctx.device(2), ctx.device(3),
                                    ctx.host(4))
        key = (z.shape, z.strides, x.shape, x.strides, y.shape, y.strides)
        plan = self.plans.get(key)
        if plan is None:
            values = [z, alpha, x, y] if isinstance(op, Ger) else [z, alpha, x, y, beta]
            check_runtime_alignment(op.NAME, node, values, op.ALIGN)
            a, b = self.operands(x, y)
            rows, cols = a.shape[0], b.shape[1]
            in_place = op.inplace and z.is_c_contiguous
            plan = remember(self.plans, key, (in_place, rows, cols, gemm_plan(a, b)))
        in_place, rows, cols, blas = plan
        target = z if in_place else take_buffer(self.buffers, 0, z.shape, z.dtype, self.what)
        beta = float(beta)
        if target is not z and beta != 0:
            copy_into(z, target)
        a, b = self.operands(x, y)
        c = target.view_of((rows, cols), (cols * target.itemsize, target.itemsize))
        gemm(float(alpha), a, b, beta, c, blas)
        if op.inplace and target is not z:
            copy_into(target, z)
            target = z
        return [target]

    def operands(self, x: DeviceArray, y: DeviceArray) -> tuple[DeviceArray, DeviceArray]:
        """(a, b) of the product a @ b as matrices."""
        if isinstance(self.node.op, Ger):
            return as_matrix(x, column=True), as_matrix(y, column=False)
        return x, as_matrix(y, column=True)


def _float_blas(node: Apply) -> bool:
    dtypes = {v.dtype for v in node.inputs if v.ndim} | {node.outputs[0].dtype}
    return len(dtypes) == 1 and dtypes <= set(_GEMM)


@lower.register(Dot)
def _(op, node: Apply) -> Step | None:
    return DotStep(node) if _float_blas(node) else None


for _op in (Gemm, Gemv, Ger):
    lower.register(_op, lambda op, node: BlasUpdateStep(node) if _float_blas(node) else None)


def available() -> bool:
    try:
        cublas()
        return True
    except OSError:
        return False

