"""The rewrite engine: apply Rules to a FunctionGraph until nothing matches (a fixed point).

A worklist holds the nodes to look at; rules are indexed by op class (and by scalar op for
Elemwise), so a node is only tried against rules that can match its op. When a rule fires,
the new nodes and the clients of the replaced variable go back on the worklist. Along the
way the engine merges nodes that became identical (same op, same inputs), checks the type
of every replacement, carries the user's creation trace to the new variables, counts hits
per rule, and stops rewrite loops with an error naming the rules involved.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence

from symgraph.fgraph import OUTPUT, FunctionGraph
from symgraph.graph import Apply, Constant, Op, Variable
from symgraph.ops.elemwise import Elemwise
from symgraph.opt.pattern import Rule, Rules, index_keys, match
from symgraph.types import TensorType

LOOP_REPEATS = 3  # the same node rewritten this many times by one rule means a loop


class RewriteError(RuntimeError):
    """A rewrite rule misbehaved (its replacement is not a valid substitute)."""


class RewriteTypeError(RewriteError, TypeError):
    """A rule's replacement has a different type (dtype or rank) than what it replaces."""


class RewriteLoopError(RewriteError):
    """Rules keep undoing each other, so the rewrite never reaches a fixed point."""


def where(v: Variable) -> str:
    return f"{v}{v.where()}"


