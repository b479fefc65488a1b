"""Per-call overhead: ``f(x) = x + 1`` on a 10-element float64 vector, time per call.

Each library is called with its own array type (numpy array, jax.Array, torch.Tensor), so the
figure is the cost of one call from Python with next to nothing to compute. The ``*_trust``
variants set ``f.trust_input = True`` (no input checking or conversion).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from benchmarks.harness import first_call, main, once, per_call
from benchmarks.impl._peers import jax_cpu, pytensor_impls, pytensor_mode

CALLS = 10_000  # calls per timed batch; the default 20 batches make 200k calls
REPEAT = 20
TIMEOUT_S = 240
IMPLS = (
    "numpy",
    "pytensor",
    "pytensor_cvm",
    "pytensor_cvm_trust",
    "jax",
    "torch",
    "torch_compile",
    "symgraph",
    "symgraph_trust",
)


def _x() -> np.ndarray:
    return np.arange(10, dtype=np.float64)


def _per_call(call, repeat, sync=None) -> dict:
    return per_call(call, repeat, number=CALLS, warmup=1000, sync=sync)


def numpy(repeat):
    return {"": _per_call(partial(np.add, _x(), 1.0), repeat)}


def _pytensor(repeat, kind, trust=False):
    mode = pytensor_mode(kind)
    import pytensor
    import pytensor.tensor as pt

    def build():
        v = pt.dvector("x")
        f = pytensor.function([v], v + 1, mode=mode)
        f.trust_input = trust
        return partial(f, _x())

    compile_s, call = first_call(build)
    return {"": _per_call(call, repeat), "compile": once(compile_s)}


pytensor, pytensor_cvm = pytensor_impls(_pytensor)


def pytensor_cvm_trust(repeat):
    return _pytensor(repeat, "cvm", trust=True)


def jax(repeat):
    jax = jax_cpu(x64=True)

    x = jax.numpy.asarray(_x())
    f = jax.jit(lambda v: v + 1)
    call = partial(f, x)

    def sync():  # dispatch is asynchronous: wait for the batch's work to finish
        call().block_until_ready()

    compile_s, _ = first_call(lambda: call, sync)
    return {"": _per_call(call, repeat, sync), "compile": once(compile_s)}


def torch(repeat):
    import torch

    x = torch.from_numpy(_x())
    with torch.inference_mode():
        return {"": _per_call(partial(torch.add, x, 1.0), repeat)}


def torch_compile(repeat):
    import torch

    x = torch.from_numpy(_x())
    with torch.inference_mode():
        f = torch.compile(lambda v: v + 1)
        compile_s, call = first_call(lambda: partial(f, x))
        return {"": _per_call(call, repeat), "compile": once(compile_s)}


def _symgraph(repeat, trust):
    import symgraph as sg
    import symgraph.tensor as T

    def build():
        v = T.dvector("x")
        f = sg.function([v], v + 1)
        f.trust_input = trust
        return partial(f, _x())

    compile_s, call = first_call(build)
    return {"": _per_call(call, repeat), "compile": once(compile_s)}


def symgraph(repeat):
    return _symgraph(repeat, trust=False)


def symgraph_trust(repeat):
    return _symgraph(repeat, trust=True)


if __name__ == "__main__":
    main(globals(), IMPLS, REPEAT)
