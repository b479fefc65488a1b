"""One SGD-momentum training step of a small convnet on a batch of 64 28x28x1 float32 images:
conv 3x3x32 -> ReLU -> maxpool 2 -> conv 3x3x64 -> ReLU -> maxpool 2 -> dense 10, softmax
cross-entropy with integer labels, ``v = 0.9 * v - 0.01 * g; p = p + v``.

Layouts are each library's own: NCHW for Theano-style APIs and PyTorch, NHWC for JAX and the
hand-written numpy version.

PyTensor 3 has no CNN ``conv2d`` (nor pooling), so its cells read "n/a (no conv2d)". The extra
implementation ``pytensor_convolve2d``, run only when named (``run.py --impls
pytensor_convolve2d``), builds one from ``pytensor.tensor.signal.convolve2d`` (one scipy 2-D
convolution per image, output channel and input channel, C VM mode) with reshape + max
pooling: on the 2-core development machine it took about 100 s to compile and over a minute
per step.
"""

from __future__ import annotations

import numpy as np

from benchmarks.harness import first_call, main, once, per_call
from benchmarks.impl._peers import (
    jax_cpu,
    jax_momentum_trainer,
    pytensor_mode,
    torch_compiled,
    torch_impls,
)

BATCH, SIDE, CLASSES = 64, 28, 10
C1, C2, K = 32, 64, 3
FLAT = C2 * 5 * 5  # 28 -conv-> 26 -pool-> 13 -conv-> 11 -pool-> 5
LR, MOMENTUM = np.float32(0.01), np.float32(0.9)
REPEAT = 15
NUMBER = 2  # steps per timed batch
WARMUP = 5
TIMEOUT_S = 420
IMPLS = ("numpy", "pytensor", "pytensor_cvm", "jax", "torch", "torch_compile", "symgraph")
EXTRAS = ("pytensor_convolve2d",)  # run only when named: minutes per step


def _params() -> list[np.ndarray]:
    """[w1 (32,1,3,3), b1, w2 (64,32,3,3), b2, w3 (1600,10), b3], NCHW / OIHW."""
    rng = np.random.default_rng(0)

    def he(*shape):
        fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
        return (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)

    zeros = np.zeros
    return [
        he(C1, 1, K, K), zeros(C1, np.float32),
        he(C2, C1, K, K), zeros(C2, np.float32),
        he(FLAT, CLASSES), zeros(CLASSES, np.float32),
    ]  # fmt: skip


def _batch() -> tuple[np.ndarray, np.ndarray]:
    """Images (64, 1, 28, 28) and int32 labels."""
    rng = np.random.default_rng(1)
    x = rng.random((BATCH, 1, SIDE, SIDE), dtype=np.float32)  # pixels in [0, 1)
    return x, rng.integers(0, CLASSES, BATCH).astype(np.int32)


def _timed(step, repeat, compile_s=None, sync=None) -> dict:
    rows = {"step": per_call(step, repeat, number=NUMBER, warmup=WARMUP, sync=sync)}
    if compile_s is not None:
        rows["compile"] = once(compile_s)
    return rows


# --- numpy: NHWC, convolution as 9 shifted matrix products -------------------------------


def _conv_nhwc(x, w):
    """Valid 3x3 convolution (cross-correlation); x (N,H,W,Ci), w (K,K,Ci,Co)."""
    n, h, wd, _ = x.shape
    ho, wo = h - K + 1, wd - K + 1
    out = np.zeros((n, ho, wo, w.shape[3]), np.float32)
    for i in range(K):
        for j in range(K):
            out += x[:, i : i + ho, j : j + wo, :] @ w[i, j]
    return out


def _conv_nhwc_grads(x, w, dout):
    """Gradients of :func:`_conv_nhwc` w.r.t. x and w."""
    ho, wo = dout.shape[1:3]
    dx, dw = np.zeros_like(x), np.empty_like(w)
    flat = dout.reshape(-1, dout.shape[3])
    for i in range(K):
        for j in range(K):
            patch = x[:, i : i + ho, j : j + wo, :]
            dw[i, j] = patch.reshape(-1, x.shape[3]).T @ flat
            dx[:, i : i + ho, j : j + wo, :] += dout @ w[i, j].T
    return dx, dw