class _Tracker:
    """Feature: puts changed and new nodes back on the engine's worklist."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def on_import(self, fg: FunctionGraph, node: Apply, reason: str) -> None:
        self.engine.push(node, touched=True)

    def on_change_input(self, fg, client, i, old, new, reason) -> None:
        if not isinstance(client, Apply):
            return
        self.engine.push(client, touched=True)
        # A pattern rooted above the client may match now: one naming the client's op at
        # level L has its root L - 1 levels up, and one naming the new input's op at level L
        # (z - k*gemv(z, ...) once the gemv replaced z*b + dot) L - 2 levels up.
        engine = self.engine
        up = engine.reach(client.op) - 1
        if new.owner is not None:
            up = max(up, engine.reach(new.owner.op) - 2)
        level = [client]
        for _ in range(up):
            level = [c for node in level for v in node.outputs
                     for c, _ in fg.clients.get(v, ()) if isinstance(c, Apply)]
            for node in level:
                engine.push(node)


def _op_keys(op: Op) -> tuple[tuple, list]:
    """(a cache key for ops alike, the engine's index keys that may name `op`: its scalar
    op's name for an Elemwise, then its classes)."""
    name = op.scalar_op.name if isinstance(op, Elemwise) else None
    return (type(op), name), ([("elemwise", name)] if name else []) + list(type(op).__mro__)


def _spec_levels(pattern, level: int = 1):
    """(spec, level) of every node of a pattern (the root at level 1)."""
    if getattr(pattern, "args", None) is None:
        return
    yield pattern.spec, level
    for a in pattern.args:
        yield from _spec_levels(a, level + 1)


class Engine:
    """One equilibrium run of `rules` over `fg` (see :func:`equilibrium`)."""

    def __init__(
        self,
        fg: FunctionGraph,
        rules: Sequence[Rule],
        pass_name: str,
        max_steps: int | None = None,
        followup: Sequence[Rule] = (),
    ):
        self.fg = fg
        self.pass_name = pass_name
        self.index: dict = {}
        self.followup = {id(r) for r in followup}  # tried only on new or changed nodes
        self.touched: set[Apply] = set()
        for k, rule in enumerate(list(rules) + list(followup)):
            for key in index_keys(rule.pattern.spec):
                self.index.setdefault(key, []).append((k, rule))
        self.deepest: dict = {}  # index key -> the deepest level a pattern names it at
        for rule in [*rules, *followup]:
            for spec, level in _spec_levels(rule.pattern):
                for key in index_keys(spec):
                    self.deepest[key] = max(level, self.deepest.get(key, 0))
        self._reach: dict = {}
        self._for_op: dict = {}
        self.hits: Counter = Counter()
        self.work: deque[Apply] = deque()
        self.queued: set[Apply] = set()
        self.history: dict = {}
        self.log: list[str] = []
        n = len(fg.apply_nodes)
        self.max_steps = max_steps if max_steps is not None else 100 * n + 1000

    # --- bookkeeping ---
    def push(self, node: Apply, touched: bool = False) -> None:
        if touched:
            self.touched.add(node)
        if node not in self.queued:
            self.queued.add(node)
            self.work.append(node)

    def reach(self, op: Op) -> int:
        """The deepest level at which some pattern may match `op` (0: none)."""
        key, index_keys_of_op = _op_keys(op)
        found = self._reach.get(key)
        if found is None:
            levels = (self.deepest.get(k, 0) for k in index_keys_of_op)
            found = self._reach[key] = max(levels, default=0)
        return found

    def rules_for(self, op: Op) -> list[Rule]:
        key, index_keys_of_op = _op_keys(op)
        found = self._for_op.get(key)
        if found is None:
            pairs = [pair for k in index_keys_of_op for pair in self.index.get(k, [])]
            found = [rule for _, rule in sorted(dict(pairs).items())]
            self._for_op[key] = found
        return found

    # --- the loop ---
    def run(self) -> Counter:
        fg = self.fg
        tracker = _Tracker(self)
        for node in fg.toposort():
            self.push(node)
        fg.attach_feature(tracker)
        try:
            while self.work:
                node = self.work.popleft()
                self.queued.discard(node)
                if node in fg.apply_nodes and not self._merge(node):
                    self._rewrite(node)
        finally:
            fg.remove_feature(tracker)
        return self.hits

    def _merge(self, node: Apply) -> bool:
        """Merge a new or changed node into an identical one already in the graph."""
        if node not in self.touched or not node.inputs or node.op.destroy_map:
            return False  # untouched nodes were merged by the merge pass already
        fg = self.fg
        fewest = min((fg.clients.get(v, {}) for v in node.inputs), key=len)
        for other, _ in list(fewest):
            if (
                other is node
                or other == OUTPUT
                or other.op != node.op
                or len(other.inputs) != len(node.inputs)
            ):
                continue
            if all(
                a is b or (isinstance(a, Constant) and a.equals(b))
                for a, b in zip(node.inputs, other.inputs)
            ):
                for old, new in zip(node.outputs, other.outputs):
                    if old in fg.variables:
                        fg.replace(old, new, "merge", validate=False)
                self.hits["merge"] += 1
                return True
        return False

    def _rewrite(self, node: Apply) -> None:
        fg = self.fg
        rules = self.rules_for(node.op)
        if node not in self.touched and self.followup:
            rules = [r for r in rules if id(r) not in self.followup]
        for out in node.outputs:
            for rule in rules:
                if not fg.clients.get(out):
                    break
                captures = match(rule.pattern, out, root_checked=True)
                if captures is None:
                    continue
                result = rule.apply(captures, fg)
                if result is None:
                    continue
                pairs = result.items() if isinstance(result, dict) else [(out, result)]
                pairs = [
                    (old, new)
                    for old, new in pairs
                    if new is not None
                    and new is not old
                    and old in fg.variables
                    and self._acceptable(rule, old, new)
                ]
                for old, new in pairs:
                    self._replace(rule, old, new)
                if node not in fg.apply_nodes:
                    return

    def _acceptable(self, rule: Rule, old: Variable, new: Variable) -> bool:
        """Type check: same dtype and rank, and at least as much static shape knowledge."""
        if not isinstance(new, Variable):
            raise RewriteTypeError(
                f"rewrite rule {rule.name!r} ({self.pass_name}) returned {type(new).__name__} "
                f"for {where(old)}; a rule must return a Variable or None"
            )
        if new.type == old.type:
            return True
        if (
            not (isinstance(new.type, TensorType) and isinstance(old.type, TensorType))
            or new.type.dtype != old.type.dtype
            or new.type.ndim != old.type.ndim
        ):
            raise RewriteTypeError(
                f"rewrite rule {rule.name!r} ({self.pass_name}) replaced {where(old)} of type "
                f"{old.type} by {new} of type {new.type}; a replacement must have the same "
                "dtype and number of dimensions"
            )
        return old.type.is_super(new.type)  # else it would lose static shape information

    def _replace(self, rule: Rule, old: Variable, new: Variable) -> None:
        self._check_loop(rule, old)
        self._adopt(rule, old, new)
        self.fg.replace(old, new, rule.name, validate=False)
        self.hits[rule.name] += 1
        self.log.append(rule.name)
        if len(self.log) > self.max_steps:
            top = ", ".join(f"{n!r} ({c})" for n, c in Counter(self.log).most_common(4))
            raise RewriteLoopError(
                f"the {self.pass_name} rewrites did not reach a fixed point after "
                f"{self.max_steps} steps; the rules firing most were {top}"
            )

    def _check_loop(self, rule: Rule, old: Variable) -> None:
        node = old.owner
        key = (node.op, tuple(map(id, node.inputs)), old.index, rule.name)
        count, first, keep = self.history.get(key, (0, len(self.log), tuple(node.inputs)))
        count += 1
        self.history[key] = (count, first, keep)
        if count >= LOOP_REPEATS:
            involved = list(dict.fromkeys(self.log[first:] + [rule.name]))
            raise RewriteLoopError(
                f"rewrite loop in {self.pass_name}: the rules {involved} keep undoing each "
                f"other on {where(old)}; each rewrote it {count - 1} times. Fix one of them "
                "or exclude it."
            )

    def _adopt(self, rule: Rule, old: Variable, new: Variable) -> None:
        """Give the new variables the old one's trace and name; refuse cycles."""
        fg = self.fg
        stack, seen = [new], set()
        while stack:
            v = stack.pop()
            if v is old:
                raise RewriteError(
                    f"rewrite rule {rule.name!r} ({self.pass_name}) built a replacement for "
                    f"{where(old)} that depends on the variable it replaces"
                )
            if id(v) in seen or v in fg.variables or v.owner is None:
                continue
            seen.add(id(v))
            for out in v.owner.outputs:
                out.trace = old.trace
            stack.extend(v.owner.inputs)
        if id(new) in seen and new.name is None:
            new.name = old.name


def equilibrium(
    fg: FunctionGraph,
    rules: Rules | Sequence[Rules],
    pass_name: str | None = None,
    max_steps: int | None = None,
    followup: Sequence[Rules] = (),
) -> Counter:
    """Apply `rules` to `fg` until none matches; returns the hit count per rule name.

    `followup` rules (e.g. canonical forms, already reached by an earlier pass) are tried only
    on the nodes this run creates or changes.
    """
    tables = [rules] if isinstance(rules, Rules) else list(rules)
    flat = [r for t in tables for r in t.rules]
    extra = [r for t in followup for r in t.rules]
    name = pass_name or "+".join(t.name for t in tables)
    hits = Engine(fg, flat, name, max_steps, extra).run()
    record(fg, name, hits)
    return hits


def record(fg: FunctionGraph, pass_name: str, hits: Counter) -> None:
    """Add `hits` to fg.rewrites ({pass: Counter of rule hits}), read by print_rewrites."""
    stats = fg.__dict__.setdefault("rewrites", {})
    stats.setdefault(pass_name, Counter()).update({k: v for k, v in hits.items() if v})
