"""The Theano tutorial's logistic regression: 400 samples, 784 features, float64, 10,000 steps
of gradient descent (lr 0.1, L2 0.01), one compiled call per step returning
``[prediction, xent]`` as in the tutorial. Reports total seconds for the 10,000 steps.

One change from the tutorial: ``w`` starts at ``0.01 * randn`` rather than ``randn``. With the
tutorial's scale ``x.w`` reaches +-40, ``p_1`` rounds to exactly 0 or 1, and every library
that does not rewrite ``log(1 - sigmoid)`` (numpy, JAX, PyTorch) trains on NaNs from step 1.
"""

from __future__ import annotations

import numpy as np

from benchmarks.harness import first_call, main, once, per_call
from benchmarks.impl._peers import (
    jax_cpu,
    pytensor_impls,
    pytensor_mode,
    torch_compiled,
    torch_impls,
)

N, FEATS = 400, 784
STEPS = 10_000
LR, L2 = 0.1, 0.01
REPEAT = 3
WARMUP_STEPS = 50  # lets lazy compilers (torch.compile) settle before the timed runs
TIMEOUT_S = 420
IMPLS = ("numpy", "pytensor", "pytensor_cvm", "jax", "torch", "torch_compile", "symgraph")


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, FEATS))
    y = rng.integers(0, 2, N).astype(np.float64)
    return x, y, 0.01 * rng.standard_normal(FEATS)


def _train(call) -> callable:
    """All 10,000 steps, the quantity timed."""

    def train():
        for _ in range(STEPS):
            call()

    return train


def _timed(call, repeat, compile_s=None, sync=None) -> dict:
    for _ in range(WARMUP_STEPS):
        call()
    rows = {"10k steps": per_call(_train(call), repeat, warmup=0, sync=sync, budget_s=120)}
    if compile_s is not None:
        rows["compile"] = once(compile_s)
    return rows


def numpy(repeat):
    x, y, w0 = _data()
    state = {"w": w0, "b": 0.0}

    def step():
        w, b = state["w"], state["b"]
        p_1 = 1 / (1 + np.exp(-(x @ w) - b))
        prediction = p_1 > 0.5
        xent = -y * np.log(p_1) - (1 - y) * np.log(1 - p_1)
        d = (p_1 - y) / N  # d cost / d (x.w + b)
        state["w"] = w - LR * (x.T @ d + 2 * L2 * w)
        state["b"] = b - LR * d.sum()
        return prediction, xent

    return _timed(step, repeat)


def _pytensor(repeat, kind):
    mode = pytensor_mode(kind)
    import pytensor
    import pytensor.tensor as pt

    xv, yv, w0 = _data()

    def build():
        x, y = pt.dmatrix("x"), pt.dvector("y")
        w = pytensor.shared(w0, name="w")
        b = pytensor.shared(0.0, name="b")
        p_1 = 1 / (1 + pt.exp(-pt.dot(x, w) - b))
        prediction = p_1 > 0.5
        xent = -y * pt.log(p_1) - (1 - y) * pt.log(1 - p_1)
        cost = xent.mean() + L2 * (w**2).sum()
        gw, gb = pytensor.grad(cost, [w, b])
        f = pytensor.function(
            [x, y], [prediction, xent], updates=[(w, w - LR * gw), (b, b - LR * gb)], mode=mode
        )
        return lambda: f(xv, yv)

    compile_s, step = first_call(build)
    return _timed(step, repeat, compile_s)


pytensor, pytensor_cvm = pytensor_impls(_pytensor)


def jax(repeat):
    jax = jax_cpu(x64=True)
    import jax.numpy as jnp

    xv, yv, w0 = _data()
    x, y = jnp.asarray(xv), jnp.asarray(yv)

    def cost_fn(params):
        w, b = params
        p_1 = 1 / (1 + jnp.exp(-(x @ w) - b))
        xent = -y * jnp.log(p_1) - (1 - y) * jnp.log(1 - p_1)
        return xent.mean() + L2 * (w**2).sum(), (p_1 > 0.5, xent)

    @jax.jit
    def train_step(params):
        (_, outputs), grads = jax.value_and_grad(cost_fn, has_aux=True)(params)
        return [p - LR * g for p, g in zip(params, grads)], outputs

    state = {"params": [jnp.asarray(w0), jnp.asarray(0.0)]}

    def step():
        state["params"], state["out"] = train_step(state["params"])

    def sync():
        state["out"][1].block_until_ready()

    compile_s, _ = first_call(lambda: step, sync)
    return _timed(step, repeat, compile_s, sync)


def _torch_step(torch, compiled: bool):
    xv, yv, w0 = _data()
    x, y = torch.from_numpy(xv), torch.from_numpy(yv)
    w = torch.from_numpy(w0).requires_grad_()
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)

    def step():
        p_1 = 1 / (1 + torch.exp(-(x @ w) - b))
        xent = -y * torch.log(p_1) - (1 - y) * torch.log(1 - p_1)
        cost = xent.mean() + L2 * (w**2).sum()
        gw, gb = torch.autograd.grad(cost, [w, b])
        with torch.no_grad():
            w.sub_(LR * gw)
            b.sub_(LR * gb)
        return p_1.detach() > 0.5, xent.detach()

    return torch_compiled(step) if compiled else step


torch, torch_compile = torch_impls(_torch_step, _timed)


def symgraph(repeat):
    import symgraph as sg
    import symgraph.tensor as T

    xv, yv, w0 = _data()

    def build():
        x, y = T.dmatrix("x"), T.dvector("y")
        w = sg.shared(w0, name="w")
        b = sg.shared(0.0, name="b")
        p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
        prediction = p_1 > 0.5
        xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
        cost = xent.mean() + L2 * (w**2).sum()
        gw, gb = sg.grad(cost, [w, b])
        f = sg.function([x, y], [prediction, xent], updates=[(w, w - LR * gw), (b, b - LR * gb)])
        return lambda: f(xv, yv)

    compile_s, step = first_call(build)
    return _timed(step, repeat, compile_s)


if __name__ == "__main__":
    main(globals(), IMPLS, REPEAT)
