"""fusion: chains of elementwise ops become one Elemwise(Composite) node, and an elementwise
op feeding a reduction becomes one FusedReduce node, so a backend emits one loop each.

A region grows from a consumer into producers whose result is used only there (a result
needed elsewhere is computed once and kept), and into cheap arithmetic (CHEAP_OPS) that
elementwise nodes alone read: each of them computes it again, rather than one step writing
it out for all to read back. Scalar constants become literals of the
Composite. Fused nodes keep the user's trace: ``node.origin`` is the variable they replace,
and the Composite knows the line of each inner expression for run-time errors.
"""

from __future__ import annotations

from collections import Counter

from symgraph.fgraph import FunctionGraph
from symgraph.graph import Apply, Constant, Variable
from symgraph.ops.composite import CONSTANT, CNode, Composite, FusedReduce
from symgraph.ops.elemwise import Elemwise, broadcast_static_shapes
from symgraph.ops.reduce import CAReduce
from symgraph.ops.scalar import SCALAR_OPS
from symgraph.opt.engine import record
from symgraph.opt.pattern import constant_data
from symgraph.types import TensorType

MAX_INPUTS = 32  # a kernel's argument list stays short (as Theano's fusion limit)
# Ops cheap enough to compute again in each elementwise reader rather than keep: one
# arithmetic instruction against a pass over memory (write, then read back) and a step.
CHEAP_OPS = frozenset(
    {"add", "sub", "mul", "neg", "sqr", "abs", "maximum", "minimum", "second", "identity"}
    | {name for name in SCALAR_OPS if name.startswith("cast_")}
)


def _fusable(node: Apply | str) -> bool:
    return (
        isinstance(node, Apply)
        and isinstance(node.op, Elemwise)
        and not node.op.inplace_pattern
        and len(node.outputs) == 1
    )


def _copied(producer: Apply, clients) -> bool:
    """Whether a producer read by several nodes is computed again in each: a single cheap
    scalar op whose readers are all elementwise nodes that fuse (once the last has taken it
    in, nothing keeps it)."""
    return producer.op.scalar_op.name in CHEAP_OPS and all(_fusable(c) for c, _ in clients)


def _literal(v: Variable):
    """The value of a one-element constant (a Composite literal), else None."""
    if not isinstance(v, Constant) and v.owner is None:
        return None
    data = constant_data(v)
    if data is None or data.size != 1:
        return None
    return data.reshape(()).item(), data.dtype.name


