"""Tests for symgraph/codegen/llvm_jit.py: object code emitted on several threads at once."""

from __future__ import annotations

import threading

import numpy as np

from symgraph.codegen import llvm, llvm_jit
from symgraph.codegen.kernel import lower_careduce, lower_elemwise
from symgraph.codegen.llvm_abi import make_entry
from symgraph.ops import math as M
from symgraph.types import TensorType


def _modules() -> list[str]:
    x = TensorType("float32", (None, None))("x")
    exprs = [M.tanh(x) * 2 + M.exp(-x), M.log(x * x + 1), x - 3]
    kernels = [lower_elemwise(e.owner)[0] for e in exprs]
    kernels.append(lower_careduce(M.sum(x, axis=1).owner))
    return [llvm.render_module(k) for k in kernels]


def test_objects_emitted_on_threads_are_the_serial_ones():
    texts = _modules()
    serial = [llvm_jit.emit_object(t) for t in texts]
    results: dict[int, bytes] = {}
    barrier = threading.Barrier(4)

    def work(k: int) -> None:
        barrier.wait()
        for j in range(len(texts)):
            results[k * len(texts) + j] = llvm_jit.emit_object(texts[(j + k) % len(texts)])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 * len(texts)
    for i, obj in results.items():
        k, j = divmod(i, len(texts))
        assert obj == serial[(j + k) % len(texts)]


def test_an_object_emitted_on_a_thread_runs():
    x = TensorType("float64", (None,))("x")
    kernel, _ = lower_elemwise((x * 3 + 1).owner)  # (x * 3) + 1: the kernel adds 1 to its input
    text = llvm.render_module(kernel).replace(kernel.name, kernel.name + "_t")
    out: list[bytes] = []
    thread = threading.Thread(target=lambda: out.append(llvm_jit.emit_object(text)))
    thread.start()
    thread.join()
    module = llvm_jit.load_object(out[0])
    call, _ = make_entry(kernel, {"flat": module.address(f"{kernel.name}_t_flat")})
    a, got = np.linspace(-2, 2, 7), np.empty(7)
    assert call(a, got) == 0
    np.testing.assert_allclose(got, a + 1, rtol=1e-12)
