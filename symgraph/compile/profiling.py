"""ProfileStats (Theano's spelling): time per node and per call, and the compile-time split.

``f = function(..., profile=True)`` (or ``profile=ProfileStats(name=...)``); after some calls,
``f.profile.summary()`` prints where the time went: per node (native kernel, BLAS call or numpy
fallback), per op class, and how long compiling took (rewrites, code generation, disk-cache
hits).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from typing import Any


class ProfileStats:
    """Times collected by a compiled function's driver."""

    def __init__(self, name: str | None = None, atexit_print: bool = False):
        self.name = name
        self.calls = 0
        self.call_time = 0.0
        self.node_time: list[float] = []
        self.node_calls: list[int] = []
        self.nodes: list[tuple[Any, str]] = []  # (Apply, "native" | "fallback" | ...)
        self.compile_time: dict[str, float] = {}
        self.cache_hits = 0
        self.kernels = 0

    # --- filled in by the backend -----------------------------------------------------------
    def attach(self, steps: list[tuple[Any, str]]) -> None:
        """The program's steps, in the order their times will be recorded."""
        self.nodes = list(steps)
        self.node_time = [0.0] * len(steps)
        self.node_calls = [0] * len(steps)

    def add_node(self, k: int, start: float) -> None:
        self.node_time[k] += time.perf_counter() - start
        self.node_calls[k] += 1

    def add_call(self, start: float) -> None:
        self.call_time += time.perf_counter() - start
        self.calls += 1

    def add_compile(self, phase: str, seconds: float) -> None:
        self.compile_time[phase] = self.compile_time.get(phase, 0.0) + seconds

    # --- reports ----------------------------------------------------------------------------
    @property
    def fallback_nodes(self) -> int:
        return sum(1 for _, kind in self.nodes if kind == "fallback")

    def summary(self, file=None, n_ops_to_print: int = 20, n_apply_to_print: int = 20) -> str:
        """Print (and return) the report."""
        out = []
        title = f"Function profiling: {self.name or '<unnamed>'}"
        out += [title, "=" * len(title)]
        per_call = self.call_time / self.calls * 1e6 if self.calls else 0.0
        out.append(
            f"  {self.calls} calls, {self.call_time:.4f} s in the driver "
            f"({per_call:.1f} us per call)"
        )
        if self.compile_time:
            split = ", ".join(f"{k} {v:.3f} s" for k, v in self.compile_time.items())
            out.append(
                f"  compile time: {split}; kernels {self.kernels}, "
                f"disk-cache hits {self.cache_hits}"
            )
        out.append(f"  nodes: {len(self.nodes)} ({self.fallback_nodes} numpy fallbacks)")
        blas = _blas_in_use()
        if blas:
            out.append(f"  BLAS: {blas}")
        total = sum(self.node_time) or 1.0
        by_op: dict[str, float] = defaultdict(float)
        for (node, _), t in zip(self.nodes, self.node_time):
            by_op[type(node.op).__name__] += t
        out += ["", "  Op classes: <% time> <seconds> <op>"]
        for name, t in sorted(by_op.items(), key=lambda kv: -kv[1])[:n_ops_to_print]:
            out.append(f"    {100 * t / total:5.1f}%  {t:9.5f}s  {name}")
        out += ["", "  Apply nodes: <% time> <seconds> <calls> <kind> <node>"]
        order = sorted(range(len(self.nodes)), key=lambda k: -self.node_time[k])
        for k in order[:n_apply_to_print]:
            node, kind = self.nodes[k]
            label = " ".join(str(node).split())
            label = label if len(label) <= 90 else label[:87] + "..."
            out.append(
                f"    {100 * self.node_time[k] / total:5.1f}%  {self.node_time[k]:9.5f}s "
                f"{self.node_calls[k]:6d}  {kind:8s} {label}"
            )
        text = "\n".join(out) + "\n"
        (file or sys.stdout).write(text)
        return text


def _blas_in_use() -> str | None:
    """The BLAS of this process's compiled products, once the CPU backend has chosen one."""
    from symgraph.codegen import cblas

    lib = cblas.chosen()
    return None if lib is None else f"{lib.name} ({lib.path})"


def make_profile(profile: Any, name: str | None) -> ProfileStats | None:
    """`profile` argument of function() -> a ProfileStats or None."""
    if profile is None or profile is False:
        return None
    if isinstance(profile, ProfileStats):
        return profile
    return ProfileStats(name=name)
