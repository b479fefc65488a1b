"""Update rules (Lasagne's names and signatures): a loss or gradients in, an OrderedDict out.

Each rule takes ``loss_or_grads, params, ...`` and returns ``OrderedDict(param -> new value)``
(plus entries for the optimizer state it creates as shared variables), ready for
``function(..., updates=...)``. The state has each parameter's dtype and is updated in place.

Examples
--------
>>> import numpy as np, symgraph as sg, symgraph.tensor as T
>>> from symgraph.updates import adam
>>> w = sg.shared(np.zeros(3), name="w")
>>> x = T.dvector("x")
>>> loss = ((w - x) ** 2).sum()
>>> step = sg.function([x], loss, updates=adam(loss, [w], learning_rate=0.1))
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from symgraph.gradient import grad
from symgraph.graph import Variable
from symgraph.ops import math as M
from symgraph.shared import SharedVariable, shared
from symgraph.variable import as_tensor_variable, constant


def get_or_compute_grads(loss_or_grads, params: Sequence) -> list:
    """`loss_or_grads` if it is a list of gradients (one per param), else grad(loss, params)."""
    params = list(params)
    for p in params:
        if not isinstance(p, SharedVariable):
            raise TypeError(
                f"update rules need shared variables as params, got {p}"
                f"{p.where() if isinstance(p, Variable) else ''} ({type(p).__name__}); "
                "create parameters with symgraph.shared(...)"
            )
    if isinstance(loss_or_grads, (list, tuple)):
        if len(loss_or_grads) != len(params):
            raise ValueError(
                f"got {len(loss_or_grads)} gradients for {len(params)} params; pass a scalar "
                "loss or exactly one gradient per parameter"
            )
        return list(loss_or_grads)
    loss = as_tensor_variable(loss_or_grads)
    if loss.ndim != 0:
        raise TypeError(
            f"update rules need a scalar loss, got {loss}{loss.where()} with {loss.ndim} "
            "dimensions; reduce it with .mean() or .sum()"
        )
    return grad(loss, params)


def _state_like(param: SharedVariable, name: str) -> SharedVariable:
    value = param.get_value(borrow=True)
    return shared(
        np.zeros(value.shape, dtype=value.dtype),
        name=f"{param.name or 'param'}.{name}",
        broadcastable=param.broadcastable,
    )


def _const(value, dtype: str):
    """A hyper-parameter in the parameter's dtype (keeps float32 models float32)."""
    if isinstance(value, (int, float, np.number)):
        return constant(value, dtype=dtype)
    return M.cast(as_tensor_variable(value), dtype)


def _fit(expr, param):
    return M.cast(expr, param.dtype)


def sgd(loss_or_grads, params, learning_rate) -> OrderedDict:
    """Stochastic gradient descent: param := param - learning_rate * grad."""
    updates = OrderedDict()
    for p, g in zip(params, get_or_compute_grads(loss_or_grads, params)):
        updates[p] = _fit(p - _const(learning_rate, p.dtype) * g, p)
    return updates


def apply_momentum(updates, params=None, momentum=0.9) -> OrderedDict:
    """Add classical momentum to the parameter updates of another rule."""
    params = list(updates) if params is None else list(params)
    updates = OrderedDict(updates)
    for p in params:
        velocity = _state_like(p, "velocity")
        x = _const(momentum, p.dtype) * velocity + updates[p]
        updates[velocity] = _fit(x - p, p)
        updates[p] = _fit(x, p)
    return updates


def momentum(loss_or_grads, params, learning_rate, momentum=0.9) -> OrderedDict:
    """SGD with classical momentum."""
    return apply_momentum(sgd(loss_or_grads, params, learning_rate), params, momentum)


def apply_nesterov_momentum(updates, params=None, momentum=0.9) -> OrderedDict:
    """Add Nesterov momentum to the parameter updates of another rule."""
    params = list(updates) if params is None else list(params)
    updates = OrderedDict(updates)
    for p in params:
        velocity = _state_like(p, "velocity")
        mu = _const(momentum, p.dtype)
        x = mu * velocity + updates[p] - p
        updates[velocity] = _fit(x, p)
        updates[p] = _fit(mu * x + updates[p], p)
    return updates


def nesterov_momentum(loss_or_grads, params, learning_rate, momentum=0.9) -> OrderedDict:
    """SGD with Nesterov momentum."""
    return apply_nesterov_momentum(sgd(loss_or_grads, params, learning_rate), params, momentum)


def _root_scaled(loss_or_grads, params, learning_rate, epsilon, accumulate) -> OrderedDict:
    """param -= lr * g / sqrt(accu + eps), with accu := accumulate(accu, g**2, dtype)."""
    updates = OrderedDict()
    for p, g in zip(params, get_or_compute_grads(loss_or_grads, params)):
        accu = _state_like(p, "accu")
        accu_new = accumulate(accu, g**2, p.dtype)
        updates[accu] = _fit(accu_new, p)
        step = _const(learning_rate, p.dtype) * g / M.sqrt(accu_new + _const(epsilon, p.dtype))
        updates[p] = _fit(p - step, p)
    return updates


