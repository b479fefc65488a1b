"""Shape queries and changes: Shape, Shape_i, SpecifyShape, Reshape, Rebroadcast, dimshuffles."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce

import numpy as np

from symgraph.graph import Apply, Constant, Op, Variable
from symgraph.ops.elemwise import DimShuffle
from symgraph.types import DISCRETE_DTYPES, INTEGER_DTYPES, TensorType
from symgraph.variable import as_tensor_variable, constant


@dataclass(frozen=True)
class Shape(Op):
    """The shape of a tensor as an int64 vector."""

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.ndim,))()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [np.asarray(inputs[0].shape, dtype="int64")]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [(len(input_shapes[0]),)]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


@dataclass(frozen=True)
class Shape_i(Op):
    """The size of dimension `i` as an int64 scalar."""

    i: int

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if not 0 <= self.i < x.ndim:
            raise ValueError(f"Shape_i({self.i}): {x}{x.where()} has {x.ndim} dimensions")
        return Apply(self, [x], [TensorType("int64", ())()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [np.asarray(inputs[0].shape[self.i], dtype="int64")]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [()]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


def shape(x):
    """The symbolic shape of `x` (an int64 vector)."""
    return Shape()(x)


def shape_i(x, i: int):
    """The size of dimension `i` of `x`: a constant when statically known."""
    x = as_tensor_variable(x)
    size = x.type.shape[i]
    if size is not None:
        return constant(size, dtype="int64")
    return Shape_i(i % x.ndim)(x)


@dataclass(frozen=True)
class SpecifyShape(Op):
    """Assert at run time that `x` has the given shape (None: any); gives a static shape."""

    shape: tuple

    view_map = {0: [0]}

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if len(self.shape) != x.ndim:
            raise ValueError(f"specify_shape: {x}{x.where()} has {x.ndim} dims, got {self.shape}")
        for axis, (old, new) in enumerate(zip(x.type.shape, self.shape)):
            if old is not None and new is not None and old != new:
                raise ValueError(
                    f"specify_shape: {x}{x.where()} has static size {old} on axis {axis}, "
                    f"not {new}"
                )
        merged = tuple(old if new is None else new for old, new in zip(x.type.shape, self.shape))
        return Apply(self, [x], [TensorType(x.dtype, merged)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x = inputs[0]
        if x.ndim != len(self.shape) or any(
            want is not None and want != got for want, got in zip(self.shape, x.shape)
        ):
            raise AssertionError(
                f"specify_shape: expected shape {self.shape} for {node.inputs[0]}"
                f"{node.inputs[0].where()}, got {x.shape}"
            )
        return [x]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(s if s is not None else i for s, i in zip(self.shape, input_shapes[0]))]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]


def specify_shape(x, shape):
    """`x`, with its shape asserted at run time and known to later ops when the graph is built."""
    x = as_tensor_variable(x)
    shape = tuple(None if s is None else int(s) for s in shape)
    return SpecifyShape(shape)(x)


def dimshuffle(x, pattern):
    """Theano's dimshuffle: `pattern` lists input axes in their new order, 'x' adds an axis."""
    x = as_tensor_variable(x)
    pattern = tuple(p if p == "x" else int(p) for p in pattern)
    if pattern == tuple(range(x.ndim)):
        return x
    return DimShuffle(x.ndim, pattern)(x)


def transpose(x, axes=None):
    """Reverse (or permute by `axes`) the dimensions of `x`."""
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} dimensions")
    return dimshuffle(x, axes)


# --- shape arguments ---------------------------------------------------------------------------


def _join():
    from symgraph.ops import join

    return join


def _math():
    from symgraph.ops import math

    return math


def static_int(v) -> int | None:
    """`v` as a Python int when it is known while the graph is built (an int or a constant)."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, Constant):
        data = np.asarray(v.data)
        if data.ndim == 0 and data.dtype.kind in "iu":
            return int(data)
    return None


def _describe(v) -> str:
    """A variable or value for error messages: name, type and the user's line."""
    if isinstance(v, Variable):
        return f"{v}{v.where()} of type {v.type}"
    return f"{type(v).__name__} {v!r}"


def as_int_scalar(v, what: str):
    """A shape entry (a Python int or a symbolic integer scalar) as an int64 scalar variable."""
    known = static_int(v)
    if known is not None:
        return constant(known, dtype="int64")
    var = v if isinstance(v, Variable) else None
    if var is None and not isinstance(v, (float, np.floating, np.ndarray)):
        raise TypeError(f"{what}: shape entries must be integers, got {_describe(v)}")
    var = var if var is not None else as_tensor_variable(v)
    if var.ndim != 0 or var.dtype not in INTEGER_DTYPES:
        raise TypeError(f"{what}: shape entries must be integer scalars, got {_describe(v)}")
    return _math().cast(var, "int64")


