"""merge: common subexpression elimination. Equal constants and identical nodes (same op,
same inputs) are kept once; their clients are moved to the one kept."""

from __future__ import annotations

from collections import Counter

from symgraph.fgraph import FunctionGraph
from symgraph.graph import Apply, Constant


def merge_key(node: Apply, signatures: dict[int, tuple]) -> tuple | None:
    """(op, inputs), with a constant input standing for its value; None: never merge.

    In-place nodes are never merged: each destroys its own buffer. `signatures` caches the
    value signature of constants by id (it keeps the constants alive, so ids stay unique).
    """
    if node.op.destroy_map:
        return None
    parts = []
    for v in node.inputs:
        if isinstance(v, Constant):
            entry = signatures.get(id(v))
            if entry is None:
                entry = signatures[id(v)] = (v.signature(), v)
            parts.append(("const", entry[0]))
        else:
            parts.append(id(v))
    key = (node.op, tuple(parts))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def merge(fg: FunctionGraph) -> Counter:
    """Merge equal constants, then identical nodes, in one topological sweep."""
    from symgraph.opt.engine import record

    hits: Counter = Counter()
    signatures: dict[int, tuple] = {}
    constants: dict[tuple, Constant] = {}
    seen: dict[tuple, Apply] = {}
    for node in fg.toposort():
        if node not in fg.apply_nodes:
            continue
        for v in node.inputs:
            if isinstance(v, Constant):
                kept = constants.setdefault(v.signature(), v)
                if kept is not v and v in fg.variables:
                    fg.replace(v, kept, "merge")
                    hits["equal constants"] += 1
        key = merge_key(node, signatures)
        if key is None:
            continue
        other = seen.setdefault(key, node)
        if other is not node:
            for old, new in zip(node.outputs, other.outputs):
                if old in fg.variables:
                    fg.replace(old, new, "merge", validate=False)
            hits["identical nodes"] += 1
    record(fg, "merge", hits)
    return hits
