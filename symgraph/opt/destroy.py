"""DestroyHandler: the FunctionGraph feature that keeps in-place ops safe.

An in-place op overwrites one input's buffer (``op.destroy_map``). That is only allowed when
nothing else needs the old value: no other node reads the buffer (or a view of it, per
``op.view_map``) after the destroyer runs, no graph output aliases it, it is not a constant
or a user's input, and no other in-place op destroys the same value. A shared variable's
buffer may be destroyed only by the node that computes its update (the new value then lives
in the same storage). Readers that do not already come before the destroyer in the graph
become ordering constraints (``orderings()``), which ``FunctionGraph.toposort`` respects.
"""

from __future__ import annotations

import importlib

from symgraph.fgraph import OUTPUT, FunctionGraph
from symgraph.graph import Apply, Constant, Variable
from symgraph.ops.elemwise import Elemwise

# Elemwise scalar ops whose numpy result may be (a view of) an input: treat as views.
ALIASING_SCALAR_OPS = {"identity": 0, "real": 0, "second": 1}

# Ops whose outputs are fresh, writable arrays (python reference): their results may be
# destroyed. Others (unknown ops may return read-only or shared arrays) are left alone.
FRESH = (
    "symgraph.ops.elemwise:Elemwise",
    "symgraph.ops.reduce:CAReduce",
    "symgraph.ops.composite:FusedReduce",
    "symgraph.ops.blas:Dot",
    "symgraph.ops.gemm:Gemm",
    "symgraph.ops.gemm:Gemv",
    "symgraph.ops.gemm:Ger",
    "symgraph.ops.alloc:Alloc",
    "symgraph.ops.subtensor:IncSubtensor",
    "symgraph.ops.advanced:AdvancedIncSubtensor1",
    "symgraph.ops.advanced:AdvancedIncSubtensor",
    "symgraph.ops.nnet:Softmax",
    "symgraph.ops.nnet:LogSoftmax",
    "symgraph.ops.nnet:OneHot",
    "symgraph.ops.nnet:CrossentropySoftmax1HotWithBiasDx",
    "symgraph.ops.join:Join",
)


def _fresh_classes() -> tuple[type, ...]:
    classes = []
    for path in FRESH:
        module, _, name = path.partition(":")
        try:
            classes.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(classes)


def aliased_input(node: Apply, out: int) -> int | None:
    """The input whose buffer output `out` of `node` shares (a view or a destroyed input)."""
    op = node.op
    for mapping in (op.view_map, op.destroy_map):
        if out in mapping:
            return mapping[out][0]
    if isinstance(op, Elemwise):
        if op.scalar_op.name in ALIASING_SCALAR_OPS:
            return ALIASING_SCALAR_OPS[op.scalar_op.name]
        if op.scalar_op.nin is None and len(node.inputs) == 1:
            return 0  # add(x) / mul(x) of one input return x itself
    return None


def is_view(v: Variable) -> bool:
    """True when `v` is a view of another variable (not its own buffer, nor a new version)."""
    node = v.owner
    if node is None:
        return False
    k = aliased_input(node, v.index)
    return k is not None and v.index not in node.op.destroy_map


def base(v: Variable) -> Variable:
    """The variable that owns the buffer `v` lives in (through views and in-place ops)."""
    while v.owner is not None:
        k = aliased_input(v.owner, v.index)
        if k is None:
            break
        v = v.owner.inputs[k]
    return v


