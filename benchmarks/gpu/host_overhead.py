"""The host's share of a cuda training step, measured without a GPU.

Runs the MLP step of bench.py (784-512-512-10, batch 128, SGD momentum; or its convnet step,
``--model convnet``) on the emulated GPU of
tests/codegen/test_cuda_emulator.py with its kernels stubbed out: every launch still packs its
arguments as pycuda does (its Python code, mirrored), every cuBLAS call is a real ctypes call
into a library whose gemm returns at once, memory comes from a pool as pycuda's does. What is
left is symgraph's own Python work per step, which on a GPU sits between kernel launches:

    python3 benchmarks/gpu/host_overhead.py [--model convnet] [--steps 300] [--json PATH]

Prints, per step: microseconds (median of batches), kernel launches, cuBLAS calls, pool
allocations, synchronizations, host<->device copies, and Python-level calls (functions and
builtins, counted by a profile hook over a few steps: a noise-free count of the work).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "codegen"))
sys.path.insert(0, str(REPO / "benchmarks" / "gpu"))


def python_calls(fn, steps: int) -> float:
    """Python functions and builtins called per fn() (profile hook events)."""
    count = [0]

    def hook(frame, event, arg):
        if event in ("call", "c_call"):
            count[0] += 1

    sys.setprofile(hook)
    try:
        for _ in range(steps):
            fn()
    finally:
        sys.setprofile(None)
    return count[0] / steps


def measure(steps: int, workdir: Path, model: str = "mlp") -> dict:
    import ctypes

    import test_cuda_emulator
    from _pytest.monkeypatch import MonkeyPatch
    from bench import convnet_function, mlp_function

    drv = test_cuda_emulator.install(MonkeyPatch(), workdir, run_kernels=False)
    emu = drv.cuda._emulator
    from symgraph.codegen.cuda import blas

    cublas_calls = ctypes.c_int.in_dll(blas.cublas(), "sg_null_cublas_calls")
    f, xv, yv, _ = mlp_function() if model == "mlp" else convnet_function(64)
    for _ in range(5):
        f(xv, yv)
    counts, cublas0 = dict(emu.counts), cublas_calls.value
    n = 20
    for _ in range(n):
        f(xv, yv)
    per_step = {k: (v - counts.get(k, 0)) / n for k, v in emu.counts.items()}
    per_step["cublas"] = (cublas_calls.value - cublas0) / n
    batches = []
    for _ in range(max(steps // 50, 3)):
        t0 = time.perf_counter()
        for _ in range(50):
            f(xv, yv)
        batches.append((time.perf_counter() - t0) / 50 * 1e6)
    return {"us_per_step": statistics.median(batches), "us_best": min(batches),
            "python_calls_per_step": python_calls(lambda: f(xv, yv), 10),
            "program_steps": len(f.program.steps),
            **{f"{k}_per_step": v for k, v in sorted(per_step.items())}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--model", choices=["mlp", "convnet"], default="mlp",
                        help="bench.py's MLP step (default) or its convnet step (batch 64)")
    parser.add_argument("--workdir", type=Path, help="where host builds of kernels are cached")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.gettempdir()) / "symgraph_host_overhead"
    workdir.mkdir(parents=True, exist_ok=True)
    result = measure(args.steps, workdir, args.model)
    for k, v in result.items():
        print(f"{k:>28}: {v:.1f}" if isinstance(v, float) else f"{k:>28}: {v}")
    print(f"host work per {args.model} step: {result['us_per_step']:.0f} us, "
          f"{result['python_calls_per_step']:.0f} Python calls")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
