"""DebugMode: run the rewritten graph against the unrewritten reference, node by node.

While the passes run, every replacement is recorded, so each variable of the rewritten graph
knows which variable of the user's graph it stands for (and which rules made it). A call
evaluates the user's graph with the numpy reference code; then every replacement, in the
order the rewrites made them, is computed and compared with the value it replaced; then the
rewritten graph runs node by node, each output compared with its reference value. The
first variable that differs raises BadOptimization, naming it, the rule, and the user's line.
Ops that change an input they do not declare in ``destroy_map`` raise BadDestroyMap.

Where the reference is inf or NaN and the rewritten value is finite, a stabilizing rewrite
did its job, and the values count as equal.
"""

from __future__ import annotations

import numpy as np

from symgraph.codegen.python import node_error, perform_function
from symgraph.compile.mode import ReferenceMode
from symgraph.fgraph import FunctionGraph
from symgraph.graph import Apply, Constant, Variable, toposort

TOLERANCES = {
    "float16": (5e-3, 5e-3),
    "float32": (1e-4, 1e-5),
    "float64": (1e-7, 1e-10),
    "complex64": (1e-4, 1e-5),
    "complex128": (1e-7, 1e-10),
}


class DebugModeError(Exception):
    """DebugMode found a problem (Theano's base class of its checks)."""


class BadOptimization(DebugModeError):
    """A rewritten variable computes a different value than the one it replaced."""


class BadDestroyMap(DebugModeError):
    """An op changed an input that its destroy_map does not declare."""


class _Recorder:
    """Feature: remembers every replacement, and for each new variable the user's variable it
    stands for and the rules that made it."""

    def __init__(self, memo: dict):
        self.origin: dict[Variable, tuple[Variable, tuple[str, ...]]] = {
            clone: (user, ()) for user, clone in memo.items()
        }
        self.history: list[tuple[Variable, Variable, str]] = []
        self._seen: set[tuple[int, int]] = set()

    def on_change_input(self, fg, client, i, old, new, reason) -> None:
        if (id(old), id(new)) not in self._seen:
            self._seen.add((id(old), id(new)))
            self.history.append((old, new, reason))
        if new not in self.origin and old in self.origin:
            user, rules = self.origin[old]
            self.origin[new] = (user, rules + ((reason,) if reason else ()))


def values_differ(ref, got) -> str | None:
    """Why `got` is not (approximately) `ref`, or None when they agree."""
    ref, got = np.asarray(ref), np.asarray(got)
    if ref.shape != got.shape:
        return f"shape {got.shape} instead of {ref.shape}"
    if ref.dtype.kind not in "fc":
        return None if np.array_equal(ref, got) else "different values"
    rtol, atol = TOLERANCES.get(got.dtype.name, (1e-7, 1e-10))
    stabilized = ~np.isfinite(ref) & np.isfinite(got)
    close = np.isclose(got, ref, rtol=rtol, atol=atol, equal_nan=True) | stabilized
    if close.all():
        return None
    k = np.flatnonzero(~close)[0]
    return (
        f"at flat index {k}: {got.reshape(-1)[k]!r} instead of {ref.reshape(-1)[k]!r} "
        f"({int((~close).sum())} of {close.size} elements differ)"
    )


