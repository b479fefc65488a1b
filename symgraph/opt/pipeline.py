"""PIPELINE: the one ordered tuple of graph passes; a Mode selects passes from it by name.

    merge          identical subexpressions and equal constants computed once
    constant_fold  nodes of constants become constants
    canonicalize   algebraic normal form (x*1, x+0, -(-x), x.T.T, casts, shapes, like terms)
    scan           loops: invariants hoisted, only the last state kept when only it is used,
                   outputs nobody reads not computed
    stabilize      numerically stable forms (log1p, softplus, log_softmax, logsumexp, ...)
    specialize     cheaper forms (sqr, sqrt, gemm / gemv, dot)
    expand         softmax and the fused crossentropy as elementwise ops and reductions, for
                   the CPU backends to fuse (not for CUDA, which has kernels for them)
    fusion         elementwise chains and map+reduce become single loops
    inplace        results written into input buffers that are no longer needed

``SYMGRAPH_FLAGS=print_rewrites`` prints the rules that fired; ``fg.rewrites`` (for a
compiled function: ``f.maker.fgraph.rewrites``) holds the counts per pass and rule.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence

from symgraph.fgraph import FunctionGraph
from symgraph.opt.canonicalize import canonicalize
from symgraph.opt.constant_fold import constant_fold
from symgraph.opt.destroy import protect_updates
from symgraph.opt.expand import expand
from symgraph.opt.fusion import fusion
from symgraph.opt.inplace import inplace
from symgraph.opt.merge import merge
from symgraph.opt.scan import scan
from symgraph.opt.specialize import specialize
from symgraph.opt.stabilize import stabilize

Pass = Callable[[FunctionGraph], object]

PIPELINE: tuple[tuple[str, Pass], ...] = (
    ("merge", merge),
    ("constant_fold", constant_fold),
    ("canonicalize", canonicalize),
    ("scan", scan),
    ("stabilize", stabilize),
    ("specialize", specialize),
    ("expand", expand),
    ("fusion", fusion),
    ("inplace", inplace),
)

FAST_COMPILE_PASSES = ("merge", "constant_fold")


def pass_names() -> list[str]:
    return [name for name, _ in PIPELINE]


def optimize(fg: FunctionGraph, names: Sequence[str]) -> FunctionGraph:
    """Run the passes of PIPELINE whose names are in `names`, in pipeline order."""
    known = pass_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown rewrite pass {unknown[0]!r}; the passes are {known}")
    wanted = set(names)
    # The cyclic garbage collector would rescan the whole (large, young) graph again and again
    # while rewrites allocate: that makes big graphs quadratic. Collect once, afterwards.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for name, run in PIPELINE:
            if name in wanted:
                run(fg)
        protect_updates(fg)
    finally:
        if collecting:
            gc.enable()
    from symgraph.config import config

    if config.print_rewrites:
        print_rewrites(fg)
    return fg


def print_rewrites(fg: FunctionGraph, file=None) -> None:
    """List the rules that fired on `fg`, per pass, with their hit counts."""
    out = file or sys.stdout
    for pass_name, hits in getattr(fg, "rewrites", {}).items():
        for rule, count in sorted(hits.items(), key=lambda kv: -kv[1]):
            out.write(f"rewrite {pass_name}: {rule}  x{count}\n")