def _pool(x):
    """2x2 max pool, border dropped; returns the pooled array and the argmax mask."""
    n, h, w, c = x.shape
    ho, wo = h // 2, w // 2
    windows = x[:, : 2 * ho, : 2 * wo].reshape(n, ho, 2, wo, 2, c)
    pooled = windows.max(axis=(2, 4))
    return pooled, windows == pooled[:, :, None, :, None]


def _unpool(dpooled, mask, shape):
    dx = np.zeros(shape, np.float32)
    n, ho, _, wo, _, c = mask.shape
    dx[:, : 2 * ho, : 2 * wo] = (mask * dpooled[:, :, None, :, None]).reshape(n, 2 * ho, 2 * wo, c)
    return dx


def numpy(repeat):
    w1, b1, w2, b2, w3, b3 = _params()
    # NHWC weights (K,K,Ci,Co); the dense layer reads the NHWC flattening
    params = [w1.transpose(2, 3, 1, 0).copy(), b1, w2.transpose(2, 3, 1, 0).copy(), b2, w3, b3]
    velocities = [np.zeros_like(p) for p in params]
    xv, y = _batch()
    x = np.ascontiguousarray(xv.transpose(0, 2, 3, 1))
    rows = np.arange(BATCH)

    def step():
        w1, b1, w2, b2, w3, b3 = params
        a1 = np.maximum(_conv_nhwc(x, w1) + b1, 0)
        p1, m1 = _pool(a1)
        a2 = np.maximum(_conv_nhwc(p1, w2) + b2, 0)
        p2, m2 = _pool(a2)
        z = p2.reshape(BATCH, -1) @ w3 + b3
        e = np.exp(z - z.max(axis=1, keepdims=True))
        prob = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(prob[rows, y]).mean()
        dz = prob
        dz[rows, y] -= 1
        dz /= BATCH
        gw3, gb3 = p2.reshape(BATCH, -1).T @ dz, dz.sum(0)
        da2 = _unpool((dz @ w3.T).reshape(p2.shape), m2, a2.shape) * (a2 > 0)
        dp1, gw2 = _conv_nhwc_grads(p1, w2, da2)
        da1 = _unpool(dp1, m1, a1.shape) * (a1 > 0)
        _, gw1 = _conv_nhwc_grads(x, w1, da1)
        grads = [gw1, da1.sum((0, 1, 2)), gw2, da2.sum((0, 1, 2)), gw3, gb3]
        for param, vel, grad in zip(params, velocities, grads):
            vel *= MOMENTUM
            vel -= LR * grad
            param += vel
        return loss

    return _timed(step, repeat)


# --- the Theano-style libraries: same graph, NCHW ---------------------------------------


def _theano_style_updates(params, velocities, grads):
    updates = []
    for param, vel, grad in zip(params, velocities, grads):
        new_vel = MOMENTUM * vel - LR * grad
        updates += [(vel, new_vel), (param, param + new_vel)]
    return updates


