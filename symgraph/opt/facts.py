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


def _holds(v: Variable, depth: int, of_data, of_dtype, of_elemwise) -> bool:
    """Whether a fact holds for every value of `v`: from its constant data, its dtype, or its
    producer (shapes are nonnegative finite integers; a DimShuffle keeps the fact; an
    Elemwise asks `of_elemwise(scalar op name, inputs, prove)`, `prove` being this test one
    level down)."""
    data = constant_data(v)
    if data is not None:
        return bool(np.all(of_data(data)))
    if of_dtype(v.dtype):
        return True
    node = v.owner
    if node is None or depth == 0:
        return False
    from symgraph.ops.elemwise import DimShuffle, Elemwise
    from symgraph.ops.shape import Shape, Shape_i

    def prove(u: Variable) -> bool:
        return _holds(u, depth - 1, of_data, of_dtype, of_elemwise)

    op = node.op
    if isinstance(op, (Shape, Shape_i)):
        return True
    if isinstance(op, DimShuffle):
        return prove(node.inputs[0])
    if isinstance(op, Elemwise):
        return of_elemwise(op.scalar_op.name, node.inputs, prove)
    return False


def _finite_elemwise(name: str, inputs, prove) -> bool:
    if name.startswith("cast_") and inputs[0].dtype in DISCRETE_DTYPES:
        return True
    return name in _FINITE_OF_FINITE and all(map(prove, inputs))


def is_finite(v: Variable, depth: int = 6) -> bool:
    """True when every value of `v` is known to be finite (no NaN, no inf)."""
    return _holds(v, depth, np.isfinite, lambda dtype: dtype in DISCRETE_DTYPES,
                  _finite_elemwise)


_NONNEGATIVE_OF_ANY = frozenset({"abs", "sqr", "exp", "exp2", "sigmoid", "softplus", "sqrt"})
_NONNEGATIVE_OF_NONNEGATIVE = frozenset({"add", "mul", "maximum", "minimum", "identity"})


def _nonnegative_elemwise(name: str, inputs, prove) -> bool:
    if name in _NONNEGATIVE_OF_ANY:
        return True
    if name == "maximum":
        return any(map(prove, inputs))
    if name in _NONNEGATIVE_OF_NONNEGATIVE or name.startswith("cast_"):
        return all(map(prove, inputs))
    return False


def is_nonnegative(v: Variable, depth: int = 6) -> bool:
    """True when no value of `v` is below 0 (NaN may still occur: it stays NaN anyway)."""
    return _holds(v, depth, lambda data: data >= 0,
                  lambda dtype: dtype == "bool" or dtype.startswith("uint"),
                  _nonnegative_elemwise)


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
