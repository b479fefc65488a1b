"""constant_fold: a node whose inputs are all constants becomes constants (its perform, run
once at compile time). Results larger than MAX_FOLD_ELEMENTS (and larger than every input)
are left to run time, so a graph never carries a huge materialized constant."""

from __future__ import annotations

from collections import Counter

import numpy as np

from symgraph.fgraph import FunctionGraph
from symgraph.graph import Apply, Constant, Op, Variable
from symgraph.opt.engine import equilibrium
from symgraph.opt.pattern import P, Rules
from symgraph.variable import TensorConstant

MAX_FOLD_ELEMENTS = 1 << 18


def _static_size(node: Apply) -> int | None:
    """The largest output size known before computing (static shapes or infer_shape)."""
    shapes = [o.type.shape for o in node.outputs]
    if any(s is None for shp in shapes for s in shp):
        try:
            shapes = node.op.infer_shape(node, [np.shape(v.data) for v in node.inputs])
        except Exception:
            return None
    try:
        return max((int(np.prod([int(s) for s in shp])) for shp in shapes), default=0)
    except (TypeError, ValueError):
        return None


def folded(node: Apply) -> list[Constant] | None:
    """The outputs of `node` as constants, or None when it must run at run time."""
    if not node.inputs or not all(isinstance(v, Constant) for v in node.inputs):
        return None
    if node.op.destroy_map or getattr(node.op, "nondeterministic", False):
        return None
    limit = max([MAX_FOLD_ELEMENTS] + [np.size(v.data) for v in node.inputs])
    size = _static_size(node)
    if size is not None and size > limit:
        return None
    from symgraph.codegen.python import perform_function

    try:
        with np.errstate(all="ignore"):
            results = perform_function(node.op)(node, [v.data for v in node.inputs])
    except Exception:
        return None  # e.g. an index error: it is raised when the function runs, as unoptimized
    out = []
    for var, value in zip(node.outputs, results):
        value = np.array(value, copy=True)
        t = var.type
        if (
            value.size > limit
            or value.dtype.name != t.dtype
            or value.ndim != t.ndim
            or any(s is not None and s != n for s, n in zip(t.shape, value.shape))
        ):
            return None
        out.append(TensorConstant(t, value))
    return out


def fold(out: Variable) -> Variable | None:
    results = folded(out.owner)
    return results[out.index] if results else None


RULES = Rules(
    "constant_fold",
    [
        (P(Op, name="out"), lambda out: fold(out)),  # op(constants) -> constant
    ],
)


def constant_fold(fg: FunctionGraph) -> Counter:
    """Fold every all-constant node, repeatedly, until none is left."""
    return equilibrium(fg, RULES, "constant_fold")
