"""Run symgraph's benchmarks side by side with numpy, PyTensor, JAX and PyTorch.

    python benchmarks/run.py [--only NAME ...] [--impls NAME ...] [--skip NAME ...]
                             [--repeat N] [--out benchmarks/results.json] [--merge]

Machine ceilings are measured first. Then every (benchmark, implementation[, case]) runs in a
fresh process, ``python -m benchmarks.impl.<bench> <impl>``, after an idle gap (library
thread pools left spinning slow the next library down). A failure or timeout becomes an
"n/a (reason)" cell. Results go to a JSON file and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import MARK  # noqa: E402
from benchmarks.report import markdown  # noqa: E402

BENCHMARKS = (
    "elemwise",
    "call_overhead",
    "mlp_step",
    "logreg",
    "rnn_scan",
    "convnet_step",
    "compile_depth",
)
CEILINGS_TIMEOUT_S = 300


def _busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot (Linux), or None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def idle_gap(seconds: float, max_wait: float, quiet_cores: float) -> float | None:
    """Sleep ``seconds``, then on until other processes use under ``quiet_cores`` (at most
    ``max_wait`` seconds). Returns the cores others used in the last second slept."""
    time.sleep(max(seconds - 1, 0))
    waited, load = 0.0, None
    while True:
        before = _busy_seconds()
        time.sleep(1)
        after = _busy_seconds()
        load = None if before is None else after - before
        if load is None or load < quiet_cores or waited >= max_wait:
            return load
        waited += 1


def run_module(module: str, args: list[str], timeout: float) -> dict:
    """Run ``python -m module *args`` under ROOT; its result line, or a failure with a reason."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", module, *args]
    busy0, ours0, t0 = _busy_seconds(), _children_seconds(), time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # so a timeout ends its helpers too (torch.compile workers)
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
        result = _parse(out, err, proc.returncode)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        result = {"ok": False, "reason": f"timeout after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    result["wall_s"] = round(wall, 2)
    if busy0 is not None:
        foreign = (_busy_seconds() - busy0) - (_children_seconds() - ours0)
        result["foreign_cpu_cores"] = round(max(foreign, 0) / wall, 2)
    if not result["ok"]:
        result["log_tail"] = (out + err)[-2000:]
    return result


def _parse(out: str, err: str, returncode: int) -> dict:
    lines = [line for line in out.splitlines() if line.startswith(MARK)]
    if lines:
        return json.loads(lines[-1][len(MARK) :])
    last = (err.strip().splitlines() or ["no output"])[-1]
    return {"ok": False, "reason": f"exit {returncode}: {last}"[:160]}


def _selected(impl: str, args) -> bool:
    if args.impls and impl not in args.impls:
        return False
    return not any(impl.startswith(prefix) for prefix in args.skip)


def run_benchmark(name: str, args) -> dict:
    """Every selected implementation of one benchmark, each in its own process."""
    module = importlib.import_module(f"benchmarks.impl.{name}")
    extras = [e for e in getattr(module, "EXTRAS", ()) if e in args.impls]
    impls = module.IMPLS + getattr(module, "CEILINGS", ()) + tuple(extras)
    repeat = ["--repeat", str(args.repeat)] if args.repeat else []
    results = {}
    for impl in [i for i in impls if _selected(i, args)]:
        if hasattr(module, "CASES"):
            results[impl] = _run_cases(name, impl, module, repeat, args)
        else:
            results[impl] = _timed_run(name, impl, repeat, module.TIMEOUT_S, args)
    return results


def _run_cases(name: str, impl: str, module, repeat: list[str], args) -> dict:
    """One process per case; cases after one that timed out are skipped (they are larger)."""
    rows, cases = {}, {}
    for case in module.CASES:
        if any("timeout" in row.get("reason", "") for row in rows.values()):
            rows[case] = {"reason": "skipped: a smaller case timed out"}
            continue
        res = _timed_run(name, impl, [*repeat, "--case", case], module.TIMEOUT_S, args)
        cases[case] = res
        rows.update(res["rows"] if res["ok"] else {case: {"reason": res["reason"]}})
    return {"ok": True, "rows": rows, "cases": cases}


def _timed_run(name: str, impl: str, extra: list[str], timeout: float, args) -> dict:
    load = idle_gap(args.idle, args.max_wait, args.quiet_cores)
    label = " ".join([name, impl, *extra])
    print(f"[bench] {label} ...", end=" ", file=sys.stderr, flush=True)
    result = run_module(f"benchmarks.impl.{name}", [impl, *extra], timeout)
    result["load_before_cores"] = None if load is None else round(load, 2)
    status = "ok" if result["ok"] else f"n/a ({result['reason']})"
    print(f"{result['wall_s']:.1f} s, {status}", file=sys.stderr, flush=True)
    return result


def _bandwidth_floor(results: dict, ceilings: dict) -> None:
    """The elemwise floor: its bytes moved at the measured copy bandwidth."""
    if "copy_float32_2threads" not in ceilings:
        return
    from benchmarks.impl.elemwise import FLOOR_BYTES

    seconds = FLOOR_BYTES / (ceilings["copy_float32_2threads"]["GB/s"] * 1e9)
    floor = {"median": seconds, "min": seconds, "iqr": 0.0, "n": 1}
    results["elemwise"]["bandwidth_floor"] = {"ok": True, "rows": {"": floor}}


def _machine() -> dict:
    cpu = platform.processor()
    try:
        names = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln]
        cpu = names[0].split(":", 1)[1].strip()
    except (OSError, IndexError):
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--impls", nargs="+", default=[], help="run only these implementations")
    parser.add_argument("--skip", nargs="+", default=[], help="skip implementations by prefix")
    parser.add_argument("--repeat", type=int, help="timed repetitions (default: per benchmark)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--merge", action="store_true", help="keep other benchmarks in --out")
    parser.add_argument("--idle", type=float, default=1.0, help="idle seconds between runs")
    parser.add_argument("--max-wait", type=float, default=5.0, help="extra wait for quiet")
    parser.add_argument("--quiet-cores", type=float, default=0.3, help="others' load counted quiet")
    args = parser.parse_args()

    results = {"machine": _machine(), "benchmarks": {}}
    if args.merge and args.out.exists():
        results["benchmarks"] = json.loads(args.out.read_text()).get("benchmarks", {})
    print("[bench] machine ceilings ...", end=" ", file=sys.stderr, flush=True)
    ceilings = run_module("benchmarks.ceilings", [], CEILINGS_TIMEOUT_S)
    results["ceilings"] = ceilings.get("ceilings", {})
    print(json.dumps(results["ceilings"]), file=sys.stderr)
    for name in args.only:
        results["benchmarks"][name] = run_benchmark(name, args)
        if name == "elemwise":  # its floor comes from this run's ceilings
            _bandwidth_floor(results["benchmarks"], results["ceilings"])
        args.out.write_text(json.dumps(results, indent=1) + "\n")  # keep what is done so far
    print(markdown(results))


if __name__ == "__main__":
    main()