class DebugProgram:
    """Runs the reference graph and the rewritten graph side by side (see the module doc)."""

    def __init__(
        self, fg: FunctionGraph, recorder: _Recorder, user_inputs: list, user_outputs: list
    ):
        self.fgraph = fg
        self.origin = recorder.origin
        self.history = recorder.history
        self.user_inputs = user_inputs
        self.reference = toposort(user_outputs)
        self.nodes = fg.toposort()
        self.fallback_nodes = len(self.nodes)

    def __call__(self, values: list) -> list:
        with np.errstate(all="ignore"):
            ref = self._reference([np.copy(v) for v in values])
            self._check_history(ref)
            return self._checked(values, ref)

    def _check_history(self, ref: dict) -> None:
        """Each replacement, in the order the rewrites made them, computes what it replaced."""
        cache: dict[int, object] = {}
        for old, new, reason in self.history:
            user = self.origin.get(old, (None,))[0]
            if user is None or user not in ref:
                continue
            why = values_differ(ref[user], self._value(new, new, ref, cache))
            if why is not None:
                raise BadOptimization(
                    f"DebugMode: the rewrite {reason!r} replaced {user.name or user}"
                    f"{user.where()} by {new} = {new.owner}, which computes a different value: "
                    f"{why}"
                )

    def _value(self, v: Variable, root: Variable, ref: dict, cache: dict):
        """v's value: trusted for a variable that stands for a user's one, else computed."""
        if isinstance(v, Constant):
            return v.data
        user = self.origin.get(v, (None,))[0]
        if user is not None and user in ref and (v is not root or v.owner is None):
            return ref[user]
        if id(v) not in cache:
            node = v.owner
            args = [np.copy(self._value(i, root, ref, cache)) for i in node.inputs]
            for out, value in zip(node.outputs, _perform(node, args)):
                cache[id(out)] = (out, value)
        return cache[id(v)][1]

    def _reference(self, values: list) -> dict:
        env: dict = dict(zip(self.user_inputs, values))
        for node in self.reference:
            args = [np.copy(v.data if isinstance(v, Constant) else env[v]) for v in node.inputs]
            env.update(zip(node.outputs, _perform(node, args)))
        return env

    def _checked(self, values: list, ref: dict) -> list:
        env: dict = dict(zip(self.fgraph.inputs, values))
        for node in self.nodes:
            args = [v.data if isinstance(v, Constant) else env[v] for v in node.inputs]
            kept = _untouched_copies(node, args)
            results = _perform(node, args)
            _check_destroy_map(node, args, kept)
            for out, value in zip(node.outputs, results):
                env[out] = value
                self._compare(node, out, value, ref)
        return [v.data if isinstance(v, Constant) else env[v] for v in self.fgraph.outputs]

    def _compare(self, node: Apply, out: Variable, value, ref: dict) -> None:
        user, rules = self.origin.get(out, (None, ()))
        if user is None or user not in ref:
            return
        why = values_differ(ref[user], value)
        if why is None:
            return
        made_by = ", ".join(repr(r) for r in dict.fromkeys(rules)) or "no rewrite"
        raise BadOptimization(
            f"DebugMode: the rewritten graph computes a different value for "
            f"{user.name or user}{user.where()}: {why}.\n"
            f"  rewritten as {out} = {node}, made by {made_by}"
        )


def _perform(node: Apply, args: list) -> list:
    try:
        return perform_function(node.op)(node, args)
    except Exception as exc:
        raise node_error(node, exc, args) from exc


def _untouched_copies(node: Apply, args: list) -> dict[int, np.ndarray]:
    destroyed = {i for ins in node.op.destroy_map.values() for i in ins}
    return {
        k: np.copy(a)
        for k, a in enumerate(args)
        if k not in destroyed and isinstance(a, np.ndarray)
    }


def _check_destroy_map(node: Apply, args: list, kept: dict) -> None:
    for k, before in kept.items():
        if not np.array_equal(before, args[k], equal_nan=before.dtype.kind in "fc"):
            v = node.inputs[k]
            raise BadDestroyMap(
                f"DebugMode: {node.op} changed its input {k} ({v}{v.where()}), which its "
                "destroy_map does not declare"
            )


class DebugMode(ReferenceMode):
    """Compile with the mode's rewrites, and check every rewritten value at each call.

    Parameters
    ----------
    optimizer : the rewrites to check ('fast_run' by default).
    including, excluding : pass names, as for Mode.
    """

    def __init__(self, optimizer="fast_run", linker=None, including=(), excluding=(), **kwargs):
        super().__init__(optimizer, linker, including, excluding)

    def optimize(self, fg: FunctionGraph):
        inverse = {clone: user for user, clone in fg.memo.items()}
        recorder = _Recorder(fg.memo)
        fg.debug_reference = (
            [inverse.get(v, v) for v in fg.inputs],
            [inverse.get(v, v) for v in fg.outputs],
        )
        fg.attach_feature(recorder)
        try:
            super().optimize(fg)
        finally:
            fg.remove_feature(recorder)
        fg.debug_recorder = recorder
        return fg

    def link(self, fg: FunctionGraph, name: str | None = None, profile=None) -> DebugProgram:
        user_inputs, user_outputs = fg.debug_reference
        return DebugProgram(fg, fg.debug_recorder, user_inputs, user_outputs)

    def __str__(self) -> str:
        return f"DebugMode(optimizer={self.optimizer!r})"

    __repr__ = __str__
