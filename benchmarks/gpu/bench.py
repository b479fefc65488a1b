"""symgraph's cuda backend on a real GPU, side by side with PyTorch (run by run.sh).

Each part runs in its own process (``--part``) so a hang or crash costs one row, not the run;
results accumulate in ``<out>/bench.json``, and ``--report`` turns them (with run.sh's phase
log) into the one markdown table ``<out>/gpu_results.md``.

- ``bandwidth``: device-to-device copy of 400 MB with torch: the memory ceiling.
- ``elementwise``: ``tanh(a*x+b)*sigmoid(x)+exp(-x*x)`` on 100M float32, x and the result in
  shared variables (on the GPU): one fused kernel per call, vs the copy bandwidth and torch.
- ``mlp``: the SGD-momentum step of benchmarks/impl/mlp_step.py (784-512-512-10, batch 128)
  with the minibatch copied in each step, vs PyTorch eager doing the same; and the host <->
  device copies of parameters per step (counted by the driver).
- ``convnet`` / ``torch_convnet``: the SGD-momentum step of benchmarks/impl/convnet_step.py
  (conv 3x3x32, ReLU, maxpool 2, conv 3x3x64, ReLU, maxpool 2, dense 10; batch 64 of 28x28)
  with the minibatch copied in each step, vs PyTorch eager (cuDNN) doing the same; and the
  host <-> device copies per step and the nodes left on the host (none expected).

The report also shows host_overhead.py's result (``<out>/host_overhead.json``): the MLP
step's host work with the kernels stubbed out, on the same machine's CPU.

``--dry-run`` runs the same code on the CPU emulation of tests/codegen/test_cuda_emulator.py
with tiny sizes, to check this script without a GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SIZES = (784, 512, 512, 10)
BATCH = 128
LR, MOMENTUM = np.float32(0.01), np.float32(0.9)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def torch_cuda():
    """torch with a usable GPU, or None."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def emulate() -> None:
    """The CPU emulation of the GPU (tests/codegen/test_cuda_emulator.py), for --dry-run."""
    import tempfile

    from _pytest.monkeypatch import MonkeyPatch

    sys.path.insert(0, str(REPO / "tests" / "codegen"))
    import test_cuda_emulator

    test_cuda_emulator.install(MonkeyPatch(), Path(tempfile.mkdtemp()))


# --- parts ---------------------------------------------------------------------------------


def bandwidth(n: int, repeat: int) -> dict:
    torch = torch_cuda()
    if torch is None:
        return {"status": "n/a (no torch with CUDA)"}
    a = torch.rand(n, device="cuda")
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeat):
        b.copy_(a)
    stop.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(stop) / repeat
    return {"ms": ms, "GBps": 2 * a.numel() * 4 / ms / 1e6, "device": torch.cuda.get_device_name()}


def elementwise(n: int, repeat: int) -> dict:
    import symgraph as sg
    import symgraph.tensor as T
    from symgraph.codegen.cuda.driver import get_driver
    from symgraph.compile.mode import Mode

    drv = get_driver()
    rng = np.random.default_rng(0)
    host = rng.standard_normal(n, dtype=np.float32)
    x = sg.shared(host, name="x", borrow=True)
    y = sg.shared(np.zeros(1, np.float32), name="y", shape=(None,))
    a, b = np.float32(0.5), np.float32(0.1)
    expr = T.tanh(a * x + b) * T.nnet.sigmoid(x) + T.exp(-x * x)
    t0 = time.perf_counter()
    f = sg.function([], [], updates=[(y, expr)], mode=Mode(backend="cuda"), name="elementwise")
    f()
    drv.synchronize()
    compile_s = time.perf_counter() - t0
    copies = drv.total_copies()
    t0 = time.perf_counter()
    for _ in range(repeat):
        f()
    drv.synchronize()
    ms = (time.perf_counter() - t0) / repeat * 1e3
    copies_per_call = (drv.total_copies() - copies) / repeat
    got = y.get_value()[:4096]
    xs = host[:4096]
    want = np.tanh(a * xs + b) * (1 / (1 + np.exp(-xs))) + np.exp(-xs * xs)
    out = {"ms": ms, "GBps": 8 * n / ms / 1e6, "compile_s": compile_s, "device": drv.name,
           "kernels": sum(1 for s, _, _ in f.program.steps if s.device),
           "copies_per_call": copies_per_call,
           "max_abs_err": float(np.max(np.abs(got - want)))}
    torch = torch_cuda()
    if torch is not None:
        tx = torch.from_numpy(host).cuda()
        for _ in range(3):
            torch.tanh(0.5 * tx + 0.1) * torch.sigmoid(tx) + torch.exp(-tx * tx)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(repeat):
            torch.tanh(0.5 * tx + 0.1) * torch.sigmoid(tx) + torch.exp(-tx * tx)
        torch.cuda.synchronize()
        out["torch_ms"] = (time.perf_counter() - t0) / repeat * 1e3
    return out


