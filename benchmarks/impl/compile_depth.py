"""Compile time against graph depth: a chain ``h = tanh(h * w_i + c_i)`` of depth D over a
float32 vector, with D scalar weights ``w_i`` held by the library (shared variables); the
function returns ``cost = sum(h)`` and takes a gradient step ``w_i -= 0.01 * d cost / d w_i``
on every weight.

Each case runs in a fresh process. After one untimed compile of a depth-2 chain (so that
library start-up is not counted), it times building the graph and its gradient, compiling,
and the first call, end to end. Disk caches (PyTensor's compiledir) are used as found.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.harness import main, summarize
from benchmarks.impl._peers import jax_cpu, pytensor_impls, pytensor_mode

CASES = ("D=10", "D=100", "D=1000")
SIZE = 1000  # length of the vector h
REPEAT = 1
TIMEOUT_S = 180
LR = np.float32(0.01)
IMPLS = ("pytensor", "pytensor_cvm", "jax", "symgraph")


def _depth(case: str) -> int:
    return int(case.split("=")[1])


def _offsets(depth: int) -> list[float]:
    return [0.01 * (i % 7) for i in range(depth)]  # distinct constants c_i


def _compile_times(build_and_call, repeat: int, case: str) -> dict:
    build_and_call(2)  # warm-up: imports, backend start-up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        build_and_call(_depth(case))
        samples.append(time.perf_counter() - t0)
    return {case: summarize(samples)}


def _inputs(depth: int):
    x = np.random.default_rng(0).standard_normal(SIZE, dtype=np.float32)
    return x, [np.float32(0.5)] * depth


def _pytensor(repeat, case, kind):
    mode = pytensor_mode(kind)
    import pytensor
    import pytensor.tensor as pt

    def build_and_call(depth):
        x0, w0 = _inputs(depth)
        x = pt.fvector("x")
        ws = [pytensor.shared(w, name=f"w{i}") for i, w in enumerate(w0)]
        h = x
        for w, c in zip(ws, _offsets(depth)):
            h = pt.tanh(h * w + np.float32(c))
        cost = h.sum()
        updates = [(w, w - LR * g) for w, g in zip(ws, pytensor.grad(cost, ws))]
        f = pytensor.function([x], cost, updates=updates, mode=mode)
        return f(x0)

    return _compile_times(build_and_call, repeat, case)


pytensor, pytensor_cvm = pytensor_impls(_pytensor)


def jax(repeat, case):
    jax = jax_cpu()
    import jax.numpy as jnp

    def build_and_call(depth):
        x0, w0 = _inputs(depth)
        offsets = _offsets(depth)

        def cost(ws, x):
            h = x
            for w, c in zip(ws, offsets):
                h = jnp.tanh(h * w + np.float32(c))
            return h.sum()

        @jax.jit
        def step(ws, x):
            value, grads = jax.value_and_grad(cost)(ws, x)
            return value, [w - LR * g for w, g in zip(ws, grads)]

        value, _ = step([jnp.asarray(w) for w in w0], jnp.asarray(x0))
        return value.block_until_ready()

    return _compile_times(build_and_call, repeat, case)


def symgraph(repeat, case):
    import symgraph as sg
    import symgraph.tensor as T

    def build_and_call(depth):
        x0, w0 = _inputs(depth)
        x = T.fvector("x")
        ws = [sg.shared(w, name=f"w{i}") for i, w in enumerate(w0)]
        h = x
        for w, c in zip(ws, _offsets(depth)):
            h = T.tanh(h * w + np.float32(c))
        cost = h.sum()
        updates = [(w, w - LR * g) for w, g in zip(ws, sg.grad(cost, ws))]
        f = sg.function([x], cost, updates=updates)
        return f(x0)

    return _compile_times(build_and_call, repeat, case)


if __name__ == "__main__":
    main(globals(), IMPLS, REPEAT, CASES)