def shape_entries(shape, what: str) -> list:
    """A shape argument (int, sequence of ints / int scalars, int vector) as int64 scalars."""
    if isinstance(shape, (list, tuple)):
        return [as_int_scalar(s, what) for s in shape]
    if isinstance(shape, np.ndarray) and shape.ndim == 1:
        return [as_int_scalar(s, what) for s in shape]
    if isinstance(shape, Variable) and shape.ndim == 1:
        return _join().vector_entries(_int_vector(shape, what), what)
    return [as_int_scalar(shape, what)]


def _int_vector(v: Variable, what: str):
    """Check that `v` is an integer vector and cast it to int64."""
    if v.ndim != 1 or v.dtype not in INTEGER_DTYPES:
        raise TypeError(f"{what}: expected an integer vector for the shape, got {_describe(v)}")
    if isinstance(v, Constant):  # keep it a constant, so its entries stay known
        return constant(np.asarray(v.data, dtype="int64"))
    return _math().cast(v, "int64")


def shape_vector(shape, what: str):
    """A shape argument as an int64 vector: a constant when every entry is known."""
    if isinstance(shape, Variable) and shape.ndim == 1:
        return _int_vector(shape, what)
    entries = shape_entries(shape, what)
    static = [static_int(e) for e in entries]
    if all(s is not None for s in static):
        return constant(np.array(static, dtype="int64"))
    return _join().MakeVector("int64")(*entries)


def _prod(values):
    """Product of ints and symbolic scalars (an int when all are ints)."""
    return reduce(operator.mul, values, 1)


def _at_least_1(v):
    """max(v, 1) on an int or a symbolic scalar: a divisor that cannot be zero."""
    return max(v, 1) if isinstance(v, (int, np.integer)) else _math().maximum(v, 1)


def show_shape(shape) -> str:
    """A static shape for error messages, written as Python writes tuples: (3, ?, 1), (3,)."""
    text = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({text},)" if len(shape) == 1 else f"({text})"


# --- reshape -----------------------------------------------------------------------------------


