"""scan: rewrites of Scan nodes, seen from the outer graph (what the loop must compute and keep).

    hoist      inner nodes that read only non-sequences and constants run once, before the
               loop, and enter it as non-sequences (loop-invariant code motion)
    keep_last  a state whose only use is ``out[-1]`` keeps its last value (keep="last"): no
               buffer of n rows (a state nobody reads keeps its last value too)
    prune      outputs nobody reads are not computed: nit_sots, scatters (the gradient of a
               sequence no one asked for), recorded accumulators; then the reads and
               non-sequences no inner output needs any more are not passed

Sequences need no slicing to n_steps: the loop reads its rows as views and never copies a
sequence. A loop of n = 0 steps whose state is rewritten by keep_last gives the initial state
where ``out[-1]`` of the empty output would have failed.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from symgraph.fgraph import OUTPUT, FunctionGraph
from symgraph.graph import Apply, Constant, Variable, clone_replace, toposort
from symgraph.opt.engine import record

if TYPE_CHECKING:
    from symgraph.scan.parts import ScanParts


def scan(fg: FunctionGraph) -> None:
    """Run the Scan rewrites on every Scan node of `fg`."""
    from symgraph.scan.op import Scan  # the scan package imports function.py, which imports us

    hits: Counter = Counter()
    for node in fg.toposort():
        if isinstance(node.op, Scan) and node in fg.apply_nodes:
            _rewrite(fg, node, hits)
    record(fg, "scan", hits)


def _rewrite(fg: FunctionGraph, node: Apply, hits: Counter) -> None:
    from symgraph.scan.parts import ScanParts

    parts = ScanParts.of(node)
    changed = hoist(parts, hits)
    lasts = keep_last(fg, parts, hits)
    changed |= bool(lasts) | prune(fg, parts, hits)
    if not changed:
        return
    new_node, mapping = parts.build()
    replaced = {}
    for old, new in mapping.items():
        if old in lasts:
            for client_out in lasts[old]:
                replaced[client_out] = new
        else:
            replaced[old] = new
    for old, new in replaced.items():
        fg.replace(old, _like(new, old), "scan", validate=False)


def _like(new: Variable, old: Variable) -> Variable:
    """`new`, asserted to have `old`'s static shape where only `old` knows it."""
    from symgraph.ops.shape import specify_shape

    if new.dtype != old.dtype or new.ndim != old.ndim:
        raise TypeError(f"scan rewrite: {new} ({new.type}) cannot replace {old} ({old.type})")
    if any(a is not None and b is None for a, b in zip(old.type.shape, new.type.shape)):
        return specify_shape(new, old.type.shape)
    return new


def _users(fg: FunctionGraph, v: Variable | None) -> list:
    return [] if v is None else list(fg.clients.get(v, ()))


# --- hoist: loop-invariant code motion ---
def _hoistable(node: Apply) -> bool:
    """Deterministic nodes without in-place effects (random draws stay in the loop)."""
    module = type(node.op).__module__
    return not node.op.destroy_map and not module.endswith((".random", ".scan.op", "ifelse"))


def hoist(parts: ScanParts, hits: Counter) -> bool:
    # invariant: reads non-sequences (and constants) only; constant-only values stay inside
    # (constant folding's work, and literals let fusion inline them)
    invariant: set[int] = {id(it.inner_in[0]) for it in parts.items["nonseqs"]}
    inner_outs = parts.inner_outputs()
    nodes = toposort(inner_outs)
    for node in nodes:
        ins_ok = all(isinstance(v, Constant) or id(v) in invariant for v in node.inputs)
        if ins_ok and _hoistable(node) and not all(isinstance(v, Constant) for v in node.inputs):
            invariant.update(id(v) for v in node.outputs)
    # the invariant values that varying nodes (or the inner outputs) read; a view of one is
    # free in the loop, so what it views is hoisted instead
    frontier: dict[int, Variable] = {}
    reads = [v for node in nodes if id(node.outputs[0]) not in invariant for v in node.inputs]
    for v in reads + inner_outs:
        while v.owner is not None and id(v) in invariant and v.owner.op.view_map:
            v = v.owner.inputs[0]
        if v.owner is not None and id(v) in invariant:
            frontier.setdefault(id(v), v)
    if not frontier:
        return False
    from symgraph.scan.inner import placeholder
    from symgraph.scan.parts import Item

    outer_ph = {it.inner_in[0]: it.outer[0] for it in parts.items["nonseqs"]}
    values = list(frontier.values())
    outer_values, _ = clone_replace(values, outer_ph)
    swap = {}
    for v, outer in zip(values, outer_values):
        ph = placeholder(v)
        parts.items["nonseqs"].append(Item(None, [outer], [ph], [], []))
        swap[v] = ph
        hits["hoist"] += 1
    parts.substitute(swap)
    return True


# --- keep_last: a state used only as out[-1] ---
def _last_row_of(fg: FunctionGraph, client) -> Variable | None:
    """The output of `client` when it is ``out[-1]`` (a Subtensor with constant -1)."""
    from symgraph.ops.subtensor import Subtensor

    node, pos = client
    if node == OUTPUT or not isinstance(node.op, Subtensor) or pos != 0:
        return None
    if node.op.idx_list != ("int",) or not isinstance(node.inputs[1], Constant):
        return None
    return node.outputs[0] if int(node.inputs[1].data) == -1 else None


def keep_last(fg: FunctionGraph, parts: ScanParts, hits: Counter) -> dict:
    """States switched to keep="last": {old output: [outputs of its out[-1] clients]}."""
    from dataclasses import replace

    lasts: dict[Variable, list[Variable]] = {}
    for it in parts.items["states"]:
        out = it.outs[0]
        if it.spec.keep != "all" or not it.spec.single or out is None:
            continue
        rows = [_last_row_of(fg, c) for c in _users(fg, out)]
        if any(r is None for r in rows):
            continue
        it.spec = replace(it.spec, keep="last")
        lasts[out] = rows
        hits["keep_last"] += 1
    return lasts


# --- prune: outputs nobody reads ---
def prune(fg: FunctionGraph, parts: ScanParts, hits: Counter) -> bool:
    from dataclasses import replace

    items = parts.items
    before = sum(len(items[k]) for k in ("nit_sots", "scatters"))
    items["nit_sots"] = [it for it in items["nit_sots"] if _users(fg, it.outs[0])]
    items["scatters"] = [it for it in items["scatters"] if any(_users(fg, o) for o in it.outs)]
    pruned = before - sum(len(items[k]) for k in ("nit_sots", "scatters"))
    for it in items["windows"]:
        if it.spec.record and not _users(fg, it.outs[1]):
            it.spec = replace(it.spec, record=False)
            it.outs = it.outs[:1]
            pruned += 1
    if pruned:
        hits["prune"] += pruned
    dropped = parts.drop_unread()
    if dropped:
        hits["prune_inputs"] += 1
    return bool(pruned) or dropped
