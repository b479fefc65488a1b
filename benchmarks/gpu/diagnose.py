"""Where the GPU time of bench.py's workloads goes (run by run.sh after the benchmarks).

Device time is scarce (one prepared run per session), so one run measures what the next change
should be, not only where the numbers stand:

- ``--part variants``: the fused elementwise kernel of bench.py (100M float32) in loop
  skeletons and math modes side by side, each timed alone with CUDA events (median of 20
  launches) and checked against numpy: the kernel as rendered today at three grid sizes,
  unrolled 8 instead of 4, 32-bit indices, float4 loads and stores; each with nvcc's precise
  math and with ``-use_fast_math``; and ``abs(x)`` in the same skeletons (the memory ceiling
  of the skeleton: same traffic, almost no arithmetic). Says whether the kernel is bound by
  memory, arithmetic or its loop.
- ``--part profile``: one process runs the MLP and convnet steps under torch.profiler (CUPTI
  sees every kernel on the device, pycuda's and cuBLAS's included): GPU time per step by
  kernel, with the symgraph step each kernel belongs to, against the step's wall time.

Results go to ``<out>/diagnose.json`` and ``<out>/diagnose.md``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks" / "gpu"))
import bench  # noqa: E402  (its workloads, so both scripts time the same thing)

N = 100_000_000
REPEAT = 20


def _fused_kernel(expr_of):
    """The ElemwiseKernel symgraph builds for `expr_of(x)` over a float32 vector."""
    import symgraph as sg
    from symgraph.compile.mode import Mode

    x = sg.shared(np.zeros(8, np.float32), name="x")
    y = sg.shared(np.zeros(8, np.float32), name="y", shape=(None,))
    f = sg.function([], [], updates=[(y, expr_of(x))], mode=Mode(backend="cuda"))
    kernels = [s.kernel for s, _, _ in f.program.steps if hasattr(s, "kernel")]
    assert len(kernels) == 1, f"expected one fused kernel, got {kernels}"
    return kernels[0]


def _vec4(kernel, name: str) -> str:
    """`kernel` with float4 loads and stores (every operand a float32 array), grid-stride."""
    from symgraph.codegen.cuda.elemwise import RENDERER

    ir = kernel.kernel
    assert all(o.dtype == "float32" and not o.is_scalar for o in ir.inputs + ir.outputs)
    nin = len(ir.inputs)
    params = ", ".join([f"const float *__restrict__ in{k}" for k in range(nin)]
                       + [f"float *__restrict__ out{k}" for k in range(len(ir.outputs))])
    lines = [f"{RENDERER.kernel_prefix}", f"{name}({params}, const int64_t n)", "{",
             "    const int64_t n4 = n / 4;",
             "    for (int64_t j = sg_thread_index(); j < n4; j += sg_grid_stride()) {"]
    lines += [f"        const float4 x{k} = reinterpret_cast<const float4 *>(in{k})[j];"
              for k in range(nin)]
    lines += [f"        float4 r{k};" for k in range(len(ir.outputs))]
    for lane in "xyzw":
        body, values = RENDERER.body(ir, lambda k, lane=lane: f"x{k}.{lane}", "            ")
        lines += ["        {", *body,
                  *[f"            r{k}.{lane} = {v};" for k, v in enumerate(values)], "        }"]
    lines += [f"        reinterpret_cast<float4 *>(out{k})[j] = r{k};"
              for k in range(len(ir.outputs))]
    lines += ["    }", "    for (int64_t i = 4 * n4 + sg_thread_index(); i < n; "
              "i += sg_grid_stride()) {"]
    body, values = RENDERER.body(ir, lambda k: f"in{k}[i]", "        ")
    lines += [*body, *[f"        out{k}[i] = {v};" for k, v in enumerate(values)], "    }", "}"]
    return "\n".join(lines)


def _flat(kernel, name: str, unroll: int = 4, index32: bool = False) -> str:
    """The flat kernel as the renderer writes it (UNROLL `unroll`), renamed `name`."""
    from symgraph.codegen.cuda import renderer

    saved = renderer.UNROLL
    renderer.UNROLL = unroll
    try:
        src = renderer.CudaRenderer().elemwise(kernel.kernel)
    finally:
        renderer.UNROLL = saved
    flat = src[:src.index("struct ")]  # the flat kernel comes first, then the strided one
    flat = flat.replace(f"{kernel.kernel.name}_flat(", f"{name}(")
    if index32:
        head, body = flat.split("const int64_t n)", 1)
        body = body.replace("sg_grid_stride()", "(int32_t)sg_grid_stride()")
        body = body.replace("sg_thread_index()", "(int32_t)sg_thread_index()")
        flat = head + "const int64_t n)" + body.replace("int64_t", "int32_t")
    return flat


def variants(out: Path) -> dict:
    import symgraph.tensor as T
    from symgraph.codegen.cstyle import read_template
    from symgraph.codegen.cuda.compiler import FLAGS, compile_cuda
    from symgraph.codegen.cuda.driver import BLOCK, get_driver

    drv = get_driver()
    a, b = np.float32(0.5), np.float32(0.1)
    kernels = {"fused": _fused_kernel(lambda x: T.tanh(a * x + b) * T.nnet.sigmoid(x)
                                      + T.exp(-x * x)),
               "abs": _fused_kernel(lambda x: abs(x))}
    skeletons = {"flat_u4": lambda k, nm: _flat(k, nm),
                 "flat_u8": lambda k, nm: _flat(k, nm, unroll=8),
                 "flat_u4_i32": lambda k, nm: _flat(k, nm, index32=True),
                 "vec4": _vec4}
    sources = {(e, s): fn(k, f"v_{e}_{s}") for e, k in kernels.items()
               for s, fn in skeletons.items()}
    prelude = read_template("cuda_prelude.h")
    body = "\n".join(sources.values())
    modes = {"precise": (), "fast_math": ("-use_fast_math",)}
    functions = {}
    for mode, flags in modes.items():
        # -use_fast_math turns FMA contraction back on (FLAGS has -fmad=false)
        extra = flags if not flags else ("-fmad=true", *flags)
        cubin = compile_cuda(prelude + "\n" + body, drv.arch, f"variants {mode}",
                             extra_flags=extra)
        for (e, s) in sources:
            functions[(e, s, mode)] = drv.function(f"variants-{mode}", cubin, f"v_{e}_{s}",
                                                   "PPq")
    host = np.random.default_rng(0).standard_normal(N, dtype=np.float32)
    xd, yd = drv.alloc(4 * N, "x"), drv.alloc(4 * N, "y")
    drv.cuda.memcpy_htod(xd, host)
    want = {"fused": lambda v: np.tanh(a * v + b) * (1 / (1 + np.exp(-v))) + np.exp(-v * v),
            "abs": np.abs}
    check = np.r_[0:65536, N - 65536:N]
    grids = {"sm32": drv.sm_count * 32, "sm8": drv.sm_count * 8}
    results = []
    for (e, s, mode), fn in functions.items():
        per_thread = 4 if s.startswith(("flat_u4", "vec4")) else 8
        launches = dict(grids, one_pass=-(-N // (BLOCK[0] * per_thread)))
        if s != "flat_u4" or mode != "precise":
            launches = {"sm32": launches["sm32"], "one_pass": launches["one_pass"]}
        for gname, blocks in launches.items():
            times = []
            for k in range(3 + REPEAT):
                start, stop = drv.cuda.Event(), drv.cuda.Event()
                start.record(drv.stream)
                fn.prepared_async_call((blocks, 1), BLOCK, drv.stream, int(xd), int(yd), N)
                stop.record(drv.stream)
                stop.synchronize()
                if k >= 3:
                    times.append(stop.time_since(start))
            got = np.empty(N, np.float32)
            drv.cuda.memcpy_dtoh(got, yd)
            err = float(np.max(np.abs(got[check] - want[e](host[check]))))
            ms = float(np.median(times))
            results.append({"expr": e, "skeleton": s, "math": mode, "grid": gname,
                            "blocks": blocks, "ms": ms, "GBps": 8 * N / ms / 1e6,
                            "max_abs_err": err})
            print(json.dumps(results[-1]), flush=True)
    return {"results": results, "flags": list(FLAGS), "device": drv.name}


def _kernel_owner(program) -> dict[str, str]:
    """Kernel-name prefix -> a short description of the symgraph step it belongs to."""
    owners = {}
    for step, _, _ in program.steps:
        for k in ([step.kernel] if hasattr(step, "kernel") else []):
            name = getattr(k, "name", None)
            if name:
                owners[name] = f"{type(step).__name__}: {str(step.node.op)[:60]}"
    return owners


def _profile_steps(f, xv, yv, steps: int) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    for _ in range(5):
        f(xv, yv)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        f(xv, yv)
    wall_ms = (time.perf_counter() - t0) / steps * 1e3
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            f(xv, yv)
        torch.cuda.synchronize()
    owners = _kernel_owner(f.program)
    rows = []
    for evt in prof.key_averages():
        dev_us = getattr(evt, "device_time_total", None)
        if dev_us is None:
            dev_us = getattr(evt, "cuda_time_total", 0)
        if not dev_us or getattr(evt, "self_device_time_total", dev_us) == 0:
            continue
        prefix = re.sub(r"_(flat|strided|rows|cols)$", "", evt.key)
        rows.append({"kernel": evt.key[:70], "owner": owners.get(prefix, ""),
                     "calls_per_step": evt.count / steps, "us_per_step": dev_us / steps})
    rows.sort(key=lambda r: -r["us_per_step"])
    return {"wall_ms": wall_ms, "kernels": rows,
            "gpu_us_per_step": sum(r["us_per_step"] for r in rows
                                   if r["calls_per_step"] and not r["kernel"].startswith(
                                       ("Memcpy", "Memset", "cudaMem")))}


def profile_part(out: Path) -> dict:
    result = {}
    f, xv, yv, _ = bench.mlp_function()
    result["mlp"] = _profile_steps(f, xv, yv, 20)
    f, xv, yv, _ = bench.convnet_function(64)
    result["convnet"] = _profile_steps(f, xv, yv, 10)
    return result


def report(out: Path) -> str:
    data = json.loads((out / "diagnose.json").read_text())
    lines = []
    var = data.get("variants", {})
    if "results" in var:
        lines += [f"### fused elementwise variants, 100M float32 ({var['device']})", "",
                  "| expr | skeleton | math | grid (blocks) | ms | GB/s | max abs err |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['expr']} | {r['skeleton']} | {r['math']} | {r['grid']} ({r['blocks']}) "
                  f"| {r['ms']:.3f} | {r['GBps']:.0f} | {r['max_abs_err']:.1e} |"
                  for r in var["results"]]
    elif var:
        lines += [f"variants: {var.get('error', var)}"]
    for name, prof in data.get("profile", {}).items():
        if "kernels" not in prof:
            lines += ["", f"profile {name}: {prof.get('error', prof)}"]
            continue
        lines += ["", f"### {name} step: wall {prof['wall_ms']:.3f} ms, kernels "
                  f"{prof['gpu_us_per_step']:.0f} us of GPU time per step", "",
                  "| kernel | symgraph step | calls/step | us/step |", "|---|---|---|---|"]
        lines += [f"| {r['kernel']} | {r['owner']} | {r['calls_per_step']:g} | "
                  f"{r['us_per_step']:.1f} |" for r in prof["kernels"][:30]]
    text = "\n".join(lines) + "\n"
    (out / "diagnose.md").write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--part", choices=["variants", "profile"])
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        print(report(args.out))
        return 0
    parts = {"variants": variants, "profile": profile_part}
    bench.record(args.out / "diagnose.json", args.part, lambda: parts[args.part](args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
