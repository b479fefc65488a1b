"""canonicalize: rewrite to an algebraic normal form, removing useless work.

Identities that could change a NaN or inf (x - x, x / x, x * 0) only fire where the operand
is known to be finite (and nonzero), so no rewrite changes a value beyond float rounding.
"""

from __future__ import annotations

from collections import Counter

from symgraph.fgraph import FunctionGraph
from symgraph.graph import Variable
from symgraph.ops import scalar as s
from symgraph.ops.elemwise import DimShuffle, Elemwise, broadcast_static_shapes
from symgraph.ops.reduce import CAReduce
from symgraph.ops.shape import Shape, Shape_i, SpecifyShape
from symgraph.opt.constant_fold import RULES as FOLD
from symgraph.opt.engine import equilibrium
from symgraph.opt.facts import (
    fill,
    is_finite,
    is_nonnegative,
    is_nonzero_finite,
    typed_constant,
    up,
)
from symgraph.opt.pattern import P, Rules, const, many, scalar_value, var
from symgraph.opt.shape_feature import shape_feature, shape_i_of
from symgraph.types import FLOAT_DTYPES

x, y = var("x"), var("y")
CAST = tuple(s.CASTS.values())
m = s.m  # symgraph.ops.math, imported lazily


def _compose(x: Variable, inner: DimShuffle, outer: DimShuffle) -> Variable:
    order = tuple("x" if d == "x" else inner.new_order[d] for d in outer.new_order)
    if order == tuple(range(x.ndim)):
        return x
    return DimShuffle(x.ndim, order)(x)


def _useless_cast(x: Variable, out: Variable) -> Variable | None:
    return x if x.dtype == out.dtype else None


def _round_trip(x: Variable, mid: Variable, out: Variable) -> Variable | None:
    """cast(cast(x, b), a) -> x when a is x's dtype and b holds every value of it."""
    import numpy as np

    if out.dtype == x.dtype and np.can_cast(x.dtype, mid.dtype, "safe"):
        return x
    return None


def _zeros(out: Variable, fg: FunctionGraph) -> Variable:
    """Zeros of out's type, sized from the symbolic shape (so x itself is not computed)."""
    from symgraph.ops.alloc import alloc
    from symgraph.variable import constant

    zero = constant(0, dtype=out.dtype)
    return alloc(zero, *shape_feature(fg).shape_of(out)) if out.ndim else zero


def _drop_fill(out: Variable) -> Variable | None:
    """f(fill(a, b), c) -> f(b, c) when the other inputs already give the output's shape."""
    node = out.owner
    if node.op.scalar_op.name == "second":
        return None
    inputs = list(node.inputs)
    changed = False
    for k, v in enumerate(inputs):
        if (
            v.owner is not None
            and isinstance(v.owner.op, Elemwise)
            and v.owner.op.scalar_op.name == "second"
        ):
            trial = inputs[:k] + [v.owner.inputs[1]] + inputs[k + 1 :]
            shape = broadcast_static_shapes([t.type.shape for t in trial], "fill")
            if shape == out.type.shape:
                inputs, changed = trial, True
    return node.op(*inputs) if changed else None


def _flatten(out: Variable, fg: FunctionGraph) -> Variable | None:
    """add(add(a, b), c) -> add(a, b, c) when the inner sum is used only here (same dtype)."""
    node = out.owner
    inputs, changed = [], False
    for v in node.inputs:
        inner = v.owner
        if (
            inner is not None
            and inner.op == node.op
            and v.dtype == out.dtype
            and len(fg.clients.get(v, ())) == 1
        ):
            inputs += inner.inputs
            changed = True
        else:
            inputs.append(v)
    return node.op(*inputs) if changed else None


