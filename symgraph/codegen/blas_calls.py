"""BLAS steps of the native driver: Dot, BatchedDot, Gemm and Gemv into reused buffers (Gemm /
Gemv write into their first input when the op destroys it), all in the one library
codegen/cblas.py chose (MKL or numpy's OpenBLAS): two libraries' thread pools spinning against
each other made a small training step 1.5-6x slower on a 2-core machine (MLP step 3.0 and
12.5 ms against 2.05).

Each step calls that library's CBLAS function through a native entry (codegen/blas_entry.py:
0.17 us a call on 4x4 matrices, checks included; each built the first time a step needs it),
Gemm and Gemv applying alpha and beta in the product's single pass over z, Dot with beta 0; an
in-place step calls the entry from the driver's own line. Where the entry cannot be built,
Gemm takes the ctypes call (codegen/cblas.py, ~8 us), and Dot and Gemv numpy's product (then
ufunc passes over the vector z).
Inputs of another dtype, rank or layout, and shape errors, go to the op's `perform` (the
reference, whose errors name the shapes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from symgraph.codegen import blas_entry, cblas
from symgraph.codegen.program_steps import free_buffer_lines, take_buffer
from symgraph.codegen.python import perform_function
from symgraph.graph import Apply

BLAS_DTYPES = ("float32", "float64")


def _plain(values: list, dtype: np.dtype, ranks: tuple[int, ...]) -> bool:
    """Every value a plain ndarray of `dtype` with the expected rank."""
    return all(
        type(v) is np.ndarray and v.dtype == dtype and v.ndim == r for v, r in zip(values, ranks)
    )


def _product_dtype(node: Apply) -> np.dtype | None:
    """The dtype of a Dot / BatchedDot whose operands and output share one BLAS dtype."""
    x, y = node.inputs
    dtype = node.outputs[0].dtype
    return np.dtype(dtype) if x.dtype == y.dtype == dtype and dtype in BLAS_DTYPES else None


def dot_call(node: Apply) -> Callable | None:
    """x @ y into a reused buffer for matrices and vectors of one float dtype (a 0-d buffer for
    the inner product of two vectors), through the Gemm / Gemv entries with beta 0: the BLAS
    of every product in a function is then the one `cblas.library` chose (two libraries'
    thread pools spinning against each other slow both), and a call costs 0.17 us against
    0.40 us for np.dot (4x4 float32). np.dot takes what the entries do not (layouts BLAS
    cannot read, an empty inner dimension, no entry built)."""
    dtype, ranks = _product_dtype(node), tuple(v.ndim for v in node.inputs)
    if dtype is None or (node.outputs[0].ndim == 0 and ranks != (1, 1)):
        return None
    perform = perform_function(node.op)
    buffers: list = [None, None]
    kind, product = _PRODUCTS.get(ranks, (None, None))
    entry = _entry(kind, dtype) if kind is not None else None

    def dot(a, b):
        if _plain([a, b], dtype, ranks) and a.shape[-1] == b.shape[0]:
            buf = take_buffer(buffers, 0, a.shape[:-1] + b.shape[1:], dtype)
            if entry is None or product(entry, a, b, buf):
                np.dot(a, b, out=buf)  # returns a scalar for vectors, having filled `buf`
            return buf
        return perform(node, [a, b])[0]

    dot.buffers = buffers  # the driver's own line fills them too (`_matrix_product_lines`)
    dot.gemm = entry if ranks == (2, 2) else None
    return dot


# (x.ndim, y.ndim) of a Dot -> (the entry it runs on, how): each `how` returns the entry's
# code, 0 when it wrote `out`
_PRODUCTS = {
    (2, 2): ("gemm", lambda entry, a, b, out: entry(1.0, a, b, 0.0, out)),
    (2, 1): ("gemv", lambda entry, a, b, out: entry(1.0, a, b, 0.0, out)),
    (1, 2): ("gemv", lambda entry, a, b, out: entry(1.0, b.T, a, 0.0, out)),
    (1, 1): ("gemv", lambda entry, a, b, out: entry(1.0, a[None], b, 0.0, out[None])),
}


# From this many multiply-adds per matrix a BatchedDot runs one Gemm entry call per batch
# element (0.43 us each, slicing included, measured on 4x4 matrices) instead of numpy's
# matmul loop: below it OpenBLAS runs a product on one thread (interface/gemm.c:
# SMP_THRESHOLD_MIN 65536 times the default GEMM_MULTITHREAD_THRESHOLD 4; read there, not
# measured here), and above it its threads spinning beside MKL's made a function with both
# 2.4-3.5x slower (measured).
BATCH_LOOP_MIN = 1 << 18


def batched_dot_call(node: Apply) -> Callable | None:
    """x[k] @ y[k] for each k of two 3-d arrays of one float dtype, into a reused buffer,
    through the Gemm entry where the products are large (BATCH_LOOP_MIN); numpy's matmul
    (the op's `perform`) for small ones, a broadcast batch and what the entry refuses."""
    dtype = _product_dtype(node)
    if dtype is None or tuple(v.ndim for v in node.inputs) != (3, 3):
        return None
    entry = _entry("gemm", dtype)
    if entry is None:
        return None
    perform = perform_function(node.op)
    buffers: list = [None, None]

    def batched(a, b):
        if not (_plain([a, b], dtype, (3, 3)) and a.shape[0] == b.shape[0]
                and a.shape[2] == b.shape[1]
                and a.shape[1] * a.shape[2] * b.shape[2] >= BATCH_LOOP_MIN):
            return perform(node, [a, b])[0]
        buf = take_buffer(buffers, 0, (a.shape[0], a.shape[1], b.shape[2]), dtype)
        for k in range(a.shape[0]):
            if entry(1.0, a[k], b[k], 0.0, buf[k]):
                np.matmul(a[k], b[k], out=buf[k])
        return buf

    return batched


def _update(target: np.ndarray, alpha: float, product: np.ndarray, beta: float) -> np.ndarray:
    """target <- beta * target + alpha * product, with numpy (target is not read when beta is
    0, as in BLAS)."""
    if beta == 0:
        return np.multiply(product, alpha, out=target)
    if beta != 1:
        np.multiply(target, beta, out=target)
    if alpha != 1:
        np.multiply(product, alpha, out=product)
    return np.add(target, product, out=target)


def _entry(kind: str, dtype: np.dtype) -> Callable | None:
    """The native entry `call(alpha, x, y, beta, z) -> 0 | 1` of this Gemm / Gemv, if built."""
    return blas_entry.entry(kind, dtype.name)


def _update_call(node: Apply, kind: str) -> Callable | None:
    """Gemm (z, alpha, x, y, beta: matrices) or Gemv (z, alpha, A, x, beta: A a matrix)."""
    dtype = np.dtype(node.outputs[0].dtype)
    if dtype.name not in BLAS_DTYPES:
        return None
    ranks = (2, 2, 2) if kind == "gemm" else (1, 2, 1)
    perform = perform_function(node.op)
    buffers: list = [None, None]
    products: list = [None, None]
    entry = _entry(kind, dtype)
    # Without the entry, Gemv is numpy's product, then alpha and beta in ufunc passes over the
    # vector z: cheaper than the ctypes call (~3 us, and ~1 us per array address)
    blas = cblas.gemm_into if kind == "gemm" else None  # operands checked below

    inplace = node.op.inplace

    def call(z, alpha, x, y, beta):
        if entry is not None and not inplace and type(z) is np.ndarray:
            # the entry copies z into the buffer (unless beta is 0), then runs the product
            target = take_buffer(buffers, 0, z.shape, dtype)
            if not entry(alpha, x, y, beta, target, z):
                return target
        ok = _plain([z, x, y], dtype, ranks) and x.shape[1] == y.shape[0]
        if not ok or z.shape != x.shape[:1] + y.shape[1:]:
            return perform(node, [z, alpha, x, y, beta])[0]
        alpha, beta = float(alpha), float(beta)
        if inplace and z.flags.writeable:
            target = z
        else:
            target = take_buffer(buffers, 0, z.shape, dtype)
            if beta != 0:
                np.copyto(target, z)
        if entry is not None and not entry(alpha, x, y, beta, target):  # one pass over z
            return target
        if blas is not None and blas(alpha, x, y, beta, target):
            return target
        product = np.dot(x, y, out=take_buffer(products, 0, z.shape, dtype))
        return _update(target, alpha, product, beta)

    return call


def gemm_call(node: Apply) -> Callable | None:
    """z <- beta * z + alpha * x @ y."""
    return _update_call(node, "gemm")


def gemv_call(node: Apply) -> Callable | None:
    """z <- beta * z + alpha * A @ x."""
    return _update_call(node, "gemv")


def register(lower, emit_class) -> None:
    """Register the BLAS steps with the driver's `lower` dispatcher (program.py)."""
    try:
        from symgraph.ops.blas import BatchedDot, Dot
        from symgraph.ops.gemm import Gemm, Gemv
    except ImportError:  # an older tree without these ops
        return
    steps = ((Dot, dot_call), (BatchedDot, batched_dot_call), (Gemm, gemm_call),
             (Gemv, gemv_call))
    for op_class, make in steps:
        lower.register(op_class)(_lowering(make))


def _lowering(make: Callable[[Apply], Callable | None]):
    def lowering(op, node: Apply, ins: list[str], outs: list[str], emit) -> bool:
        call = make(node)
        if call is None:
            return False
        inplace = getattr(op, "inplace", False)
        if getattr(call, "gemm", None) is not None:
            emit.fresh = emit.blas = True
            emit.lines += _matrix_product_lines(emit, call, node, ins, outs[0])
            return True
        entry = _entry(op.NAME, np.dtype(node.outputs[0].dtype)) if inplace else None
        if entry is None:
            # a buffer of its own, or perform's, unless the op overwrites its input
            return emit.python_call(call, node, ins, outs, fresh=not inplace, blas=True)
        # An in-place Gemm / Gemv: the driver calls the native entry itself, and the general
        # path only when the entry does not take the operands (it then leaves z untouched).
        fn, native, apply = emit.name("X", call), emit.name("E", entry), emit.name("N", node)
        emit.blas = True
        z, alpha, x, y, beta = ins
        args = ", ".join(ins)
        emit.lines += [
            "try:",
            f"    if {native}({alpha}, {x}, {y}, {beta}, {z}):",
            f"        {outs[0]} = {fn}({args})",
            "    else:",
            f"        {outs[0]} = {z}",
            "except Exception as exc:",
            f"    raise node_error({apply}, exc, [{args}]) from exc",
        ]
        return True

    return lowering


def _matrix_product_lines(emit, call: Callable, node: Apply, ins: list[str], out: str) -> list:
    """A matrix Dot in the driver's own lines: its buffer (or the spare, while a caller holds
    it) straight into the Gemm entry, which refuses (1) unless the operands and the buffer fit;
    then the step's Python call. ~0.3 us a product, where the call costs ~1.7 (4x4)."""
    bufs, gemm = emit.name("B", call.buffers), emit.name("E", call.gemm)
    fn, apply = emit.name("X", call), emit.name("N", node)
    a, b = ins
    return free_buffer_lines(bufs) + [
        f"if o is not None and not {gemm}(1.0, {a}, {b}, 0.0, o):",
        f"    {out} = o",
        "else:",
        "    o = None",  # so that the Python call sees the buffers free
        "    try:",
        f"        {out} = {fn}({a}, {b})",
        "    except Exception as exc:",
        f"        raise node_error({apply}, exc, [{a}, {b}]) from exc",
    ]
