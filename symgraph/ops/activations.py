"""Activations (relu, elu, selu, ...) and the elementwise crossentropies: graphs of Elemwise
ops, so fusion compiles each into one loop and their second derivatives come free.

``symgraph.ops.nnet`` (``T.nnet``) re-exports them, where Theano code looks for them.
"""

from __future__ import annotations

from symgraph.ops import math
from symgraph.ops.math import sigmoid, softplus
from symgraph.types import upgrade_to_float as _upgrade_to_float
from symgraph.variable import as_tensor_variable, constant


def _scalar_like(value, x):
    """A Python number as a constant of x's float dtype, so float32 graphs stay float32."""
    if isinstance(value, (int, float)):
        return constant(value, dtype=_upgrade_to_float(x.dtype))
    return as_tensor_variable(value)


def binary_crossentropy(output, target):
    """-(target * log(output) + (1 - target) * log(1 - output)), elementwise.

    `output` holds probabilities in (0, 1); for logits use sigmoid_binary_crossentropy.
    """
    output, target = as_tensor_variable(output), as_tensor_variable(target)
    one = _scalar_like(1.0, output)
    return -(target * math.log(output) + (one - target) * math.log(one - output))


def sigmoid_binary_crossentropy(output, target):
    """binary_crossentropy(sigmoid(output), target) for logits `output`, computed stably.

    Each branch of the switch is finite and has the exact gradient sigmoid(x) - target, also
    at x = 0 where a graph of softplus(-|x|) would lose the 0.5 (Theano patched that with a
    custom gradient); second derivatives follow from sigmoid's.
    """
    x = as_tensor_variable(output)
    t = as_tensor_variable(target)
    one = _scalar_like(1.0, x)
    return math.switch(x > 0, softplus(-x) + x * (one - t), softplus(x) - x * t)


def relu(x, alpha=0):
    """Rectified linear unit: max(x, 0), or leaky max(x, alpha * x) for alpha != 0.

    Theano's formulation ``0.5 * (x + |x|)`` (``f1 * x + f2 * |x|`` with alpha), kept for
    its gradient: 0.5 * (1 + alpha) at exactly x = 0, as in Theano.
    """
    x = as_tensor_variable(x)
    half = _scalar_like(0.5, x)
    if isinstance(alpha, (int, float)) and alpha == 0:
        return half * (x + math.abs(x))
    alpha = _scalar_like(alpha, x)
    one = _scalar_like(1, x)
    return half * (one + alpha) * x + half * (one - alpha) * math.abs(x)


def elu(x, alpha=1):
    """Exponential linear unit: x if x > 0 else alpha * (exp(x) - 1)."""
    x = as_tensor_variable(x)
    # expm1 of min(x, 0): the unused branch must not overflow, or its 0 gradient times inf is NaN.
    negative = _scalar_like(alpha, x) * math.expm1(math.minimum(x, _scalar_like(0, x)))
    return math.switch(x > 0, x, negative)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """Scaled exponential linear unit (Klambauer et al. 2017): scale * elu(x, alpha)."""
    x = as_tensor_variable(x)
    return _scalar_like(_SELU_SCALE, x) * elu(x, _SELU_ALPHA)


def softsign(x):
    """x / (1 + |x|)."""
    x = as_tensor_variable(x)
    return x / (_scalar_like(1, x) + math.abs(x))


def hard_sigmoid(x):
    """clip(0.2 * x + 0.5, 0, 1): a piecewise-linear approximation of the sigmoid."""
    x = as_tensor_variable(x)
    return math.clip(x * _scalar_like(0.2, x) + _scalar_like(0.5, x), 0, 1)


def ultra_fast_sigmoid(x):
    """The sigmoid (exact here).

    Theano returned a piecewise approximation (error up to 2.5e-3) for speed; the exact
    sigmoid is at least as accurate and its compiled kernel is already fast.
    """
    return sigmoid(x)
