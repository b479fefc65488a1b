"""One SGD-momentum training step of an MLP 784-512-512-10 (ReLU, softmax cross-entropy with
integer labels), batch 128, float32, parameters and velocities held by the library.

Update rule everywhere: ``v = 0.9 * v - 0.01 * g; p = p + v``. The ``numpy_gemms`` ceiling is
the time of the step's eight matrix products alone in numpy (3 forward, 5 backward: no
gradient for the input), into preallocated outputs; ``blas_gemms`` the same products in the
BLAS symgraph calls (MKL where the `mkl` package is installed, else numpy's).
"""

from __future__ import annotations

import numpy as np

from benchmarks.harness import first_call, main, once, per_call
from benchmarks.impl._peers import (
    jax_cpu,
    jax_momentum_trainer,
    pytensor_impls,
    pytensor_mode,
    torch_compiled,
    torch_impls,
)

SIZES = (784, 512, 512, 10)
BATCH = 128
LR, MOMENTUM = np.float32(0.01), np.float32(0.9)
REPEAT = 20
NUMBER = 5  # steps per timed batch
WARMUP = 10
TIMEOUT_S = 300
IMPLS = ("numpy", "pytensor", "pytensor_cvm", "jax", "torch", "torch_compile", "symgraph")
CEILINGS = ("blas_gemms", "numpy_gemms")


def _params() -> list[np.ndarray]:
    """[W1, b1, W2, b2, W3, b3], He-initialized."""
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.sqrt(2 / fan_in)
        params += [w.astype(np.float32), np.zeros(fan_out, np.float32)]
    return params


def _batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32)
    return x, rng.integers(0, SIZES[-1], BATCH).astype(np.int32)


def _timed(step, repeat, compile_s=None, sync=None) -> dict:
    rows = {"step": per_call(step, repeat, number=NUMBER, warmup=WARMUP, sync=sync)}
    if compile_s is not None:
        rows["compile"] = once(compile_s)
    return rows


def numpy(repeat):
    params = _params()
    velocities = [np.zeros_like(p) for p in params]
    x, y = _batch()
    rows = np.arange(BATCH)

    def step():
        w1, b1, w2, b2, w3, b3 = params
        h1 = np.maximum(x @ w1 + b1, 0)
        h2 = np.maximum(h1 @ w2 + b2, 0)
        z = h2 @ w3 + b3
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(p[rows, y]).mean()
        dz = p
        dz[rows, y] -= 1
        dz /= BATCH
        dh2 = (dz @ w3.T) * (h2 > 0)
        dh1 = (dh2 @ w2.T) * (h1 > 0)
        grads = [x.T @ dh1, dh1.sum(0), h1.T @ dh2, dh2.sum(0), h2.T @ dz, dz.sum(0)]
        for param, vel, grad in zip(params, velocities, grads):
            vel *= MOMENTUM
            vel -= LR * grad
            param += vel
        return loss

    return _timed(step, repeat)


