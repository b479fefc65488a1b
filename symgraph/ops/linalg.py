"""Tensor contractions built from Dot / BatchedDot: tensordot and batched_tensordot.

Both move the summed axes together with a transpose, merge axes with a reshape so that one
matrix (or batched matrix) product does the work, and reshape the result back, as Theano does.
No op of their own: gradients, rewrites and backends see only Dot, BatchedDot, DimShuffle and
Reshape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np

from symgraph.graph import Apply, Op, Variable
from symgraph.ops.blas import BatchedDot, Dot, check_static_alignment, describe
from symgraph.types import TensorType
from symgraph.variable import as_tensor_variable


def _normalize(what: str, v: Variable, axes, first: int) -> list[int]:
    """Axis list of `v` (negatives allowed) checked for range, repeats and the batch axis."""
    axes = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
    out = []
    for ax in axes:
        if not isinstance(ax, (int, np.integer)) or not -v.ndim <= ax < v.ndim:
            raise ValueError(f"{what}: axis {ax!r} is out of range for {describe(v)}, which has "
                             f"{v.ndim} dimensions")
        out.append(int(ax) % v.ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated axis in {axes} for {describe(v)}")
    if first and 0 in out:
        raise ValueError(f"{what}: axis 0 of {describe(v)} is the batch axis and cannot be summed")
    return out


def _parse_axes(what: str, a: Variable, b: Variable, axes, batch: int):
    """Theano's `axes` argument (an int n, or a pair of axis lists) to two axis lists."""
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > a.ndim - batch or n > b.ndim - batch:
            skip = " after the batch axis" if batch else ""
            raise ValueError(
                f"{what}: axes={n} sums over the last {n} axes of {describe(a)} ({a.ndim}-d) and "
                f"the first {n} axes{skip} of {describe(b)} ({b.ndim}-d), which they do not have"
            )
        return list(range(a.ndim - n, a.ndim)), list(range(batch, batch + n))
    if isinstance(axes, np.ndarray):  # a (2, n) array of axes, as Theano accepts
        axes = axes.tolist()
    if not isinstance(axes, (list, tuple)) or len(axes) != 2:
        raise TypeError(f"{what}: axes must be an int or a pair of axis lists, got {axes!r}")
    a_axes = _normalize(what, a, axes[0], batch)
    b_axes = _normalize(what, b, axes[1], batch)
    if len(a_axes) != len(b_axes):
        raise ValueError(f"{what}: axes {axes!r} name {len(a_axes)} axes of {describe(a)} but "
                         f"{len(b_axes)} of {describe(b)}; they are summed in pairs")
    return a_axes, b_axes


def _size(x: Variable, axes: Sequence[int]):
    """The product of the sizes of `axes` of `x`: an int when static, else a symbolic scalar."""
    from symgraph.ops.shape import shape_i

    static = [x.type.shape[d] for d in axes]
    if all(s is not None for s in static):
        return int(np.prod(static, dtype="int64"))
    return reduce(lambda p, q: p * q, [shape_i(x, d) for d in axes])


@dataclass(frozen=True)
class SummedSize(Op):
    """The number of elements of the summed axes, checking at run time that they pair up.

    Merging several summed axes into one hides a mismatch such as (2, 3) against (3, 2),
    so the merged size comes from this op, whose inputs are the sizes of the summed axes of
    the first input, then those of the second.
    """

    what: str
    axes: tuple[tuple[int, ...], tuple[int, ...]]

    def make_node(self, *sizes) -> Apply:
        from symgraph.ops.math import cast

        sizes = [cast(as_tensor_variable(s), "int64") for s in sizes]
        if len(sizes) != 2 * len(self.axes[0]) or any(s.ndim for s in sizes):
            raise TypeError(f"SummedSize takes {2 * len(self.axes[0])} integer scalars")
        return Apply(self, sizes, [TensorType("int64", ())()])

    def perform(self, node: Apply, inputs: list) -> list:
        n = len(self.axes[0])
        first, second = tuple(map(int, inputs[:n])), tuple(map(int, inputs[n:]))
        if first != second:
            raise ValueError(
                f"{self.what}: the summed axes do not match: axes {list(self.axes[0])} of the "
                f"first input have sizes {first}, axes {list(self.axes[1])} of the second have "
                f"sizes {second}"
            )
        return [np.asarray(np.prod(first, dtype="int64"), dtype="int64")]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [()]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [None] * len(inputs)


def _summed_size(what: str, a: Variable, a_axes: list[int], b: Variable, b_axes: list[int]):
    """The merged size of the summed axes: an int when static, else checked at run time.

    The check also runs for a single axis: the product op after the reshape would report
    the reshaped shapes, not the user's.
    """
    from symgraph.ops.shape import shape_i

    static = [a.type.shape[i] for i in a_axes] + [b.type.shape[j] for j in b_axes]
    if None not in static:  # check_static_alignment has compared them
        return int(np.prod(static[: len(a_axes)], dtype="int64"))
    sizes = [shape_i(a, i) for i in a_axes] + [shape_i(b, j) for j in b_axes]
    return SummedSize(what, (tuple(a_axes), tuple(b_axes)))(*sizes)


