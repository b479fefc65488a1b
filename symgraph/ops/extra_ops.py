"""Theano's tensor.extra_ops: cumsum / cumprod, diff, bincount, searchsorted, to_one_hot,
unique, compress, bartlett, fill_diagonal, fill_diagonal_offset, unravel_index and
ravel_multi_index.

Ops whose result is a plain function of existing ops (diff, to_one_hot, compress) are built
from them, so gradients and backends come for free; the rest are ops with a numpy perform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.config import config
from symgraph.graph import Apply, Op
from symgraph.ops.blas import describe
from symgraph.types import TensorType, normalize_dtype
from symgraph.variable import as_tensor_variable, constant


def _axis(what: str, x, axis) -> int | None:
    if axis is None:
        return None
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"{what}: axis {axis!r} is out of range for {describe(x)} "
                         f"({x.ndim} dimensions)")
    return int(axis) % max(x.ndim, 1)


def _int_input(what: str, v, name: str):
    v = as_tensor_variable(v)
    if not v.dtype.startswith(("int", "uint")):
        raise TypeError(f"{what}: {name} {describe(v)} must be integers, got {v.dtype}")
    return v


# --- cumulative sums and products --------------------------------------------------------------


@dataclass(frozen=True)
class CumOp(Op):
    """Cumulative 'add' (numpy.cumsum) or 'mul' (numpy.cumprod) along `axis` (None: flat)."""

    axis: int | None = None
    mode: str = "add"

    def __str__(self) -> str:
        return f"Cum{'sum' if self.mode == 'add' else 'prod'}{{axis={self.axis}}}"

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        fn = np.cumsum if self.mode == "add" else np.cumprod
        dtype = fn(np.zeros(1, dtype=x.dtype)).dtype.name  # numpy widens small ints
        if self.axis is None:
            known = all(s is not None for s in x.type.shape)
            shape = (int(np.prod(x.type.shape, dtype="int64")) if known else None,)
        else:
            shape = x.type.shape
        return Apply(self, [x], [TensorType(dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        fn = np.cumsum if self.mode == "add" else np.cumprod
        return [np.asarray(fn(inputs[0], axis=self.axis), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        if self.axis is None:
            size = 1
            for s in input_shapes[0]:
                size = size * s
            return [(size,)]
        return [tuple(input_shapes[0])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        (x,), (gz,) = inputs, output_grads
        axis = 0 if self.axis is None else self.axis
        flip = tuple(slice(None, None, -1) if a == axis else slice(None) for a in range(gz.ndim))

        def reverse_cumsum(g):  # the transpose of a cumulative sum
            return CumOp(axis, "add")(g[flip])[flip]

        if self.mode == "add":
            g = reverse_cumsum(gz)
        else:
            # d cumprod_j / d x_i = cumprod_j / x_i for i <= j (Theano's rule; x must be nonzero)
            g = reverse_cumsum(outputs[0] * gz) / (x.flatten() if self.axis is None else x)
        return [g.reshape(x.shape, ndim=x.ndim) if self.axis is None else g]


def cumsum(x, axis=None):
    """Cumulative sum along `axis` (None: over the flattened array), as numpy.cumsum.

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> v = T.dvector("v")
    >>> T.cumsum(v).eval({v: np.array([1.0, 2.0, 3.0])})
    array([1., 3., 6.])
    """
    x = as_tensor_variable(x)
    return CumOp(_axis("cumsum", x, axis), "add")(x)


def cumprod(x, axis=None):
    """Cumulative product along `axis` (None: over the flattened array), as numpy.cumprod."""
    x = as_tensor_variable(x)
    return CumOp(_axis("cumprod", x, axis), "mul")(x)


def diff(x, n: int = 1, axis: int = -1):
    """The n-th discrete difference along `axis`, as numpy.diff."""
    x = as_tensor_variable(x)
    axis = _axis("diff", x, axis)
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"diff: n must be a non-negative int, got {n!r}")
    for _ in range(int(n)):
        head = tuple(slice(1, None) if a == axis else slice(None) for a in range(x.ndim))
        tail = tuple(slice(None, -1) if a == axis else slice(None) for a in range(x.ndim))
        x = x[head] - x[tail]
    return x


# --- counting and searching --------------------------------------------------------------------


@dataclass(frozen=True)
class BinCount(Op):
    """numpy.bincount(x, weights, minlength): counts (or summed weights) of each value of x."""

    minlength: int = 0
    weighted: bool = False

    def make_node(self, x, *weights) -> Apply:
        x = _int_input("bincount", x, "x")
        if x.ndim != 1:
            raise TypeError(f"bincount: x {describe(x)} must be a vector, got {x.ndim} dims")
        inputs, dtype = [x], "int64"
        if self.weighted:
            w = as_tensor_variable(weights[0])
            if w.ndim != 1:
                raise TypeError(f"bincount: weights {describe(w)} must be a vector")
            inputs.append(w)
            dtype = w.dtype if w.dtype.startswith("float") else "float64"
        return Apply(self, inputs, [TensorType(dtype, (None,))()])

    def perform(self, node: Apply, inputs: list) -> list:
        x = inputs[0]
        w = inputs[1] if self.weighted else None
        if x.size and x.min() < 0:
            raise ValueError(f"bincount: {node.inputs[0]} has a negative entry ({x.min()}); "
                             "only non-negative ints can be counted")
        if w is not None and w.shape != x.shape:
            raise ValueError(f"bincount: weights have shape {w.shape} but x has {x.shape}")
        out = np.bincount(x, weights=w, minlength=self.minlength)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        if not self.weighted:
            return [None]
        return [None, output_grads[0][inputs[0]]]


def bincount(x, weights=None, minlength=None, assert_nonneg=False):
    """Counts of each non-negative int in `x`, or sums of `weights` per value (numpy.bincount).

    Weighted counts keep a float weights dtype (float32 stays float32, as in Theano).
    """
    op = BinCount(int(minlength or 0), weights is not None)
    return op(x) if weights is None else op(x, weights)


@dataclass(frozen=True)
class SearchSorted(Op):
    """numpy.searchsorted(x, v, side): where the values of v go in the sorted vector x."""

    side: str = "left"
    has_sorter: bool = False

    def make_node(self, x, v, *sorter) -> Apply:
        x, v = as_tensor_variable(x), as_tensor_variable(v)
        if x.ndim != 1:
            raise TypeError(f"searchsorted: x {describe(x)} must be a vector, got {x.ndim} dims")
        inputs = [x, v]
        if self.has_sorter:
            inputs.append(_int_input("searchsorted", sorter[0], "sorter"))
        return Apply(self, inputs, [TensorType("int64", v.type.shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        sorter = inputs[2] if self.has_sorter else None
        out = np.searchsorted(inputs[0], inputs[1], side=self.side, sorter=sorter)
        return [np.asarray(out, dtype="int64")]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[1])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [None] * len(inputs)


def searchsorted(x, v, side: str = "left", sorter=None):
    """Indices where the values `v` would be inserted into the sorted vector `x`."""
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    op = SearchSorted(side, sorter is not None)
    return op(x, v) if sorter is None else op(x, v, sorter)


def to_one_hot(y, nb_class: int, dtype=None):
    """A (len(y), nb_class) matrix with a one in column y[i] of row i (Theano's to_one_hot)."""
    from symgraph.ops.alloc import arange
    from symgraph.ops.math import cast, eq

    y = _int_input("to_one_hot", y, "y")
    if y.ndim != 1:
        raise TypeError(f"to_one_hot: y {describe(y)} must be a vector of class indices")
    dtype = normalize_dtype(dtype or config.floatX)
    return cast(eq(y.dimshuffle(0, "x"), arange(nb_class).dimshuffle("x", 0)), dtype)


# --- unique ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unique(Op):
    """numpy.unique with its optional outputs: values, then index / inverse / counts."""

    return_index: bool = False
    return_inverse: bool = False
    return_counts: bool = False
    axis: int | None = None

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        values_shape = (None,) if self.axis is None else tuple(
            None if a == self.axis else s for a, s in enumerate(x.type.shape))
        outs = [TensorType(x.dtype, values_shape)()]
        if self.return_index:
            outs.append(TensorType("int64", (None,))())
        if self.return_inverse:
            outs.append(TensorType("int64", (None,))())
        if self.return_counts:
            outs.append(TensorType("int64", (None,))())
        return Apply(self, [x], outs)

    def perform(self, node: Apply, inputs: list) -> list:
        res = np.unique(inputs[0], self.return_index, self.return_inverse, self.return_counts,
                        axis=self.axis)
        res = res if isinstance(res, tuple) else (res,)
        out = [res[0]] + [np.asarray(r, dtype="int64").reshape(-1) for r in res[1:]]
        return out

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        raise NotImplementedError("unique: the output sizes depend on the values")

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        raise NotImplementedError("unique has no gradient (as in Theano)")


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None):
    """The sorted unique values of `ar` (a list with the requested extra outputs, as numpy)."""
    ar = as_tensor_variable(ar)
    op = Unique(bool(return_index), bool(return_inverse), bool(return_counts),
                _axis("unique", ar, axis))
    return op(ar)


