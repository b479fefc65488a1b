"""PIPELINE: the one ordered tuple of graph passes; a Mode selects passes from it by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from symgraph.fgraph import FunctionGraph

Pass = Callable[[FunctionGraph], object]

# (name, pass) in the order they run. Filled in by the rewrite passes (symgraph/opt/*.py).
PIPELINE: tuple[tuple[str, Pass], ...] = ()

FAST_COMPILE_PASSES = ("merge", "constant_fold")


def pass_names() -> list[str]:
    return [name for name, _ in PIPELINE]


def optimize(fg: FunctionGraph, names: Sequence[str]) -> FunctionGraph:
    """Run the passes of PIPELINE whose names are in `names`, in pipeline order."""
    wanted = set(names)
    for name, run in PIPELINE:
        if name in wanted:
            run(fg)
    return fg
