"""Basic numpy.linalg ops with gradients, at Theano's tensor.nlinalg names: matrix_inverse, det."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import numpy as np

from symgraph.graph import Apply, Op, Variable
from symgraph.ops.blas import describe, dot
from symgraph.types import TensorType, upgrade_to_float
from symgraph.variable import as_tensor_variable


def _square_matrix(what: str, x) -> Variable:
    """`x` as a tensor, checked to be a matrix that is square where its sizes are known."""
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"{what}: {describe(x)} has {x.ndim} dimensions (type {x.type}); "
                        "expected a matrix")
    rows, cols = x.type.shape
    if rows is not None and cols is not None and rows != cols:
        raise ValueError(f"{what}: {describe(x)} has static shape ({rows}, {cols}); expected a "
                         "square matrix")
    return x


def _check_square(what: str, node: Apply, x: np.ndarray) -> None:
    if x.shape[0] != x.shape[1]:
        raise ValueError(f"{what}: {node.inputs[0]} has shape {x.shape}; expected a square matrix")


def _float_dtype(x: Variable) -> str:
    """Integer matrices are inverted in floats (Theano would truncate: never a wrong answer)."""
    return upgrade_to_float(x.dtype)


@dataclass(frozen=True)
class MatrixInverse(Op):
    """The inverse of a square matrix (numpy.linalg.inv)."""

    def make_node(self, x) -> Apply:
        x = _square_matrix("matrix_inverse", x)
        size = x.type.shape[0] if x.type.shape[0] is not None else x.type.shape[1]
        return Apply(self, [x], [TensorType(_float_dtype(x), (size, size))()])

    def perform(self, node: Apply, inputs: list) -> list:
        _check_square("matrix_inverse", node, inputs[0])
        return [np.asarray(np.linalg.inv(inputs[0]), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # d(X^-1) = -X^-1 dX X^-1, so the gradient is -X^-T G X^-T.
        xi, gz = outputs[0], output_grads[0]
        return [-dot(dot(xi.T, gz), xi.T)]

    def R_op(self, inputs: list, eval_points: list):
        if eval_points[0] is None:
            return [None]
        xi = self(inputs[0])
        return [-dot(dot(xi, eval_points[0]), xi)]


@dataclass(frozen=True)
class Det(Op):
    """The determinant of a square matrix (numpy.linalg.det)."""

    def make_node(self, x) -> Apply:
        x = _square_matrix("det", x)
        return Apply(self, [x], [TensorType(_float_dtype(x), ())()])

    def perform(self, node: Apply, inputs: list) -> list:
        _check_square("det", node, inputs[0])
        return [np.asarray(np.linalg.det(inputs[0]), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [()]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # d det(X) / dX = det(X) X^-T (Jacobi's formula).
        (x,), (d,), (gz,) = inputs, outputs, output_grads
        return [gz * d * matrix_inverse(x).T]


matrix_inverse = MatrixInverse()
det = Det()


def matrix_dot(*args):
    """The product of several matrices or vectors, left to right: matrix_dot(a, b, c) = a.b.c."""
    if not args:
        raise TypeError("matrix_dot needs at least one argument")
    return reduce(dot, args)