def _reshaped_static(x: Variable, entries: tuple) -> tuple:
    """The static output shape of reshaping `x` to `entries` (None: unknown); bad sizes raise."""
    bad, new = [e for e in entries if e is not None and e < -1], show_shape(entries)
    if bad:
        raise ValueError(f"reshape: invalid size {bad[0]} in the new shape {new} for "
                         f"{x}{x.where()}; sizes must be >= 0, or -1 for one inferred size")
    if entries.count(-1) > 1:
        raise ValueError(f"reshape: the new shape {new} for {x}{x.where()} has more "
                         "than one -1; only one size can be inferred")
    in_static = x.type.shape
    known_in = None if None in in_static else _prod(in_static)
    others = [e for e in entries if e != -1]
    known_others = None if None in others else _prod(others)
    if known_in is None or known_others is None:
        return tuple(None if e == -1 else e for e in entries)
    fits = (known_others != 0 and known_in % known_others == 0) if -1 in entries else (
        known_in == known_others)
    if not fits:
        raise ValueError(
            f"reshape: cannot reshape {x}{x.where()} of static shape {show_shape(in_static)} "
            f"({known_in} elements) into shape {show_shape(entries)}"
        )
    return tuple(known_in // known_others if e == -1 else e for e in entries)


@dataclass(frozen=True)
class Reshape(Op):
    """`x` with the shape given by an int64 vector of length `ndim` (one entry may be -1)."""

    ndim: int

    view_map = {0: [0]}

    def make_node(self, x, shp) -> Apply:
        x = as_tensor_variable(x)
        shp = _int_vector(as_tensor_variable(shp), "reshape")
        length = shp.type.shape[0]
        if length is not None and length != self.ndim:
            raise ValueError(f"reshape: the new shape {shp}{shp.where()} has {length} entries, "
                             f"but ndim={self.ndim}")
        entries = _join().static_entries(shp) if length is not None else (None,) * self.ndim
        out_shape = _reshaped_static(x, tuple(entries))
        return Apply(self, [x, shp], [TensorType(x.dtype, out_shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, shp = inputs
        new = tuple(int(s) for s in shp)
        if len(new) != self.ndim:
            raise ValueError(f"reshape: the new shape {new} has {len(new)} entries, expected "
                             f"{self.ndim}")
        try:
            return [np.reshape(x, new)]
        except ValueError:
            v = node.inputs[0]
            raise ValueError(f"reshape: cannot reshape {v}{v.where()} of shape {x.shape} "
                             f"({x.size} elements) into shape {new}") from None

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        entries = [_value(e) for e in
                   _join().vector_entries(node.inputs[1], "reshape", self.ndim)]
        in_size = _prod(input_shapes[0])
        if -1 in entries:
            k = entries.index(-1)
            entries[k] = in_size // _at_least_1(_prod(entries[:k] + entries[k + 1:]))
            return [tuple(entries)]
        # a symbolic entry may be -1 at run time: then it is the size divided by the others
        inferred = in_size // _at_least_1(-_prod(entries))
        m = _math()
        return [tuple(e if isinstance(e, int) else m.switch(m.eq(e, -1), inferred, e)
                      for e in entries)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x = inputs[0]
        if x.dtype in DISCRETE_DTYPES:
            return [None, None]
        return [reshape(output_grads[0], [shape_i(x, k) for k in range(x.ndim)]), None]


def _value(v):
    """A symbolic scalar as an int when it is constant, else itself (for infer_shape)."""
    s = static_int(v)
    return v if s is None else s


def reshape(x, newshape, ndim: int | None = None):
    """Give `x` a new shape with the same number of elements.

    Parameters
    ----------
    x : tensor
    newshape : int, sequence of ints / symbolic int scalars, or a symbolic int vector.
        One entry may be -1: that size is inferred from the others.
    ndim : the length of `newshape`; needed only when it is a vector of unknown length.

    Examples
    --------
    >>> import symgraph.tensor as T
    >>> x = T.matrix("x")
    >>> y = T.reshape(x, (x.shape[0] * x.shape[1],))  # doctest: +SKIP
    >>> T.reshape(T.tensor3("t"), (-1, 4)).type.shape
    (None, 4)
    """
    x = as_tensor_variable(x)
    shp = shape_vector(newshape, "reshape")
    length = shp.type.shape[0]
    if ndim is None:
        if length is None:
            raise ValueError(f"reshape: the length of the new shape {shp}{shp.where()} is not "
                             "known when the graph is built; pass ndim=")
        ndim = length
    return Reshape(int(ndim))(x, shp)


def flatten(x, ndim: int = 1):
    """Keep the first `ndim` - 1 dimensions of `x` and collapse the others into the last one."""
    x = as_tensor_variable(x)
    if ndim < 1 or (ndim > 1 and ndim > x.ndim):
        raise ValueError(f"flatten: ndim={ndim} for {x}{x.where()} with {x.ndim} dimensions; "
                         f"expected 1 <= ndim <= {max(x.ndim, 1)}")
    if ndim == x.ndim:
        return x
    rest = x.type.shape[ndim - 1:]
    last = -1 if None in rest else _prod(rest)
    return reshape(x, [shape_i(x, k) for k in range(ndim - 1)] + [last])


# --- adding and removing broadcastable dimensions ----------------------------------------------


def _axes(axis, ndim: int, what: str) -> tuple[int, ...]:
    from symgraph.ops.reduce import normalize_axis

    return normalize_axis(axis, ndim, what)


def squeeze(x, axis=None):
    """Remove broadcastable dimensions (static size 1): all of them, or those in `axis`."""
    x = as_tensor_variable(x)
    if axis is None:
        axes = tuple(k for k, b in enumerate(x.broadcastable) if b)
    else:
        axes = _axes(axis, x.ndim, "squeeze")
        for a in axes:
            if not x.broadcastable[a]:
                raise ValueError(
                    f"squeeze: axis {a} of {x}{x.where()} (type {x.type}) is not known to have "
                    f"size 1; use addbroadcast(x, {a}) or specify_shape first (they check it at "
                    "run time)"
                )
    return dimshuffle(x, [k for k in range(x.ndim) if k not in axes])


def expand_dims(x, axis):
    """Insert broadcastable dimensions at the positions `axis` (an int or a tuple) of the result."""
    x = as_tensor_variable(x)
    n_new = 1 if isinstance(axis, (int, np.integer)) else len(axis)
    axes = _axes(axis, x.ndim + n_new, "expand_dims")
    old = iter(range(x.ndim))
    return dimshuffle(x, ["x" if k in axes else next(old) for k in range(x.ndim + n_new)])


def shape_padleft(t, n_ones: int = 1):
    """`t` with `n_ones` broadcastable dimensions added on the left."""
    t = as_tensor_variable(t)
    return dimshuffle(t, ["x"] * n_ones + list(range(t.ndim)))


def shape_padright(t, n_ones: int = 1):
    """`t` with `n_ones` broadcastable dimensions added on the right."""
    t = as_tensor_variable(t)
    return dimshuffle(t, list(range(t.ndim)) + ["x"] * n_ones)


def shape_padaxis(t, axis: int):
    """`t` with a broadcastable dimension inserted at `axis` (negative: counted from the end)."""
    return expand_dims(t, int(axis))


def swapaxes(y, axis1: int, axis2: int):
    """`y` with the dimensions `axis1` and `axis2` exchanged."""
    y = as_tensor_variable(y)
    a, b = _axes(axis1, y.ndim, "swapaxes")[0], _axes(axis2, y.ndim, "swapaxes")[0]
    order = list(range(y.ndim))
    order[a], order[b] = order[b], order[a]
    return dimshuffle(y, order)


def moveaxis(a, source, destination):
    """Move the dimensions `source` of `a` to the positions `destination` (as numpy.moveaxis)."""
    a = as_tensor_variable(a)
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} differ in "
                         "length")
    src = [_axes(s, a.ndim, "moveaxis")[0] for s in src]
    dst = [_axes(d, a.ndim, "moveaxis")[0] for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"moveaxis: repeated axis in source {source} or destination {destination}")
    order = [k for k in range(a.ndim) if k not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return dimshuffle(a, order)


@dataclass(frozen=True)
class Rebroadcast(Op):
    """Set the broadcastable flag of some axes: `axis` holds (axis, flag) pairs (Theano's op).

    Setting a flag checks at run time that the size is 1; clearing it lets the size vary.
    """

    axis: tuple[tuple[int, bool], ...]

    view_map = {0: [0]}

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        shape = list(x.type.shape)
        for a, flag in self.axis:
            if not 0 <= a < x.ndim:
                raise ValueError(f"{self}: axis {a} is out of range for {x}{x.where()} with "
                                 f"{x.ndim} dimensions")
            if flag and shape[a] not in (None, 1):
                raise ValueError(f"addbroadcast: axis {a} of {x}{x.where()} has static size "
                                 f"{shape[a]}, so it cannot be broadcastable (size 1)")
            shape[a] = 1 if flag else (None if shape[a] == 1 else shape[a])
        return Apply(self, [x], [TensorType(x.dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x = inputs[0]
        for a, flag in self.axis:
            if flag and x.shape[a] != 1:
                v = node.inputs[0]
                raise ValueError(f"addbroadcast: axis {a} of {v}{v.where()} was declared "
                                 f"broadcastable (size 1), but its shape is {x.shape}")
        return [x]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        flags = dict(self.axis)
        return [tuple(1 if flags.get(a) else s for a, s in enumerate(input_shapes[0]))]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x = inputs[0]
        if x.dtype in DISCRETE_DTYPES:
            return [None]
        return [patternbroadcast(output_grads[0], x.broadcastable)]


def _rebroadcast(x, flags: dict[int, bool]):
    """Apply Rebroadcast for the axes whose flag changes (none: `x` itself)."""
    changes = tuple(sorted((a, f) for a, f in flags.items() if x.broadcastable[a] != f))
    return Rebroadcast(changes)(x) if changes else x


def patternbroadcast(x, broadcastable):
    """`x` with the broadcastable pattern `broadcastable` (a flag per dimension)."""
    x = as_tensor_variable(x)
    if len(broadcastable) != x.ndim:
        raise ValueError(f"patternbroadcast: pattern {tuple(broadcastable)} has "
                         f"{len(broadcastable)} entries; {x}{x.where()} has {x.ndim} dimensions")
    return _rebroadcast(x, {a: bool(f) for a, f in enumerate(broadcastable)})


def addbroadcast(x, *axes):
    """`x` with `axes` made broadcastable; their size is checked to be 1 at run time."""
    x = as_tensor_variable(x)
    return _rebroadcast(x, {a: True for a in _axes(axes, x.ndim, "addbroadcast")})


def unbroadcast(x, *axes):
    """`x` with `axes` no longer broadcastable (their size may then vary)."""
    x = as_tensor_variable(x)
    return _rebroadcast(x, {a: False for a in _axes(axes, x.ndim, "unbroadcast")})


def stack(tensors, *rest, axis=0):
    """Join tensors of one shape along a new axis (see symgraph.ops.join.stack)."""
    return _join().stack(tensors, *rest, axis=axis)
