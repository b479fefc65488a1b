"""Theano's get_scalar_constant_value / extract_constant: the value of a graph known before
any call (a constant, or ops over constants and static shapes), found by folding."""

from __future__ import annotations

import numpy as np

from symgraph.graph import Constant, Variable, toposort


class NotScalarConstantError(TypeError):
    """The variable is not a scalar whose value is known without running the graph."""


def _static_value(v: Variable):
    """The value of `v`, folded through its owners; raises NotScalarConstantError."""
    from symgraph.codegen.python import perform_function
    from symgraph.ops.shape import Shape, Shape_i

    known: dict[Variable, np.ndarray] = {}
    for node in toposort([v]):
        op, x = node.op, node.inputs[0] if node.inputs else None
        static = getattr(getattr(x, "type", None), "shape", None)
        if isinstance(op, Shape) and static is not None and None not in static:
            known[node.outputs[0]] = np.asarray(static, dtype="int64")
            continue
        if isinstance(op, Shape_i) and static is not None and static[op.i] is not None:
            known[node.outputs[0]] = np.asarray(static[op.i], dtype="int64")
            continue
        values = []
        for i in node.inputs:
            if isinstance(i, Constant):
                values.append(i.data)
            elif i in known:
                values.append(known[i])
            else:
                break
        else:
            if op.destroy_map or getattr(op, "nondeterministic", False):
                continue
            try:
                with np.errstate(all="ignore"):
                    results = perform_function(op)(node, values)
            except Exception:
                continue
            known.update({o: np.asarray(r) for o, r in zip(node.outputs, results)})
    if isinstance(v, Constant):
        return np.asarray(v.data)
    if v not in known:
        raise NotScalarConstantError(f"{v}{v.where()} is not a constant")
    return known[v]


def get_scalar_constant_value(v, elemwise: bool = True, only_process_constants: bool = False):
    """The value of the scalar `v` as a 0-d numpy array, when known without running the graph
    (Theano's function: constants, casts, shapes of statically known size, arithmetic).

    Raises NotScalarConstantError otherwise, or when `v` holds more than one distinct value.

    Examples
    --------
    >>> import symgraph.tensor as T
    >>> int(T.get_scalar_constant_value(T.constant(3) * 2))
    6
    """
    if not isinstance(v, Variable):
        data = np.asarray(v)
    elif only_process_constants and not isinstance(v, Constant):
        raise NotScalarConstantError(f"{v}{v.where()} is not a constant")
    else:
        data = _static_value(v)
    if data.dtype == object or data.size == 0:
        raise NotScalarConstantError(f"{v!r} is not a numeric scalar")
    flat = data.ravel()
    if data.ndim > 0 and not (flat.size == 1 or (elemwise and np.all(flat == flat[0]))):
        raise NotScalarConstantError(f"{v} holds more than one value (shape {data.shape})")
    return np.asarray(flat[0])


def extract_constant(x, elemwise: bool = True, only_process_constants: bool = False):
    """`x` as a scalar constant when its value is known (else `x` itself)."""
    from symgraph.variable import constant

    try:
        value = get_scalar_constant_value(x, elemwise, only_process_constants)
    except NotScalarConstantError:
        return x
    if not isinstance(x, Variable):
        return constant(value)
    return constant(value.astype(x.dtype)) if x.ndim == 0 else x
