"""scan: rewrites of Scan nodes, seen from the outer graph (what the loop must compute and keep).

    hoist      inner nodes that read only non-sequences and constants run once, before the
               loop, and enter it as non-sequences (loop-invariant code motion)
    keep_last  a state whose only use is ``out[-1]`` keeps its last value (keep="last"): no
               buffer of n rows (a state nobody reads keeps its last value too)
    push_seqs  inner products of one sequence row and loop invariants (dot(x_t, W) and the
               elementwise work feeding it) run once over the whole sequence, before the
               loop, and enter it as a new sequence: one big product instead of n small ones
               (Theano's push-out-seq)
    prune      outputs nobody reads are not computed: nit_sots, scatters (the gradient of a
               sequence no one asked for), recorded accumulators; then the reads and
               non-sequences no inner output needs any more are not passed
    push_sums  a state that only accumulates, ``acc = acc + dot(a_t.T, b_t)`` or
               ``acc + sum(b_t, axis)``, and is used only at its end, is computed after the
               loop as ``init + dot(A.T, B)`` over all steps (the per-step rows stacked and
               flattened), the loop outputting b_t (and a_t unless it is a sequence) at every
               step: the gradients of the non-sequences of a backward scan become one GEMM
               each (Theano's push-out-scan-output / push-out-dot)

Sequences need no slicing to n_steps: the loop reads its rows as views and never copies a
sequence. A loop of n = 0 steps whose state is rewritten by keep_last gives the initial state
where ``out[-1]`` of the empty output would have failed.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from symgraph.fgraph import OUTPUT, FunctionGraph
from symgraph.graph import Apply, Constant, Variable, ancestors, clone_replace, toposort
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
    changed |= push_seqs(parts, hits)
    lasts = keep_last(fg, parts, hits)
    changed |= bool(lasts) | prune(fg, parts, hits)
    sums = push_sums(parts, hits)
    if sums:
        parts.drop_unread()
    if not changed and not sums:
        return
    new_node, mapping = parts.build()
    replaced = {}
    for old, new in mapping.items():
        if old in lasts:
            for client_out in lasts[old]:
                replaced[client_out] = new
        else:
            replaced[old] = new
    if sums:
        olds = list(sums)
        finals, _ = clone_replace([sums[o] for o in olds], mapping)
        for old, final in zip(olds, finals):
            for target in lasts.get(old, [old]):
                replaced[target] = final
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


# --- push_seqs: products of a sequence row and invariants, over the whole sequence ---
def _op_kinds():
    from symgraph.ops.blas import Dot
    from symgraph.ops.elemwise import DimShuffle, Elemwise

    return Dot, DimShuffle, Elemwise


def push_seqs(parts: ScanParts, hits: Counter) -> bool:
    from symgraph.scan.info import Read
    from symgraph.scan.inner import placeholder
    from symgraph.scan.parts import Item

    Dot, DimShuffle, Elemwise = _op_kinds()
    # values computed from one row of one sequence (and invariants): id -> (outer stack, Read);
    # the Read names the row: rows of two taps, or of two sequences, need not pair up
    rowwise: dict[int, tuple[Variable, tuple[int, Read]]] = {}
    for it in parts.items["reads"]:
        if not it.spec.prefix:
            for tap, ph in zip(it.spec.taps, it.inner_in):
                rowwise[id(ph)] = (it.outer[0], (id(it.outer[0]), _one_tap(it.spec, tap)))
    invariant = {id(it.inner_in[0]): it.outer[0] for it in parts.items["nonseqs"]}
    has_dot: set[int] = set()
    inner_outs = parts.inner_outputs()
    nodes = toposort(inner_outs)
    for node in nodes:
        srcs = {rowwise[id(v)][1]: rowwise[id(v)] for v in node.inputs if id(v) in rowwise}
        rest = [v for v in node.inputs if id(v) not in rowwise]
        if not srcs and isinstance(node.op, (DimShuffle, Elemwise)) and not node.op.destroy_map:
            # constant-only work hoist leaves in the loop (a broadcast literal)
            if all(isinstance(v, Constant) or id(v) in invariant for v in rest):
                invariant[id(node.outputs[0])] = node.op(*(invariant.get(id(v), v) for v in rest))
            continue
        if len(srcs) != 1 or not all(isinstance(v, Constant) or id(v) in invariant for v in rest):
            continue
        if isinstance(node.op, Dot):
            if id(node.inputs[0]) not in rowwise or id(node.inputs[1]) in rowwise:
                continue  # a product of two rows is a batched product: not one GEMM
        elif not isinstance(node.op, (DimShuffle, Elemwise)) or node.op.destroy_map:
            continue
        elif any(id(v) in rowwise and v.ndim != node.outputs[0].ndim for v in node.inputs):
            continue  # numpy broadcasting would align the step axis with a row axis
        (src,) = srcs.values()
        outer = _rowwise_outer(node, rowwise, invariant)
        rowwise[id(node.outputs[0])] = (outer, src[1])
        if isinstance(node.op, Dot) or any(id(v) in has_dot for v in node.inputs):
            has_dot.add(id(node.outputs[0]))
    # what the loop still reads of them; elementwise work alone is not worth a new sequence
    pushed = {id(n.outputs[0]) for n in nodes if id(n.outputs[0]) in rowwise}
    frontier: dict[int, Variable] = {}
    reads = [v for n in nodes if id(n.outputs[0]) not in pushed for v in n.inputs]
    for v in reads + inner_outs:
        if id(v) in has_dot:
            frontier.setdefault(id(v), v)
    swap = {}
    for v in frontier.values():
        outer, (_, spec) = rowwise[id(v)]
        ph = placeholder(v)
        parts.items["reads"].append(Item(spec, [outer], [ph], [], []))
        swap[v] = ph
        hits["push_seqs"] += 1
    if swap:
        parts.substitute(swap)
    return bool(swap)


def _one_tap(spec, tap: int):
    from dataclasses import replace

    return replace(spec, taps=(tap,))


def _rowwise_outer(node: Apply, rowwise: dict, invariant: dict) -> Variable:
    """`node` applied to every row at once: its row inputs stacked, invariants broadcast."""
    from symgraph.ops.shape import dimshuffle, reshape

    Dot, DimShuffle, Elemwise = _op_kinds()

    def outer(v: Variable) -> Variable:
        if id(v) in rowwise:
            return rowwise[id(v)][0]
        value = invariant.get(id(v), v)
        if isinstance(node.op, Dot):
            return value
        return dimshuffle(value, ("x",) + tuple(range(value.ndim)))

    ins = [outer(v) for v in node.inputs]
    if isinstance(node.op, DimShuffle):
        order = (0,) + tuple(d if d == "x" else d + 1 for d in node.op.new_order)
        return dimshuffle(ins[0], order)
    if isinstance(node.op, Elemwise):
        return node.op(*ins)
    x, y = ins  # x: (steps[, rows], k) . y: (k[, m])
    if x.ndim == 2:
        return node.op(x, y)
    flat = node.op(reshape(x, (-1, x.shape[2])), y)
    return reshape(flat, (x.shape[0], x.shape[1]) + ((y.shape[1],) if y.ndim == 2 else ()))


# --- push_sums: accumulators summed over all steps after the loop ---
def push_sums(parts: ScanParts, hits: Counter) -> dict:
    """{outer output of an accumulating state: its final value, init + the sum after the loop}.

    Reads the kept items' outputs; the new per-step outputs (nit_sots) are added to `parts`.
    """
    info = parts.op.info
    if info.until or info.truncate >= 0:
        return {}  # only the steps run are stacked, and the reads do not know how many ran
    inner_outs = parts.inner_outputs()
    readers: Counter = Counter(id(v) for v in inner_outs)
    for node in toposort(inner_outs):
        readers.update(id(v) for v in node.inputs)
    stacks = _Stacks(parts)
    sums, kept = {}, []
    for it in parts.items["states"]:
        total = None
        if it.spec.single and it.spec.taps == (-1,) and it.spec.keep == "last":
            terms = _increments(it, readers)
            total = None if terms is None else _sum_of(terms, stacks)
        if total is None:
            kept.append(it)
            continue
        init = it.outer[0]
        total = total if total.dtype == init.dtype else _cast(total, init)
        # a gradient accumulator starts from zeros: no buffer to fill and add
        sums[it.outs[0]] = total if _is_zero(init) else init + total
        hits["push_sums"] += 1
    if sums:
        used = {id(v) for v in ancestors(list(sums.values()))}
        parts.items["states"] = kept
        parts.items["nit_sots"] += [i for i in stacks.items if id(i.outs[0]) in used]
    return sums


def _is_zero(v: Variable) -> bool:
    from symgraph.scan.grad import _is_zero

    return _is_zero(v)


def _cast(v: Variable, like: Variable) -> Variable:
    from symgraph.ops.math import cast

    return cast(v, like.dtype)


def _increments(it, readers: Counter) -> list | None:
    """The terms t of a state updated as acc + t (nothing else reads acc or the new value)."""
    from symgraph.ops.elemwise import Elemwise
    from symgraph.ops.shape import SpecifyShape

    (acc,), (v,) = it.inner_in, it.inner_out
    while v.owner is not None and isinstance(v.owner.op, SpecifyShape) and readers[id(v)] == 1:
        v = v.owner.inputs[0]
    node = v.owner
    if node is None or not isinstance(node.op, Elemwise) or node.op.scalar_op.name != "add":
        return None
    if readers[id(v)] != 1 or readers[id(acc)] != 1 or node.inputs.count(acc) != 1:
        return None
    terms = [t for t in node.inputs if t is not acc]
    if any(t.type.shape != v.type.shape for t in terms):
        return None  # a term broadcast against acc would be added once per element
    return terms


def _sum_of(terms: list, stacks: _Stacks) -> Variable | None:
    """The sum over all steps of `terms`, as an outer expression; None if it saves no work."""
    sums = [_summed(t, stacks) for t in terms]
    if any(s is None for s in sums):
        return None
    total = sums[0]
    for s in sums[1:]:
        total = total + s
    return total


def _summed(v: Variable, stacks: _Stacks) -> Variable | None:
    """sum_t v_t, pushed through the linear ops above the products and reductions in v."""
    from dataclasses import replace

    from symgraph.ops.reduce import CAReduce
    from symgraph.ops.shape import dimshuffle, reshape

    Dot, DimShuffle, Elemwise = _op_kinds()
    node = v.owner
    op = None if node is None else node.op
    if isinstance(op, Elemwise) and op.scalar_op.name == "add":
        if any(x.type.shape != v.type.shape for x in node.inputs):
            return None
        return _sum_of(list(node.inputs), stacks)
    if isinstance(op, DimShuffle):
        inner = _summed(node.inputs[0], stacks)
        return None if inner is None else op(inner)
    if isinstance(op, CAReduce) and op.scalar_op.name == "add":
        (x,) = node.inputs
        ds = x.owner.op if x.owner is not None and isinstance(x.owner.op, DimShuffle) else None
        if ds and not ds.drop and ds.augment == list(op.axis) and ds.shuffle == sorted(ds.shuffle):
            return _summed(x.owner.inputs[0], stacks)  # sum over the axes just added: none
        inner = _summed(x, stacks)
        if inner is not None:
            return op(inner)
        rows = stacks.of(x)  # sum_t sum_axes(x_t): one reduction of the stacked rows
        axis = (0,) + tuple(a + 1 for a in op.axis)
        return None if rows is None else replace(op, axis=axis)(rows)
    if isinstance(op, Dot) and node.inputs[1].ndim in (1, 2):
        # sum_t a_t.T @ b_t = A.T @ B, with the steps' rows of a and b one after the other
        a = node.inputs[0]
        transposed = a.owner is not None and isinstance(a.owner.op, DimShuffle)
        if not transposed or a.owner.op.new_order != (1, 0):
            return None
        A, B = stacks.of(a.owner.inputs[0]), stacks.of(node.inputs[1])
        if A is None or B is None:
            return None
        flat_a = reshape(A, (-1, A.shape[2]))
        flat_b = reshape(B, (-1, B.shape[2]) if B.ndim == 3 else (-1,))
        return op(dimshuffle(flat_a, (1, 0)), flat_b)
    return None


class _Stacks:
    """Per-step inner values as outer (steps, ...) stacks: a sequence's rows, or a new nit_sot."""

    def __init__(self, parts: ScanParts):
        self.parts = parts
        self.memo: dict[int, Variable | None] = {}
        self.items: list = []
        self.reads = {
            id(ph): (it, tap)
            for it in parts.items["reads"]
            for tap, ph in zip(it.spec.taps, it.inner_in)
        }
        varying = {
            id(p)
            for k in ("reads", "states", "windows")
            for it in parts.items[k]
            for p in it.inner_in
        }
        for node in toposort(parts.inner_outputs()):
            if any(id(v) in varying for v in node.inputs):
                varying.update(id(o) for o in node.outputs)
        self.varying = varying

    def of(self, v: Variable) -> Variable | None:
        if id(v) not in self.memo:
            self.memo[id(v)] = self._stack(v)
        return self.memo[id(v)]

    def _stack(self, v: Variable) -> Variable | None:
        from symgraph.scan.parts import Item
        from symgraph.types import TensorType

        if id(v) not in self.varying:
            return None  # the same value at every step: n copies of it save nothing
        read = self.reads.get(id(v))
        if read is not None and not read[0].spec.prefix:
            return self._rows(read[0].spec, read[0].outer[0], read[1])
        out = TensorType(v.dtype, (None,) + v.type.shape)()
        self.items.append(Item(None, [], [], [v], [out]))
        return out

    def _rows(self, spec, main: Variable, tap: int) -> Variable:
        """The rows of `main` that steps 0, 1, ... read at `tap`, in step order."""
        n = self.parts.n_steps
        start = tap - spec.lo
        if spec.align_end:
            start = main.shape[0] - (n + spec.span) + start
        rows = main[:n] if isinstance(start, int) and start == 0 else main[start : start + n]
        return rows[::-1] if spec.backward else rows
