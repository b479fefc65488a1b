"""Batch normalization at Theano's T.nnet.bn: batch_normalization(_train, _test).

Design: graphs of existing ops (mean, var, sqrt and elementwise arithmetic) rather than
Theano's AbstractBatchNorm* ops. Fusion compiles the elementwise part into one kernel, the
gradients (of every order, and also through the returned mean and invstd, which Theano's
op left disconnected) come from the reductions' and Elemwise's own rules, and no backend
needs a lowering of its own.
"""

from __future__ import annotations

import numpy as np

from symgraph.ops import math
from symgraph.ops.shape import dimshuffle, shape_i, specify_shape
from symgraph.types import FLOAT_DTYPES
from symgraph.variable import as_tensor_variable, constant

__all__ = ["batch_normalization", "batch_normalization_train", "batch_normalization_test"]


def _float_input(x, what: str):
    x = as_tensor_variable(x)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{what}: the inputs {x}{x.where()} must be a float tensor, got {x.type}")
    return x


def batch_normalization(inputs, gamma, beta, mean, std, mode="low_mem"):
    """(inputs - mean) / std * gamma + beta, every argument broadcastable against `inputs`.

    Parameters
    ----------
    inputs : float tensor, a minibatch of activations.
    gamma, beta : scale and shift, of the same number of dimensions as `inputs`.
    mean, std : statistics to normalize with, likewise.
    mode : 'low_mem' or 'high_mem': Theano's two formulations (the same values; here both
        are fused into one elementwise kernel).
    """
    x = _float_input(inputs, "batch_normalization")
    gamma, beta, mean, std = (_like(v, x) for v in (gamma, beta, mean, std))
    for name, v in (("gamma", gamma), ("beta", beta), ("mean", mean), ("std", std)):
        if v.ndim != x.ndim:
            raise ValueError(
                f"batch_normalization: {name} {v}{v.where()} must have the {x.ndim} dimensions "
                f"of the inputs {x}{x.where()} (broadcastable against them), got {v.ndim}"
            )
    if mode == "low_mem":
        return (x - mean) / std * gamma + beta
    if mode == "high_mem":
        return (x - mean) * (gamma / std) + beta
    raise ValueError(f'batch_normalization: mode must be "low_mem" or "high_mem", got {mode!r}')


def _like(v, x):
    """A Python number as a constant of x's dtype (keeps float32 graphs in float32)."""
    if isinstance(v, (int, float)):
        return constant(v, dtype=x.dtype)
    return as_tensor_variable(v)