def adagrad(loss_or_grads, params, learning_rate=1.0, epsilon=1e-6) -> OrderedDict:
    """Adagrad: steps scaled by the root of the sum of past squared gradients."""
    return _root_scaled(loss_or_grads, params, learning_rate, epsilon,
                        lambda accu, g2, dtype: accu + g2)


def rmsprop(loss_or_grads, params, learning_rate=1.0, rho=0.9, epsilon=1e-6) -> OrderedDict:
    """RMSProp: steps scaled by a running average of squared gradients."""

    def average(accu, g2, dtype):
        r = _const(rho, dtype)
        return r * accu + (1 - r) * g2

    return _root_scaled(loss_or_grads, params, learning_rate, epsilon, average)


def adadelta(loss_or_grads, params, learning_rate=1.0, rho=0.95, epsilon=1e-6) -> OrderedDict:
    """Adadelta (Zeiler 2012)."""
    updates = OrderedDict()
    for p, g in zip(params, get_or_compute_grads(loss_or_grads, params)):
        accu, delta_accu = _state_like(p, "accu"), _state_like(p, "delta_accu")
        r, eps = _const(rho, p.dtype), _const(epsilon, p.dtype)
        accu_new = r * accu + (1 - r) * g**2
        update = g * M.sqrt(delta_accu + eps) / M.sqrt(accu_new + eps)
        updates[accu] = _fit(accu_new, p)
        updates[p] = _fit(p - _const(learning_rate, p.dtype) * update, p)
        updates[delta_accu] = _fit(r * delta_accu + (1 - r) * update**2, p)
    return updates


def _timestep(params) -> SharedVariable:
    dtype = params[0].dtype if params else "float64"
    return shared(np.asarray(0, dtype=dtype), name="t")


def adam(
    loss_or_grads, params, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8
) -> OrderedDict:
    """Adam (Kingma & Ba 2014) with bias-corrected step size."""
    grads = get_or_compute_grads(loss_or_grads, params)
    t_prev = _timestep(params)
    updates = OrderedDict()
    t = t_prev + 1
    for p, g in zip(params, grads):
        b1, b2 = _const(beta1, p.dtype), _const(beta2, p.dtype)
        a_t = _const(learning_rate, p.dtype) * M.sqrt(1 - b2**t) / (1 - b1**t)
        m_prev, v_prev = _state_like(p, "m"), _state_like(p, "v")
        m_t = b1 * m_prev + (1 - b1) * g
        v_t = b2 * v_prev + (1 - b2) * g**2
        step = a_t * m_t / (M.sqrt(v_t) + _const(epsilon, p.dtype))
        updates[m_prev] = _fit(m_t, p)
        updates[v_prev] = _fit(v_t, p)
        updates[p] = _fit(p - step, p)
    updates[t_prev] = _fit(t, t_prev)
    return updates


def adamax(
    loss_or_grads, params, learning_rate=0.002, beta1=0.9, beta2=0.999, epsilon=1e-8
) -> OrderedDict:
    """Adamax: Adam with the infinity norm."""
    grads = get_or_compute_grads(loss_or_grads, params)
    t_prev = _timestep(params)
    updates = OrderedDict()
    t = t_prev + 1
    for p, g in zip(params, grads):
        b1, b2 = _const(beta1, p.dtype), _const(beta2, p.dtype)
        a_t = _const(learning_rate, p.dtype) / (1 - b1**t)
        m_prev, u_prev = _state_like(p, "m"), _state_like(p, "u")
        m_t = b1 * m_prev + (1 - b1) * g
        u_t = M.maximum(b2 * u_prev, abs(g))
        step = a_t * m_t / (u_t + _const(epsilon, p.dtype))
        updates[m_prev] = _fit(m_t, p)
        updates[u_prev] = _fit(u_t, p)
        updates[p] = _fit(p - step, p)
    updates[t_prev] = _fit(t, t_prev)
    return updates


def norm_constraint(tensor_var, max_norm, norm_axes=None, epsilon=1e-7):
    """Rescale `tensor_var` so its norm over `norm_axes` is at most `max_norm` (Lasagne)."""
    ndim = tensor_var.ndim
    if norm_axes is None:
        norm_axes = {1: (0,), 2: (0,), 4: (1, 2, 3), 3: (1, 2)}.get(ndim)
        if norm_axes is None:
            raise ValueError(f"norm_constraint: give norm_axes for a {ndim}-d tensor")
    dtype = tensor_var.dtype
    norms = M.sqrt(M.sum(M.sqr(tensor_var), axis=tuple(norm_axes), keepdims=True))
    target = M.clip(norms, 0, _const(max_norm, dtype))
    return tensor_var * (target / (_const(epsilon, dtype) + norms))


def total_norm_constraint(tensor_vars, max_norm, epsilon=1e-7, return_norm=False):
    """Rescale a list of tensors (e.g. gradients) so their joint L2 norm is at most max_norm."""
    tensor_vars = list(tensor_vars)
    dtype = tensor_vars[0].dtype
    norm = M.sqrt(M.add(*[M.cast(M.sum(M.sqr(t)), dtype) for t in tensor_vars]))
    target = M.clip(norm, 0, _const(max_norm, dtype))
    multiplier = target / (_const(epsilon, dtype) + norm)
    scaled = [M.cast(t * multiplier, t.dtype) for t in tensor_vars]
    return (scaled, norm) if return_norm else scaled