def _collapse(x: Variable, groups: Sequence[int], summed: tuple):
    """Merge consecutive axes of `x` in groups of the given lengths (0: a new axis of size 1).

    `summed` is (index of the group of summed axes, its size from _summed_size).
    """
    from symgraph.ops.shape import reshape

    if all(n == 1 for n in groups):
        return x
    sizes, start = [], 0
    for k, n in enumerate(groups):
        if k == summed[0]:
            sizes.append(summed[1])
        else:
            sizes.append(_size(x, range(start, start + n)) if n else 1)
        start += n
    return reshape(x, tuple(sizes), ndim=len(sizes))


def _expand(x: Variable, sizes: list):
    """`x` reshaped to `sizes` (ints where static, symbolic scalars otherwise)."""
    from symgraph.ops.shape import reshape

    return reshape(x, tuple(sizes), ndim=len(sizes))


def tensordot(a, b, axes=2):
    """Sum products over the given axes of `a` and `b`, as np.tensordot (Theano's signature).

    Parameters
    ----------
    a, b : tensor-like
    axes : int or pair of sequences of ints
        An int n sums the last n axes of `a` against the first n of `b`; a pair
        ``[[a axes], [b axes]]`` sums each listed axis of `a` against the matching one of `b`.

    Returns
    -------
    TensorVariable
        The free axes of `a`, then the free axes of `b`.

    Raises
    ------
    ValueError
        When summed axes have different static sizes (at graph-build time) or sizes (at run
        time), or when `axes` does not fit the inputs' ranks.

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> x, y = T.dtensor3("x"), T.dmatrix("y")
    >>> T.tensordot(x, y, [[1, 2], [0, 1]]).eval({x: np.ones((2, 3, 4)), y: np.ones((3, 4))})
    array([12., 12.])
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    a_axes, b_axes = _parse_axes("tensordot", a, b, axes, batch=0)
    return contract(a, b, a_axes, b_axes, "tensordot")


def contract(a: Variable, b: Variable, a_axes: list[int], b_axes: list[int], what: str):
    """tensordot on normalized axis lists; `what` names the user function in errors."""
    check_static_alignment(what, [a, b], [((0, i), (1, j)) for i, j in zip(a_axes, b_axes)])
    free_a = [d for d in range(a.ndim) if d not in a_axes]
    free_b = [d for d in range(b.ndim) if d not in b_axes]
    if not a_axes:  # nothing summed: the outer product of all elements
        return (a.dimshuffle(*range(a.ndim), *["x"] * b.ndim)
                * b.dimshuffle(*["x"] * a.ndim, *range(b.ndim)))
    at = a.transpose(free_a + a_axes)
    bt = b.transpose(b_axes + free_b)
    # one matrix product: (free a, summed) . (summed, free b); a side with no free axes is a vector
    size = _summed_size(what, a, a_axes, b, b_axes)
    a2 = _collapse(at, [n for n in (len(free_a), len(a_axes)) if n], (int(bool(free_a)), size))
    b2 = _collapse(bt, [n for n in (len(b_axes), len(free_b)) if n], (0, size))
    out = Dot()(a2, b2)
    if len(free_a) <= 1 and len(free_b) <= 1:
        return out
    return _expand(out, [_size(a, [d]) for d in free_a] + [_size(b, [d]) for d in free_b])


def batched_tensordot(x, y, axes=2):
    """tensordot of ``x[i]`` and ``y[i]`` for each i along the first (batch) axis, as in Theano.

    Parameters
    ----------
    x, y : tensor-like of rank >= 2, with the same size along axis 0
    axes : int or pair of sequences of ints
        An int n sums the last n axes of `x` against axes 1..n of `y`; a pair
        ``[[x axes], [y axes]]`` lists the summed axes, counted with the batch axis (which
        cannot be summed).

    Returns
    -------
    TensorVariable
        The batch axis, the free axes of `x`, then the free axes of `y`.

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> x, y = T.dtensor3("x"), T.dtensor4("y")
    >>> out = T.batched_tensordot(x, y, [[2], [1]])
    >>> out.eval({x: np.ones((5, 2, 3)), y: np.ones((5, 3, 4, 6))}).shape
    (5, 2, 4, 6)
    """
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    for v in (x, y):
        if v.ndim < 2:
            raise TypeError(f"batched_tensordot: {describe(v)} has {v.ndim} dimensions; it needs "
                            "a batch axis and at least one more (use batched_dot for vectors)")
    x_axes, y_axes = _parse_axes("batched_tensordot", x, y, axes, batch=1)
    check_static_alignment("batched_tensordot", [x, y],
                           [((0, i), (1, j)) for i, j in zip(x_axes, y_axes)])
    free_x = [d for d in range(1, x.ndim) if d not in x_axes]
    free_y = [d for d in range(1, y.ndim) if d not in y_axes]
    xt = x.transpose([0] + free_x + x_axes)
    yt = y.transpose([0] + y_axes + free_y)
    # (B, free x, summed) . (B, summed, free y); an empty group becomes an axis of size 1
    size = _summed_size("batched_tensordot", x, x_axes, y, y_axes)
    out = BatchedDot()(_collapse(xt, [1, len(free_x), len(x_axes)], (2, size)),
                       _collapse(yt, [1, len(y_axes), len(free_y)], (1, size)))
    if len(free_x) == 1 and len(free_y) == 1:
        return out
    batch = _size(x if x.type.shape[0] != 1 else y, [0])
    return _expand(out, [batch] + [_size(x, [d]) for d in free_x] + [_size(y, [d]) for d in free_y])
