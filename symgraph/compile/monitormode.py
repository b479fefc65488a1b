"""MonitorMode: call ``pre_func(i, node, fn)`` / ``post_func(i, node, fn)`` around every node.

As in Theano, ``fn.inputs`` and ``fn.outputs`` are lists of one-element storage cells
(``fn.outputs[0][0]`` is the first output's value, set after the node ran). The graph runs
node by node with the numpy reference code (the python backend), after the mode's rewrites.

Examples
--------
>>> import numpy as np, symgraph as sg, symgraph.tensor as T
>>> seen = []
>>> x = T.dvector("x")
>>> mode = sg.compile.MonitorMode(post_func=lambda i, node, fn: seen.append(str(node.op)))
>>> f = sg.function([x], T.exp(x) * 2, mode=mode)
>>> _ = f(np.zeros(2))
>>> len(seen) >= 1
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from symgraph.codegen.python import PythonProgram, node_error
from symgraph.compile.mode import ReferenceMode
from symgraph.fgraph import FunctionGraph
from symgraph.graph import Apply

Hook = Callable[[int, Apply, "Thunk"], object]


class Thunk:
    """One node's run: its storage cells (``inputs[k][0]``, ``outputs[k][0]``) and its op."""

    __slots__ = ("node", "op", "inputs", "outputs")

    def __init__(self, node: Apply, inputs: list, n_outputs: int):
        self.node, self.op = node, node.op
        self.inputs = [[v] for v in inputs]
        self.outputs = [[None] for _ in range(n_outputs)]


class SteppedProgram(PythonProgram):
    """The python reference program with a hook before and after each node."""

    def __init__(self, fg: FunctionGraph, pre: Hook | None = None, post: Hook | None = None):
        super().__init__(fg)
        self.pre, self.post = pre, post

    def __call__(self, values: list) -> list:
        storage = self.template.copy()
        storage[: self.n_inputs] = values
        with np.errstate(all="ignore"):
            for i, (perform, node, ins, outs) in enumerate(self.steps):
                thunk = Thunk(node, [storage[k] for k in ins], len(outs))
                if self.pre is not None:
                    self.pre(i, node, thunk)
                args = [cell[0] for cell in thunk.inputs]
                try:
                    results = perform(node, args)
                except Exception as exc:
                    raise node_error(node, exc, args) from exc
                for cell, value in zip(thunk.outputs, results):
                    cell[0] = value
                if self.post is not None:
                    self.post(i, node, thunk)
                for k, cell in zip(outs, thunk.outputs):
                    storage[k] = cell[0]
        return [storage[i] for i in self.output_slots]


class MonitorMode(ReferenceMode):
    """A Mode that calls `pre_func` and `post_func` around the execution of every node.

    Parameters
    ----------
    pre_func, post_func : callables ``func(i, node, fn)``; `i` is the node's position in the
        schedule, `node` the Apply node, `fn` its Thunk (storage cells ``fn.inputs`` and
        ``fn.outputs``).
    optimizer : as for Mode ('fast_run' by default).
    """

    def __init__(
        self,
        pre_func: Hook | None = None,
        post_func: Hook | None = None,
        optimizer="fast_run",
        linker=None,
        including=(),
        excluding=(),
    ):
        super().__init__(optimizer, linker, including, excluding)
        self.pre_func, self.post_func = pre_func, post_func

    def link(self, fg: FunctionGraph, name: str | None = None, profile=None) -> SteppedProgram:
        return SteppedProgram(fg, self.pre_func, self.post_func)

    def __str__(self) -> str:
        return f"MonitorMode(optimizer={self.optimizer!r})"

    __repr__ = __str__
