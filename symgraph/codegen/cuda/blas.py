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

from symgraph.codegen.cuda.arrays import contiguous, copy_into, fill
from symgraph.codegen.cuda.compiler import nvcc_path
from symgraph.codegen.cuda.driver import get_driver
from symgraph.codegen.cuda.steps import Step, lower
from symgraph.codegen.cuda.storage import DeviceArray, empty
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


def gemm(alpha: float, a: DeviceArray, b: DeviceArray, beta: float, c: DeviceArray) -> None:
    """c = alpha * a @ b + beta * c for 2-d device arrays (c C-contiguous; beta 0: c unread)."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:  # no products: c = beta * c
        if beta == 0:
            fill(c, 0)
            return
        raise NotImplementedError("gemm with an empty inner dimension and beta != 0")
    la, lb = _layout(a), _layout(b)
    if la is None:
        a, la = contiguous(a, force=True), (OP_N, max(k, 1))
    if lb is None:
        b, lb = contiguous(b, force=True), (OP_N, max(n, 1))
    if max(m, n, k, la[1], lb[1]) >= 2**31:
        raise NotImplementedError("matrices of 2**31 rows or columns on cuBLAS")
    name, scalar = _GEMM[c.dtype.name]
    fn = getattr(cublas(), name)
    status = fn(handle(), lb[0], la[0], n, m, k, ctypes.byref(scalar(alpha)),
                ctypes.c_void_p(b.ptr), lb[1], ctypes.c_void_p(a.ptr), la[1],
                ctypes.byref(scalar(beta)), ctypes.c_void_p(c.ptr), max(n, 1))
    _check(status, name)


def as_matrix(x: DeviceArray, column: bool) -> DeviceArray:
    """A vector as a (k, 1) column or (1, k) row view; a matrix as it is."""
    if x.ndim == 2:
        return x
    if x.ndim == 0:
        return x.view((1, 1), (0, 0))
    (k,), (s,) = x.shape, x.strides
    return x.view((k, 1), (s, 0)) if column else x.view((1, k), (0, s))


class DotStep(Step):
    """Dot of vectors and matrices as one gemm (float32 / float64)."""

    def run(self, ctx: Any) -> list:
        x, y = ctx.device(0), ctx.device(1)
        check_runtime_alignment("dot", self.node, [x, y], Dot.ALIGN)
        shape = x.shape[:-1] + y.shape[1:]
        out = empty(shape, self.node.outputs[0].dtype, "the output of Dot")
        a, b = as_matrix(x, column=False), as_matrix(y, column=True)
        gemm(1.0, a, b, 0.0, out.view((a.shape[0], b.shape[1]), (b.shape[1] * out.itemsize,
                                                                  out.itemsize)))
        return [out]


class BlasUpdateStep(Step):
    """Gemm, Gemv, Ger: beta * z + alpha * product into z (in place) or into a copy of z."""

    def run(self, ctx: Any) -> list:
        node, op = self.node, self.node.op
        if isinstance(op, Ger):
            z, alpha, x, y = ctx.device(0), ctx.host(1), ctx.device(2), ctx.device(3)
            beta, values = 1.0, [z, alpha, x, y]
            a, b = as_matrix(x, column=True), as_matrix(y, column=False)
        else:
            z, alpha, x, y, beta = (ctx.device(0), ctx.host(1), ctx.device(2), ctx.device(3),
                                    ctx.host(4))
            values = [z, alpha, x, y, beta]
            a, b = x, as_matrix(y, column=True)
        check_runtime_alignment(op.NAME, node, values, op.ALIGN)
        target = z if op.inplace and z.is_c_contiguous else empty(z.shape, z.dtype,
                                                                  f"the output of {op}")
        if target is not z and float(beta) != 0:
            copy_into(z, target)
        rows = a.shape[0]
        c = target.view((rows, b.shape[1]), (b.shape[1] * target.itemsize, target.itemsize))
        gemm(float(alpha), a, b, float(beta), c)
        if op.inplace and target is not z:
            copy_into(target, z)
            target = z
        return [target]


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

