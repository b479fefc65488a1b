"""numpy-like helpers of Theano's tensor namespace: nonzero, choose, roll, isclose /
allclose, deg2rad / rad2deg, gamma, inv (the elementwise reciprocal), mgrid / ogrid.

Most are built from existing ops (so gradients and backends come for free); nonzero,
choose and gamma are ops with a numpy perform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.ops import math as m
from symgraph.ops.blas import describe
from symgraph.types import TensorType, upgrade_to_float
from symgraph.variable import as_tensor_variable, constant


def _float(x):
    """`x` in a float dtype (ints widen as numpy's ufuncs do)."""
    x = as_tensor_variable(x)
    return m.cast(x, upgrade_to_float(x.dtype)) if not x.dtype.startswith("float") else x


# --- nonzero -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nonzero(Op):
    """The indices of the nonzero entries of `a`, as an int64 matrix (ndim, count)."""

    def make_node(self, a) -> Apply:
        a = as_tensor_variable(a)
        if a.ndim == 0:
            raise ValueError(f"nonzero: {describe(a)} is a scalar; it needs at least 1 dimension")
        return Apply(self, [a], [TensorType("int64", (a.ndim, None))()])

    def perform(self, node: Apply, inputs: list) -> list:
        idx = np.nonzero(inputs[0])
        return [np.stack(idx).astype("int64").reshape(len(idx), -1)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [None]


def nonzero(a, return_matrix: bool = False):
    """Indices of the nonzero entries: a tuple of vectors, one per axis (numpy.nonzero).

    With `return_matrix`, one (ndim, count) matrix instead (Theano's option).
    """
    rows = Nonzero()(a)
    if return_matrix:
        return rows
    return tuple(rows[k] for k in range(rows.type.shape[0]))


def flatnonzero(a):
    """Indices of the nonzero entries of the flattened `a` (numpy.flatnonzero)."""
    return Nonzero()(as_tensor_variable(a).flatten())[0]


def nonzero_values(a):
    """The nonzero entries of the flattened `a`, in order."""
    flat = as_tensor_variable(a).flatten()
    return flat[flatnonzero(flat)]


# --- choose ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choose(Op):
    """numpy.choose(a, choices, mode): entry i from choices[a[i]].

    The choices are one tensor stacked on axis 0, or (`listed`) separate inputs.
    """

    mode: str = "raise"
    listed: bool = False

    def make_node(self, a, *choices) -> Apply:
        from symgraph.ops.elemwise import broadcast_static_shapes
        from symgraph.types import upcast

        a = as_tensor_variable(a)
        choices = [as_tensor_variable(c) for c in choices]
        if not a.dtype.startswith(("int", "uint")):
            raise TypeError(f"choose: the index array {describe(a)} must be integers")
        if not self.listed and (len(choices) != 1 or choices[0].ndim == 0):
            raise TypeError("choose: choices must be a list or a tensor with a first axis")
        shapes = [c.type.shape for c in choices] if self.listed else [choices[0].type.shape[1:]]
        shape = broadcast_static_shapes([a.type.shape, *shapes], "choose")
        dtype = upcast(*[c.dtype for c in choices])
        return Apply(self, [a, *choices], [TensorType(dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        a, *choices = inputs
        choices = choices if self.listed else list(choices[0])
        out = np.choose(a, choices, mode=self.mode)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        raise NotImplementedError("choose has no gradient (as in Theano)")


def choose(a, choices, out=None, mode: str = "raise"):
    """numpy.choose: pick each entry from one of `choices` (a list or a stacked tensor)."""
    if out is not None:
        raise NotImplementedError("choose: out= is not supported (symbolic results are new)")
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"choose: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    if isinstance(choices, (list, tuple)):
        return Choose(mode, True)(a, *choices)
    return Choose(mode, False)(a, choices)


# --- roll, isclose -----------------------------------------------------------------------------


def roll(x, shift, axis=None):
    """`x` shifted by `shift` places along `axis`, wrapping around (numpy.roll)."""
    from symgraph.ops.join import concatenate

    x = as_tensor_variable(x)
    if axis is None:
        if x.ndim <= 1:
            return roll(x, shift, 0) if x.ndim == 1 else x
        return roll(x.flatten(), shift, 0).reshape(x.shape, ndim=x.ndim)
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"roll: axis {axis!r} is out of range for {describe(x)}")
    axis = int(axis) % x.ndim
    shift = m.cast(as_tensor_variable(shift), "int64") % x.shape[axis]

    def part(s):
        return x[tuple(s if a == axis else slice(None) for a in range(x.ndim))]

    # shift 0 gives x[0:] then the empty x[0:0]
    return concatenate([part(slice(-shift, None)), part(slice(0, -shift))], axis=axis)


def isclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """Elementwise |a - b| <= atol + rtol * |b|, with infinities equal only to themselves."""
    a, b = _float(a), _float(b)
    either_inf = m.or_(m.isinf(a), m.isinf(b))
    # the tolerance test only for finite pairs: inf vs -inf would pass it (inf <= inf)
    close = m.and_(m.le(m.abs(a - b), atol + rtol * m.abs(b)), m.invert(either_inf))
    close = m.or_(close, m.and_(m.eq(a, b), either_inf))
    if equal_nan:
        close = m.or_(close, m.and_(m.isnan(a), m.isnan(b)))
    return close


def allclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """True when isclose holds everywhere (a bool scalar)."""
    return m.all(isclose(a, b, rtol, atol, equal_nan))


# --- elementwise -------------------------------------------------------------------------------


def deg2rad(x):
    """Degrees to radians (integers give floats, as numpy)."""
    x = _float(x)
    return x * constant(np.pi / 180.0, dtype=x.dtype)


def rad2deg(x):
    """Radians to degrees (integers give floats, as numpy)."""
    x = _float(x)
    return x * constant(180.0 / np.pi, dtype=x.dtype)


def inv(x):
    """The elementwise reciprocal 1 / x (Theano's T.inv, not the matrix inverse)."""
    x = _float(x)
    return constant(1.0, dtype=x.dtype) / x


reciprocal = inv


@dataclass(frozen=True)
class Gamma(Op):
    """The gamma function, elementwise (scipy.special.gamma)."""

    def make_node(self, x) -> Apply:
        x = _float(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node: Apply, inputs: list) -> list:
        from scipy import special

        return [np.asarray(special.gamma(inputs[0]), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # d gamma(x) / dx = gamma(x) psi(x)
        return [output_grads[0] * outputs[0] * m.psi(inputs[0])]


def gamma(x):
    """The gamma function, elementwise."""
    return Gamma()(x)


# --- mgrid, ogrid ------------------------------------------------------------------------------


class _NdGrid:
    """``mgrid[0:5, 0:3]`` (dense) and ``ogrid[...]`` (open): lists of tensors, as Theano."""

    def __init__(self, sparse: bool):
        self.sparse = sparse

    def __getitem__(self, slices):
        from symgraph.ops.alloc import arange
        from symgraph.ops.math import ones_like

        single = isinstance(slices, slice)
        slices = (slices,) if single else tuple(slices)
        for sl in slices:
            if not isinstance(sl, slice) or isinstance(sl.step, complex):
                raise NotImplementedError("mgrid / ogrid take slices with real steps "
                                          "(a complex step, numpy's point count, is unsupported)")
        ndim = len(slices)
        ranges = [arange(0 if sl.start is None else sl.start, sl.stop,
                         1 if sl.step is None else sl.step) for sl in slices]
        if single:
            return ranges[0]
        ranges = [r.dimshuffle(*["x"] * j, 0, *["x"] * (ndim - 1 - j))
                  for j, r in enumerate(ranges)]
        if self.sparse:
            return ranges
        ones = [ones_like(r) for r in ranges]
        grids = []
        for i in range(ndim):
            grid = ranges[i]
            for j in range(ndim):
                if j != i:
                    grid = grid * ones[j]
            grids.append(grid)
        return grids


mgrid = _NdGrid(sparse=False)
ogrid = _NdGrid(sparse=True)


# --- Theano's small aggregates: largest, smallest, ptp, norm, stacklists -----------------------


def largest(*args):
    """The elementwise largest of the arguments (Theano's spelling of a variadic maximum)."""
    if len(args) == 2:
        return m.maximum(*args)
    from symgraph.ops.join import stack

    return m.max(stack(list(args)), axis=0)


def smallest(*args):
    """The elementwise smallest of the arguments."""
    if len(args) == 2:
        return m.minimum(*args)
    from symgraph.ops.join import stack

    return m.min(stack(list(args)), axis=0)


def ptp(a, axis=None):
    """max - min along `axis` (numpy's peak-to-peak)."""
    a = as_tensor_variable(a)
    return m.max(a, axis=axis) - m.min(a, axis=axis)


def norm(x, L, axis=None):
    """The L-norm of `x` along `axis` (Theano's tensor.norm; L=1, 2 or any positive power)."""
    if L == 0:
        raise NotImplementedError("norm: L=0 is not a norm")
    x = as_tensor_variable(x)
    if L == 1:
        return m.sum(abs(x), axis=axis)
    if L == 2:
        return m.sqrt(m.sum(m.sqr(x), axis=axis))
    return m.pow(m.sum(m.pow(abs(x), L), axis=axis), 1.0 / L)


def stacklists(arg):
    """A tensor from nested lists of scalars (or tensors): ``stacklists([[a, b], [c, d]])``."""
    from symgraph.ops.join import stack

    if isinstance(arg, (tuple, list)):
        return stack([stacklists(a) for a in arg])
    return as_tensor_variable(arg)
