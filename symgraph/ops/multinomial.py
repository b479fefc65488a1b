"""Categorical draws from given uniforms: Theano's MultinomialFromUniform and ChoiceFromUniform.

The uniforms come from a random stream (see sandbox/rng_mrg.py), so these ops are plain
deterministic functions of (pvals, uniforms): each row of `pvals` is a distribution, and a
uniform u picks the first category whose cumulative probability exceeds u.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.types import TensorType
from symgraph.variable import as_tensor_variable


def _pvals_unis(what: str, pvals, unis):
    pvals, unis = as_tensor_variable(pvals), as_tensor_variable(unis)
    if pvals.ndim != 2:
        raise TypeError(f"{what}: pvals {pvals}{pvals.where()} must be a matrix (one "
                        f"distribution per row), got {pvals.ndim} dimensions")
    if unis.ndim != 1 or not unis.dtype.startswith("float"):
        raise TypeError(f"{what}: the uniforms must be a float vector, got {unis.type}")
    return pvals, unis


def _pick(cum: np.ndarray, u: float) -> int:
    # the last category absorbs rounding in cum[-1] < 1
    return min(int(np.searchsorted(cum, u, side="right")), cum.shape[0] - 1)


@dataclass(frozen=True)
class MultinomialFromUniform(Op):
    """(pvals (b, k), unis (n*b,)) -> counts (b, k): n draws per row, summed (n=1: one-hot)."""

    dtype: str = "int64"

    def make_node(self, pvals, unis, n=1) -> Apply:
        pvals, unis = _pvals_unis("multinomial", pvals, unis)
        n = as_tensor_variable(n)
        if n.ndim != 0 or not n.dtype.startswith(("int", "uint")):
            raise TypeError(f"multinomial: n must be an integer scalar, got {n.type}")
        return Apply(self, [pvals, unis, n], [TensorType(self.dtype, pvals.type.shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        pvals, unis, n = inputs
        rows, n = pvals.shape[0], int(n)
        if unis.shape[0] != rows * n:
            raise ValueError(f"multinomial: {unis.shape[0]} uniforms for {rows} rows and "
                             f"n={n}; expected {rows * n}")
        out = np.zeros(pvals.shape, dtype=self.dtype)
        cum = np.cumsum(pvals, axis=1)
        every_row = np.arange(rows)
        for t in range(n):
            u = unis[t * rows:(t + 1) * rows, np.newaxis]
            # searchsorted(side='right') per row; the last category absorbs rounding
            picks = np.minimum((cum <= u).sum(axis=1), pvals.shape[1] - 1)
            out[every_row, picks] += 1
        return [out]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [None, None, None]  # sampling is not differentiable


@dataclass(frozen=True)
class ChoiceFromUniform(Op):
    """(pvals (b, k), unis (n*b,), n) -> indices (b, n) drawn per row (Theano's choice)."""

    dtype: str = "int64"
    replace: bool = False

    def make_node(self, pvals, unis, n) -> Apply:
        pvals, unis = _pvals_unis("choice", pvals, unis)
        n = as_tensor_variable(n)
        if n.ndim != 0 or not n.dtype.startswith(("int", "uint")):
            raise TypeError(f"choice: size must be an integer scalar, got {n.type}")
        static_n = int(n.data) if hasattr(n, "data") else None
        return Apply(self, [pvals, unis, n],
                     [TensorType(self.dtype, (pvals.type.shape[0], static_n))()])

    def perform(self, node: Apply, inputs: list) -> list:
        pvals, unis, n = inputs
        rows, cats, n = pvals.shape[0], pvals.shape[1], int(n)
        if n > cats and not self.replace:
            raise ValueError(f"choice: cannot take {n} samples without replacement from "
                             f"{cats} categories")
        if unis.shape[0] != rows * n:
            raise ValueError(f"choice: {unis.shape[0]} uniforms for {rows} rows and size={n}; "
                             f"expected {rows * n}")
        out = np.zeros((rows, n), dtype=self.dtype)
        for j in range(rows):
            p = np.array(pvals[j], dtype="float64")
            if np.count_nonzero(p) < n and not self.replace:
                raise ValueError(f"choice: row {j} of pvals has fewer than {n} categories "
                                 "with a nonzero probability")
            for t in range(n):
                # a drawn category leaves the distribution, the rest is renormalized
                cum = np.cumsum(p)
                k = _pick(cum, unis[t * rows + j] * cum[-1])
                if p[k] == 0:  # rounding ran past the last category still in play
                    k = int(np.flatnonzero(p)[-1])
                out[j, t] = k
                if not self.replace:
                    p[k] = 0.0
        return [out]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [(input_shapes[0][0], node.inputs[2])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [None, None, None]
