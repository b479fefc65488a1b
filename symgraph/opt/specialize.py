"""specialize: cheaper forms for the machine. Powers with small constant exponents become
sqr / sqrt / reciprocal, a product plus a scaled sum becomes one BLAS call (gemm / gemv),
and the sum of an elementwise product of vectors becomes a dot."""

from __future__ import annotations

from collections import Counter

import numpy as np

from symgraph.fgraph import FunctionGraph
from symgraph.graph import Variable
from symgraph.ops import scalar as s
from symgraph.ops.reduce import CAReduce
from symgraph.opt.canonicalize import RULES as CANONICAL
from symgraph.opt.constant_fold import RULES as FOLD
from symgraph.opt.engine import equilibrium
from symgraph.opt.facts import fill, typed_constant, up
from symgraph.opt.pattern import P, Rules, const, many, var
from symgraph.types import FLOAT_DTYPES

DOT = "symgraph.ops.blas:Dot"
GEMM, GEMV = "symgraph.ops.gemm:Gemm", "symgraph.ops.gemm:Gemv"
x, y, a, b, z = var("x"), var("y"), var("a"), var("b"), var("z")
alpha_, beta_ = var("alpha"), var("beta")
m = s.m  # symgraph.ops.math, imported lazily


def _reciprocal(x: Variable, out: Variable) -> Variable | None:
    """x**-1 -> 1/x for floats (numpy refuses negative integer powers of integers)."""
    if out.dtype not in FLOAT_DTYPES:
        return None
    return m.true_div(typed_constant(1, out), up(x, out))


def _scalar(v: Variable) -> Variable | None:
    """A tensor of static shape (1, ..., 1) as a 0-d tensor (gemm's alpha)."""
    from symgraph.ops.shape import dimshuffle

    if any(n != 1 for n in v.type.shape):
        return None
    return dimshuffle(v, ()) if v.ndim else v


def _factor(k, out: Variable):
    """A scale factor for a gemm of `out`'s dtype: a Python number (or None) as is, a
    one-element tensor as a 0-d one upcast to out's dtype (None when that would lose
    precision)."""
    if not isinstance(k, Variable):
        return k
    k = _scalar(k)
    if k is None or not np.can_cast(k.dtype, out.dtype, "safe"):
        return None
    return up(k, out)


def _gemm(
    z: Variable, alpha, a: Variable, b: Variable, out: Variable, fg, *used_once: Variable
) -> Variable | None:
    """z + alpha * dot(a, b) as gemm / gemv when every piece has out's dtype and z its shape,
    and the product (`used_once`: the dot and its scaling) feeds nothing else: else the
    product would be computed twice, once for its other readers and once in the gemm."""
    from symgraph.ops.gemm import gemm_no_inplace, gemv_no_inplace
    from symgraph.ops.shape import transpose

    alpha = _factor(alpha, out)  # the product upcasts it anyway
    if alpha is None or any(len(fg.clients.get(v, ())) != 1 for v in used_once):
        return None
    if out.dtype not in FLOAT_DTYPES or any(v.dtype != out.dtype for v in (z, a, b)):
        return None
    if z.type.broadcastable != out.type.broadcastable or z.ndim != out.ndim:
        return None
    if a.ndim == 2 and b.ndim == 2:
        return gemm_no_inplace(z, alpha, a, b, 1.0)
    if a.ndim == 2 and b.ndim == 1:
        return gemv_no_inplace(z, alpha, a, b, 1.0)
    if a.ndim == 1 and b.ndim == 2:
        return gemv_no_inplace(z, alpha, transpose(b), a, 1.0)
    return None


def _scaled_input(
    z: Variable, k: Variable, alpha: Variable, a: Variable, b: Variable, beta: Variable,
    out: Variable,
) -> Variable | None:
    """gemm(k * z, alpha, a, b, beta) -> gemm(z, alpha, a, b, beta * k) for a scalar k: BLAS
    scales z in the pass that adds the product (SGD momentum's 0.9 * velocity)."""
    k = _factor(k, out)
    if k is None or z.dtype != out.dtype or z.type.broadcastable != out.type.broadcastable:
        return None
    return out.owner.op(z, alpha, a, b, m.mul(beta, up(k, beta)))


def _fold_update(z: Variable, k, g: Variable, out: Variable, fg, *used_once: Variable):
    """z + k * gemm(z, alpha, a, b, beta) -> gemm(z, k * alpha, a, b, 1 + k * beta) for a
    scalar k (gemv alike): an SGD step on a term that already reads z (L2 decay) becomes one
    BLAS pass, which the in-place pass then runs in z's own storage."""
    k = _factor(k, out)
    if k is None or any(len(fg.clients.get(v, ())) != 1 for v in (g, *used_once)):
        return None
    if z.dtype != out.dtype or z.type.broadcastable != out.type.broadcastable:
        return None
    _, alpha, a, b, beta = g.owner.inputs
    return g.owner.op(z, m.mul(k, alpha), a, b, m.add(1.0, m.mul(k, beta)))


