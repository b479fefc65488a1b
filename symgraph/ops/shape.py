"""Shape queries and dimension shuffles: Shape, Shape_i, SpecifyShape, dimshuffle, transpose."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.ops.elemwise import DimShuffle
from symgraph.types import TensorType
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
        merged = tuple(new if new is not None else old for old, new in zip(x.type.shape, self.shape))
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