def _products() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(a, b, out) for the step's out = a @ b; transposes are views, as in the backward pass."""
    rng = np.random.default_rng(0)
    (n0, n1, n2, n3), n = SIZES, BATCH

    def mat(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    x, w1, w2, w3 = mat(n, n0), mat(n0, n1), mat(n1, n2), mat(n2, n3)
    h1, h2, z, dz, dh2, dh1 = mat(n, n1), mat(n, n2), mat(n, n3), mat(n, n3), mat(n, n2), mat(n, n1)
    return [
        (x, w1, h1),  # forward
        (h1, w2, h2),
        (h2, w3, z),
        (h2.T, dz, mat(n2, n3)),  # gW3
        (dz, w3.T, dh2),  # dh2
        (h1.T, dh2, mat(n1, n2)),  # gW2
        (dh2, w2.T, dh1),  # dh1
        (x.T, dh1, mat(n0, n1)),  # gW1
    ]


def numpy_gemms(repeat):
    products = _products()

    def step():
        for a, b, out in products:
            np.matmul(a, b, out=out)

    return _timed(step, repeat)


def blas_gemms(repeat):
    """The products through the native Gemm entry the compiled step calls (~0.2 us a call;
    the ctypes path, ~8 us a call, would add ~60 us to the ceiling)."""
    from symgraph.codegen import blas_entry

    products = _products()
    gemm = blas_entry.entry("gemm", "float32")
    if gemm is None:
        raise RuntimeError("symgraph built no native Gemm entry here")

    def step():
        for a, b, out in products:
            if gemm(1.0, a, b, 0.0, out):
                raise RuntimeError(f"the Gemm entry refused {a.shape} @ {b.shape}")

    return _timed(step, repeat)


def _pytensor(repeat, kind):
    mode = pytensor_mode(kind)
    import pytensor
    import pytensor.tensor as pt

    xv, yv = _batch()

    def build():
        params = [pytensor.shared(p, name=f"p{i}") for i, p in enumerate(_params())]
        velocities = [pytensor.shared(np.zeros_like(p.get_value())) for p in params]
        x, y = pt.fmatrix("x"), pt.ivector("y")
        w1, b1, w2, b2, w3, b3 = params
        h1 = pt.maximum(pt.dot(x, w1) + b1, 0)
        h2 = pt.maximum(pt.dot(h1, w2) + b2, 0)
        logp = pt.special.log_softmax(pt.dot(h2, w3) + b3, axis=-1)
        cost = -pt.mean(logp[pt.arange(y.shape[0]), y])
        updates = []
        for param, vel, grad in zip(params, velocities, pytensor.grad(cost, params)):
            new_vel = MOMENTUM * vel - LR * grad
            updates += [(vel, new_vel), (param, param + new_vel)]
        f = pytensor.function([x, y], cost, updates=updates, mode=mode)
        return lambda: f(xv, yv)

    compile_s, step = first_call(build)
    return _timed(step, repeat, compile_s)


pytensor, pytensor_cvm = pytensor_impls(_pytensor)


def jax(repeat):
    jax = jax_cpu()
    import jax.numpy as jnp

    def loss_fn(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h1 = jax.nn.relu(x @ w1 + b1)
        h2 = jax.nn.relu(h1 @ w2 + b2)
        logp = jax.nn.log_softmax(h2 @ w3 + b3)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    batch = [jnp.asarray(a) for a in _batch()]
    build, sync = jax_momentum_trainer(jax, loss_fn, _params, batch, LR, MOMENTUM)
    compile_s, step = first_call(build, sync)
    return _timed(step, repeat, compile_s, sync)


def _torch_step(torch, compiled: bool):
    import torch.nn.functional as F

    params = [torch.from_numpy(p).requires_grad_() for p in _params()]
    velocities = [torch.zeros_like(p) for p in params]
    x, y = _batch()
    x, y = torch.from_numpy(x), torch.from_numpy(y).long()
    lr, momentum = float(LR), float(MOMENTUM)

    def step():
        w1, b1, w2, b2, w3, b3 = params
        h1 = torch.relu(x @ w1 + b1)
        h2 = torch.relu(h1 @ w2 + b2)
        loss = F.cross_entropy(h2 @ w3 + b3, y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for param, vel, grad in zip(params, velocities, grads):
                vel.mul_(momentum).add_(grad, alpha=-lr)
                param.add_(vel)
        return loss

    return torch_compiled(step) if compiled else step


torch, torch_compile = torch_impls(_torch_step, _timed)


def symgraph(repeat):
    import symgraph as sg
    import symgraph.tensor as T

    xv, yv = _batch()

    def build():
        params = [sg.shared(p, name=f"p{i}") for i, p in enumerate(_params())]
        velocities = [sg.shared(np.zeros_like(p.get_value())) for p in params]
        x, y = T.fmatrix("x"), T.ivector("y")
        w1, b1, w2, b2, w3, b3 = params
        h1 = T.nnet.relu(T.dot(x, w1) + b1)
        h2 = T.nnet.relu(T.dot(h1, w2) + b2)
        p_y = T.nnet.softmax(T.dot(h2, w3) + b3)
        cost = T.mean(T.nnet.categorical_crossentropy(p_y, y))
        updates = []
        for param, vel, grad in zip(params, velocities, sg.grad(cost, params)):
            new_vel = MOMENTUM * vel - LR * grad
            updates += [(vel, new_vel), (param, param + new_vel)]
        f = sg.function([x, y], cost, updates=updates)
        return lambda: f(xv, yv)

    compile_s, step = first_call(build)
    return _timed(step, repeat, compile_s)


if __name__ == "__main__":
    main(globals(), IMPLS + CEILINGS, REPEAT)
