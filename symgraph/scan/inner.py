"""Inner graphs of loop and branch ops (Scan, IfElse): closing them, compiling them, their shapes.

An inner graph is closed: every variable it reads is one of its inner inputs (placeholders)
or a constant. Variables that a user's function captured from the outer graph (shared
variables, other free variables) become extra inputs of the op, in the order found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from symgraph.graph import Constant, Variable, clone_replace, graph_inputs, toposort


def placeholder(like: Variable, type_=None, name: str | None = None) -> Variable:
    """A fresh ownerless variable of `like`'s type (or `type_`), keeping `like`'s user line."""
    var = (type_ or like.type)(name if name is not None else like.name)
    var.trace = like.trace
    value = getattr(like.tag, "test_value", None)
    if value is not None:  # Theano's test values: one step's slice of the outer value
        value = value[0] if np.ndim(value) == var.ndim + 1 else value
        if np.ndim(value) == var.ndim:
            var.tag.test_value = value
    return var


def free_variables(outputs: Sequence[Variable], bound: Sequence[Variable]) -> list[Variable]:
    """Graph inputs of `outputs` that are neither `bound` nor constants, in a stable order."""
    bound_ids = {id(v) for v in bound}
    return [
        v
        for v in graph_inputs(outputs, stop=bound)
        if id(v) not in bound_ids and not isinstance(v, Constant)
    ]


def close_graph(
    outputs: Sequence[Variable],
    replace: Mapping[Variable, Variable],
    placeholders: Sequence[Variable] = (),
) -> tuple[list, list, list]:
    """Clone `outputs` with `replace` (outer -> inner) and free variables turned into inputs.

    Returns (inner outputs, implicit outer variables, their inner placeholders).
    """
    replace = dict(replace)
    implicit = free_variables(outputs, list(replace) + list(placeholders))
    implicit_inner = [placeholder(v) for v in implicit]
    replace.update(zip(implicit, implicit_inner))
    inner, _ = clone_replace(list(outputs), replace)
    return inner, implicit, implicit_inner


def check_closed(outputs: Sequence[Variable], inputs: Sequence[Variable], what: str) -> None:
    """Fail loudly if an inner graph reads a variable that is not one of its inputs."""
    missing = free_variables(outputs, inputs)
    if missing:
        v = missing[0]
        raise AssertionError(
            f"{what}: the inner graph reads {v}{v.where()}, which is not one of "
            "its inputs (a bug in symgraph)"
        )


def compile_inner(inputs: Sequence[Variable], outputs: Sequence[Variable], mode: Any, borrow: bool):
    """A compiled Function for an inner graph (the python backend unless `mode` says otherwise)."""
    from symgraph.compile.mode import Mode
    from symgraph.function import Out, function

    if mode is None:
        mode = Mode(backend="python")
    return function(
        list(inputs),
        [Out(o, borrow=borrow) for o in outputs],
        mode=mode,
        trust_input=True,
        on_unused_input="ignore",
    )


def infer_inner_shapes(
    inputs: Sequence[Variable], input_shapes: Sequence[tuple], outputs: Sequence[Variable]
) -> list[tuple]:
    """Shapes of inner `outputs` from the shapes of the inner `inputs` (ints or symbolic).

    Raises NotImplementedError when a shape depends on inner values (e.g. arange(x_t)) or an
    inner op has no infer_shape.
    """
    shapes: dict[Variable, tuple] = dict(zip(inputs, (tuple(s) for s in input_shapes)))

    def shape_of(v: Variable) -> tuple:
        if v in shapes:
            return shapes[v]
        if isinstance(v, Constant):
            return tuple(getattr(v.data, "shape", ()))
        raise NotImplementedError(f"no shape known for {v}")

    for node in toposort(outputs, stop=inputs):
        out_shapes = node.op.infer_shape(node, [shape_of(i) for i in node.inputs])
        for out, shp in zip(node.outputs, out_shapes):
            shapes[out] = tuple(shp)
    result = [shape_of(o) for o in outputs]
    inner_ids = {id(v) for v in inputs}
    for shp in result:
        for entry in shp:
            if isinstance(entry, Variable) and any(
                id(v) in inner_ids for v in graph_inputs([entry])
            ):
                raise NotImplementedError(
                    "the shape of an inner output depends on values computed inside the loop "
                    "or branch, so it is only known at run time"
                )
    return result
