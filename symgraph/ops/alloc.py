"""Allocation: Alloc (zeros, ones, full), Eye / Tri (tril, triu), ARange, tile, Repeat."""

from __future__ import annotations

import math as _pymath
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from symgraph.config import config
from symgraph.graph import Apply, Op, Variable
from symgraph.ops import math
from symgraph.ops.math import fill, ones_like, zeros_like  # noqa: F401 - re-exported here
from symgraph.ops.shape import (
    as_int_scalar,
    dimshuffle,
    flatten,
    reshape,
    shape_entries,
    shape_i,
    show_shape,
    static_int,
)
from symgraph.types import DISCRETE_DTYPES, INTEGER_DTYPES, TensorType, normalize_dtype, upcast
from symgraph.variable import as_tensor_variable, constant


def _value(v):
    """A symbolic int scalar as a Python int when it is constant (for infer_shape)."""
    s = static_int(v)
    return v if s is None else s


def _check_sizes(sizes, what: str) -> None:
    bad = [s for s in sizes if s is not None and s < 0]
    if bad:
        raise ValueError(f"{what}: negative size {bad[0]} in the requested shape")


# --- Alloc -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alloc(Op):
    """A new tensor of the given shape filled with `value`, broadcast from its trailing axes.

    As in Elemwise, only dimensions of `value` of static size 1 broadcast; others must match.
    """

    def make_node(self, value, *shape) -> Apply:
        v = as_tensor_variable(value)
        sizes = [as_int_scalar(s, "alloc") for s in shape]
        if v.ndim > len(sizes):
            raise ValueError(f"alloc: the value {v}{v.where()} has {v.ndim} dimensions, more than "
                             f"the {len(sizes)} of the requested shape")
        static = [static_int(s) for s in sizes]
        _check_sizes(static, "alloc")
        lead = len(sizes) - v.ndim
        out = list(static)
        for k, vs in enumerate(v.type.shape):
            want = static[lead + k]
            if vs in (None, 1):
                continue
            if want is not None and want != vs:
                raise ValueError(
                    f"alloc: cannot broadcast {v}{v.where()} of shape {show_shape(v.type.shape)} "
                    f"to shape {show_shape(static)}: its axis {k} has size {vs}, the shape asks "
                    f"for {want}"
                )
            out[lead + k] = vs
        return Apply(self, [v, *sizes], [TensorType(v.dtype, out)()])

    def perform(self, node: Apply, inputs: list) -> list:
        v, shape = inputs[0], tuple(int(s) for s in inputs[1:])
        var = node.inputs[0]
        lead = len(shape) - v.ndim
        for k, (size, static) in enumerate(zip(v.shape, var.type.shape)):
            if size != shape[lead + k] and static != 1:
                raise ValueError(
                    f"alloc: cannot broadcast {var}{var.where()} of shape {v.shape} to shape "
                    f"{shape}: its axis {k} has size {size} and is not broadcastable (only "
                    "dimensions of static size 1 broadcast; see T.addbroadcast)"
                )
        if min(shape, default=0) < 0:
            raise ValueError(f"alloc: negative size in the requested shape {shape}")
        out = np.empty(shape, dtype=node.outputs[0].dtype)
        out[...] = v
        return [out]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        static = node.outputs[0].type.shape
        return [tuple(_value(s) if k is None else k for s, k in zip(node.inputs[1:], static))]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        v, gz = inputs[0], output_grads[0]
        none = [None] * (len(inputs) - 1)
        if v.dtype in DISCRETE_DTYPES:
            return [None, *none]
        lead = gz.ndim - v.ndim
        axes = [lead + k for k, b in enumerate(v.broadcastable) if b and gz.type.shape[lead + k]
                != 1]
        g = math.sum(gz, axis=axes, keepdims=True) if axes else gz
        g = math.sum(g, axis=list(range(lead))) if lead else g
        return [g, *none]


def _alloc_shape(shape: tuple) -> list:
    """alloc's *shape: scalars one by one, or (a convenience) one sequence or int vector."""
    if len(shape) == 1 and (isinstance(shape[0], (list, tuple, np.ndarray)) or (
            isinstance(shape[0], Variable) and shape[0].ndim == 1)):
        return shape_entries(shape[0], "alloc")
    return list(shape)


def alloc(value, *shape):
    """A new tensor of shape `shape` filled with `value` (broadcast from the trailing axes).

    Examples
    --------
    >>> import symgraph.tensor as T
    >>> x = T.vector("x")
    >>> T.alloc(x, 3, x.shape[0]).type.shape
    (3, None)
    """
    return Alloc()(value, *_alloc_shape(shape))


