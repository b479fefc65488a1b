"""Helpers for rewrite tests: compile on the python reference backend, look at the graph."""

from __future__ import annotations

from collections.abc import Sequence

import symgraph as sg
from symgraph.compile.mode import Mode
from symgraph.fgraph import FunctionGraph
from symgraph.graph import Constant, graph_inputs
from symgraph.ops.elemwise import Elemwise
from symgraph.opt.pipeline import optimize

PY = Mode(backend="python")  # every pass, python reference backend
PY_NONE = Mode(backend="python", optimizer=None)


def rewritten(outputs, passes: Sequence[str], inputs=None) -> FunctionGraph:
    """A FunctionGraph of `outputs` after the passes `passes`."""
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    if inputs is None:
        inputs = [v for v in graph_inputs(outputs) if not isinstance(v, Constant)]
    fg = FunctionGraph(inputs, outputs)
    optimize(fg, list(passes))
    return fg


def ops(fg_or_fn) -> list[str]:
    """The ops of a graph (or compiled function) in schedule order, as strings."""
    fg = getattr(getattr(fg_or_fn, "maker", None), "fgraph", fg_or_fn)
    return [str(n.op) for n in fg.toposort()]


def scalar_ops(fg_or_fn) -> list[str]:
    """The scalar op names of the Elemwise nodes of a graph (or function)."""
    fg = getattr(getattr(fg_or_fn, "maker", None), "fgraph", fg_or_fn)
    return [n.op.scalar_op.name for n in fg.toposort() if isinstance(n.op, Elemwise)]


def compiled(inputs, outputs, mode=PY, **kwargs):
    return sg.function(inputs, outputs, mode=mode, **kwargs)
