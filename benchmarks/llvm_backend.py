"""The LLVM backend's own numbers: call overhead, a fused expression, compile time.

    python -m benchmarks.llvm_backend [--quick]

Medians of batches, all in one process (compile times in fresh subprocesses), so compare the
rows with each other, not with another run: the machines are shared and noisy (FACTS.md).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np


def per_call_us(fn, number: int, repeat: int = 15) -> float:
    """Median over `repeat` batches of the time per call, in microseconds."""
    for _ in range(min(number, 1000)):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number * 1e6)
    return float(np.median(samples))


def call_overhead() -> None:
    import symgraph as sg
    import symgraph.tensor as T

    x = T.dvector("x")
    f = sg.function([x], x + 1)
    xv = np.arange(10, dtype=np.float64)
    program, values = f.program, [xv]
    print(f"call overhead, x + 1 on 10 float64 (us/call, backend {f.maker.mode.backend}):")
    print(f"  numpy np.add(x, 1.0)      {per_call_us(lambda: np.add(xv, 1.0), 20000):6.2f}")
    print(f"  f(x)                      {per_call_us(lambda: f(xv), 20000):6.2f}")
    f.trust_input = True
    print(f"  f(x), trust_input         {per_call_us(lambda: f(xv), 20000):6.2f}")
    print(f"  f.program([x]) (driver)   {per_call_us(lambda: program(values), 20000):6.2f}")


def fused(n: int) -> None:
    import symgraph as sg
    import symgraph.tensor as T
    from symgraph.codegen import program_steps
    from symgraph.compile.mode import Mode

    a, b = np.float32(0.5), np.float32(0.1)
    x = T.fvector("x")
    expr = T.tanh(a * x + b) * T.sigmoid(x) + T.exp(-x * x)
    xv = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    f = sg.function([x], expr)
    fb = sg.function([x], sg.Out(expr, borrow=True))
    unfused = sg.function([x], expr, mode=Mode(backend="llvm", optimizer=None))

    def numpy_version():
        return np.tanh(a * xv + b) * (1 / (1 + np.exp(-xv))) + np.exp(-xv * xv)

    ms = 1e-3
    print(f"tanh(0.5*x + 0.1) * sigmoid(x) + exp(-x*x), {n:,} float32 (ms):")
    print(f"  numpy                          {per_call_us(numpy_version, 1, 9) * ms:8.1f}")
    print(f"  symgraph f(x) (copies output)  {per_call_us(lambda: f(xv), 1, 9) * ms:8.1f}")
    print(f"  symgraph Out(borrow=True)      {per_call_us(lambda: fb(xv), 1, 9) * ms:8.1f}")
    pool = program_steps.thread_pool()
    size, pool.size = pool.size, 1
    print(f"  symgraph borrow, 1 thread      {per_call_us(lambda: fb(xv), 1, 9) * ms:8.1f}")
    pool.size = size
    kernels = len(unfused.program.kernels)
    print(
        f"  unfused ({kernels} kernels)            "
        f"{per_call_us(lambda: unfused(xv), 1, 9) * ms:8.1f}"
    )


COMPILE = textwrap.dedent("""
    import time, sys
    t0 = time.perf_counter()
    import numpy as np, symgraph as sg, symgraph.tensor as T
    from symgraph.config import config
    config.compiledir = sys.argv[1]
    t1 = time.perf_counter()
    x, y = T.fmatrix("x"), T.fvector("y")
    f = sg.function([x, y], [T.sum(T.exp(x) * y, axis=1), T.tanh(x + y).max()])
    f(np.ones((3, 4), "float32"), np.ones(4, "float32"))
    t2 = time.perf_counter()
    g = sg.function([x, y], [T.sum(T.exp(x) * y, axis=1), T.tanh(x + y).max()])
    t3 = time.perf_counter()
    print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f} {f.program.cache_hits} "
          f"{len(f.program.kernels)}")
""")


def compile_times() -> None:
    with tempfile.TemporaryDirectory() as cache:
        rows = [
            subprocess.run(
                [sys.executable, "-c", COMPILE, cache], capture_output=True, text=True, check=True
            ).stdout.split()
            for _ in range(2)
        ]
    print("compile + first call of a 2-output function (s), each in a new process:")
    for label, (imp, first, again, hits, kernels) in zip(("cold", "warm (disk cache)"), rows):
        print(
            f"  {label:18s} {float(first):.3f}  (import {float(imp):.2f}; same function "
            f"again in-process {float(again):.3f}; {hits}/{kernels} kernels from cache)"
        )


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    call_overhead()
    fused(1_000_000 if quick else 10_000_000)
    compile_times()