def _filled(shape, value, dtype: str):
    if not isinstance(shape, (list, tuple, np.ndarray, Variable)):
        shape = [shape]
    return alloc(constant(value, dtype=dtype), *shape_entries(shape, "alloc"))


def zeros(shape, dtype=None):
    """A tensor of zeros; `shape` is an int, a sequence of ints / int scalars or an int vector."""
    return _filled(shape, 0, normalize_dtype(dtype or config.floatX))


def ones(shape, dtype=None):
    """A tensor of ones; `shape` is an int, a sequence of ints / int scalars or an int vector."""
    return _filled(shape, 1, normalize_dtype(dtype or config.floatX))


def full(shape, fill_value, dtype=None):
    """A tensor of shape `shape` filled with `fill_value` (of its dtype unless `dtype` is given)."""
    value = as_tensor_variable(fill_value)
    if dtype is not None:
        value = math.cast(value, dtype)
    if not isinstance(shape, (list, tuple, np.ndarray, Variable)):
        shape = [shape]
    return alloc(value, *shape_entries(shape, "full"))


# --- Eye and Tri -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Band(Op):
    """An (n, m) matrix made by a numpy constructor taking (n, m, k, dtype)."""

    dtype: str
    numpy_fn: ClassVar[Callable]

    def make_node(self, n, m, k) -> Apply:
        what = type(self).__name__.lower()
        n, m, k = (as_int_scalar(v, what) for v in (n, m, k))
        static = (static_int(n), static_int(m))
        _check_sizes(static, what)
        return Apply(self, [n, m, k], [TensorType(self.dtype, static)()])

    def perform(self, node: Apply, inputs: list) -> list:
        n, m, k = (int(v) for v in inputs)
        if n < 0 or m < 0:
            raise ValueError(f"{type(self).__name__.lower()}: negative size in ({n}, {m})")
        return [type(self).numpy_fn(n, m, k, dtype=self.dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [(_value(node.inputs[0]), _value(node.inputs[1]))]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [None, None, None]


@dataclass(frozen=True)
class Eye(_Band):
    """Ones on the diagonal `k` of an (n, m) matrix, zeros elsewhere."""

    numpy_fn: ClassVar[Callable] = staticmethod(np.eye)


@dataclass(frozen=True)
class Tri(_Band):
    """Ones on and below the diagonal `k` of an (n, m) matrix, zeros elsewhere."""

    numpy_fn: ClassVar[Callable] = staticmethod(np.tri)


def eye(n, m=None, k=0, dtype=None):
    """An (n, m) matrix with ones on the `k`-th diagonal (n, m, k: ints or int scalars)."""
    return Eye(normalize_dtype(dtype or config.floatX))(n, n if m is None else m, k)


def tri(N, M=None, k=0, dtype=None):
    """An (N, M) matrix with ones on and below the `k`-th diagonal."""
    return Tri(normalize_dtype(dtype or config.floatX))(N, N if M is None else M, k)


def identity_like(x, dtype=None):
    """An identity matrix with the shape of the matrix `x` (and its dtype unless given)."""
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise ValueError(f"identity_like: expected a matrix, got {x}{x.where()} of type {x.type}")
    return eye(shape_i(x, 0), shape_i(x, 1), 0, dtype=dtype or x.dtype)


def _lower_mask(m, k):
    m = as_tensor_variable(m)
    if m.ndim < 2:
        raise ValueError(f"tril/triu: expected at least 2 dimensions, got {m}{m.where()} of type "
                         f"{m.type}")
    return m, tri(shape_i(m, m.ndim - 2), shape_i(m, m.ndim - 1), k, dtype="bool")


def tril(m, k=0):
    """`m` with the entries above the `k`-th diagonal set to zero (on the last two axes)."""
    m, mask = _lower_mask(m, k)
    return math.switch(mask, m, zeros_like(m))  # a switch, not m * mask: NaN * 0 is NaN


def triu(m, k=0):
    """`m` with the entries below the `k`-th diagonal set to zero (on the last two axes)."""
    known = static_int(k)
    m, mask = _lower_mask(m, known - 1 if known is not None else as_int_scalar(k, "triu") - 1)
    return math.switch(mask, zeros_like(m), m)


# --- ARange ------------------------------------------------------------------------------------


def _arange_length(start, stop, step, exact: bool):
    """Number of elements of arange: ints exactly, floats as numpy (ceil of the quotient)."""
    if all(isinstance(v, (int, float)) for v in (start, stop, step)):
        n = -((start - stop) // step) if exact else _pymath.ceil((stop - start) / step)
        return max(int(n), 0)
    if exact:
        a, b, c = (math.cast(v, "int64") for v in (start, stop, step))
        return math.maximum(-((a - b) // c), 0)
    a, b, c = (math.cast(v, "float64") for v in (start, stop, step))
    return math.maximum(math.cast(math.ceil((b - a) / c), "int64"), 0)


def _static_number(v: Variable):
    from symgraph.graph import Constant

    return np.asarray(v.data).item() if isinstance(v, Constant) else None


@dataclass(frozen=True)
class ARange(Op):
    """Evenly spaced values in [start, stop) with `step`, as numpy.arange."""

    dtype: str

    def make_node(self, start, stop, step) -> Apply:
        inputs = [as_tensor_variable(v) for v in (start, stop, step)]
        for name, v in zip(("start", "stop", "step"), inputs):
            if v.ndim != 0 or v.dtype.startswith("complex"):
                raise TypeError(f"arange: {name} must be a real scalar, got {v}{v.where()} of "
                                f"type {v.type}")
        values = [_static_number(v) for v in inputs]
        if values[2] == 0:
            raise ValueError("arange: step must not be 0")
        length = None
        if None not in values:
            length = _arange_length(*values, exact=self._exact(inputs))
        return Apply(self, inputs, [TensorType(self.dtype, (length,))()])

    @staticmethod
    def _exact(inputs: list) -> bool:
        return all(v.dtype in DISCRETE_DTYPES for v in inputs)

    def perform(self, node: Apply, inputs: list) -> list:
        start, stop, step = (np.asarray(v).item() for v in inputs)
        if step == 0:
            raise ValueError(f"arange: step is 0 (created at {node.outputs[0].trace})")
        return [np.arange(start, stop, step, dtype=self.dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        values = [_static_number(v) for v in node.inputs]
        args = [v if s is None else s for v, s in zip(node.inputs, values)]
        return [(_arange_length(*args, exact=self._exact(node.inputs)),)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # stop only sets the length: no gradient. An int output has none at all.
        if self.dtype in DISCRETE_DTYPES:
            return [None, None, None]
        gz = output_grads[0]
        steps = arange(shape_i(outputs[0], 0), dtype=self.dtype)
        return [math.sum(gz), None, math.sum(gz * steps)]


def arange(start, stop=None, step=1, dtype=None):
    """Values from `start` to `stop` (excluded) by `step`; `arange(n)` counts 0 .. n-1.

    Bounds may be Python numbers or symbolic scalars. Without `dtype`, integer bounds give
    int64 and float bounds their upcast float dtype (floatX for Python floats), as in Theano.
    """
    if stop is None:
        start, stop = 0, start
    start, stop, step = (as_tensor_variable(v) for v in (start, stop, step))
    if dtype is None:
        dtype = upcast(start.dtype, stop.dtype, step.dtype)
        dtype = "int64" if dtype in DISCRETE_DTYPES else dtype
    return ARange(normalize_dtype(dtype))(start, stop, step)


# --- tile --------------------------------------------------------------------------------------


def tile(x, reps, ndim=None):
    """`x` repeated `reps[i]` times along each axis i, as numpy.tile.

    `reps` is an int, a sequence of ints / int scalars or an int vector of known length; the
    result has max(len(reps), x.ndim, ndim) dimensions.
    """
    x = as_tensor_variable(x)
    reps = shape_entries(reps, "tile")
    if ndim is None:
        ndim = max(len(reps), x.ndim)
    if ndim < x.ndim or len(reps) > ndim:
        raise ValueError(f"tile: ndim={ndim} must be at least x.ndim ({x.ndim}) and len(reps) "
                         f"({len(reps)}) for {x}{x.where()}")
    reps = [constant(1, dtype="int64")] * (ndim - len(reps)) + reps
    shape = [1] * (ndim - x.ndim) + [shape_i(x, k) for k in range(x.ndim)]
    # alloc to (r0, .., s0, ..), interleave to (r0, s0, r1, s1, ..), then merge each pair
    y = alloc(x, *reps, *shape)
    y = dimshuffle(y, [k + off for k in range(ndim) for off in (0, ndim)])
    return reshape(y, [_times(r, s) for r, s in zip(reps, shape)])


def _times(a, b):
    """a * b for int64 scalars / ints, an int when both are known."""
    sa, sb = static_int(a), static_int(b)
    if sa is not None and sb is not None:
        return sa * sb
    return (a if sa is None else sa) * (b if sb is None else sb)


# --- repeat ------------------------------------------------------------------------------------


def _repeats_static(r: Variable) -> list | None:
    """The values of `repeats` when known at graph-build time (a list: one or one per slice)."""
    from symgraph.ops.join import static_entries

    values = [static_int(r)] if r.ndim == 0 else list(static_entries(r))
    return None if None in values else values


@dataclass(frozen=True)
class Repeat(Op):
    """Repeat each slice of `x` along `axis`: `repeats` is an int scalar or one int per slice."""

    axis: int

    def make_node(self, x, repeats) -> Apply:
        x, r = as_tensor_variable(x), as_tensor_variable(repeats)
        if not 0 <= self.axis < x.ndim:
            raise ValueError(f"repeat: axis {self.axis} is out of range for {x}{x.where()} with "
                             f"{x.ndim} dimensions")
        if r.ndim > 1 or r.dtype not in INTEGER_DTYPES:
            raise TypeError(f"repeat: repeats must be an integer scalar or vector, got {r}"
                            f"{r.where()} of type {r.type}")
        n = x.type.shape[self.axis]
        if r.ndim == 1 and None not in (n, r.type.shape[0]) and n != r.type.shape[0]:
            raise ValueError(f"repeat: {r.type.shape[0]} repeats for the {n} slices of axis "
                             f"{self.axis} of {x}{x.where()}")
        values = _repeats_static(r) if r.ndim == 0 or r.type.shape[0] is not None else None
        r = math.cast(r, "int64")
        if values and min(values) < 0:
            raise ValueError(f"repeat: negative repeats {values} for {x}{x.where()}")
        shape = list(x.type.shape)
        if values is None:
            shape[self.axis] = None
        elif r.ndim == 1:
            shape[self.axis] = sum(values)
        else:
            shape[self.axis] = None if n is None else n * values[0]
        return Apply(self, [x, r], [TensorType(x.dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, r = inputs
        if np.any(r < 0) or (r.ndim == 1 and len(r) != x.shape[self.axis]):
            v = node.inputs[0]
            raise ValueError(f"repeat: cannot repeat the {x.shape[self.axis]} slices of axis "
                             f"{self.axis} of {v}{v.where()} by {r.tolist()}: repeats must be "
                             "non-negative, one int or one per slice")
        return [np.repeat(x, r, axis=self.axis)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        shape = list(input_shapes[0])
        static, r = node.outputs[0].type.shape[self.axis], node.inputs[1]
        if static is not None:
            shape[self.axis] = static
        elif r.ndim == 0:
            shape[self.axis] = shape[self.axis] * _value(r)
        else:
            shape[self.axis] = math.sum(r)
        return [tuple(shape)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x, r = inputs
        if x.dtype in DISCRETE_DTYPES:
            return [None, None]
        return [RepeatGrad(self.axis)(output_grads[0], r, shape_i(x, self.axis)), None]


@dataclass(frozen=True)
class RepeatGrad(Op):
    """Gradient of Repeat: sum the repeated slices of `gz` along `axis` back into `n` slices."""

    axis: int

    def make_node(self, gz, repeats, n) -> Apply:
        gz, r, n = as_tensor_variable(gz), as_tensor_variable(repeats), as_int_scalar(n, "repeat")
        shape = list(gz.type.shape)
        shape[self.axis] = static_int(n)
        return Apply(self, [gz, r, n], [TensorType(gz.dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        gz, r, n = inputs
        moved = np.moveaxis(gz, self.axis, 0)
        out = np.zeros((int(n),) + moved.shape[1:], dtype=gz.dtype)
        np.add.at(out, np.repeat(np.arange(int(n)), r), moved)
        return [np.ascontiguousarray(np.moveaxis(out, 0, self.axis))]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        shape = list(input_shapes[0])
        shape[self.axis] = _value(node.inputs[2])
        return [tuple(shape)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # the adjoint of summing slices is repeating them
        return [Repeat(self.axis)(output_grads[0], inputs[1]), None, None]


def repeat(x, repeats, axis=None):
    """Repeat the elements of `x` along `axis` (None: of the flattened `x`), as numpy.repeat.

    `repeats` is an int (scalar) or one int per slice (a sequence or an int vector).
    """
    x, r = as_tensor_variable(x), as_tensor_variable(repeats)
    if axis is None:
        x, axis = flatten(x), 0
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"repeat: axis {axis!r} is out of range for {x}{x.where()} with "
                         f"{x.ndim} dimensions")
    if r.ndim == 1 and r.type.shape[0] == 1:
        r = dimshuffle(r, ())  # numpy repeats a one-entry list like a scalar
    return Repeat(int(axis) % x.ndim)(x, r)
