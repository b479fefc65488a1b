"""One SGD training step of a vanilla RNN through scan: T=100, batch 32, input 64, hidden 256,
float32, ``h_t = tanh(x_t W + h_{t-1} U + b)`` from ``h_0 = 0``, loss ``mean(h_T ** 2)``,
``p = p - 0.01 * g`` on W, U and b. The symbolic libraries use their scan; PyTorch runs a
Python loop (eager) or lets torch.compile unroll it; numpy is a hand-written BPTT.
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

STEPS, BATCH, N_IN, N_HID = 100, 32, 64, 256
LR = np.float32(0.01)
REPEAT = 20
NUMBER = 2  # training steps per timed batch
WARMUP = 5
TIMEOUT_S = 420
IMPLS = ("numpy", "pytensor", "pytensor_cvm", "jax", "torch", "torch_compile", "symgraph")


def _params() -> list[np.ndarray]:
    """[W, U, b]."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((N_IN, N_HID), dtype=np.float32) / np.sqrt(N_IN)
    u = rng.standard_normal((N_HID, N_HID), dtype=np.float32) / np.sqrt(N_HID)
    return [w.astype(np.float32), u.astype(np.float32), np.zeros(N_HID, np.float32)]


def _sequence() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((STEPS, BATCH, N_IN), dtype=np.float32)


def _timed(step, repeat, compile_s=None, sync=None) -> dict:
    rows = {"step": per_call(step, repeat, number=NUMBER, warmup=WARMUP, sync=sync)}
    if compile_s is not None:
        rows["compile"] = once(compile_s)
    return rows


def numpy(repeat):
    params = _params()
    xs = _sequence()

    def step():
        w, u, b = params
        hs = np.zeros((STEPS + 1, BATCH, N_HID), np.float32)
        xw = (xs.reshape(-1, N_IN) @ w).reshape(STEPS, BATCH, N_HID) + b
        for t in range(STEPS):
            hs[t + 1] = np.tanh(xw[t] + hs[t] @ u)
        loss = np.mean(hs[-1] ** 2)
        dzs = np.empty((STEPS, BATCH, N_HID), np.float32)
        dh = 2 * hs[-1] / hs[-1].size
        for t in reversed(range(STEPS)):
            dzs[t] = dh * (1 - hs[t + 1] ** 2)
            dh = dzs[t] @ u.T
        dz = dzs.reshape(-1, N_HID)
        grads = [xs.reshape(-1, N_IN).T @ dz, hs[:-1].reshape(-1, N_HID).T @ dz, dz.sum(0)]
        for param, grad in zip(params, grads):
            param -= LR * grad
        return loss

    return _timed(step, repeat)


def _pytensor(repeat, kind):
    mode = pytensor_mode(kind)
    import pytensor
    import pytensor.tensor as pt

    xv = _sequence()

    def build():
        w, u, b = (pytensor.shared(p, name=n) for p, n in zip(_params(), "WUb"))
        xs = pt.tensor3("xs", dtype="float32")
        h0 = pt.zeros((xs.shape[1], N_HID), dtype="float32")
        hs, scan_updates = pytensor.scan(
            lambda x_t, h: pt.tanh(pt.dot(x_t, w) + pt.dot(h, u) + b),
            sequences=xs,
            outputs_info=h0,
        )
        loss = pt.mean(hs[-1] ** 2)
        updates = [(p, p - LR * g) for p, g in zip((w, u, b), pytensor.grad(loss, [w, u, b]))]
        f = pytensor.function([xs], loss, updates=list(scan_updates.items()) + updates, mode=mode)
        return lambda: f(xv)

    compile_s, step = first_call(build)
    return _timed(step, repeat, compile_s)


pytensor, pytensor_cvm = pytensor_impls(_pytensor)


def jax(repeat):
    jax = jax_cpu()
    import jax.numpy as jnp

    def loss_fn(params, xs):
        w, u, b = params

        def cell(h, x_t):
            return jnp.tanh(x_t @ w + h @ u + b), None

        h_last, _ = jax.lax.scan(cell, jnp.zeros((xs.shape[1], N_HID), jnp.float32), xs)
        return jnp.mean(h_last**2)

    def train_step(params, xs):
        loss, grads = jax.value_and_grad(loss_fn)(params, xs)
        return [p - LR * g for p, g in zip(params, grads)], loss

    xs = jnp.asarray(_sequence())
    state = {}

    def build():
        state["params"] = [jnp.asarray(p) for p in _params()]
        train = jax.jit(train_step, donate_argnums=0)

        def step():
            state["params"], state["loss"] = train(state["params"], xs)

        return step

    def sync():
        state["loss"].block_until_ready()

    compile_s, step = first_call(build, sync)
    return _timed(step, repeat, compile_s, sync)


def _torch_step(torch, compiled: bool):
    params = [torch.from_numpy(p).requires_grad_() for p in _params()]
    xs = torch.from_numpy(_sequence())
    lr = float(LR)

    def step():
        w, u, b = params
        h = torch.zeros(BATCH, N_HID)
        for t in range(STEPS):
            h = torch.tanh(xs[t] @ w + h @ u + b)
        loss = torch.mean(h**2)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for param, grad in zip(params, grads):
                param.sub_(lr * grad)
        return loss

    return torch_compiled(step) if compiled else step


torch, torch_compile = torch_impls(_torch_step, _timed)


def symgraph(repeat):
    import symgraph as sg
    import symgraph.tensor as T

    xv = _sequence()

    def build():
        w, u, b = (sg.shared(p, name=n) for p, n in zip(_params(), "WUb"))
        xs = T.tensor3("xs", dtype="float32")
        h0 = T.zeros((xs.shape[1], N_HID), dtype="float32")
        hs, scan_updates = sg.scan(
            lambda x_t, h: T.tanh(T.dot(x_t, w) + T.dot(h, u) + b),
            sequences=xs,
            outputs_info=h0,
        )
        loss = T.mean(hs[-1] ** 2)
        updates = [(p, p - LR * g) for p, g in zip((w, u, b), sg.grad(loss, [w, u, b]))]
        f = sg.function([xs], loss, updates=list(scan_updates.items()) + updates)
        return lambda: f(xv)

    compile_s, step = first_call(build)
    return _timed(step, repeat, compile_s)


if __name__ == "__main__":
    main(globals(), IMPLS, REPEAT)
