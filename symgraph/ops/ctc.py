"""Connectionist temporal classification loss (Theano's ``T.nnet.ctc.ctc``), in numpy.

Theano called Baidu's warp-ctc; this op computes the same with the forward-backward
recursions of Graves et al. (2006) in log space: ``ctc(activations, labels, input_lengths)``
takes unnormalized activations (time, batch, alphabet) — a softmax over the alphabet is
applied inside, symbol 0 is the blank — label rows padded with negative values, and each
sequence's number of time steps; it returns each sequence's negative log-likelihood. The
gradient with respect to the activations comes out of the same pass (softmax minus the
posterior of each symbol at each step), as warp-ctc's did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.ops.blas import describe
from symgraph.types import TensorType
from symgraph.variable import as_tensor_variable

__all__ = ["ConnectionistTemporalClassification", "ctc"]


def _logsumexp(*terms: np.ndarray) -> np.ndarray:
    stacked = np.stack(terms)
    top = stacked.max(axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(stacked - safe).sum(axis=0))


def _shift(a: np.ndarray, by: int) -> np.ndarray:
    """a moved `by` places along its last axis (positive: later), -inf shifted in."""
    out = np.full_like(a, -np.inf)
    if by > 0:
        out[by:] = a[:-by]
    else:
        out[:by] = a[-by:]
    return out


def _sequence(acts: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """(negative log-likelihood, its gradient) for one sequence's (time, alphabet)
    activations and its labels."""
    z = acts - acts.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    steps = len(logp)
    ext = np.zeros(2 * len(labels) + 1, dtype=np.int64)  # blank, l1, blank, l2, ..., blank
    ext[1::2] = labels
    skip = np.zeros(len(ext), dtype=bool)  # s - 2 -> s allowed: a label unlike the one before
    skip[3::2] = labels[1:] != labels[:-1]
    emit = logp[:, ext]  # (time, extended labels)
    alpha = np.full((steps, len(ext)), -np.inf)
    alpha[0, :2] = emit[0, :2]
    for t in range(1, steps):
        a = alpha[t - 1]
        alpha[t] = _logsumexp(a, _shift(a, 1), np.where(skip, _shift(a, 2), -np.inf)) + emit[t]
    beta = np.full((steps, len(ext)), -np.inf)
    beta[-1, -2:] = emit[-1, -2:]
    skip_back = np.zeros(len(ext), dtype=bool)  # s -> s + 2 allowed
    skip_back[:-2] = skip[2:]
    for t in range(steps - 2, -1, -1):
        b = beta[t + 1]
        beta[t] = _logsumexp(b, _shift(b, -1), np.where(skip_back, _shift(b, -2), -np.inf))
        beta[t] += emit[t]
    loglik = _logsumexp(*alpha[-1, -2:]) if len(ext) > 1 else alpha[-1, -1]
    grad = np.exp(logp)
    if not np.isfinite(loglik):  # no alignment fits: an infinite cost, no direction to go
        return np.inf, np.zeros_like(acts)
    posterior = np.exp(alpha + beta - emit - loglik)  # (time, extended labels)
    for s, symbol in enumerate(ext):
        grad[:, symbol] -= posterior[:, s]
    return -float(loglik), grad


@dataclass(frozen=True)
class ConnectionistTemporalClassification(Op):
    """(costs, gradients): each sequence's CTC negative log-likelihood, and its gradient with
    respect to the activations (zero past the sequence's length)."""

    def make_node(self, activations, labels, input_lengths) -> Apply:
        from symgraph.ops.nnet import float_tensor

        acts = float_tensor(activations, "ctc", 3, "activations (time, batch, alphabet)")
        labels, lengths = as_tensor_variable(labels), as_tensor_variable(input_lengths)
        for name, v, ndim in (("labels", labels, 2), ("input_lengths", lengths, 1)):
            if v.ndim != ndim or not v.dtype.startswith(("int", "uint")):
                raise TypeError(f"ctc: {name} {describe(v)} must be a {ndim}-d int tensor, got "
                                f"{v.type}")
        costs = TensorType(acts.dtype, (acts.type.shape[1],))()
        return Apply(self, [acts, labels, lengths], [costs, acts.type()])

    def perform(self, node: Apply, inputs: list) -> list:
        acts, labels, lengths = inputs
        steps, batch, alphabet = acts.shape
        if labels.shape[0] != batch or lengths.shape[0] != batch:
            raise ValueError(f"ctc: activations hold {batch} sequences but labels have "
                             f"{labels.shape[0]} rows and input_lengths {lengths.shape[0]}")
        costs = np.empty(batch, dtype=acts.dtype)
        grads = np.zeros_like(acts)
        for b in range(batch):
            n = int(lengths[b])
            row = labels[b][labels[b] >= 0].astype(np.int64)
            if not 0 < n <= steps:
                raise ValueError(f"ctc: input_lengths[{b}] = {n} is not in [1, {steps}]")
            if row.size and (row.min() < 1 or row.max() >= alphabet):
                raise ValueError(f"ctc: labels of sequence {b} must be in [1, {alphabet}) "
                                 f"(0 is the blank), got {row.tolist()}")
            cost, grad = _sequence(acts[:n, b].astype(np.float64), row)
            costs[b] = cost
            grads[:n, b] = grad
        return [costs, grads]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [(input_shapes[0][1],), tuple(input_shapes[0])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        g = output_grads[0]
        return [g.dimshuffle("x", 0, "x") * outputs[1], None, None]


def ctc(activations, labels, input_lengths):
    """Each sequence's CTC negative log-likelihood (see the module docstring)."""
    return ConnectionistTemporalClassification()(activations, labels, input_lengths)[0]
