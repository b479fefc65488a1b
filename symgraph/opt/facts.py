"""Facts about variables that rewrites rely on (finite, nonzero) and small graph helpers."""

from __future__ import annotations

import numpy as np

from symgraph.graph import Constant, Variable
from symgraph.opt.pattern import constant_data
from symgraph.types import DISCRETE_DTYPES

# scalar ops whose result is finite whenever their inputs are
_FINITE_OF_FINITE = frozenset(
    {
        "neg",
        "abs",
        "sgn",
        "sigmoid",
        "tanh",
        "sin",
        "cos",
        "maximum",
        "minimum",
        "clip",
        "switch",
        "second",
        "identity",
        "floor",
        "ceil",
        "trunc",
        "round_half_to_even",
        "round_half_away_from_zero",
        "arctan",
        "erf",
        "erfc",
    }
)


def is_finite(v: Variable, depth: int = 6) -> bool:
    """True when every value of `v` is known to be finite (no NaN, no inf)."""
    if v.dtype in DISCRETE_DTYPES:
        return True
    data = constant_data(v)
    if data is not None:
        return bool(np.all(np.isfinite(data)))
    node = v.owner
    if node is None or depth == 0:
        return False
    from symgraph.ops.elemwise import DimShuffle, Elemwise
    from symgraph.ops.shape import Shape, Shape_i

    op = node.op
    if isinstance(op, (Shape, Shape_i)):
        return True
    if isinstance(op, DimShuffle):
        return is_finite(node.inputs[0], depth - 1)
    if isinstance(op, Elemwise):
        name = op.scalar_op.name
        if name.startswith("cast_") and node.inputs[0].dtype in DISCRETE_DTYPES:
            return True
        if name in _FINITE_OF_FINITE:
            return all(is_finite(i, depth - 1) for i in node.inputs)
    return False


_NONNEGATIVE_OF_ANY = frozenset({"abs", "sqr", "exp", "exp2", "sigmoid", "softplus", "sqrt"})
_NONNEGATIVE_OF_NONNEGATIVE = frozenset({"add", "mul", "maximum", "minimum", "identity"})


def is_nonnegative(v: Variable, depth: int = 6) -> bool:
    """True when no value of `v` is below 0 (NaN may still occur: it stays NaN anyway)."""
    data = constant_data(v)
    if data is not None:
        return bool(np.all(data >= 0))
    if v.dtype == "bool" or v.dtype.startswith("uint"):
        return True
    node = v.owner
    if node is None or depth == 0:
        return False
    from symgraph.ops.elemwise import DimShuffle, Elemwise
    from symgraph.ops.shape import Shape, Shape_i

    op = node.op
    if isinstance(op, (Shape, Shape_i)):
        return True
    if isinstance(op, DimShuffle):
        return is_nonnegative(node.inputs[0], depth - 1)
    if isinstance(op, Elemwise):
        name = op.scalar_op.name
        if name in _NONNEGATIVE_OF_ANY:
            return True
        if name == "maximum":
            return any(is_nonnegative(i, depth - 1) for i in node.inputs)
        if name in _NONNEGATIVE_OF_NONNEGATIVE or name.startswith("cast_"):
            return all(is_nonnegative(i, depth - 1) for i in node.inputs)
    return False


def is_nonzero_finite(v: Variable) -> bool:
    """True when every value of `v` is known to be finite and nonzero (so v / v == 1)."""
    data = constant_data(v)
    return data is not None and bool(np.all(np.isfinite(data) & (data != 0)))


def up(v: Variable, out: Variable) -> Variable:
    """`v` cast to the dtype of `out` (what an op computing `out` from `v` would give)."""
    from symgraph.ops.math import cast

    return cast(v, out.dtype)


def typed_constant(value, like: Variable) -> Constant:
    """`value` as a constant of like's dtype, broadcastable to like's rank."""
    from symgraph.variable import constant

    return constant(np.asarray(value, dtype=like.dtype), ndim=like.ndim)


def fill(shape_of: Variable, value: Variable) -> Variable:
    """`value` broadcast to the shape of `shape_of` (Theano's fill / second)."""
    from symgraph.ops.math import second

    return second(shape_of, value)
