"""The reference backend: each node's numpy `perform`, in topological order (the oracle)."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable

import numpy as np

from symgraph.fgraph import FunctionGraph
from symgraph.graph import Apply, Constant, Op


@functools.cache
def _method_params(function: Callable) -> int:
    """Parameters of a perform method, self excluded (inspect.signature is ~60 us a call)."""
    return len(inspect.signature(function).parameters) - 1


def perform_function(op: Op) -> Callable[[Apply, list], list]:
    """`op.perform` as (node, inputs) -> outputs; Theano-style perform(node, i, storage) too."""
    perform = op.perform
    try:
        function = getattr(perform, "__func__", None)  # a method: one answer per class
        n_params = (_method_params(function) if function is not None
                    else len(inspect.signature(perform).parameters))
    except (TypeError, ValueError):
        n_params = 2
    if n_params >= 3:

        def theano_style(node: Apply, inputs: list) -> list:
            storage = [[None] for _ in node.outputs]
            perform(node, inputs, storage)
            return [cell[0] for cell in storage]

        return theano_style
    return perform


def node_error(node: Apply, exc: Exception, inputs: list) -> Exception:
    """`exc` re-raised with the node, its input shapes and the user's line for the output."""
    shapes = ", ".join(str(getattr(x, "shape", type(x).__name__)) for x in inputs)
    dtypes = ", ".join(str(getattr(x, "dtype", "")) for x in inputs)
    origin = getattr(node, "origin", None)
    origin = node.outputs[0] if origin is None else origin
    where = origin.trace or "unknown"
    text = (
        f"{exc}\nApply node that caused the error: {node}\n"
        f"Inputs shapes: ({shapes})\nInputs dtypes: ({dtypes})\n"
        f"The expression was created at {where}"
    )
    try:
        new = type(exc)(text)
    except Exception:
        new = RuntimeError(text)
    new.node = node  # type: ignore[attr-defined]
    return new


class PythonProgram:
    """Runs the nodes of a FunctionGraph one by one with their numpy reference code."""

    def __init__(self, fg: FunctionGraph, profile=None):
        self.fgraph = fg
        self.profile = profile
        slot: dict = {}
        template: list = []

        def slot_of(v) -> int:
            if v not in slot:
                slot[v] = len(template)
                template.append(v.data if isinstance(v, Constant) else None)
            return slot[v]

        for v in fg.inputs:
            slot_of(v)
        self.steps = []
        for node in fg.toposort():
            ins = [slot_of(v) for v in node.inputs]
            outs = [slot_of(v) for v in node.outputs]
            self.steps.append((perform_function(node.op), node, ins, outs))
        self.output_slots = [slot_of(v) for v in fg.outputs]
        self.template = template
        self.n_inputs = len(fg.inputs)
        self.fallback_nodes = len(self.steps)
        if profile is not None:
            profile.attach([(node, "fallback") for _, node, _, _ in self.steps])

    def __call__(self, values: list) -> list:
        storage = self.template.copy()
        storage[: self.n_inputs] = values
        profile = self.profile
        start = time.perf_counter() if profile is not None else 0.0
        with np.errstate(all="ignore"):
            for k, (perform, node, ins, outs) in enumerate(self.steps):
                args = [storage[i] for i in ins]
                t = time.perf_counter() if profile is not None else 0.0
                try:
                    results = perform(node, args)
                except Exception as exc:
                    raise node_error(node, exc, args) from exc
                if profile is not None:
                    profile.add_node(k, t)
                for o, r in zip(outs, results):
                    storage[o] = r
        if profile is not None:
            profile.add_call(start)
        return [storage[i] for i in self.output_slots]


class PythonBackend:
    """Backend interface: `compile(fg) -> program`, program(list of inputs) -> list of outputs."""

    name = "python"

    def compile(self, fg: FunctionGraph, **options) -> PythonProgram:
        from symgraph.compile.profiling import make_profile

        return PythonProgram(fg, make_profile(options.get("profile"), options.get("name")))
