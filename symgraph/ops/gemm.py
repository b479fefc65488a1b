"""The BLAS update ops, with Theano's meanings: Gemm, Gemv, Ger (a scaled product plus an input).

    gemm(z, alpha, x, y, beta) = beta * z + alpha * dot(x, y)     (matrices)
    gemv(z, alpha, A, x, beta) = beta * z + alpha * dot(A, x)     (matrix . vector)
    ger(A, alpha, x, y)        = A + alpha * outer(x, y)

The `specialize` rewrites turn dot-plus-scaled-add graphs into these, and the native
backends call BLAS for them. With ``inplace=True`` the result overwrites the first input
(``destroy_map = {0: [0]}``); the `inplace` pass decides when that is safe. As in BLAS, a
beta of 0 means z is not read, so NaNs in an uninitialised z do not leak into the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from symgraph.graph import Apply, Op, Variable
from symgraph.ops.blas import (
    Align,
    check_runtime_alignment,
    check_static_alignment,
    describe,
    dot,
)
from symgraph.types import COMPLEX_DTYPES, FLOAT_DTYPES, TensorType
from symgraph.variable import as_tensor_variable, constant

_BLAS_DTYPES = FLOAT_DTYPES + COMPLEX_DTYPES


def _merge(*sizes):
    """The one known static size among `sizes` (they were checked to agree), else None."""
    return next((s for s in sizes if s is not None), None)


@dataclass(frozen=True)
class _BlasUpdate(Op):
    """Shared checks of Gemm / Gemv / Ger: ranks, one float dtype, aligned static shapes."""

    inplace: bool = False

    NAME: ClassVar[str] = ""
    RANKS: ClassVar[tuple[int, ...]] = ()  # rank of each input; 0 marks the scalars alpha / beta
    ALIGN: ClassVar[tuple[Align, ...]] = ()

    @property
    def destroy_map(self) -> dict[int, list[int]]:  # type: ignore[override]
        return {0: [0]} if self.inplace else {}

    def __str__(self) -> str:
        return f"{type(self).__name__}{{{'inplace' if self.inplace else 'no_inplace'}}}"

    def make_node(self, *inputs) -> Apply:
        if len(inputs) != len(self.RANKS):
            raise TypeError(f"{self.NAME} takes {len(self.RANKS)} inputs, got {len(inputs)}")
        target = as_tensor_variable(inputs[0])
        # Python numbers for alpha / beta take the dtype of the updated tensor.
        inputs = [constant(v, dtype=target.dtype) if isinstance(v, (int, float)) and rank == 0
                  else as_tensor_variable(v) for v, rank in zip(inputs, self.RANKS)]
        for v, rank in zip(inputs, self.RANKS):
            if v.ndim != rank:
                kind = {0: "a scalar", 1: "a vector", 2: "a matrix"}[rank]
                raise TypeError(f"{self.NAME}: {describe(v)} has {v.ndim} dimensions (type "
                                f"{v.type}); expected {kind}")
        if target.dtype not in _BLAS_DTYPES or any(v.dtype != target.dtype for v in inputs):
            got = ", ".join(f"{v}: {v.dtype}" for v in inputs)
            raise TypeError(f"{self.NAME} needs all inputs of one float or complex dtype (as "
                            f"BLAS does); got {got} (input {describe(target)})")
        check_static_alignment(self.NAME, inputs, self.ALIGN)
        return Apply(self, inputs, [TensorType(target.dtype, self.static_shape(inputs))()])

    def static_shape(self, inputs: list) -> tuple:
        return inputs[0].type.shape

    def perform(self, node: Apply, inputs: list) -> list:
        check_runtime_alignment(self.NAME, node, inputs, self.ALIGN)
        target = inputs[0]
        result = np.asarray(self.compute(*inputs), dtype=target.dtype)
        if self.inplace:
            target[...] = result
            return [target]
        return [result]

    def compute(self, *values) -> np.ndarray:
        raise NotImplementedError

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]


def _scaled_sum(beta, z, alpha, product):
    """beta * z + alpha * product, with z unread when beta == 0 (BLAS semantics)."""
    if beta == 0:
        return alpha * product
    return beta * z + alpha * product


def _tsum(v: Variable) -> Variable:
    from symgraph.ops.math import sum as tsum

    return tsum(v)


@dataclass(frozen=True)
class Gemm(_BlasUpdate):
    """beta * z + alpha * dot(x, y) for matrices z, x, y and scalars alpha, beta."""

    NAME: ClassVar[str] = "gemm"
    RANKS: ClassVar[tuple[int, ...]] = (2, 0, 2, 2, 0)
    ALIGN: ClassVar[tuple[Align, ...]] = (((2, 1), (3, 0)), ((0, 0), (2, 0)), ((0, 1), (3, 1)))

    def static_shape(self, inputs: list) -> tuple:
        z, _, x, y, _ = inputs
        return (_merge(z.type.shape[0], x.type.shape[0]), _merge(z.type.shape[1], y.type.shape[1]))

    def compute(self, z, alpha, x, y, beta) -> np.ndarray:
        return _scaled_sum(beta, z, alpha, np.dot(x, y))

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        (z, a, x, y, b), (g,) = inputs, output_grads
        return [b * g, _tsum(g * dot(x, y)), a * dot(g, y.T), a * dot(x.T, g), _tsum(g * z)]


@dataclass(frozen=True)
class Gemv(_BlasUpdate):
    """beta * z + alpha * dot(A, x) for vectors z, x, a matrix A and scalars alpha, beta."""

    NAME: ClassVar[str] = "gemv"
    RANKS: ClassVar[tuple[int, ...]] = (1, 0, 2, 1, 0)
    ALIGN: ClassVar[tuple[Align, ...]] = (((2, 1), (3, 0)), ((0, 0), (2, 0)))

    def static_shape(self, inputs: list) -> tuple:
        z, _, A, _, _ = inputs
        return (_merge(z.type.shape[0], A.type.shape[0]),)

    def compute(self, z, alpha, A, x, beta) -> np.ndarray:
        return _scaled_sum(beta, z, alpha, np.dot(A, x))

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        (z, a, A, x, b), (g,) = inputs, output_grads
        return [b * g, _tsum(g * dot(A, x)), a * dot(g.dimshuffle(0, "x"), x.dimshuffle("x", 0)),
                a * dot(A.T, g), _tsum(g * z)]


@dataclass(frozen=True)
class Ger(_BlasUpdate):
    """A + alpha * outer(x, y) for a matrix A, vectors x, y and a scalar alpha."""

    NAME: ClassVar[str] = "ger"
    RANKS: ClassVar[tuple[int, ...]] = (2, 0, 1, 1)
    ALIGN: ClassVar[tuple[Align, ...]] = (((0, 0), (2, 0)), ((0, 1), (3, 0)))

    def static_shape(self, inputs: list) -> tuple:
        A, _, x, y = inputs
        return (_merge(A.type.shape[0], x.type.shape[0]), _merge(A.type.shape[1], y.type.shape[0]))

    def compute(self, A, alpha, x, y) -> np.ndarray:
        return A + alpha * np.outer(x, y)

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        (_, a, x, y), (g,) = inputs, output_grads
        xy = dot(x.dimshuffle(0, "x"), y.dimshuffle("x", 0))
        return [g, _tsum(g * xy), a * dot(g, y), a * dot(g.T, x)]


# Theano's instances (theano.tensor.blas): call them like functions.
gemm_no_inplace = Gemm(inplace=False)
gemm_inplace = Gemm(inplace=True)
gemv_no_inplace = Gemv(inplace=False)
gemv_inplace = Gemv(inplace=True)
ger = Ger(inplace=False)
ger_destructive = Ger(inplace=True)