def _combine_constants(out: Variable) -> Variable | None:
    """add(x, 1, 2) -> add(x, 3): constants of a sum or product folded together."""
    import numpy as np

    node = out.owner
    consts = [v for v in node.inputs if scalar_value(v) is not None]
    if len(consts) < 2:
        return None
    if out.dtype not in FLOAT_DTYPES and any(v.dtype != out.dtype for v in node.inputs):
        return None  # integer arithmetic in mixed dtypes wraps at different widths
    others = [v for v in node.inputs if scalar_value(v) is None]
    value = node.op.scalar_op.impl(*[np.asarray(scalar_value(c), dtype=out.dtype) for c in consts])
    ndim = max(c.ndim for c in consts)
    combined = typed_constant(value, out) if ndim == out.ndim else None
    if combined is None or not others:
        return None
    if node.op.scalar_op.output_dtype(*[v.dtype for v in others], out.dtype) != out.dtype:
        return None
    return node.op(*others, combined)


def _term(v: Variable) -> tuple[float, tuple[Variable, ...]]:
    """A summand as (constant coefficient, the other factors)."""
    node = v.owner
    if node is not None and isinstance(node.op, Elemwise):
        name = node.op.scalar_op.name
        if name == "neg":
            coef, base = _term(node.inputs[0])
            return -coef, base
        if name == "mul":
            coefs = [scalar_value(i) for i in node.inputs]
            if sum(c is not None for c in coefs) == 1:
                k = next(j for j, c in enumerate(coefs) if c is not None)
                if all(d == 1 for d in node.inputs[k].type.shape):
                    return float(coefs[k]), tuple(i for j, i in enumerate(node.inputs) if j != k)
    return 1.0, (v,)


def _collect(out: Variable) -> Variable | None:
    """x + x -> 2*x, 2*x + 3*x -> 5*x: like terms of a float sum collected."""
    node = out.owner
    if out.dtype not in FLOAT_DTYPES or any(v.dtype != out.dtype for v in node.inputs):
        return None
    groups: dict[tuple, list] = {}
    for v in node.inputs:
        coef, base = _term(v)
        key = tuple(sorted(map(id, base)))
        groups.setdefault(key, [0.0, base, 0])
        groups[key][0] += coef
        groups[key][2] += 1
    if len(groups) == len(node.inputs):
        return None
    terms = []
    for coef, base, count in groups.values():
        if coef == 0 and count > 1:
            return None  # x - x stays: it is NaN where x is inf
        factors = list(base) if coef == 1 else [typed_constant(coef, out), *base]
        terms.append(factors[0] if len(factors) == 1 else m.mul(*factors))
    return terms[0] if len(terms) == 1 else m.add(*terms)


def _sum_of_sum(x: Variable, inner: CAReduce, outer: CAReduce) -> Variable | None:
    """sum(sum(x, a), b) -> sum(x, a + b) for the same reduction and accumulator dtype."""
    if inner.scalar_op != outer.scalar_op or inner.dtype or outer.dtype:
        return None
    kept = [a for a in range(x.ndim) if a not in inner.axis]
    axes = tuple(sorted(set(inner.axis) | {kept[a] for a in outer.axis}))
    return CAReduce(outer.scalar_op, axes)(x)


def _reduce_inserted(x: Variable, ds: Variable, out: Variable) -> Variable | None:
    """sum(dimshuffle(x, 'x', 0), axis=0) -> x: reducing axes of size 1 that a DimShuffle
    inserted changes nothing (for any reduction)."""
    order, axes = ds.owner.op.new_order, out.owner.op.axis
    if out.owner.op.dtype or not axes or any(order[a] != "x" for a in axes):
        return None
    kept = tuple(d for k, d in enumerate(order) if k not in axes)
    return up(x if kept == tuple(range(x.ndim)) else DimShuffle(x.ndim, kept)(x), out)


def _sum_of_neg(x: Variable, out: Variable) -> Variable | None:
    """sum(-x) -> -sum(x) (exact: negation commutes with rounding)."""
    op = out.owner.op
    if op.scalar_op.name != "add" or op.dtype or x.dtype != out.dtype:
        return None
    return m.neg(op(x))


