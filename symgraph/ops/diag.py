"""Diagonals: extract one (numpy.diagonal), build a matrix from one (numpy.diag), and trace."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.ops.blas import describe
from symgraph.types import TensorType
from symgraph.variable import as_tensor_variable


def _diag_length(n, m, offset: int):
    """Length of diagonal `offset` of an (n, m) matrix: ints, or symbolic scalars."""
    from symgraph.ops.math import maximum, minimum

    if isinstance(n, (int, np.integer)) and isinstance(m, (int, np.integer)):
        return max(0, min(n + min(offset, 0), m - max(offset, 0)))
    return maximum(minimum(n + min(offset, 0), m - max(offset, 0)), 0)


def _diag_index(length: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(length)
    return i + max(-offset, 0), i + max(offset, 0)


@dataclass(frozen=True)
class ExtractDiag(Op):
    """The diagonal `offset` of axes (axis1, axis2), appended as the last axis (np.diagonal)."""

    offset: int = 0
    axis1: int = 0
    axis2: int = 1

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if x.ndim < 2:
            raise ValueError(f"diagonal: {describe(x)} has {x.ndim} dimensions; it needs at "
                             "least 2")
        for ax in (self.axis1, self.axis2):
            if not 0 <= ax < x.ndim:
                raise ValueError(f"diagonal: axis {ax} is out of range for {describe(x)} "
                                 f"({x.ndim} dimensions)")
        if self.axis1 == self.axis2:
            raise ValueError("diagonal: axis1 and axis2 must differ")
        rest = [s for a, s in enumerate(x.type.shape) if a not in (self.axis1, self.axis2)]
        n, m = x.type.shape[self.axis1], x.type.shape[self.axis2]
        size = None if n is None or m is None else _diag_length(n, m, self.offset)
        return Apply(self, [x], [TensorType(x.dtype, (*rest, size))()])

    def perform(self, node: Apply, inputs: list) -> list:
        out = np.diagonal(inputs[0], self.offset, self.axis1, self.axis2)
        return [np.array(out)]  # numpy's diagonal is a read-only view

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        shape = input_shapes[0]
        rest = [s for a, s in enumerate(shape) if a not in (self.axis1, self.axis2)]
        return [(*rest, _diag_length(shape[self.axis1], shape[self.axis2], self.offset))]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [DiagonalGrad(self.offset, self.axis1, self.axis2)(inputs[0], output_grads[0])]


@dataclass(frozen=True)
class DiagonalGrad(Op):
    """Zeros shaped like x with `gz` written on the diagonal that ExtractDiag read."""

    offset: int = 0
    axis1: int = 0
    axis2: int = 1

    def make_node(self, x, gz) -> Apply:
        x, gz = as_tensor_variable(x), as_tensor_variable(gz)
        return Apply(self, [x, gz], [TensorType(gz.dtype, x.type.shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, gz = inputs
        out = np.zeros(x.shape, dtype=node.outputs[0].dtype)
        view = np.moveaxis(out, (self.axis1, self.axis2), (-2, -1))
        rows, cols = _diag_index(gz.shape[-1], self.offset)
        view[..., rows, cols] = gz
        return [out]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [None, ExtractDiag(self.offset, self.axis1, self.axis2)(output_grads[0])]


@dataclass(frozen=True)
class AllocDiag(Op):
    """A square matrix with the vector on diagonal `offset`, zeros elsewhere (np.diag(v, k))."""

    offset: int = 0

    def make_node(self, v) -> Apply:
        v = as_tensor_variable(v)
        if v.ndim != 1:
            raise ValueError(f"alloc_diag: {describe(v)} has {v.ndim} dimensions; expected a "
                             "vector")
        n = v.type.shape[0]
        size = None if n is None else n + abs(self.offset)
        return Apply(self, [v], [TensorType(v.dtype, (size, size))()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [np.diag(inputs[0], self.offset)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        n = input_shapes[0][0] + abs(self.offset)
        return [(n, n)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [ExtractDiag(self.offset)(output_grads[0])]


def diagonal(a, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The diagonal of `a` (numpy.diagonal): the diagonal axis comes last."""
    a = as_tensor_variable(a)
    axis1 = axis1 + a.ndim if axis1 < 0 else axis1
    axis2 = axis2 + a.ndim if axis2 < 0 else axis2
    return ExtractDiag(int(offset), int(axis1), int(axis2))(a)


extract_diag = diagonal


def alloc_diag(v, offset: int = 0):
    """A matrix with vector `v` on diagonal `offset`."""
    return AllocDiag(int(offset))(v)


def diag(v, k: int = 0):
    """numpy.diag: the diagonal of a matrix, or a matrix built from a vector's entries.

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> v = T.dvector("v")
    >>> T.diag(v).eval({v: np.array([1.0, 2.0])})
    array([[1., 0.],
           [0., 2.]])
    """
    v = as_tensor_variable(v)
    if v.ndim == 1:
        return alloc_diag(v, k)
    if v.ndim == 2:
        return diagonal(v, k)
    raise ValueError(f"diag: {describe(v)} has {v.ndim} dimensions; expected a vector or a "
                     "matrix (use diagonal for more)")


def trace(x):
    """The sum of the diagonal of the matrix `x`."""
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"trace: {describe(x)} has {x.ndim} dimensions; expected a matrix")
    return diagonal(x).sum()
