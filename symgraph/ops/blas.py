"""Matrix products: the Dot and BatchedDot ops, and the functions dot, matmul, outer, batched_dot.

`Dot` is the core product of vectors and matrices that backends lower to BLAS dot / gemv /
gemm; `BatchedDot` is a stack of matrix products with Theano-style batch broadcasting (only
dimensions of static size 1 broadcast). Everything else (dot of higher ranks, matmul, outer,
batched_dot) is built from these two plus dimshuffles and reshapes. The scaled-update forms
Gemm / Gemv / Ger are in `symgraph.ops.gemm`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op, Variable
from symgraph.ops.elemwise import broadcast_static_shapes
from symgraph.types import DISCRETE_DTYPES, TensorType, upcast
from symgraph.variable import as_tensor_variable

# An alignment rule: ((input i, axis of i), (input j, axis of j)) whose sizes must be equal.
Align = tuple[tuple[int, int], tuple[int, int]]


def describe(v: Variable) -> str:
    """A variable for error messages: its name (or op) and the user line that made it."""
    return f"{v}{v.where()}"


def _shape_text(shape: Sequence) -> str:
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ("," if len(shape) == 1
                                                                            else "") + ")"


def check_static_alignment(what: str, inputs: Sequence[Variable], rules: Sequence[Align]) -> None:
    """Raise at graph-build time when two statically known sizes that must agree differ."""
    for (i, ai), (j, aj) in rules:
        x, y = inputs[i], inputs[j]
        sx, sy = x.type.shape[ai], y.type.shape[aj]
        if sx is not None and sy is not None and sx != sy:
            raise ValueError(
                f"{what}: shapes are not aligned. {describe(x)} has shape "
                f"{_shape_text(x.type.shape)} and {describe(y)} has shape "
                f"{_shape_text(y.type.shape)}: axis {ai % x.ndim} of the first (size {sx}) must "
                f"equal axis {aj % y.ndim} of the second (size {sy})."
            )


def check_runtime_alignment(what: str, node: Apply, values: Sequence, rules: Sequence[Align]):
    """The same check on the runtime values, naming both shapes."""
    for (i, ai), (j, aj) in rules:
        x, y = values[i], values[j]
        if x.shape[ai] != y.shape[aj]:
            raise ValueError(
                f"{what}: shapes {x.shape} and {y.shape} are not aligned: axis {ai % x.ndim} of "
                f"{node.inputs[i]} (size {x.shape[ai]}) must equal axis {aj % y.ndim} of "
                f"{node.inputs[j]} (size {y.shape[aj]})."
            )


def _ranks_error(what: str, x: Variable, allowed: str) -> TypeError:
    return TypeError(f"{what}: {describe(x)} has {x.ndim} dimensions (type {x.type}); "
                     f"expected {allowed}")


def _grad_or_none(x: Variable, g):
    """No gradient flows to integer inputs (Theano treats them as constants)."""
    return None if x.dtype in DISCRETE_DTYPES else g


@dataclass(frozen=True)
class Dot(Op):
    """Product of vectors and matrices, as np.dot for 1-d and 2-d inputs.

    vector . vector -> scalar, matrix . vector -> vector, vector . matrix -> vector,
    matrix . matrix -> matrix. The output dtype is the upcast of the input dtypes.
    """

    ALIGN = (((0, -1), (1, 0)),)  # last axis of x with first axis of y

    def make_node(self, x, y) -> Apply:
        x, y = as_tensor_variable(x), as_tensor_variable(y)
        for v in (x, y):
            if v.ndim not in (1, 2):
                raise _ranks_error("Dot", v, "a vector or a matrix (use dot() for other ranks)")
        check_static_alignment("dot", [x, y], self.ALIGN)
        shape = x.type.shape[:-1] + y.type.shape[1:]
        return Apply(self, [x, y], [TensorType(upcast(x.dtype, y.dtype), shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        check_runtime_alignment("dot", node, inputs, self.ALIGN)
        return [np.asarray(np.dot(*inputs), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        xs, ys = input_shapes
        return [tuple(xs[:-1]) + tuple(ys[1:])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        (x, y), (gz,) = inputs, output_grads
        rule = _DOT_GRADS[(x.ndim, y.ndim)]
        gx, gy = rule(x, y, gz)
        return [_grad_or_none(x, gx), _grad_or_none(y, gy)]

    def R_op(self, inputs: list, eval_points: list):
        return [_product_rop(dot, inputs, eval_points)]


def _product_rop(product, inputs: list, eval_points: list):
    """R_op of a bilinear product p(x, y): p(ev_x, y) + p(x, ev_y), None for missing points."""
    (x, y), (ex, ey) = inputs, eval_points
    terms = [product(ex, y) if ex is not None else None, product(x, ey) if ey is not None else None]
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


def _col(v):
    return v.dimshuffle(0, "x")


def _row(v):
    return v.dimshuffle("x", 0)


# (x.ndim, y.ndim) -> (gx, gy) for z = dot(x, y); every rule is made of Dot and dimshuffles,
# so second derivatives go through the same table.
_DOT_GRADS = {
    (1, 1): lambda x, y, gz: (gz * y, gz * x),
    (1, 2): lambda x, y, gz: (dot(gz, y.T), dot(_col(x), _row(gz))),
    (2, 1): lambda x, y, gz: (dot(_col(gz), _row(y)), dot(x.T, gz)),
    (2, 2): lambda x, y, gz: (dot(gz, y.T), dot(x.T, gz)),
}


def _swap_last(v):
    """`v` with its last two axes exchanged (a batch of transposes)."""
    order = list(range(v.ndim))
    order[-2], order[-1] = order[-1], order[-2]
    return v.dimshuffle(*order)


@dataclass(frozen=True)
class BatchedDot(Op):
    """A stack of matrix products: (B..., n, k) . (B..., k, m) -> (B..., n, m).

    Both inputs have the same rank (>= 3). Batch dimensions must match, except that one of
    static size 1 broadcasts (as in Elemwise). This is np.matmul on equal-rank inputs; matmul
    and batched_dot add and remove axes around it.
    """

    ALIGN = (((0, -1), (1, -2)),)  # last axis of x with second-to-last of y

    def make_node(self, x, y) -> Apply:
        x, y = as_tensor_variable(x), as_tensor_variable(y)
        for v in (x, y):
            if v.ndim < 3:
                raise _ranks_error("BatchedDot", v, "at least 3 (batch..., rows, columns)")
        if x.ndim != y.ndim:
            raise TypeError(f"BatchedDot: {describe(x)} has {x.ndim} dimensions but {describe(y)} "
                            f"has {y.ndim}; pad with dimshuffle('x', ...) or use matmul()")
        check_static_alignment("batched dot", [x, y], self.ALIGN)
        batch = broadcast_static_shapes([x.type.shape[:-2], y.type.shape[:-2]],
                                        f"batched dot of {describe(x)} and {describe(y)}")
        shape = batch + (x.type.shape[-2], y.type.shape[-1])
        return Apply(self, [x, y], [TensorType(upcast(x.dtype, y.dtype), shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, y = inputs
        check_runtime_alignment("batched dot", node, inputs, self.ALIGN)
        for axis in range(x.ndim - 2):
            sizes = [v.shape[axis] for v, var in zip(inputs, node.inputs)
                     if var.type.shape[axis] != 1]
            if len(set(sizes)) > 1:
                raise ValueError(
                    f"batched dot: batch sizes differ: shapes {x.shape} and {y.shape} disagree "
                    f"on axis {axis}. Only batch dimensions of static size 1 broadcast."
                )
        return [np.asarray(np.matmul(x, y), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        xs, ys = input_shapes
        batch = []
        for axis, size in enumerate(node.outputs[0].type.shape[:-2]):
            if size is None:
                size = next(s[axis] for s, v in zip(input_shapes, node.inputs)
                            if v.type.shape[axis] != 1)
            batch.append(size)
        return [tuple(batch) + (xs[-2], ys[-1])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        (x, y), (gz,) = inputs, output_grads
        gx = _sum_to(x, BatchedDot()(gz, _swap_last(y)))
        gy = _sum_to(y, BatchedDot()(_swap_last(x), gz))
        return [_grad_or_none(x, gx), _grad_or_none(y, gy)]

    def R_op(self, inputs: list, eval_points: list):
        return [_product_rop(BatchedDot(), inputs, eval_points)]


def _sum_to(x: Variable, g: Variable) -> Variable:
    """Sum `g` over the batch axes that `x` broadcast along (static size 1 in x only)."""
    from symgraph.ops.math import sum as tsum

    axes = [a for a, (sx, sg) in enumerate(zip(x.type.shape[:-2], g.type.shape[:-2]))
            if sx == 1 and sg != 1]
    return tsum(g, axis=axes, keepdims=True) if axes else g


# --- user functions ----------------------------------------------------------------------------


def dot(a, b):
    """Dot product of two tensors, with np.dot's rules.

    Parameters
    ----------
    a, b : tensor-like
        Scalars multiply elementwise; vectors and matrices give the usual products; for
        higher ranks the last axis of `a` is summed against the second-to-last axis of `b`
        (the last axis when `b` is a vector).

    Returns
    -------
    TensorVariable of rank ``a.ndim + b.ndim - 2`` (the upcast dtype of `a` and `b`).

    Raises
    ------
    ValueError
        At graph-build time when the summed axes have different static sizes, at run time
        when their sizes differ.

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> x, y = T.dmatrix("x"), T.dvector("y")
    >>> T.dot(x, y).eval({x: np.eye(2), y: np.array([1.0, 2.0])})
    array([1., 2.])
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        from symgraph.ops.math import mul

        return mul(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return Dot()(a, b)
    from symgraph.ops.linalg import contract

    return contract(a, b, [a.ndim - 1], [max(0, b.ndim - 2)], "dot")


def matmul(a, b):
    """Matrix product with numpy's ``@`` rules (batch dimensions broadcast).

    Parameters
    ----------
    a, b : tensor-like of rank >= 1
        A vector on the left gains a row axis, one on the right a column axis, removed
        again from the result. Leading (batch) dimensions broadcast as in Elemwise: only
        those of static size 1 (e.g. from dimshuffle('x', ...)) may differ.

    Returns
    -------
    TensorVariable
        ``a @ b``.

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> x, y = T.dtensor3("x"), T.dmatrix("y")
    >>> T.matmul(x, y).eval({x: np.ones((2, 3, 4)), y: np.ones((4, 5))}).shape
    (2, 3, 5)
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    for v in (a, b):
        if v.ndim == 0:
            raise ValueError(f"matmul: {describe(v)} is a scalar; matmul needs at least one "
                             "dimension per input (use mul or dot for scalars)")
    if a.ndim <= 2 and b.ndim <= 2:
        return Dot()(a, b)
    a2 = _row(a) if a.ndim == 1 else a
    b2 = _col(b) if b.ndim == 1 else b
    ndim = max(a2.ndim, b2.ndim)
    out = BatchedDot()(_pad_front(a2, ndim), _pad_front(b2, ndim))
    drop = {ndim - 2} if a.ndim == 1 else set()
    drop |= {ndim - 1} if b.ndim == 1 else set()
    return out.dimshuffle(*[d for d in range(ndim) if d not in drop]) if drop else out


def _pad_front(v, ndim: int):
    """`v` with broadcastable axes added in front up to `ndim` dimensions."""
    return v.dimshuffle(*(["x"] * (ndim - v.ndim) + list(range(v.ndim)))) if v.ndim < ndim else v


def outer(x, y):
    """Outer product of two vectors (other ranks are flattened first, as in Theano).

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> x, y = T.dvector("x"), T.dvector("y")
    >>> T.outer(x, y).eval({x: np.array([1.0, 2.0]), y: np.array([3.0, 4.0])})
    array([[3., 4.],
           [6., 8.]])
    """
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    x = x if x.ndim == 1 else x.flatten()
    y = y if y.ndim == 1 else y.flatten()
    return Dot()(_col(x), _row(y))


def batched_dot(a, b):
    """Dot products along a shared first (batch) axis, as Theano's batched_dot.

    Parameters
    ----------
    a, b : tensor-like of rank >= 1
        ``a[i]`` is multiplied with ``b[i]`` for each i: (B, n) . (B, n) -> (B,),
        (B, n, m) . (B, m) -> (B, n), (B, n) . (B, n, m) -> (B, m),
        (B, n, m) . (B, m, k) -> (B, n, k). A vector scales the other input along the
        batch axis; ranks above 3 go through batched_tensordot.

    Returns
    -------
    TensorVariable

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> x, y = T.dtensor3("x"), T.dtensor3("y")
    >>> T.batched_dot(x, y).eval({x: np.ones((4, 2, 3)), y: np.ones((4, 3, 5))}).shape
    (4, 2, 5)
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    for v in (a, b):
        if v.ndim == 0:
            raise TypeError(f"batched_dot: {describe(v)} is a scalar; both inputs need a "
                            "first (batch) axis")
    if a.ndim == 1:
        return a.dimshuffle(0, *["x"] * (b.ndim - 1)) * b
    if b.ndim == 1:
        return a * b.dimshuffle(0, *["x"] * (a.ndim - 1))
    if a.ndim > 3 or b.ndim > 3:
        from symgraph.ops.linalg import batched_tensordot

        return batched_tensordot(a, b, [[a.ndim - 1], [max(1, b.ndim - 2)]])
    a3 = a.dimshuffle(0, "x", 1) if a.ndim == 2 else a
    b3 = b.dimshuffle(0, 1, "x") if b.ndim == 2 else b
    out = BatchedDot()(a3, b3)
    keep = [0] + ([1] if a.ndim == 3 else []) + ([2] if b.ndim == 3 else [])
    return out.dimshuffle(*keep) if len(keep) < 3 else out