def _params(sizes) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.sqrt(2 / fan_in)
        params += [w.astype(np.float32), np.zeros(fan_out, np.float32)]
    return params


def _batch(sizes, batch) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    return x, rng.integers(0, sizes[-1], batch).astype(np.int32)


def mlp_function(sizes=SIZES, batch=BATCH):
    """(the compiled SGD-momentum step of an MLP on the cuda backend, x, y, compile seconds)."""
    import symgraph as sg
    import symgraph.tensor as T
    from symgraph.compile.mode import Mode

    xv, yv = _batch(sizes, batch)
    params = [sg.shared(p, name=f"p{i}") for i, p in enumerate(_params(sizes))]
    velocities = [sg.shared(np.zeros_like(p.get_value())) for p in params]
    x, y = T.fmatrix("x"), T.ivector("y")
    w1, b1, w2, b2, w3, b3 = params
    h1 = T.nnet.relu(T.dot(x, w1) + b1)
    h2 = T.nnet.relu(T.dot(h1, w2) + b2)
    cost = T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(h2, w3) + b3), y))
    updates = []
    for param, vel, grad in zip(params, velocities, sg.grad(cost, params)):
        new_vel = MOMENTUM * vel - LR * grad
        updates += [(vel, new_vel), (param, param + new_vel)]
    t0 = time.perf_counter()
    f = sg.function([x, y], cost, updates=updates, mode=Mode(backend="cuda"), name="mlp_step")
    return f, xv, yv, time.perf_counter() - t0


def mlp(steps: int, sizes=SIZES, batch=BATCH) -> dict:
    f, xv, yv, compile_s = mlp_function(sizes, batch)
    return timed_steps(f, xv, yv, steps, compile_s)


def timed_steps(f, xv, yv, steps: int, compile_s: float, warmup: int = 4) -> dict:
    """ms per training step of `f` (the cost returned to the host each step), after a first
    call (counted into compile_s) and `warmup` steps; copies per step and where steps ran."""
    from symgraph.codegen.cuda.driver import get_driver

    drv = get_driver()
    t0 = time.perf_counter()
    losses = [float(f(xv, yv))]
    compile_s += time.perf_counter() - t0
    for _ in range(warmup):
        losses.append(float(f(xv, yv)))
    before = dict(drv.copies)
    t0 = time.perf_counter()
    for _ in range(steps):
        f(xv, yv)
    ms = (time.perf_counter() - t0) / steps * 1e3
    delta = {f"{d}:{p}": (n - before.get((d, p), 0)) / steps for (d, p), n in drv.copies.items()
             if not d.endswith("_bytes") and n - before.get((d, p), 0)}
    return {"ms": ms, "compile_s": compile_s, "losses": losses[:5],
            "param_copies_per_step": delta.get("htod:shared", 0) + delta.get("dtoh:shared", 0),
            "copies_per_step": delta, "host_nodes": [str(n.op) for n in f.program.host_nodes],
            "kernels": sum(1 for s, _, _ in f.program.steps if s.device),
            "steps_total": len(f.program.steps)}


