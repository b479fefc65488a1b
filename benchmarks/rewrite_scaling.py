"""Compile-time cost of the rewrite passes as graphs grow.

Each graph is a chain of ``L`` layers ``h = tanh(h * w_i + c_i)`` (w_i, c_i shared vectors)
with the gradient of ``sum(h)`` with respect to every w_i and c_i, so the graph has about
12 nodes per layer. For L = 10, 100, 1000, 10000 the script times the FAST_RUN passes on a
fresh FunctionGraph (the median of a few runs, each on its own copy; wall and CPU seconds,
the latter less sensitive to other processes) and fits the growth exponent k of
``seconds ~ nodes ** k`` (1 means linear).

    python -m benchmarks.rewrite_scaling            # all sizes
    python -m benchmarks.rewrite_scaling 10 100 1000
"""

from __future__ import annotations

import sys
import time

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.mode import FAST_RUN
from symgraph.fgraph import FunctionGraph
from symgraph.graph import toposort

LAYERS = (10, 100, 1000, 10000)
TARGET_S = 1.0  # the 1000-layer graph must rewrite in under a second


def chain(layers: int) -> tuple[list, list]:
    """(inputs, outputs) of the chain of `layers` tanh layers and its gradient."""
    x = T.dvector("x")
    params, h = [], x
    for i in range(layers):
        w = sg.shared(np.full(4, 0.5), name=f"w{i}")
        c = sg.shared(np.zeros(4), name=f"c{i}")
        h = T.tanh(h * w + c)
        params += [w, c]
    cost = h.sum()
    return [x, *params], [cost, *sg.grad(cost, params)]


def rewrite_seconds(inputs: list, outputs: list, runs: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of the FAST_RUN passes on a fresh copy of the graph."""
    wall, cpu = [], []
    for _ in range(runs):
        fg = FunctionGraph(inputs, outputs)
        t0, c0 = time.perf_counter(), time.process_time()
        FAST_RUN.optimize(fg)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def growth_exponent(nodes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(nodes)."""
    slope, _ = np.polyfit(np.log(nodes), np.log(seconds), 1)
    return float(slope)


def main(layers: tuple[int, ...] = LAYERS) -> list[dict]:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    rows = []
    print(f"{'layers':>8} {'nodes':>8} {'after':>7} {'seconds':>9} {'cpu s':>8} {'us/node':>8}")
    for n in layers:
        inputs, outputs = chain(n)
        nodes = len(toposort(outputs))
        seconds, cpu = rewrite_seconds(inputs, outputs, 5 if n <= 1000 else 1)
        fg = FunctionGraph(inputs, outputs)
        FAST_RUN.optimize(fg)
        after = len(fg.apply_nodes)
        rows.append({"layers": n, "nodes": nodes, "after": after, "seconds": seconds, "cpu": cpu})
        print(
            f"{n:>8} {nodes:>8} {after:>7} {seconds:>9.4f} {cpu:>8.4f} "
            f"{1e6 * seconds / nodes:>8.1f}",
            flush=True,
        )
    if len(rows) > 1:
        k = growth_exponent([r["nodes"] for r in rows], [r["seconds"] for r in rows])
        print(f"growth exponent (seconds ~ nodes^k): k = {k:.2f}")
    thousand = next((r for r in rows if r["layers"] == 1000), None)
    if thousand is not None:
        verdict = "ok" if thousand["seconds"] < TARGET_S else "over target"
        print(f"1000 layers: {thousand['seconds']:.3f} s (target < {TARGET_S} s): {verdict}")
    return rows


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or LAYERS)