def _integer(x: Variable, out: Variable) -> Variable | None:
    return up(x, out) if out.dtype not in FLOAT_DTYPES and "complex" not in out.dtype else None


def _negated_constant(v: Variable) -> Variable | None:
    """-(c*x) -> (-c)*x and -(c/x) -> (-c)/x for a signed constant c."""
    node = v.owner
    name = node.op.scalar_op.name
    k = next((k for k, i in enumerate(node.inputs) if scalar_value(i) is not None), None)
    if (
        k is None
        or (name == "true_div" and k != 0)
        or node.inputs[k].dtype.startswith(("uint", "bool"))
    ):
        return None
    c = node.inputs[k]
    negated = typed_constant(-scalar_value(c), c) if c.ndim == v.ndim else None
    if negated is None:
        return None
    return node.op(*node.inputs[:k], negated, *node.inputs[k + 1 :])


def _shape(x: Variable) -> Variable | None:
    """shape(x) -> a constant when every size of x is static."""
    import numpy as np

    from symgraph.variable import constant

    if any(d is None for d in x.type.shape):
        return None
    return constant(np.asarray(x.type.shape, dtype="int64").reshape(x.ndim))


def _zeros_if_finite(x: Variable, out: Variable, fg: FunctionGraph) -> Variable | None:
    return _zeros(out, fg) if is_finite(x) else None


def _ones_if_nonzero(x: Variable, out: Variable) -> Variable | None:
    return fill(x, typed_constant(1, out)) if is_nonzero_finite(x) else None


def _same_static(x: Variable, out: Variable) -> Variable | None:
    return x if x.type == out.type and None not in x.type.shape else None


def _identity_order(op: DimShuffle) -> bool:
    return op.new_order == tuple(range(op.input_ndim))


def _no_axes(op: CAReduce) -> bool:
    return op.axis == ()


RESHAPE = "symgraph.ops.shape:Reshape"
mid, inner, out, shp = var("mid"), var("inner"), var("out"), var("shp")