def _axes(axes, ndim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(normalized axes, the other axes) for Theano's 'per-activation' / 'spatial' / tuple."""
    if axes == "per-activation":
        axes = (0,)
    elif axes == "spatial":
        axes = (0,) + tuple(range(2, ndim))
    elif isinstance(axes, (tuple, list, np.ndarray)):
        axes = tuple(int(a) for a in axes)
    else:
        raise ValueError(
            f"batch_normalization: axes must be 'per-activation', 'spatial' or a "
            f"tuple of ints, got {axes!r}"
        )
    axes = tuple(sorted(axes))
    if not axes:
        raise ValueError("batch_normalization: there should be at least one normalization axis")
    if min(axes) < 0 or max(axes) >= ndim or len(set(axes)) != len(axes):
        raise ValueError(f"batch_normalization: axes {axes} are invalid for {ndim}-d inputs")
    return axes, tuple(a for a in range(ndim) if a not in axes)


def _check_epsilon(epsilon: float, dtype: str) -> None:
    # Theano's bound (imposed by cuDNN), checked after rounding to the working dtype.
    if np.asarray(epsilon, dtype=dtype) < np.asarray(1e-5, dtype=dtype):
        raise ValueError(f"batch_normalization: epsilon must be at least 1e-5, got {epsilon}")


class _Layout:
    """Parameters given either with the inputs' ndim (size 1 on `axes`) or without `axes`."""

    def __init__(self, x, axes, params: dict, what: str):
        self.x, self.axes, self.kept = x, *_axes(axes, x.ndim)
        first = as_tensor_variable(next(iter(params.values())))
        self.full = first.ndim == x.ndim
        want = x.ndim if self.full else len(self.kept)
        for name, v in params.items():
            v = as_tensor_variable(v)
            if v.ndim != want:
                raise ValueError(
                    f"{what}: {name} {v}{v.where()} has {v.ndim} dimensions; the parameters must "
                    f"all have either the {x.ndim} of the inputs {x}{x.where()} (size 1 on axes "
                    f"{self.axes}) or {len(self.kept)} (one per non-normalized axis)"
                )

    def expand(self, v):
        """A parameter as a tensor broadcastable against the inputs, in their dtype."""
        v = math.cast(_like(v, self.x), self.x.dtype)
        if not self.full:
            pattern = ["x"] * self.x.ndim
            for i, axis in enumerate(self.kept):
                pattern[axis] = i
            return dimshuffle(v, tuple(pattern))
        if all(v.type.shape[a] == 1 for a in self.axes):
            return v
        shape = tuple(1 if a in self.axes else None for a in range(self.x.ndim))
        return specify_shape(v, shape)  # Theano's addbroadcast: size 1 checked at run time

    def contract(self, v):
        """A statistic (kept dims) back to the parameters' layout."""
        return v if self.full else dimshuffle(v, self.kept)


def batch_normalization_train(
    inputs,
    gamma,
    beta,
    axes="per-activation",
    epsilon=1e-4,
    running_average_factor=0.1,
    running_mean=None,
    running_var=None,
):
    """Batch-normalize with the minibatch's own statistics (Theano's signature and outputs).

    Parameters
    ----------
    inputs : float tensor.
    gamma, beta : scale and shift, shaped like the inputs with size 1 on `axes` or with the
        `axes` left out (``gamma.ndim == inputs.ndim - len(axes)``).
    axes : 'per-activation' (= (0,)), 'spatial' (= (0, 2, 3, ...)) or a tuple of ints.
    epsilon : added to the variance (at least 1e-5, as in Theano).
    running_average_factor, running_mean, running_var : when both running statistics are
        given, their updated values are returned too:
        ``running_mean * (1 - f) + mean * f`` and
        ``running_var * (1 - f) + (m / (m - 1)) * var * f``, m the number of averaged values.

    Returns
    -------
    (out, mean, invstd) or (out, mean, invstd, new_running_mean, new_running_var), the
    statistics in the layout of gamma.
    """
    what = "batch_normalization_train"
    x = _float_input(inputs, what)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{what}: running_mean and running_var must both be given or both be None")
    params = {"gamma": gamma, "beta": beta}
    if running_mean is not None:
        params.update(running_mean=running_mean, running_var=running_var)
    layout = _Layout(x, axes, params, what)
    _check_epsilon(epsilon, x.dtype)
    gamma, beta = layout.expand(gamma), layout.expand(beta)
    mean = math.mean(x, axis=layout.axes, keepdims=True)
    var = math.var(x, axis=layout.axes, keepdims=True)
    invstd = _like(1.0, x) / math.sqrt(var + _like(epsilon, x))
    out = (x - mean) * (gamma * invstd) + beta
    results = [out, layout.contract(mean), layout.contract(invstd)]
    if running_mean is not None:
        f = _like(running_average_factor, x)
        one = _like(1.0, x)
        m = math.cast(_count(x, layout.axes), x.dtype)
        new_mean = layout.expand(running_mean) * (one - f) + mean * f
        new_var = layout.expand(running_var) * (one - f) + (m / (m - one)) * var * f
        results += [layout.contract(new_mean), layout.contract(new_var)]
    return tuple(results)


def _count(x, axes):
    n = None
    for a in axes:
        size = shape_i(x, a)
        n = size if n is None else n * size
    return n


def batch_normalization_test(inputs, gamma, beta, mean, var, axes="per-activation", epsilon=1e-4):
    """Batch-normalize with given statistics (usually running averages): Theano's signature.

    ``out = (inputs - mean) * gamma / sqrt(var + epsilon) + beta``, the parameters shaped as in
    batch_normalization_train.
    """
    what = "batch_normalization_test"
    x = _float_input(inputs, what)
    layout = _Layout(x, axes, {"gamma": gamma, "beta": beta, "mean": mean, "var": var}, what)
    _check_epsilon(epsilon, x.dtype)
    gamma, beta, mean, var = (layout.expand(v) for v in (gamma, beta, mean, var))
    return (x - mean) * gamma / math.sqrt(var + _like(epsilon, x)) + beta