class _Region:
    """The nodes fused into one Composite, grown from `root` into single-client producers."""

    def __init__(self, fg: FunctionGraph, root: Apply):
        self.fg, self.root = fg, root
        self.nodes: set[Apply] = {root}
        self.copies: set[Apply] = set()  # cheap nodes computed here again (they stay shared)
        self.inputs: list[Variable] = []
        self._grow()

    def _external(self, node: Apply) -> list[Variable]:
        return [v for v in node.inputs if _literal(v) is None and v.owner not in self.nodes]

    def _grow(self) -> None:
        stack = [self.root]
        ext = {id(v): v for v in self._external(self.root)}
        deferred: list[Variable] = []  # read outside the region so far

        def take(v: Variable, copy: bool) -> None:
            nonlocal ext
            producer = v.owner
            trial = dict(ext)
            trial.pop(id(v), None)
            trial.update((id(u), u) for u in self._external(producer) if u is not v)
            if len(trial) > MAX_INPUTS:
                return
            self.nodes.add(producer)
            ext = trial
            if copy:
                self.copies.add(producer)  # only its cheap producers are copied with it
            stack.append(producer)

        while stack or deferred:
            if not stack:  # the region has grown all it can: copy the cheap ops left
                for v in deferred:
                    inside = None if v.owner in self.nodes else self._readers_inside(v)
                    if inside is not None:
                        take(v, copy=not inside)
                deferred = []
                continue
            node = stack.pop()
            for v in node.inputs:
                producer = v.owner
                if producer is None or producer in self.nodes or not _fusable(producer):
                    continue
                if _literal(v) is not None:
                    continue
                # every reader inside the region (a diamond such as g + g*sgn(h) fuses)
                inside = self._readers_inside(v)
                if node in self.copies:  # the original keeps reading v: copy it, or stop
                    if inside is not None:
                        take(v, copy=True)
                elif inside:
                    take(v, copy=False)
                else:
                    deferred.append(v)
        self.inputs = list(ext.values())

    def _readers_inside(self, v: Variable) -> bool | None:
        """True: every reader of v is in the region (and not a copy); False: some are not,
        but v is a cheap op each of its readers may compute again; None: neither."""
        clients = self.fg.clients.get(v, ())
        if not any(c not in self.nodes or c in self.copies for c, _ in clients):
            return True
        return False if _copied(v.owner, clients) else None

    def order(self) -> list[Apply]:
        """The region's nodes, producers first (iterative: chains may be long)."""
        out, done, stack = [], set(), [(self.root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in done:
                continue
            if expanded:
                done.add(node)
                out.append(node)
                continue
            stack.append((node, True))
            stack.extend((v.owner, False) for v in node.inputs if v.owner in self.nodes)
        return out

    def composite(self) -> Composite:
        ref = {id(v): k for k, v in enumerate(self.inputs)}
        nin, nodes, traces = len(self.inputs), [], []

        def add(cnode: CNode, trace) -> int:
            nodes.append(cnode)
            traces.append(trace)
            return nin + len(nodes) - 1

        def arg(v: Variable) -> int:
            if id(v) not in ref:
                value, dtype = _literal(v)
                ref[id(v)] = add(CNode(CONSTANT, (), dtype, value), None)
            return ref[id(v)]

        for node in self.order():
            args = [arg(v) for v in node.inputs]
            out = node.outputs[0]
            op = node.op.scalar_op
            if isinstance(op, Composite):  # inline: its inputs are our args
                inner = list(args)
                for cn, tr in zip(op.nodes, op.traces):
                    inner.append(
                        add(
                            CNode(cn.op, tuple(inner[a] for a in cn.args), cn.dtype, cn.value),
                            tr or out.trace,
                        )
                    )
                ref[id(out)] = inner[op.output]
            else:
                ref[id(out)] = add(CNode(op.name, tuple(args), out.dtype), out.trace)
        return Composite(nin, tuple(nodes), ref[id(self.root.outputs[0])], tuple(traces))


class Origin:
    """Where a fused node comes from: the user's expression and line (``node.origin``), which
    run-time errors name instead of the Composite."""

    __slots__ = ("text", "trace")

    def __init__(self, variable: Variable):
        self.text = getattr(variable, "name", None) or str(variable.owner or variable)
        self.trace = variable.trace

    def __str__(self) -> str:
        return f"{self.text} (created at {self.trace or 'an unknown line'})"


def _replace(fg: FunctionGraph, old: Variable, new: Variable, reason: str) -> bool:
    if new.type != old.type and not old.type.is_super(new.type):
        return False
    new.trace, new.name = old.trace, old.name
    new.owner.origin = Origin(old)
    fg.replace(old, new, reason, validate=False)
    return True


def _fused_output(region: _Region) -> Variable:
    """Elemwise(Composite) of the region's inputs (all of one rank already: no make_node)."""
    comp = region.composite()
    old = region.root.outputs[0]
    shape = broadcast_static_shapes([v.type.shape for v in region.inputs], "fusion")
    node = Apply(Elemwise(comp), list(region.inputs), [TensorType(old.dtype, shape)()])
    return node.outputs[0]


def fuse_elemwise(fg: FunctionGraph, hits: Counter) -> None:
    for node in reversed(fg.toposort()):
        if node not in fg.apply_nodes or not _fusable(node):
            continue
        region = _Region(fg, node)
        if len(region.nodes) < 2 or not region.inputs:
            continue
        if _replace(fg, node.outputs[0], _fused_output(region), "fusion"):
            hits["elementwise chain"] += 1


def fuse_reductions(fg: FunctionGraph, hits: Counter) -> None:
    for node in fg.toposort():
        if node not in fg.apply_nodes or not isinstance(node.op, CAReduce):
            continue
        v = node.inputs[0]
        producer = v.owner
        if not _fusable(producer) or list(fg.clients.get(v, ())) != [(node, 0)]:
            continue
        region = _Region.__new__(_Region)
        region.fg, region.root, region.nodes = fg, producer, {producer}
        region.inputs = list(dict.fromkeys(u for u in producer.inputs if _literal(u) is None))
        if not region.inputs:
            continue
        op = FusedReduce(region.composite(), node.op, v.type)
        if _replace(fg, node.outputs[0], op(*region.inputs), "fusion"):
            hits["elementwise into reduction"] += 1


def fusion(fg: FunctionGraph) -> Counter:
    """Fuse elementwise chains, then elementwise maps into the reductions they feed."""
    hits: Counter = Counter()
    fuse_elemwise(fg, hits)
    fuse_reductions(fg, hits)
    record(fg, "fusion", hits)
    return hits