# fmt: off
RULES = Rules("canonicalize", [
    (P(s.mul, [const(1), many("x")], name="out"), lambda x, out: up(x, out)),  # x*1 -> x
    (P(s.add, [const(0), many("x")], name="out"), lambda x, out: up(x, out)),  # x+0 -> x
    (P(s.sub, x, const(0), name="out"), lambda x, out: up(x, out)),  # x-0 -> x
    (P(s.sub, const(0), x, name="out"), lambda x, out: m.neg(up(x, out))),  # 0-x -> -x
    (P(s.true_div, x, const(1), name="out"), lambda x, out: up(x, out)),  # x/1 -> x
    (P(s.neg, P(s.neg, x)), lambda x: x),  # -(-x) -> x
    (P(s.neg, P((s.mul, s.true_div), name="v"), name="out"),
     lambda v, out: _negated_constant(v)),  # -(c*x) -> (-c)*x
    (P(s.neg, P(DimShuffle, x, name="ds")),
     lambda x, ds: ds.owner.op(m.neg(x))),  # -(x.dimshuffle(...)) -> (-x).dimshuffle(...)
    (P(s.add, [x, P(s.neg, y)], name="out"),
     lambda x, y, out: up(m.sub(x, y), out)),  # x+(-y) -> x-y
    (P(s.sub, x, P(s.neg, y), name="out"),
     lambda x, y, out: up(m.add(x, y), out)),  # x-(-y) -> x+y
    (P(s.sub, x, x, name="out"),
     lambda x, out, fg: _zeros_if_finite(x, out, fg)),  # x-x -> 0 (x finite)
    (P(s.true_div, x, x, name="out"),
     lambda x, out: _ones_if_nonzero(x, out)),  # x/x -> 1 (x finite, nonzero)
    (P(s.mul, [const(0), many("x")], name="out"),
     lambda x, out, fg: _zeros_if_finite(x, out, fg)),  # x*0 -> 0 (x finite)
    (P(s.identity, x), lambda x: x),  # identity(x) -> x
    (P((s.add, s.mul), x, name="out"), lambda x, out: up(x, out)),  # add(x) -> x, mul(x) -> x
    (P(CAST, x, name="out"), lambda x, out: _useless_cast(x, out)),  # cast(x, x.dtype) -> x
    (P(CAST, P(CAST, x, name="mid"), name="out"),
     lambda x, mid, out: _round_trip(x, mid, out)),  # cast(cast(x)) -> x when lossless
    (P(s.second, x, y, name="out"),
     lambda y, out: y if y.type == out.type else None),  # fill(x, y) -> y when y has the shape
    (P(Elemwise, name="out"), lambda out: _drop_fill(out)),  # f(fill(a, b), c) -> f(b, c)
    (P(s.add, name="out"), lambda out, fg: _flatten(out, fg)),  # (a+b)+c -> a+b+c
    (P(s.mul, name="out"), lambda out, fg: _flatten(out, fg)),  # (a*b)*c -> a*b*c
    (P((s.add, s.mul), name="out"), lambda out: _combine_constants(out)),  # x+1+2 -> x+3
    (P(s.add, name="out"), lambda out: _collect(out)),  # x+x -> 2*x, 2*x+3*x -> 5*x
    (P(s.switch, const(True), x, y, name="out"), lambda x, out: up(x, out)),  # switch(1, x, y) -> x
    (P(s.switch, const(False), x, y, name="out"), lambda y, out: up(y, out)),  # switch(0, x, y)->y
    (P(DimShuffle, x, where=_identity_order), lambda x: x),  # dimshuffle(x, 0, 1) -> x
    (P(DimShuffle, P(DimShuffle, x, name="inner"), name="out"),
     lambda x, inner, out: _compose(x, inner.owner.op, out.owner.op)),  # x.T.T -> x
    (P(CAReduce, x, name="out", where=_no_axes), lambda x, out: up(x, out)),  # sum(x, axis=()) -> x
    (P(CAReduce, P(CAReduce, x, name="inner"), name="out"),
     lambda x, inner, out: _sum_of_sum(x, inner.owner.op, out.owner.op)),  # sum(sum(x)) -> sum(x)
    (P(CAReduce, P(DimShuffle, x, name="ds"), name="out"),
     lambda x, ds, out: _reduce_inserted(x, ds, out)),  # sum(x[None], axis=0) -> x
    (P(CAReduce, P(s.neg, x), name="out"),
     lambda x, out: _sum_of_neg(x, out)),  # sum(-x) -> -sum(x)
    (P(s.int_div, x, const(1), name="out"),
     lambda x, out: _integer(x, out)),  # x//1 -> x (integers)
    (P(s.maximum, [x, const(0)], name="out"),
     lambda x, out: up(x, out) if is_nonnegative(x) else None),  # maximum(x, 0) -> x for x >= 0
    (P(SpecifyShape, x, name="out"),
     lambda x, out: x if x.type == out.type else None),  # specify_shape(x) -> x when known
    (P(Shape_i, x, name="out"),
     lambda x, out, fg: shape_i_of(fg, x, out.owner.op.i)),  # shape_i(x) -> static/input shape
    (P(Shape, x), lambda x: _shape(x)),  # shape(x) -> constant when static
    (P(RESHAPE, P(RESHAPE, x, y), shp, name="out"),
     lambda x, shp, out: out.owner.op(x, shp)),  # reshape(reshape(x)) -> reshape(x)
    (P(RESHAPE, x, y, name="out"), lambda x, out: _same_static(x, out)),  # reshape(x, x.shape) -> x
])
# fmt: on


def canonicalize(fg: FunctionGraph) -> Counter:
    """Normal form, with constant folding on the way (the engine merges what becomes equal)."""
    hits = equilibrium(fg, [RULES, FOLD], "canonicalize")
    return hits
