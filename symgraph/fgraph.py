"""FunctionGraph: the mutable graph of one compilation, with clients, replace and features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from symgraph.graph import Apply, Constant, Variable, clone_replace, toposort


class Feature(Protocol):
    """Listens to graph changes (shape tracking, in-place safety, rewrite bookkeeping)."""

    def on_attach(self, fg: FunctionGraph) -> None: ...
    def on_import(self, fg: FunctionGraph, node: Apply, reason: str) -> None: ...
    def on_prune(self, fg: FunctionGraph, node: Apply, reason: str) -> None: ...
    def on_change_input(
        self,
        fg: FunctionGraph,
        node: Apply | str,
        i: int,
        old: Variable,
        new: Variable,
        reason: str,
    ) -> None: ...


OUTPUT = "output"  # the client of a graph output is ("output", position)


class FunctionGraph:
    """A graph from `inputs` to `outputs` that rewrites may change in place.

    By default the graph is cloned first, so the user's variables are never modified;
    ``memo`` maps the user's variables to the clones.
    """

    def __init__(
        self,
        inputs: Sequence[Variable],
        outputs: Sequence[Variable],
        clone: bool = True,
        features: Sequence[Any] = (),
    ):
        if clone:
            # copy_inputs: nodes that read only shared variables or constants are copied too,
            # so rewrites never change the user's graph
            outputs, memo = clone_replace(
                list(outputs), {i: i.clone() for i in inputs}, copy_inputs=True
            )
            inputs = [memo[i] for i in inputs]
            self.memo = memo
        else:
            self.memo = {}
        self.inputs: list[Variable] = list(inputs)
        self.outputs: list[Variable] = list(outputs)
        # clients[v]: the (node, input position) pairs reading v, as keys of an ordered dict
        # (O(1) removal, so rewriting stays linear in the graph size)
        self.clients: dict[Variable, dict[tuple[Apply | str, int], None]] = {}
        self._input_set: set[Variable] = set(self.inputs)
        self.apply_nodes: set[Apply] = set()
        self.variables: set[Variable] = set()
        self.features: list[Any] = []
        self._order: list[Apply] | None = None
        for v in self.inputs:
            self._add_variable(v)
        for node in toposort(self.outputs):
            self._import_node(node, "init")
        for i, out in enumerate(self.outputs):
            self._add_variable(out)
            self.clients[out][(OUTPUT, i)] = None
        for f in features:
            self.attach_feature(f)

    # --- structure ---
    def _add_variable(self, v: Variable) -> None:
        if v not in self.variables:
            self.variables.add(v)
            self.clients.setdefault(v, {})

    def _import_node(self, node: Apply, reason: str) -> None:
        if node in self.apply_nodes:
            return
        for inp in node.inputs:
            if inp.owner is not None and inp.owner not in self.apply_nodes:
                self._import_node(inp.owner, reason)
            elif inp.owner is None and inp not in self.variables and not isinstance(inp, Constant):
                if not getattr(inp, "is_shared", False):
                    raise MissingInputError(inp)
            self._add_variable(inp)
        self.apply_nodes.add(node)
        for i, inp in enumerate(node.inputs):
            self.clients[inp][(node, i)] = None
        for out in node.outputs:
            self._add_variable(out)
        self._order = None
        for f in self.features:
            getattr(f, "on_import", _noop)(self, node, reason)

    def _prune_if_unused(self, v: Variable, reason: str) -> None:
        stack = [v]  # iterative: pruning a long chain must not hit the recursion limit
        while stack:
            node = stack.pop().owner
            if node is None or node not in self.apply_nodes:
                continue
            if any(self.clients.get(o) for o in node.outputs):
                continue
            self.apply_nodes.discard(node)
            self._order = None
            for out in node.outputs:
                self.variables.discard(out)
                self.clients.pop(out, None)
            for f in self.features:
                getattr(f, "on_prune", _noop)(self, node, reason)
            for i, inp in enumerate(node.inputs):
                clients = self.clients.get(inp)
                if clients is not None:
                    clients.pop((node, i), None)
                    if not clients and inp not in self._input_set:
                        if inp.owner is not None:
                            stack.append(inp)
                        else:
                            self.variables.discard(inp)
                            self.clients.pop(inp, None)

    def change_input(self, client: Apply | str, i: int, new: Variable, reason: str = "") -> None:
        """Make input `i` of `client` (or output `i` when client is 'output') be `new`."""
        if client == OUTPUT:
            old = self.outputs[i]
            self.outputs[i] = new
        else:
            old = client.inputs[i]
            client.inputs[i] = new
        if old is new:
            return
        if new.owner is not None:
            self._import_node(new.owner, reason)
        self._add_variable(new)
        self.clients[new][(client, i)] = None
        del self.clients[old][(client, i)]
        self._order = None
        for f in self.features:
            getattr(f, "on_change_input", _noop)(self, client, i, old, new, reason)
        if not self.clients[old] and old not in self._input_set:
            self._prune_if_unused(old, reason)
            if old.owner is None:
                self.variables.discard(old)
                self.clients.pop(old, None)

    def replace(
        self, old: Variable, new: Variable, reason: str = "", validate: bool = True
    ) -> None:
        """Replace every use of `old` by `new` (their types must be equal)."""
        if old is new:
            return
        if validate and old.type != new.type:
            raise TypeError(
                f"replacement for {old} has type {new.type}, but the original has type {old.type}"
                + (f" (rewrite {reason})" if reason else "")
            )
        if old not in self.variables:
            return
        for client, i in list(self.clients[old]):
            self.change_input(client, i, new, reason)

    def replace_all(self, pairs: Sequence[tuple[Variable, Variable]], reason: str = "") -> None:
        for old, new in pairs:
            self.replace(old, new, reason)

    # --- queries ---
    def toposort(self) -> list[Apply]:
        if self._order is None:
            extra = self.orderings()
            self._order = (
                _ordered_toposort(self.outputs, extra) if extra else toposort(self.outputs)
            )
        return self._order

    def orderings(self) -> dict[Apply, list[Apply]]:
        """Extra 'runs after' constraints from features (in-place safety): node -> earlier nodes."""
        out: dict[Apply, list[Apply]] = {}
        for f in self.features:
            for node, before in getattr(f, "orderings", _no_orderings)(self).items():
                out.setdefault(node, []).extend(before)
        return out

    def attach_feature(self, feature: Any) -> None:
        self.features.append(feature)
        getattr(feature, "on_attach", _noop)(self)

    def remove_feature(self, feature: Any) -> None:
        self.features.remove(feature)

    def __str__(self) -> str:
        return f"FunctionGraph({', '.join(map(str, self.outputs))})"


def _noop(*args, **kwargs) -> None:
    return None


def _no_orderings(fg: FunctionGraph) -> dict:
    return {}


def _ordered_toposort(outputs: Sequence[Variable], extra: dict[Apply, list[Apply]]) -> list[Apply]:
    """toposort where node n also comes after every node in extra[n]."""
    order: list[Apply] = []
    seen: set[Apply] = set()
    for out in outputs:
        if out.owner is None or out.owner in seen:
            continue
        seen.add(out.owner)
        stack = [(out.owner, iter(_before(out.owner, extra)))]
        while stack:
            node, it = stack[-1]
            for dep in it:
                if dep not in seen:
                    seen.add(dep)
                    stack.append((dep, iter(_before(dep, extra))))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _before(node: Apply, extra: dict[Apply, list[Apply]]) -> list[Apply]:
    return [v.owner for v in node.inputs if v.owner is not None] + extra.get(node, [])


class MissingInputError(ValueError):
    """A graph needs a variable that was not given as an input of the function."""

    def __init__(self, var: Variable):
        name = var.name or str(var)
        super().__init__(
            f"Input {name!r}{var.where()} is needed to compute the outputs but was not given in "
            "the list of inputs of the function (nor as a shared variable, constant or givens)."
        )
        self.variable = var