def _negated(alpha: Variable) -> Variable | None:
    alpha = _scalar(alpha)
    return None if alpha is None else m.neg(alpha)


def _dot_of_product(x: Variable, y: Variable, out: Variable) -> Variable | None:
    """sum(x * y) over a vector -> dot(x, y) (one BLAS call, no temporary)."""
    from symgraph.ops.blas import Dot

    if x.ndim != 1 or x.type.broadcastable != (False,) or y.type.broadcastable != (False,):
        return None
    if out.dtype not in FLOAT_DTYPES or x.dtype != out.dtype or y.dtype != out.dtype:
        return None
    return Dot()(x, y)


def _total_sum(op: CAReduce) -> bool:
    return op.scalar_op.name == "add" and op.dtype is None


# fmt: off
RULES = Rules("specialize", [
    (P(s.pow, x, const(2), name="out"), lambda x, out: m.sqr(up(x, out))),  # x**2 -> sqr(x)
    (P(s.pow, x, const(0.5), name="out"),
     lambda x, out: up(m.sqrt(up(x, out)), out)),  # x**0.5 -> sqrt(x)
    (P(s.pow, x, const(1), name="out"), lambda x, out: up(x, out)),  # x**1 -> x
    (P(s.pow, x, const(0), name="out"),
     lambda x, out: fill(x, typed_constant(1, out))),  # x**0 -> 1
    (P(s.pow, x, const(-1), name="out"), lambda x, out: _reciprocal(x, out)),  # x**-1 -> 1/x
    (P(s.add, [P(DOT, a, b, name="d"), many("z")], name="out"),
     lambda z, a, b, d, out, fg: _gemm(z, 1.0, a, b, out, fg, d)),  # z + dot(a, b) -> gemm
    (P(s.add, [P(s.mul, [P(DOT, a, b, name="d"), many("alpha")], name="k"), many("z")],
       name="out"),
     lambda z, alpha, a, b, d, k, out, fg: _gemm(z, alpha, a, b, out, fg, d, k)),  # z + alpha*dot
    (P(s.sub, z, P(DOT, a, b, name="d"), name="out"),
     lambda z, a, b, d, out, fg: _gemm(z, -1.0, a, b, out, fg, d)),  # z - dot(a, b) -> gemm
    (P(s.sub, z, P(s.mul, [P(DOT, a, b, name="d"), many("k")], name="km"), name="out"),
     lambda z, k, a, b, d, km, out, fg: _gemm(z, _negated(k), a, b, out, fg, d, km)),  # z - k*dot
    (P(s.sub, z, P(s.mul, [P((GEMM, GEMV), z, alpha_, a, b, beta_, name="g"), many("k")],
                   name="km"), name="out"),
     lambda z, k, g, km, out, fg: _fold_update(z, _negated(k), g, out, fg, km)),  # z - k*gemm(z)
    (P(s.add, [P(s.mul, [P((GEMM, GEMV), z, alpha_, a, b, beta_, name="g"), many("k")],
                 name="km"), z], name="out"),
     lambda z, k, g, km, out, fg: _fold_update(z, k, g, out, fg, km)),  # z + k*gemm(z)
    (P(s.sub, z, P((GEMM, GEMV), z, alpha_, a, b, beta_, name="g"), name="out"),
     lambda z, g, out, fg: _fold_update(z, -1.0, g, out, fg)),  # z - gemm(z)
    (P(GEMM, P(s.mul, [z, const(name="k")]), alpha_, a, b, beta_, name="out"),
     lambda z, k, alpha, a, b, beta, out: _scaled_input(z, k, alpha, a, b, beta, out)),
    (P(GEMV, P(s.mul, [z, const(name="k")]), alpha_, a, b, beta_, name="out"),
     lambda z, k, alpha, a, b, beta, out: _scaled_input(z, k, alpha, a, b, beta, out)),
    (P(CAReduce, P(s.mul, [x, y]), name="out", where=_total_sum),
     lambda x, y, out: _dot_of_product(x, y, out)),  # sum(x*y) -> dot(x, y) for vectors
])
# fmt: on


def specialize(fg: FunctionGraph) -> Counter:
    """Machine-friendly forms (canonical forms and constant folding kept on the way)."""
    hits = equilibrium(fg, [RULES], "specialize", followup=[CANONICAL, FOLD])
    return hits
