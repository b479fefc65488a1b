"""Sorting: sort, argsort (numpy.sort / numpy.argsort), and take_along_axis for their gradient.

The gradient of ``sort`` routes each output gradient back to the position its value came
from: with ``p = argsort(x)``, ``sort(x) = take_along_axis(x, p)``, so the gradient is the
output gradient taken at the inverse permutation ``argsort(p)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.ops.blas import describe
from symgraph.types import TensorType
from symgraph.variable import as_tensor_variable

KINDS = ("quicksort", "mergesort", "heapsort", "stable")


def _axis(what: str, x, axis) -> int | None:
    """`axis` normalized for `x` (None stays None: the flattened array)."""
    if axis is None:
        return None
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: axis must be an int or None, got {axis!r}")
    if not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"{what}: axis {axis} is out of range for {describe(x)} "
                         f"({x.ndim} dimensions)")
    return int(axis) % max(x.ndim, 1)


def _check_kind(what: str, kind: str, order) -> None:
    if kind not in KINDS:
        raise ValueError(f"{what}: kind must be one of {KINDS}, got {kind!r}")
    if order is not None:
        raise NotImplementedError(f"{what}: order= (structured arrays) is not supported")


def _out_shape(x, axis):
    if axis is None:
        n = None
        if all(s is not None for s in x.type.shape):
            n = int(np.prod(x.type.shape, dtype="int64"))
        return (n,)
    return x.type.shape


def _flat_shape(shape, axis):
    if axis is not None:
        return tuple(shape)
    size = 1
    for s in shape:
        size = size * s
    return (size,)


@dataclass(frozen=True)
class Sort(Op):
    """x sorted along `axis` (None: the flattened array), as numpy.sort."""

    axis: int | None = -1
    kind: str = "quicksort"

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType(x.dtype, _out_shape(x, self.axis))()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [np.sort(inputs[0], axis=self.axis, kind=self.kind)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [_flat_shape(input_shapes[0], self.axis)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        (x,), (gz,) = inputs, output_grads
        axis = self.axis
        if axis is None:
            x = x.flatten()
            axis = 0
        inverse = argsort(argsort(x, axis, "stable"), axis, "stable")
        g = take_along_axis(gz, inverse, axis)
        return [g.reshape(inputs[0].shape, ndim=inputs[0].ndim) if self.axis is None else g]


@dataclass(frozen=True)
class ArgSort(Op):
    """The indices that sort x along `axis` (None: the flattened array), as numpy.argsort."""

    axis: int | None = -1
    kind: str = "quicksort"

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", _out_shape(x, self.axis))()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [np.argsort(inputs[0], axis=self.axis, kind=self.kind).astype("int64")]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [_flat_shape(input_shapes[0], self.axis)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        from symgraph.ops.math import zeros_like

        return [zeros_like(inputs[0])]  # piecewise constant (as in Theano)


@dataclass(frozen=True)
class TakeAlongAxis(Op):
    """numpy.take_along_axis(x, indices, axis): gather x along one axis with an index array."""

    axis: int

    def make_node(self, x, indices) -> Apply:
        x, indices = as_tensor_variable(x), as_tensor_variable(indices)
        if not indices.dtype.startswith(("int", "uint")):
            raise TypeError(f"take_along_axis: indices {describe(indices)} must be integers, "
                            f"got {indices.dtype}")
        if indices.ndim != x.ndim:
            raise ValueError(f"take_along_axis: indices {describe(indices)} has {indices.ndim} "
                             f"dimensions but {describe(x)} has {x.ndim}; they must match")
        return Apply(self, [x, indices], [TensorType(x.dtype, indices.type.shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, idx = inputs
        try:
            return [np.take_along_axis(x, idx, self.axis)]
        except (IndexError, ValueError) as exc:
            raise type(exc)(f"take_along_axis: {exc} (x {node.inputs[0]} of shape {x.shape}, "
                            f"indices {node.inputs[1]} of shape {idx.shape})") from exc

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[1])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x, idx = inputs
        return [PutAlongAxisAdd(self.axis)(x, idx, output_grads[0]), None]


@dataclass(frozen=True)
class PutAlongAxisAdd(Op):
    """Zeros shaped like x, with each value of `g` added at its index along `axis`."""

    axis: int

    def make_node(self, x, indices, g) -> Apply:
        x, indices, g = (as_tensor_variable(v) for v in (x, indices, g))
        return Apply(self, [x, indices, g], [TensorType(g.dtype, x.type.shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, idx, g = inputs
        out = np.zeros(x.shape, dtype=node.outputs[0].dtype)
        full = list(np.ix_(*[np.arange(n) for n in idx.shape]))
        full[self.axis] = idx
        np.add.at(out, tuple(full), g)  # an index may repeat: add, not assign
        return [out]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x, idx, g = inputs
        return [None, None, take_along_axis(output_grads[0], idx, self.axis)]


def sort(a, axis=-1, kind: str = "quicksort", order=None):
    """`a` sorted along `axis` (None sorts the flattened array), as numpy.sort.

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> v = T.dvector("v")
    >>> T.sort(v).eval({v: np.array([3.0, 1.0, 2.0])})
    array([1., 2., 3.])
    """
    a = as_tensor_variable(a)
    _check_kind("sort", kind, order)
    return Sort(_axis("sort", a, axis), kind)(a)


def argsort(a, axis=-1, kind: str = "quicksort", order=None):
    """The int64 indices that sort `a` along `axis`, as numpy.argsort."""
    a = as_tensor_variable(a)
    _check_kind("argsort", kind, order)
    return ArgSort(_axis("argsort", a, axis), kind)(a)


def take_along_axis(arr, indices, axis):
    """numpy.take_along_axis for symbolic tensors (axis an int)."""
    arr = as_tensor_variable(arr)
    if axis is None:
        return TakeAlongAxis(0)(arr.flatten(), indices)
    return TakeAlongAxis(_axis("take_along_axis", arr, axis))(arr, indices)
