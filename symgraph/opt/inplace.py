"""inplace: let ops write their result into an input buffer nobody needs any more.

Elemwise nodes (fused Composites included) get ``inplace_pattern=((0, k),)``; ops with an
``inplace`` flag (Gemm, Gemv, Ger, IncSubtensor ...) get ``inplace=True``. The graph's
DestroyHandler decides each case. Inputs that are shared variables come first, so an update
``W - lr * g`` writes straight into W's storage.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from symgraph.fgraph import FunctionGraph
from symgraph.graph import Apply, Op, Variable
from symgraph.ops.elemwise import Elemwise
from symgraph.opt.destroy import base, destroy_handler
from symgraph.opt.engine import record


def _candidates(node: Apply) -> list[tuple[Op, int, int]]:
    """(in-place op, output, destroyed input) choices for `node`, best first."""
    op = node.op
    if op.destroy_map:
        return []
    if isinstance(op, Elemwise):
        out = node.outputs[0]
        ks = [
            k
            for k, v in enumerate(node.inputs)
            if v.type.dtype == out.type.dtype and v.type.broadcastable == out.type.broadcastable
        ]
        ks.sort(key=lambda k: not getattr(base(node.inputs[k]), "is_shared", False))
        return [(Elemwise(op.scalar_op, ((0, k),)), 0, k) for k in ks]
    if dataclasses.is_dataclass(op) and getattr(op, "inplace", None) is False:
        new = dataclasses.replace(op, inplace=True)
        return [(new, o, ins[0]) for o, ins in new.destroy_map.items()]
    return []


def _fresh(v: Variable) -> Variable:
    new = v.clone()
    new.owner, new.index = None, None
    return new


def inplace(fg: FunctionGraph) -> Counter:
    """Make every node that safely can work in place."""
    handler = destroy_handler(fg)
    hits: Counter = Counter()
    order = list(fg.toposort())
    positions = {node: k for k, node in enumerate(order)}
    end = len(order)
    for node in order:
        if node not in fg.apply_nodes:
            continue
        for op, out, k in _candidates(node):
            readers = handler.check(node, k, out, positions)
            if isinstance(readers, str):
                continue
            new = Apply(op, list(node.inputs), [_fresh(o) for o in node.outputs])
            if getattr(node, "origin", None) is not None:
                new.origin = node.origin
            for old, o in zip(node.outputs, new.outputs):
                fg.replace(old, o, "inplace", validate=False)
            handler.replaced(node, new)
            handler.register(new, readers)
            positions[new] = positions[node]
            if any(positions[r] > positions[new] for r in readers):
                # an update now waits for a later reader: it moves to the end of the schedule
                if handler.descendants(new):
                    positions = {n: i for i, n in enumerate(fg.toposort())}
                    end = len(positions)
                else:
                    positions[new], end = end, end + 1
            hits[type(op).__name__] += 1
            break
    record(fg, "inplace", hits)
    return hits