def pytensor_convolve2d(repeat):
    mode = pytensor_mode("cvm")
    import pytensor
    import pytensor.tensor as pt
    from pytensor.tensor.signal import convolve2d

    def conv2d(x, w):  # (N,Ci,H,W) x (Co,Ci,K,K) -> (N,Co,H',W'), a true convolution
        return convolve2d(x[:, None], w[None], mode="valid").sum(axis=2)

    def pool(x, side):
        half = side // 2
        x = x[:, :, : 2 * half, : 2 * half].reshape((x.shape[0], x.shape[1], half, 2, half, 2))
        return x.max(axis=(3, 5))

    xv, yv = _batch()

    def build():
        params = [pytensor.shared(p, name=f"p{i}") for i, p in enumerate(_params())]
        velocities = [pytensor.shared(np.zeros_like(p.get_value())) for p in params]
        x, y = pt.tensor4("x", dtype="float32"), pt.ivector("y")
        w1, b1, w2, b2, w3, b3 = params

        def layer(a, w, b, side):
            return pool(pt.maximum(conv2d(a, w) + b[None, :, None, None], 0), side)

        a2 = layer(layer(x, w1, b1, SIDE - 2), w2, b2, (SIDE - 2) // 2 - 2)
        logp = pt.special.log_softmax(pt.dot(a2.flatten(2), w3) + b3, axis=-1)
        cost = -pt.mean(logp[pt.arange(y.shape[0]), y])
        updates = _theano_style_updates(params, velocities, pytensor.grad(cost, params))
        f = pytensor.function([x, y], cost, updates=updates, mode=mode)
        return lambda: f(xv, yv)

    compile_s, step = first_call(build)
    # a minute or more per step: no warm-up beyond the first call, at most two timed steps
    return {"step": per_call(step, min(repeat, 2), warmup=0), "compile": once(compile_s)}


def pytensor(repeat):
    raise NotImplementedError("no conv2d")


def pytensor_cvm(repeat):
    raise NotImplementedError("no conv2d")


def symgraph_graph():
    """(x, y, cost, updates) of the Theano-spelled training step on new shared parameters
    (also what benchmarks/gpu/bench.py compiles for the GPU)."""
    import symgraph as sg
    import symgraph.tensor as T
    from symgraph.tensor.signal.pool import pool_2d

    params = [sg.shared(p, name=f"p{i}") for i, p in enumerate(_params())]
    velocities = [sg.shared(np.zeros_like(p.get_value())) for p in params]
    x, y = T.tensor4("x", dtype="float32"), T.ivector("y")
    w1, b1, w2, b2, w3, b3 = params

    def layer(a, w, b):
        c = T.nnet.conv2d(a, w, border_mode="valid") + b.dimshuffle("x", 0, "x", "x")
        return pool_2d(T.nnet.relu(c), ws=(2, 2), ignore_border=True)

    a2 = layer(layer(x, w1, b1), w2, b2)
    p_y = T.nnet.softmax(T.dot(a2.flatten(2), w3) + b3)
    cost = T.mean(T.nnet.categorical_crossentropy(p_y, y))
    return x, y, cost, _theano_style_updates(params, velocities, sg.grad(cost, params))


def symgraph(repeat):
    import symgraph as sg

    xv, yv = _batch()

    def build():
        x, y, cost, updates = symgraph_graph()
        f = sg.function([x, y], cost, updates=updates)
        return lambda: f(xv, yv)

    compile_s, step = first_call(build)
    return _timed(step, repeat, compile_s)


# --- JAX (NHWC) and PyTorch (NCHW) -------------------------------------------------------


def jax(repeat):
    jax = jax_cpu()
    import jax.numpy as jnp
    from jax import lax

    dims = ("NHWC", "HWIO", "NHWC")
    window = (1, 2, 2, 1)

    def layer(a, w, b):
        c = lax.conv_general_dilated(a, w, (1, 1), "VALID", dimension_numbers=dims) + b
        return lax.reduce_window(jax.nn.relu(c), -jnp.inf, lax.max, window, window, "VALID")

    def loss_fn(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        a2 = layer(layer(x, w1, b1), w2, b2)
        logp = jax.nn.log_softmax(a2.reshape(a2.shape[0], -1) @ w3 + b3)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    def hwio_params():
        w1, b1, w2, b2, w3, b3 = _params()
        return [w1.transpose(2, 3, 1, 0), b1, w2.transpose(2, 3, 1, 0), b2, w3, b3]

    xv, yv = _batch()
    batch = [jnp.asarray(xv.transpose(0, 2, 3, 1)), jnp.asarray(yv)]
    build, sync = jax_momentum_trainer(jax, loss_fn, hwio_params, batch, LR, MOMENTUM)
    compile_s, step = first_call(build, sync)
    return _timed(step, repeat, compile_s, sync)


def _torch_step(torch, compiled: bool):
    import torch.nn.functional as F

    params = [torch.from_numpy(p).requires_grad_() for p in _params()]
    velocities = [torch.zeros_like(p) for p in params]
    xv, yv = _batch()
    x, y = torch.from_numpy(xv), torch.from_numpy(yv).long()
    lr, momentum = float(LR), float(MOMENTUM)

    def step():
        w1, b1, w2, b2, w3, b3 = params
        a1 = F.max_pool2d(torch.relu(F.conv2d(x, w1, b1)), 2)
        a2 = F.max_pool2d(torch.relu(F.conv2d(a1, w2, b2)), 2)
        loss = F.cross_entropy(a2.flatten(1) @ w3 + b3, y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for param, vel, grad in zip(params, velocities, grads):
                vel.mul_(momentum).add_(grad, alpha=-lr)
                param.add_(vel)
        return loss

    return torch_compiled(step) if compiled else step


torch, torch_compile = torch_impls(_torch_step, _timed)


if __name__ == "__main__":
    main(globals(), IMPLS + EXTRAS, REPEAT)