class DestroyHandler:
    """Feature: validates in-place nodes and orders the readers of a buffer before its destroyer.

    Checks take `positions` (node -> index in a valid schedule), so they stay cheap: a reader
    scheduled before the destroyer can be neither its descendant nor close a cycle. A reader
    scheduled after it is only accepted for a shared variable's update (then the graph is
    searched from the destroyer, which is near the end of the graph).
    """

    def __init__(self):
        self.before: dict[Apply, set[Apply]] = {}  # destroyer -> readers that run first
        self.after: dict[Apply, set[Apply]] = {}  # reader -> destroyers that wait for it
        self._fresh: tuple[type, ...] | None = None
        self._update_of: dict[Variable, int] | None = None  # shared input -> its update output

    def on_attach(self, fg: FunctionGraph) -> None:
        self.fg = fg

    def orderings(self, fg: FunctionGraph) -> dict[Apply, list[Apply]]:
        """destroyer -> the other readers of the value it overwrites (they must run first).

        Recomputed from the graph, so it stays right whatever was rewritten since."""
        out: dict[Apply, list[Apply]] = {}
        for d in self.before:
            if d not in fg.apply_nodes:
                continue
            for ins in d.op.destroy_map.values():
                for k in ins:
                    readers = self._readers(d, k)
                    if isinstance(readers, set) and readers:
                        out.setdefault(d, []).extend(readers)
        return out

    # --- queries ---
    def version(self, v: Variable) -> list[Variable]:
        """`v` and every view of it (the variables that read this value of the buffer)."""
        out, stack = [], [v]
        while stack:
            u = stack.pop()
            out.append(u)
            for client, _ in self.fg.clients.get(u, ()):
                if client == OUTPUT:
                    continue
                for o in client.outputs:
                    if is_view(o) and client.inputs[aliased_input(client, o.index)] is u:
                        stack.append(o)
        return out

    def check(self, node: Apply, k: int, out: int, positions: dict[Apply, int]) -> str | set[Apply]:
        """The readers that must run before `node` if it overwrites its input `k` with output
        `out`, or a string saying why it may not."""
        v = node.inputs[k]
        if is_view(v):
            return f"{v} is a view of another buffer"
        owner = base(v)
        if isinstance(owner, Constant):
            return f"{v} is a constant"
        if owner.owner is None:
            reason = self._input_rule(owner, node.outputs[out])
            if reason:
                return reason
        else:
            if self._fresh is None:
                self._fresh = _fresh_classes()
            if not isinstance(owner.owner.op, self._fresh):
                return f"{owner} is made by {owner.owner.op}, which may not own its result"
        readers = self._readers(node, k)
        if isinstance(readers, str):
            return readers
        here = positions.get(node, -1)
        late = {r for r in readers if positions.get(r, -1) > here}
        if late and owner.owner is not None:
            return f"a node that reads {v} is scheduled after {node.op}"
        if late and late & self.descendants(node):
            return f"a node that reads {v} needs the result of {node.op}"
        return readers

    def _input_rule(self, owner: Variable, result: Variable) -> str | None:
        if not getattr(owner, "is_shared", False):
            return f"{owner} is an input of the function (its value belongs to the caller)"
        if self._update_of is None:
            fg = self.fg
            updates = getattr(fg, "update_mapping", None) or {}
            self._update_of = {fg.inputs[i]: o for o, i in updates.items()}
        o = self._update_of.get(owner)
        if o is None or self.fg.outputs[o] is not result:
            return f"{owner} is a shared variable and this is not its update"
        return None

    def _readers(self, node: Apply, k: int) -> set[Apply] | str:
        """The other nodes reading input k's value, or why it cannot be destroyed."""
        fg, v = self.fg, node.inputs[k]
        readers: set[Apply] = set()
        for u in self.version(v):
            for client, j in fg.clients.get(u, ()):
                if client == OUTPUT:
                    return f"{u} is an output of the function"
                if client is node:
                    if j != k and (u is not v or not isinstance(node.op, Elemwise)):
                        return f"{node.op} also reads {u} through input {j}"
                    continue
                if all(is_view(o) and aliased_input(client, o.index) == j for o in client.outputs):
                    continue  # a view is no read; its clients are in `version`
                if any(j in ins for ins in client.op.destroy_map.values()):
                    return f"{client.op} already destroys {u}"
                readers.add(client)
        return readers

    def descendants(self, node: Apply) -> set[Apply]:
        """Nodes that must run after `node`: data dependents and ordering constraints."""
        out, stack = set(), [node]
        while stack:
            n = stack.pop()
            nexts = [c for o in n.outputs for c, _ in self.fg.clients.get(o, ()) if c != OUTPUT]
            for c in nexts + list(self.after.get(n, ())):
                if c not in out:
                    out.add(c)
                    stack.append(c)
        return out

    # --- changes ---
    def register(self, destroyer: Apply, readers: set[Apply]) -> None:
        """Record a new in-place node and the readers that must run before it."""
        self.before[destroyer] = set(readers)
        for r in readers:
            self.after.setdefault(r, set()).add(destroyer)
        self.fg._order = None

    def replaced(self, old: Apply, new: Apply) -> None:
        """`new` took the place of `old` (same inputs): move its ordering constraints."""
        for table, reverse in ((self.before, self.after), (self.after, self.before)):
            if old in table:
                table[new] = table.pop(old)
                for other in table[new]:
                    reverse[other].discard(old)
                    reverse[other].add(new)


def owns_buffer(fg: FunctionGraph, v: Variable, shared: Variable) -> bool:
    """Whether `v`, the new value of `shared`, lives in memory of its own (or shared's own)."""
    if is_view(v):
        return False
    owner = base(v)
    if owner is shared:
        return True  # written in place into the shared variable's storage
    if owner.owner is None:
        return False  # a constant or another input: its array would be aliased
    return isinstance(owner.owner.op, _fresh_classes())


def protect_updates(fg: FunctionGraph) -> int:
    """Give every update a buffer of its own (a copy where it would alias a constant, an input
    or a view): a storage's array must stay private, as later calls may write into it."""
    from symgraph.ops.composite import copy_of

    count = 0
    for o, i in (getattr(fg, "update_mapping", None) or {}).items():
        v = fg.outputs[o]
        if not owns_buffer(fg, v, fg.inputs[i]):
            fg.change_input(OUTPUT, o, copy_of(v), "private update buffer")
            count += 1
    return count


def destroy_handler(fg: FunctionGraph) -> DestroyHandler:
    """The graph's DestroyHandler, attached on first use."""
    for f in fg.features:
        if isinstance(f, DestroyHandler):
            return f
    handler = DestroyHandler()
    fg.attach_feature(handler)
    return handler
