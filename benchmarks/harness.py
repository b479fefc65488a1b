"""Timing helpers for the benchmark implementations; each runs in a process of its own.

An implementation module (``benchmarks/impl/<bench>.py``) defines one function per
implementation, named after it (``numpy``, ``jax``, ``symgraph`` ...), that takes ``repeat``
(and ``case`` where the module has ``CASES``) and returns a dict ``row -> measurement``,
a measurement being the output of :func:`summarize` (seconds). Its ``__main__`` block calls
:func:`main`, which prints one ``BENCH-RESULT {json}`` line that ``run.py`` reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable

import numpy as np

MARK = "BENCH-RESULT "
LIBRARIES = ("numpy", "scipy", "pytensor", "numba", "jax", "jaxlib", "torch", "symgraph")


def summarize(samples: list[float]) -> dict:
    """Median, min and interquartile range of ``samples`` (seconds)."""
    a = np.asarray(samples, dtype=float)
    q1, q3 = np.percentile(a, [25, 75])
    return {
        "median": float(np.median(a)),
        "min": float(a.min()),
        "iqr": float(q3 - q1),
        "n": a.size,
    }


def per_call(
    fn: Callable[[], object],
    repeat: int,
    number: int = 1,
    warmup: int = 2,
    sync: Callable[[], object] | None = None,
    budget_s: float = 60.0,
) -> dict:
    """Seconds per call of ``fn()``: ``warmup`` calls, then ``repeat`` batches of ``number`` calls.

    ``sync`` waits for asynchronous work (JAX) at the end of each batch. Timing stops early,
    after at least one batch, once ``budget_s`` is spent, so a very slow peer stays bounded.
    """
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    samples = []
    start = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if sync is not None:
            sync()
        samples.append((time.perf_counter() - t0) / number)
        if time.perf_counter() - start > budget_s:
            break
    return summarize(samples)


def first_call(build: Callable[[], Callable[[], object]], sync: Callable[[], object] | None = None):
    """Cold compile time: seconds from ``build()`` (graph, grad, compile) to the first result.

    ``build`` returns the step callable; returns ``(seconds, step)``.
    """
    t0 = time.perf_counter()
    step = build()
    step()
    if sync is not None:
        sync()
    return time.perf_counter() - t0, step


def once(seconds: float) -> dict:
    """A single measurement in the shape of :func:`summarize`."""
    return summarize([seconds])


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ImportError):
        return f"import failed: {exc.name or exc}"
    if isinstance(exc, NotImplementedError) and str(exc):
        return str(exc)
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line}"[:160]


def _versions() -> dict:
    versions = {}
    for name in LIBRARIES:
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "?"))
    return versions


def main(namespace: dict, impls: tuple[str, ...], repeat: int, cases: tuple[str, ...] = ()) -> None:
    """Run one implementation named on the command line and print its result line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("impl", choices=impls)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--case", choices=cases or None)
    args = parser.parse_args()
    kwargs = {"case": args.case} if cases else {}
    try:
        rows = namespace[args.impl](args.repeat, **kwargs)
        result = {"ok": True, "rows": rows}
    except Exception as exc:  # any failure becomes an "n/a (reason)" cell, never a crash
        traceback.print_exc()
        result = {"ok": False, "reason": _reason(exc)}
    result["versions"] = _versions()
    print(MARK + json.dumps(result), flush=True)
