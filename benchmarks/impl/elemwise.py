"""Fused elementwise expression on 10M float32: tanh(a*x + b) * sigmoid(x) + exp(-x*x).

A good compiler fuses it into one pass over memory; its floor is the time to read 4 bytes and
write 4 bytes per element at the measured copy bandwidth (``FLOOR_BYTES`` / bandwidth).
"""

from __future__ import annotations

import numpy as np

from benchmarks.harness import first_call, main, once, per_call
from benchmarks.impl._peers import jax_cpu, pytensor_impls, pytensor_mode

N = 10_000_000
A, B = np.float32(0.5), np.float32(0.1)
FLOOR_BYTES = 8 * N
REPEAT = 20
TIMEOUT_S = 240
IMPLS = ("numpy", "pytensor", "pytensor_cvm", "jax", "torch", "torch_compile", "symgraph")


def _x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(N, dtype=np.float32)


def _check(y) -> None:
    if np.asarray(y).dtype != np.float32:
        raise TypeError(f"output is {np.asarray(y).dtype}, expected float32")


def numpy(repeat):
    x = _x()

    def f():
        return np.tanh(A * x + B) * (1 / (1 + np.exp(-x))) + np.exp(-x * x)

    _check(f())
    return {"": per_call(f, repeat)}


def _pytensor(repeat, kind):
    mode = pytensor_mode(kind)
    import pytensor
    import pytensor.tensor as pt

    x = _x()

    def build():
        v = pt.fvector("x")
        y = pt.tanh(A * v + B) * pt.sigmoid(v) + pt.exp(-v * v)
        f = pytensor.function([v], y, mode=mode)
        return lambda: f(x)

    compile_s, step = first_call(build)
    _check(step())
    return {"": per_call(step, repeat), "compile": once(compile_s)}


pytensor, pytensor_cvm = pytensor_impls(_pytensor)


def jax(repeat):
    jax = jax_cpu()
    import jax.numpy as jnp

    x = jnp.asarray(_x())

    def build():
        f = jax.jit(lambda v: jnp.tanh(A * v + B) * jax.nn.sigmoid(v) + jnp.exp(-v * v))
        return lambda: f(x).block_until_ready()

    compile_s, step = first_call(build)
    _check(step())
    return {"": per_call(step, repeat), "compile": once(compile_s)}


def _torch_fn(torch):
    a, b = float(A), float(B)  # python floats keep float32 and are constants to dynamo

    def f(v):
        return torch.tanh(a * v + b) * torch.sigmoid(v) + torch.exp(-v * v)

    return f


def torch(repeat):
    import torch

    x = torch.from_numpy(_x())
    f = _torch_fn(torch)
    with torch.inference_mode():
        _check(f(x))
        return {"": per_call(lambda: f(x), repeat)}


def torch_compile(repeat):
    import torch

    x = torch.from_numpy(_x())
    with torch.inference_mode():
        f = torch.compile(_torch_fn(torch))
        compile_s, step = first_call(lambda: lambda: f(x))
        _check(step())
        return {"": per_call(step, repeat), "compile": once(compile_s)}


def symgraph(repeat):
    import symgraph as sg
    import symgraph.tensor as T

    x = _x()

    def build():
        v = T.fvector("x")
        y = T.tanh(A * v + B) * T.nnet.sigmoid(v) + T.exp(-v * v)
        f = sg.function([v], y)
        return lambda: f(x)

    compile_s, step = first_call(build)
    _check(step())
    return {"": per_call(step, repeat), "compile": once(compile_s)}


if __name__ == "__main__":
    main(globals(), IMPLS, REPEAT)
