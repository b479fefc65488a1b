"""NanGuardMode: raise at the first node that produces a NaN, an inf or a huge value.

The error names the node and the user's line that created the expression. Inside a fused
node (a Composite) the inner expression that first went bad is named, with its own line.
Inputs are checked too, so a NaN passed in is reported as such.
"""

from __future__ import annotations

import numpy as np

from symgraph.compile.mode import ReferenceMode
from symgraph.compile.monitormode import SteppedProgram, Thunk
from symgraph.fgraph import FunctionGraph
from symgraph.graph import Apply, Variable
from symgraph.ops.composite import Composite, FusedReduce
from symgraph.ops.elemwise import Elemwise

BIG = 1e10  # Theano's threshold for big_is_error


class NanGuardError(AssertionError):
    """A NaN, inf or big value appeared (Theano raises AssertionError here too)."""


class NanGuardMode(ReferenceMode):
    """A Mode that checks every input and every node output for NaN, inf and big values.

    Parameters
    ----------
    nan_is_error, inf_is_error, big_is_error : which checks raise (None: True, as in Theano's
        defaults); big means an absolute value above 1e10.
    optimizer : as for Mode.
    """

    def __init__(
        self,
        nan_is_error: bool | None = None,
        inf_is_error: bool | None = None,
        big_is_error: bool | None = None,
        optimizer="fast_run",
        linker=None,
        including=(),
        excluding=(),
    ):
        super().__init__(optimizer, linker, including, excluding)
        self.nan_is_error = True if nan_is_error is None else nan_is_error
        self.inf_is_error = True if inf_is_error is None else inf_is_error
        self.big_is_error = True if big_is_error is None else big_is_error

    def problem(self, value) -> str | None:
        """'NaN', 'inf' or 'big value' when `value` has one that is an error, else None."""
        arr = np.asarray(value)
        if arr.dtype.kind not in "fc" or arr.size == 0:
            return None
        if self.nan_is_error and np.isnan(arr).any():
            return "NaN"
        if self.inf_is_error and np.isinf(arr).any():
            return "inf"
        if self.big_is_error and (np.abs(arr[np.isfinite(arr)]) > BIG).any():
            return "big value"
        return None

    def link(self, fg: FunctionGraph, name: str | None = None, profile=None) -> SteppedProgram:
        checked_inputs = []

        def pre(i: int, node: Apply, fn: Thunk) -> None:
            if i == 0:
                checked_inputs.clear()
            for v, cell in zip(node.inputs, fn.inputs):
                if v.owner is None and id(v) not in checked_inputs:
                    checked_inputs.append(id(v))
                    what = self.problem(cell[0])
                    if what:
                        raise NanGuardError(
                            f"NanGuardMode: {what} in the input {v.name or v}{v.where()}"
                        )

        def post(i: int, node: Apply, fn: Thunk) -> None:
            for out, cell in zip(node.outputs, fn.outputs):
                what = self.problem(cell[0])
                if what:
                    raise NanGuardError(self._message(what, node, out, fn))

        return SteppedProgram(fg, pre, post)

    def _message(self, what: str, node: Apply, out: Variable, fn: Thunk) -> str:
        origin = getattr(node, "origin", None) or out
        text = (
            f"NanGuardMode: {what} produced by {node}\n"
            f"  the expression created at {origin.trace or 'an unknown line'}"
        )
        inner = _inner_culprit(self, node, [cell[0] for cell in fn.inputs])
        if inner:
            text += f"\n  first bad value inside the fused node: {inner}"
        return text

    def __str__(self) -> str:
        return (
            f"NanGuardMode(nan_is_error={self.nan_is_error}, inf_is_error="
            f"{self.inf_is_error}, big_is_error={self.big_is_error})"
        )

    __repr__ = __str__


def _inner_culprit(mode: NanGuardMode, node: Apply, inputs: list) -> str | None:
    """In a fused node: the first inner expression with a bad value, and its user line."""
    op = node.op
    comp = op.scalar_op if isinstance(op, (Elemwise, FusedReduce)) else None
    if not isinstance(comp, Composite):
        return None
    with np.errstate(all="ignore"):
        values = comp.evaluate(inputs)
    for k in range(comp.nin, len(values)):
        if mode.problem(values[k]):
            trace = comp.traces[k - comp.nin] or "an unknown line"
            return f"{comp._render(k)} (created at {trace})"
    return None