def torch_mlp(steps: int) -> dict:
    torch = torch_cuda()
    if torch is None:
        return {"status": "n/a (no torch with CUDA)"}
    import torch.nn.functional as F

    params = [torch.from_numpy(p).cuda().requires_grad_() for p in _params(SIZES)]
    velocities = [torch.zeros_like(p) for p in params]
    xh, yh = _batch(SIZES, BATCH)
    lr, momentum = float(LR), float(MOMENTUM)

    def step():
        x, y = torch.from_numpy(xh).cuda(), torch.from_numpy(yh).long().cuda()
        w1, b1, w2, b2, w3, b3 = params
        h1 = torch.relu(x @ w1 + b1)
        h2 = torch.relu(h1 @ w2 + b2)
        loss = F.cross_entropy(h2 @ w3 + b3, y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for param, vel, grad in zip(params, velocities, grads):
                vel.mul_(momentum).add_(grad, alpha=-lr)
                param.add_(vel)
        return loss.item()  # symgraph returns the cost to the host each step too

    losses = [step() for _ in range(5)]
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return {"ms": (time.perf_counter() - t0) / steps * 1e3, "losses": losses}


def _convnet_step_module():
    """benchmarks/impl/convnet_step.py (its parameters, minibatch and update rule)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from benchmarks.impl import convnet_step

    return convnet_step


def convnet_function(batch: int):
    """(the SGD-momentum step of benchmarks/impl/convnet_step.py on the cuda backend, x, y,
    compile seconds): its graph, parameters and minibatch (the first `batch` images)."""
    import symgraph as sg
    from symgraph.compile.mode import Mode

    cs = _convnet_step_module()
    xv, yv = cs._batch()
    x, y, cost, updates = cs.symgraph_graph()
    t0 = time.perf_counter()
    f = sg.function([x, y], cost, updates=updates, mode=Mode(backend="cuda"), name="convnet_step")
    return f, xv[:batch], yv[:batch], time.perf_counter() - t0


def convnet(steps: int, batch: int, warmup: int = 4) -> dict:
    f, xv, yv, compile_s = convnet_function(batch)
    return {**timed_steps(f, xv, yv, steps, compile_s, warmup), "batch": batch}


def torch_convnet(steps: int) -> dict:
    """PyTorch eager on the GPU, the same step (benchmarks/impl/convnet_step.py), the minibatch
    copied in and the loss read back each step as symgraph does."""
    torch = torch_cuda()
    if torch is None:
        return {"status": "n/a (no torch with CUDA)"}
    import torch.nn.functional as F

    cs = _convnet_step_module()
    # Theano's conv2d flips its filters (a true convolution), PyTorch's does not: the filters
    # flipped once here make both compute the same function (and the same losses)
    params = [torch.from_numpy(np.ascontiguousarray(p[:, :, ::-1, ::-1] if p.ndim == 4 else p))
              .cuda().requires_grad_() for p in cs._params()]
    velocities = [torch.zeros_like(p) for p in params]
    xh, yh = cs._batch()
    lr, momentum = float(cs.LR), float(cs.MOMENTUM)

    def step():
        x, y = torch.from_numpy(xh).cuda(), torch.from_numpy(yh).long().cuda()
        w1, b1, w2, b2, w3, b3 = params
        a1 = F.max_pool2d(torch.relu(F.conv2d(x, w1, b1)), 2)
        a2 = F.max_pool2d(torch.relu(F.conv2d(a1, w2, b2)), 2)
        loss = F.cross_entropy(a2.flatten(1) @ w3 + b3, y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for param, vel, grad in zip(params, velocities, grads):
                vel.mul_(momentum).add_(grad, alpha=-lr)
                param.add_(vel)
        return loss.item()

    losses = [step() for _ in range(5)]
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return {"ms": (time.perf_counter() - t0) / steps * 1e3, "losses": losses,
            "cudnn": bool(torch.backends.cudnn.is_available())}


# --- report --------------------------------------------------------------------------------


def _fmt(v, unit: str = "", digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}g}{unit}"


def _model_rows(name: str, title: str, sg_result: dict, torch_result: dict) -> list[tuple]:
    """The report rows of one training step: time against PyTorch eager, copies per step
    and the first losses of both."""
    if "ms" not in sg_result:
        return [(f"{name} step", "failed", "", sg_result.get("error", "not run")[:200])]
    r, t = sg_result, torch_result
    cudnn = " (cuDNN)" if t.get("cudnn") else ""
    return [
        (title, f"{r['ms']:.3f} ms/step", f"torch eager {_fmt(t.get('ms'), ' ms/step')}{cudnn}",
         f"{r['ms'] / t['ms']:.2f}x torch's time" if "ms" in t else ""),
        (f"{name}: parameter copies host<->device per step", f"{r['param_copies_per_step']:g}",
         "", f"all copies/step: {r['copies_per_step']}; GPU steps {r['kernels']}"
             f"/{r['steps_total']}; host ops: {r['host_nodes'] or 'none'}"),
        (f"{name} first losses (symgraph / torch)", " ".join(f"{v:.4f}" for v in r["losses"][:3]),
         " ".join(f"{v:.4f}" for v in t.get("losses", [])[:3]), ""),
    ]


def _host_row(name: str, path: Path) -> list[tuple]:
    """host_overhead.py's result for one model, if it ran."""
    if not path.exists():
        return []
    host = json.loads(path.read_text())
    return [(f"{name} step: host work alone (kernels stubbed, this CPU)",
             f"{host['us_per_step']:.0f} us/step",
             "", f"per step: {host.get('launch_per_step', 0):g} launches, "
             f"{host.get('cublas_per_step', 0):g} cuBLAS calls, "
             f"{host.get('allocate_per_step', 0):g} allocations, "
             f"{host.get('synchronize_per_step', 0):g} waits, "
             f"{host['python_calls_per_step']:.0f} Python calls")]


def report(out: Path) -> str:
    results = json.loads((out / "bench.json").read_text()) if (out / "bench.json").exists() else {}
    phases = []
    if (out / "phases.tsv").exists():
        phases = [line.split("\t") for line in (out / "phases.tsv").read_text().splitlines()]
    bw, ew, ml, tm = (results.get(k, {}) for k in ("bandwidth", "elementwise", "mlp",
                                                   "torch_mlp"))
    rows = [("device", bw.get("device") or ew.get("device", "?"), "", "")]
    rows.append(("copy bandwidth, device to device (torch)", _fmt(bw.get("GBps"), " GB/s"),
                 "", bw.get("status", "read + write of 400 MB")))
    if "ms" in ew:
        frac = ew["GBps"] / bw["GBps"] if bw.get("GBps") else None
        rows.append(("elementwise 100M f32, symgraph (1 fused kernel)",
                     f"{ew['ms']:.3f} ms, {ew['GBps']:.0f} GB/s",
                     f"torch eager {_fmt(ew.get('torch_ms'), ' ms')}",
                     f"{_fmt(frac and 100 * frac, '%')} of copy bandwidth; max err "
                     f"{ew['max_abs_err']:.1e}; copies/call {ew['copies_per_call']:.0f}"))
    else:
        rows.append(("elementwise 100M f32", "failed", "", ew.get("error", "not run")[:200]))
    rows += _model_rows("MLP", "MLP 784-512-512-10 step, batch 128", ml, tm)
    rows += _host_row("MLP", out / "host_overhead.json")
    cn, tc = results.get("convnet", {}), results.get("torch_convnet", {})
    rows += _model_rows("convnet", "convnet step (benchmarks/impl/convnet_step.py), batch "
                        f"{cn.get('batch')}", cn, tc)
    rows += _host_row("convnet", out / "host_overhead_convnet.json")
    for name, status, seconds, detail in phases:
        if name.startswith("bench_") and status == "ok":
            detail = ""  # its numbers are the rows above
        rows.append((f"phase: {name}", status, f"{seconds} s", detail[:200]))
    lines = ["| measure | symgraph | reference | notes |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    (out / "gpu_results.md").write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--part", choices=["bandwidth", "elementwise", "mlp", "torch_mlp",
                                           "convnet", "torch_convnet"])
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="emulated GPU, tiny sizes")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        print(report(args.out))
        return 0
    if args.dry_run:
        emulate()
    small = args.dry_run
    runs = {"bandwidth": lambda: bandwidth(100_000_000, 20),
            "elementwise": lambda: elementwise(4096 if small else 100_000_000, 2 if small else 20),
            "mlp": lambda: mlp(2, (784, 32, 32, 10), 16) if small else mlp(100),
            "torch_mlp": lambda: torch_mlp(100),
            "convnet": lambda: convnet(1, 1, warmup=1) if small else convnet(50, 64),
            "torch_convnet": lambda: torch_convnet(50)}
    log(f"part {args.part}: start")
    result = record(args.out / "bench.json", args.part, runs[args.part])
    log(f"part {args.part}: {json.dumps(result, default=str)[:600]}")
    return 0


def record(path: Path, part: str, run) -> dict:
    """run()'s result stored as `part` of the JSON file `path` (the other parts kept); a part
    that raises is stored as its error: a row of the report, not the end of the run."""
    try:
        result = run()
    except Exception as exc:
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    results = json.loads(path.read_text()) if path.exists() else {}
    results[part] = result
    path.write_text(json.dumps(results, indent=1, default=str))
    return result


if __name__ == "__main__":
    raise SystemExit(main())