def compress(condition, x, axis=None):
    """The slices of `x` along `axis` where `condition` is true (numpy.compress)."""
    from symgraph.ops.advanced import take
    from symgraph.ops.numeric import flatnonzero

    return take(as_tensor_variable(x), flatnonzero(condition), axis=axis)


# --- windows and diagonals ---------------------------------------------------------------------


@dataclass(frozen=True)
class Bartlett(Op):
    """numpy.bartlett(M): the triangular window of M points (float64)."""

    def make_node(self, m) -> Apply:
        m = _int_input("bartlett", m, "M")
        if m.ndim != 0:
            raise TypeError(f"bartlett: M {describe(m)} must be a scalar")
        return Apply(self, [m], [TensorType("float64", (None,))()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [np.bartlett(int(inputs[0])).astype("float64")]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        from symgraph.ops.math import maximum

        return [(maximum(node.inputs[0], 0),)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [None]


def bartlett(M):
    """The Bartlett (triangular) window of M points."""
    return Bartlett()(M)


@dataclass(frozen=True)
class FillDiagonal(Op):
    """A copy of `a` with its main diagonal set to the scalar `val` (numpy.fill_diagonal).

    With `offset` (matrices only), the diagonal above (> 0) or below (< 0) the main one.
    """

    offset: int = 0

    def make_node(self, a, val) -> Apply:
        a, val = as_tensor_variable(a), as_tensor_variable(val)
        if a.ndim < 2:
            raise TypeError(f"fill_diagonal: {describe(a)} must have at least 2 dimensions")
        if self.offset and a.ndim != 2:
            raise TypeError(f"fill_diagonal_offset: {describe(a)} must be a matrix")
        if val.ndim != 0:
            raise TypeError(f"fill_diagonal: val {describe(val)} must be a scalar")
        return Apply(self, [a, val], [a.type()])

    def perform(self, node: Apply, inputs: list) -> list:
        a, val = inputs
        out = a.copy()
        if a.ndim > 2 and len(set(a.shape)) != 1:
            raise ValueError(f"fill_diagonal: {node.inputs[0]} has shape {a.shape}; an array "
                             "of more than 2 dimensions must have equal sizes")
        if self.offset == 0:
            np.fill_diagonal(out, val)
        else:
            from symgraph.ops.diag import _diag_index

            length = max(0, min(a.shape[0] + min(self.offset, 0),
                                a.shape[1] - max(self.offset, 0)))
            out[_diag_index(length, self.offset)] = val
        return [out]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        (a, val), (gz,) = inputs, output_grads
        from symgraph.ops.math import cast, zeros_like

        zero = constant(0, dtype=gz.dtype)
        g_a = self(gz, zero)  # the diagonal entries were overwritten
        g_val = None
        if val.dtype.startswith(("float", "complex")):
            g_val = cast(gz.sum() - g_a.sum(), val.dtype)
        return [g_a if a.dtype.startswith(("float", "complex")) else zeros_like(a), g_val]


def fill_diagonal(a, val):
    """A copy of `a` with its main diagonal set to the scalar `val` (Theano's fill_diagonal)."""
    a = as_tensor_variable(a)
    return FillDiagonal(0)(a, _val_like(val, a))


def fill_diagonal_offset(a, val, offset: int):
    """A copy of the matrix `a` with diagonal `offset` set to the scalar `val`."""
    a = as_tensor_variable(a)
    return FillDiagonal(int(offset))(a, _val_like(val, a))


def _val_like(val, a):
    from symgraph.ops.math import cast

    return cast(as_tensor_variable(val), a.dtype)


# --- flat and multi-dimensional indices ---------------------------------------------------------


def _dims(what: str, dims) -> tuple:
    """`dims` as a tuple of ints or scalar int variables, whose length is known."""
    if isinstance(dims, (tuple, list)):
        return tuple(dims)
    dims = as_tensor_variable(dims)
    if dims.ndim != 1 or dims.type.shape[0] is None:
        raise TypeError(f"{what}: dims {describe(dims)} must be a tuple or a vector of known "
                        "length (the number of outputs depends on it)")
    return tuple(dims[k] for k in range(dims.type.shape[0]))


@dataclass(frozen=True)
class UnravelIndex(Op):
    """numpy.unravel_index(indices, dims, order): one index array per dimension."""

    ndim: int
    order: str = "C"

    def make_node(self, indices, *dims) -> Apply:
        indices = _int_input("unravel_index", indices, "indices")
        dims = [_int_input("unravel_index", d, "dims") for d in dims]
        outs = [TensorType("int64", indices.type.shape)() for _ in range(self.ndim)]
        return Apply(self, [indices, *dims], outs)

    def perform(self, node: Apply, inputs: list) -> list:
        indices, dims = inputs[0], tuple(int(d) for d in inputs[1:])
        return [np.asarray(a, dtype="int64") for a in np.unravel_index(indices, dims, self.order)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])] * self.ndim

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [None] * len(inputs)


def unravel_index(indices, dims, order: str = "C"):
    """The multi-dimensional indices of the flat `indices` into an array of shape `dims`:
    a tuple of int64 tensors shaped like `indices` (numpy.unravel_index)."""
    if order not in ("C", "F"):
        raise ValueError(f"unravel_index: order must be 'C' or 'F', got {order!r}")
    dims = _dims("unravel_index", dims)
    outs = UnravelIndex(len(dims), order)(indices, *dims)
    return tuple(outs) if isinstance(outs, (list, tuple)) else (outs,)


@dataclass(frozen=True)
class RavelMultiIndex(Op):
    """numpy.ravel_multi_index(multi_index, dims, mode, order): flat indices."""

    ndim: int
    mode: str = "raise"
    order: str = "C"

    def make_node(self, *inputs) -> Apply:
        index = [_int_input("ravel_multi_index", v, "multi_index") for v in inputs[: self.ndim]]
        dims = [_int_input("ravel_multi_index", d, "dims") for d in inputs[self.ndim:]]
        ndim = max(v.ndim for v in index)
        shapes = [(1,) * (ndim - v.ndim) + tuple(v.type.shape) for v in index]
        # the broadcast shape where every size is known, else unknown
        static = tuple(None if None in sizes else max(sizes) for sizes in zip(*shapes))
        return Apply(self, [*index, *dims], [TensorType("int64", static)()])

    def perform(self, node: Apply, inputs: list) -> list:
        index = tuple(inputs[: self.ndim])
        dims = tuple(int(d) for d in inputs[self.ndim:])
        flat = np.ravel_multi_index(index, dims, mode=self.mode, order=self.order)
        return [np.asarray(flat, dtype="int64")]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        from symgraph.ops.math import maximum

        index = node.inputs[: self.ndim]
        ndim = node.outputs[0].ndim
        out = []
        for axis in range(ndim):  # the index arrays broadcast, aligned on their last axes
            sizes = [shp[axis - (ndim - v.ndim)] for v, shp in zip(index, input_shapes)
                     if axis >= ndim - v.ndim and v.type.shape[axis - (ndim - v.ndim)] != 1]
            size = sizes[0] if sizes else 1
            for other in sizes[1:]:
                size = maximum(size, other)
            out.append(size)
        return [tuple(out)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [None] * len(inputs)


def ravel_multi_index(multi_index, dims, mode: str = "raise", order: str = "C"):
    """The flat indices of `multi_index` (one int tensor per dimension) into an array of
    shape `dims` (numpy.ravel_multi_index; mode 'raise', 'wrap' or 'clip')."""
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"ravel_multi_index: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    if order not in ("C", "F"):
        raise ValueError(f"ravel_multi_index: order must be 'C' or 'F', got {order!r}")
    dims = _dims("ravel_multi_index", dims)
    if len(multi_index) != len(dims):
        raise ValueError(f"ravel_multi_index: {len(multi_index)} index arrays for {len(dims)} "
                         "dims")
    return RavelMultiIndex(len(dims), mode, order)(*multi_index, *dims)
