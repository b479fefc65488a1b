"""Time a JIT-compiled fused elementwise loop of vector math against numpy.

The expression is ``tanh(0.5*x + 0.1) * sigmoid(x) + exp(-x*x)`` on 10M float32, one thread,
output into a buffer already touched (fresh pages cost ~2.5x on these VMs). Run:

    python -m benchmarks.llvm_math_speed [--n 10000000] [--repeat 10]
"""

from __future__ import annotations

import argparse
import ctypes
import time

import llvmlite.ir as ir
import numpy as np

from symgraph.codegen import llvm_jit
from symgraph.codegen.llvm_math import emit_exp, emit_sigmoid, emit_tanh


def kernel_ir(name: str, flags: tuple[str, ...]) -> str:
    """IR of ``void name(float* x, float* y, i64 n)`` computing the expression per element."""
    f32, i64 = ir.FloatType(), ir.IntType(64)
    module = ir.Module(name)
    fnty = ir.FunctionType(ir.VoidType(), [f32.as_pointer(), f32.as_pointer(), i64])
    fn = ir.Function(module, fnty, name)
    llvm_jit.set_kernel_attributes(fn)
    for arg in fn.args[:2]:
        arg.add_attribute("noalias")
    entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", fn.args[2], ir.Constant(i64, 0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    x = b.load(b.gep(fn.args[0], [i]))
    inner = b.fadd(
        b.fmul(x, ir.Constant(f32, 0.5), flags=flags), ir.Constant(f32, 0.1), flags=flags
    )
    prod = b.fmul(emit_tanh(b, inner), emit_sigmoid(b, x), flags=flags)
    gauss = emit_exp(b, b.fneg(b.fmul(x, x, flags=flags)))
    b.store(b.fadd(prod, gauss, flags=flags), b.gep(fn.args[1], [i]))
    nxt = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(nxt, loop)
    b.cbranch(b.icmp_signed("<", nxt, fn.args[2]), loop, done)
    b.position_at_end(done)
    b.ret_void()
    return str(module)


def median_ms(fn, repeat: int) -> float:
    """Median wall time of ``fn()`` in milliseconds after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    x = np.random.default_rng(0).uniform(-5, 5, args.n).astype(np.float32)
    y = np.zeros_like(x)
    x64 = x.astype(np.float64)
    ref = np.tanh(0.5 * x64 + 0.1) / (1 + np.exp(-x64)) + np.exp(-x64 * x64)
    print(
        f"host {llvm_jit.host_cpu_name()}, {llvm_jit.host_vector_width_bits()}-bit vectors, "
        f"n={args.n}, median of {args.repeat}"
    )

    def numpy_expr() -> None:
        np.add(np.tanh(0.5 * x + 0.1) * (1 / (1 + np.exp(-x))), np.exp(-x * x), out=y)

    print(f"  numpy                       {median_ms(numpy_expr, args.repeat):7.2f} ms")
    for label, flags in [("contract", ("contract",)), ("fast", ("fast",))]:
        name = f"bench_{label}"
        mod = llvm_jit.compile_ir(kernel_ir(name, flags))
        proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
        kernel = proto(mod.address(name))

        def run(kernel=kernel) -> None:
            kernel(x.ctypes.data, y.ctypes.data, args.n)

        ms = median_ms(run, args.repeat)
        err = np.max(np.abs(y - ref))
        print(f"  llvm jit, outer ops {label:8s} {ms:7.2f} ms   max abs error {err:.2e}")


if __name__ == "__main__":
    main()
