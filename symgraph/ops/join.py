"""Joining and splitting: MakeVector, Join (join, concatenate), Split, stack, h/vertical_stack."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Constant, Op, Variable
from symgraph.ops.elemwise import Elemwise
from symgraph.ops.scalar import CASTS
from symgraph.ops.shape import (
    Shape,
    dimshuffle,
    expand_dims,
    shape_i,
    shape_vector,
    show_shape,
    static_int,
)
from symgraph.types import DISCRETE_DTYPES, INTEGER_DTYPES, TensorType, upcast
from symgraph.variable import as_tensor_variable, constant


def _cast(x, dtype: str):
    from symgraph.ops.math import cast

    return cast(x, dtype)


def _int_axis(axis, what: str) -> int:
    """The axis argument as an int; a symbolic axis is not supported (static shapes need it)."""
    value = static_int(axis)
    if value is not None:
        return value
    if isinstance(axis, Variable):
        raise NotImplementedError(f"{what}: a symbolic axis ({axis}{axis.where()}) is not "
                                  "supported; pass a Python int")
    raise TypeError(f"{what}: axis must be an int, got {type(axis).__name__} {axis!r}")


def _normalize(axis: int, ndim: int, what: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for {ndim}-d tensors")
    return axis % ndim


# --- MakeVector: scalars -> vector (shapes are built with it) -----------------------------------


@dataclass(frozen=True)
class MakeVector(Op):
    """A vector made of scalars of one dtype (Theano's MakeVector; symbolic shapes use it)."""

    dtype: str = "int64"

    def make_node(self, *inputs) -> Apply:
        inputs = [as_tensor_variable(v) for v in inputs]
        for k, v in enumerate(inputs):
            if v.ndim != 0 or v.dtype != self.dtype:
                raise TypeError(f"MakeVector({self.dtype}): input {k} ({v}{v.where()}) has type "
                                f"{v.type}; expected a {self.dtype} scalar")
        return Apply(self, inputs, [TensorType(self.dtype, (len(inputs),))()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [np.array([np.asarray(v) for v in inputs], dtype=self.dtype).reshape(len(inputs))]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [(len(node.inputs),)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        if self.dtype in DISCRETE_DTYPES:
            return [None] * len(inputs)
        return _split_scalars(output_grads[0], len(inputs))


def _split_scalars(vec, n: int) -> list:
    """The `n` entries of the vector `vec` as scalars, built from Split (differentiable)."""
    if n == 0:
        return []
    parts = Split(n, 0).make_node(vec, constant(np.ones(n, dtype="int64"))).outputs
    return [dimshuffle(p, ()) for p in parts]


def static_entries(vec) -> tuple:
    """The entries of an int vector of static length known at graph-build time (None: unknown)."""
    n = vec.type.shape[0]
    owner = vec.owner
    if isinstance(vec, Constant):
        return tuple(int(e) for e in np.asarray(vec.data))
    if owner is not None and isinstance(owner.op, MakeVector):
        return tuple(static_int(v) for v in owner.inputs)
    if owner is not None and isinstance(owner.op, Shape):
        return owner.inputs[0].type.shape
    if owner is not None and isinstance(owner.op, Elemwise) and owner.op.scalar_op == CASTS[
            "int64"]:
        return static_entries(owner.inputs[0])  # a cast of ints to int64 keeps the values
    return (None,) * n


def vector_entries(vec, what: str, n: int | None = None) -> list:
    """The entries of an int vector as int64 scalars (constants where known)."""
    owner = vec.owner
    if isinstance(vec, Constant):
        return [constant(int(e), dtype="int64") for e in np.asarray(vec.data)]
    if owner is not None and isinstance(owner.op, MakeVector):
        return [_cast(v, "int64") for v in owner.inputs]
    if owner is not None and isinstance(owner.op, Shape):
        x = owner.inputs[0]
        return [shape_i(x, k) for k in range(x.ndim)]
    n = vec.type.shape[0] if n is None else n
    if n is None:
        raise TypeError(f"{what}: the length of the shape vector {vec}{vec.where()} is not known "
                        "when the graph is built; give the shape as a tuple")
    return [_cast(e, "int64") for e in _split_scalars(vec, n)]


# --- Join --------------------------------------------------------------------------------------


def _check_same_ndim(tensors: list, what: str) -> None:
    first = tensors[0]
    for t in tensors[1:]:
        if t.ndim != first.ndim:
            raise TypeError(f"{what}: all tensors must have the same number of dimensions, but "
                            f"{first}{first.where()} has {first.ndim} and {t}{t.where()} has "
                            f"{t.ndim}")


def _joined_static_shape(tensors: list, axis: int) -> tuple:
    """Static output shape of joining along `axis`; known sizes that disagree raise."""
    out = []
    for k in range(tensors[0].ndim):
        sizes = [t.type.shape[k] for t in tensors]
        if k == axis:
            out.append(None if None in sizes else sum(sizes))
            continue
        known = [(t, s) for t, s in zip(tensors, sizes) if s is not None]
        for t, s in known[1:]:
            a, sa = known[0]
            if s != sa:
                raise ValueError(
                    f"join: cannot join {a}{a.where()} of shape {show_shape(a.type.shape)} and "
                    f"{t}{t.where()} of shape {show_shape(t.type.shape)} along axis {axis}: "
                    f"axis {k} has size {sa} in one and {s} in the other"
                )
        out.append(known[0][1] if known else None)
    return tuple(out)


@dataclass(frozen=True)
class Join(Op):
    """Concatenate tensors of equal rank along `axis` (Theano's Join; the axis is a parameter)."""

    axis: int

    def make_node(self, *tensors) -> Apply:
        if not tensors:
            raise ValueError("join: needs at least one tensor")
        tensors = [as_tensor_variable(t) for t in tensors]
        _check_same_ndim(tensors, "join")
        ndim = tensors[0].ndim
        if ndim == 0:
            raise TypeError("join: cannot join scalars (0-d tensors); use stack")
        if not 0 <= self.axis < ndim:
            raise ValueError(f"join: axis {self.axis} is out of range for {ndim}-d tensors")
        shape = _joined_static_shape(tensors, self.axis)
        dtype = upcast(*[t.dtype for t in tensors])
        return Apply(self, tensors, [TensorType(dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        first, v0 = inputs[0], node.inputs[0]
        for x, v in zip(inputs[1:], node.inputs[1:]):
            bad = [k for k in range(first.ndim) if k != self.axis and x.shape[k] != first.shape[k]]
            if bad:
                raise ValueError(
                    f"join: cannot join {v0}{v0.where()} of shape {first.shape} and {v}{v.where()}"
                    f" of shape {x.shape} along axis {self.axis}: axis {bad[0]} differs"
                )
        out = np.concatenate(inputs, axis=self.axis)
        return [out.astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        out = []
        for k, static in enumerate(node.outputs[0].type.shape):
            if static is not None:
                out.append(static)
            elif k == self.axis:
                out.append(sum(shp[k] for shp in input_shapes))
            else:
                out.append(input_shapes[0][k])
        return [tuple(out)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        if outputs[0].dtype in DISCRETE_DTYPES:
            return [None] * len(inputs)
        sizes = shape_vector([shape_i(t, self.axis) for t in inputs], "join")
        parts = Split(len(inputs), self.axis).make_node(output_grads[0], sizes).outputs
        return [None if t.dtype in DISCRETE_DTYPES else p for t, p in zip(inputs, parts)]


def join(axis, *tensors_list):
    """Concatenate tensors along an existing axis (Theano's argument order: the axis first).

    Parameters
    ----------
    axis : int (negative: counted from the end).
    *tensors_list : tensors with the same number of dimensions and equal sizes on the other axes.

    Examples
    --------
    >>> import symgraph.tensor as T
    >>> T.join(0, T.zeros((2, 3)), T.ones((4, 3))).type.shape
    (6, 3)
    """
    if isinstance(axis, (list, tuple)):
        raise TypeError("join: the first argument is the axis (Theano's order join(axis, *tensors)"
                        "); concatenate(tensors, axis) takes a list")
    if not tensors_list:
        raise ValueError("join: needs at least one tensor")
    tensors = [as_tensor_variable(t) for t in tensors_list]
    axis = _int_axis(axis, "join")
    if len(tensors) == 1:
        return tensors[0]
    _check_same_ndim(tensors, "join")
    return Join(_normalize(axis, tensors[0].ndim, "join"))(*tensors)


def concatenate(tensor_list, axis=0):
    """Concatenate a list of tensors along `axis` (numpy's argument order)."""
    if not isinstance(tensor_list, (list, tuple)):
        raise TypeError(f"concatenate: the first argument must be a list or tuple of tensors, "
                        f"got {type(tensor_list).__name__} (join(axis, *tensors) takes them one "
                        "by one)")
    return join(axis, *tensor_list)


# --- Split -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split(Op):
    """Cut `x` along `axis` into `len_splits` pieces whose sizes are an int vector (views of x)."""

    len_splits: int
    axis: int = 0

    @property
    def view_map(self) -> dict[int, list[int]]:  # type: ignore[override]
        return {k: [0] for k in range(self.len_splits)}

    def make_node(self, x, splits) -> Apply:
        x, splits = as_tensor_variable(x), as_tensor_variable(splits)
        if x.ndim == 0:
            raise TypeError(f"split: cannot split the scalar {x}{x.where()}")
        if not 0 <= self.axis < x.ndim or self.len_splits < 1:
            raise ValueError(f"{self}: bad axis or number of pieces for {x}{x.where()} with "
                             f"{x.ndim} dimensions")
        if splits.ndim != 1 or splits.dtype not in INTEGER_DTYPES:
            raise TypeError(f"split: the sizes must be an integer vector, got {splits}"
                            f"{splits.where()} of type {splits.type}")
        if splits.type.shape[0] not in (None, self.len_splits):
            raise ValueError(f"split: n_splits={self.len_splits}, but {splits.type.shape[0]} "
                             "sizes were given")
        splits = _cast(splits, "int64")
        known = splits.type.shape[0] is not None
        sizes = static_entries(splits) if known else (None,) * self.len_splits
        if any(s is not None and s < 0 for s in sizes):
            raise ValueError(f"split: negative size in {show_shape(sizes)}")
        total = x.type.shape[self.axis]
        if None not in sizes and total is not None and sum(sizes) != total:
            raise ValueError(f"split: the sizes {show_shape(sizes)} add up to {sum(sizes)}, but "
                             f"axis {self.axis} of {x}{x.where()} has size {total}")
        outs = []
        for s in sizes:
            shape = list(x.type.shape)
            shape[self.axis] = s
            outs.append(TensorType(x.dtype, shape)())
        return Apply(self, [x, splits], outs)

    def perform(self, node: Apply, inputs: list) -> list:
        x, splits = inputs
        v = node.inputs[0]
        if len(splits) != self.len_splits or np.any(splits < 0) or (
                splits.sum() != x.shape[self.axis]):
            raise ValueError(
                f"split: cannot cut axis {self.axis} of {v}{v.where()} (shape {x.shape}) into "
                f"pieces of sizes {tuple(int(s) for s in splits)}; expected {self.len_splits} "
                f"non-negative sizes adding up to {x.shape[self.axis]}"
            )
        return np.split(x, np.cumsum(splits)[:-1], axis=self.axis)

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        out = []
        for e in vector_entries(node.inputs[1], "split", self.len_splits):
            shape = list(input_shapes[0])
            s = static_int(e)
            shape[self.axis] = e if s is None else s
            out.append(tuple(shape))
        return out

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        if inputs[0].dtype in DISCRETE_DTYPES:
            return [None, None]
        return [Join(self.axis)(*output_grads), None]


def split(x, splits_size, n_splits: int, axis=0):
    """Cut `x` along `axis` into `n_splits` pieces of the sizes `splits_size` (Theano's split).

    `splits_size` is a sequence of ints / int scalars or an int vector. As in Theano, the
    result is a list of tensors, or the one tensor when `n_splits` is 1.
    """
    x = as_tensor_variable(x)
    if x.ndim == 0:
        raise TypeError(f"split: cannot split the scalar {x}{x.where()}")
    axis = _normalize(_int_axis(axis, "split"), x.ndim, "split")
    return Split(int(n_splits), axis)(x, shape_vector(splits_size, "split"))


# --- stacking ----------------------------------------------------------------------------------


def stack(tensors, *rest, axis=0):
    """Join tensors of one shape along a new axis `axis`.

    Takes a list (``stack([a, b], axis=1)``) or, as in old Theano, the tensors one by one
    (``stack(a, b)``). Scalars stack into a vector (a MakeVector node, as in Theano).
    """
    if isinstance(tensors, (list, tuple)):
        if len(rest) > 1:
            raise TypeError("stack(tensors, axis): too many arguments")
        axis = rest[0] if rest else axis
    else:
        tensors = (tensors, *rest)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    tensors = [as_tensor_variable(t) for t in tensors]
    axis = _int_axis(axis, "stack")
    _check_same_ndim(tensors, "stack")
    if tensors[0].ndim == 0 and axis in (0, -1):
        dtype = upcast(*[t.dtype for t in tensors])
        return MakeVector(dtype)(*[_cast(t, dtype) for t in tensors])
    axis = _normalize(axis, tensors[0].ndim + 1, "stack")
    return join(axis, *[expand_dims(t, axis) for t in tensors])


def horizontal_stack(*args):
    """Stack column-wise: along axis 1, or axis 0 for vectors (numpy.hstack)."""
    tensors = [as_tensor_variable(a) for a in args]
    return join(0 if tensors and tensors[0].ndim == 1 else 1, *tensors)


def vertical_stack(*args):
    """Stack row-wise: along axis 0, vectors becoming rows (numpy.vstack)."""
    tensors = [as_tensor_variable(a) for a in args]
    return join(0, *[dimshuffle(t, ("x", 0)) if t.ndim == 1 else t for t in tensors])
