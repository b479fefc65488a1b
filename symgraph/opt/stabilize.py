"""stabilize: numerically stable forms. Each rule replaces an expression that overflows,
underflows or cancels (log(1+x) for tiny x, log(sigmoid(x)) for x << 0, ...) by a function
computed without those losses; values agree wherever the original was accurate."""

from __future__ import annotations

from collections import Counter

from symgraph.fgraph import FunctionGraph
from symgraph.graph import Variable
from symgraph.ops import scalar as s
from symgraph.ops.reduce import CAReduce
from symgraph.opt.canonicalize import RULES as CANONICAL
from symgraph.opt.constant_fold import RULES as FOLD
from symgraph.opt.crossentropy import RULES as CROSSENTROPY
from symgraph.opt.engine import equilibrium
from symgraph.opt.facts import up
from symgraph.opt.pattern import P, Rules, const, many, var
from symgraph.types import FLOAT_DTYPES

NNET = "symgraph.ops.nnet:"
SOFTMAX = NNET + "Softmax"
x, a, c, sm = var("x"), var("a"), var("c"), var("sm")
m = s.m  # symgraph.ops.math, imported lazily


def _last_axis(op) -> bool:
    return op.axis in (-1, 1)


def _is_sum(op: CAReduce) -> bool:
    return op.scalar_op.name == "add" and op.dtype is None


def _floats(v: Variable, out: Variable) -> bool:
    return v.dtype in FLOAT_DTYPES and v.dtype == out.dtype


def _log_softmax(x: Variable, sm: Variable, out: Variable) -> Variable:
    from symgraph.ops.nnet import LogSoftmax

    return up(LogSoftmax(sm.owner.op.axis)(x), out)


def _logsumexp(x: Variable, total: Variable, out: Variable) -> Variable:
    return up(m.logsumexp(x, axis=total.owner.op.axis), out)


def _is_softmax(v: Variable) -> bool:
    """A softmax output: Softmax, or the softmax output of the fused crossentropy."""
    from symgraph.ops.nnet import CrossentropySoftmaxArgmax1HotWithBias as Fused
    from symgraph.ops.nnet import Softmax

    op = getattr(v.owner, "op", None)
    return isinstance(op, Softmax) or (isinstance(op, Fused) and v.index == 1)


def _cancel(a: Variable, sm: Variable, out: Variable) -> Variable | None:
    """(a / sm) * sm -> a for a softmax: its zeros (underflow) would make 0 * inf = NaN."""
    return up(a, out) if _is_softmax(sm) else None


def _abs_if_float(x: Variable, out: Variable) -> Variable | None:
    return m.abs(x) if _floats(x, out) else None


def _negate(v: Variable) -> Variable:
    """-v, written without a negation where v already holds one (-a - b -> a + b)."""
    node = v.owner
    scalar_op = getattr(getattr(node, "op", None), "scalar_op", None)
    if scalar_op == s.neg:
        return node.inputs[0]
    if scalar_op == s.sub:
        first, second = node.inputs
        inner = first.owner
        if getattr(getattr(inner, "op", None), "scalar_op", None) == s.neg:
            return up(m.add(inner.inputs[0], second), v)
        return up(m.sub(second, first), v)
    return up(m.neg(v), v)


def _sigmoid(x: Variable, out: Variable) -> Variable | None:
    return up(m.sigmoid(x), out) if _floats(x, out) else None


# fmt: off
RULES = Rules("stabilize", [
    # The logistic spelled out (the Theano tutorial's p_1 = 1 / (1 + exp(-x.w - b))) becomes
    # sigmoid, so the log rules below see it; 1 - p_1 is sigmoid(-x) for the same reason.
    (P(s.true_div, const(1), P(s.add, [const(1), P(s.exp, x)]), name="out"),
     lambda x, out: _sigmoid(_negate(x), out)),  # 1/(1+exp(x)) -> sigmoid(-x)
    (P(s.true_div, P(s.exp, x), P(s.add, [const(1), P(s.exp, x)]), name="out"),
     lambda x, out: _sigmoid(x, out)),  # exp(x)/(1+exp(x)) -> sigmoid(x)
    (P(s.sub, const(1), P(s.sigmoid, x), name="out"),
     lambda x, out: _sigmoid(_negate(x), out)),  # 1-sigmoid(x) -> sigmoid(-x)
    (P(s.log, P(s.add, [const(1), P(s.exp, x)]), name="out"),
     lambda x, out: up(m.softplus(x), out)),  # log(1+exp(x)) -> softplus(x)
    (P(s.log1p, P(s.exp, x), name="out"),
     lambda x, out: up(m.softplus(x), out)),  # log1p(exp(x)) -> softplus(x)
    (P(s.log, P(s.add, [const(1), many("x")], name="a"), name="out"),
     lambda x, a, out: up(m.log1p(up(x, a)), out)),  # log(1+x) -> log1p(x)
    (P(s.log, P(s.sigmoid, x), name="out"),
     lambda x, out: up(-m.softplus(-x), out)),  # log(sigmoid(x)) -> -softplus(-x)
    (P(s.log, P(s.sub, const(1), P(s.sigmoid, x)), name="out"),
     lambda x, out: up(-m.softplus(x), out)),  # log(1-sigmoid(x)) -> -softplus(x)
    (P(s.log, P(SOFTMAX, x, name="sm"), name="out"),
     lambda x, sm, out: _log_softmax(x, sm, out)),  # log(softmax(x)) -> log_softmax(x)
    (P(s.log, P(CAReduce, P(s.exp, x), name="total", where=_is_sum), name="out"),
     lambda x, total, out: _logsumexp(x, total, out)),  # log(sum(exp(x))) -> logsumexp(x)
    (P(s.sub, P(s.exp, x), const(1), name="out"),
     lambda x, out: up(m.expm1(x), out)),  # exp(x)-1 -> expm1(x)
    (P(s.add, [P(s.exp, x), const(-1)], name="out"),
     lambda x, out: up(m.expm1(x), out)),  # exp(x)+(-1) -> expm1(x)
    (P(s.mul, [P(s.true_div, a, sm), sm], name="out"),
     lambda a, sm, out: _cancel(a, sm, out)),  # (a/softmax(x))*softmax(x) -> a
    (P(s.mul, [P(s.switch, c, P(s.true_div, a, sm), const(0)), sm], name="out"),
     lambda c, a, sm, out: _cancel(m.switch(c, a, 0), sm, out)),  # switch(c, a/sm, 0)*sm -> ...
    (P(s.sqrt, P(s.sqr, x), name="out"),
     lambda x, out: _abs_if_float(x, out)),  # sqrt(sqr(x)) -> abs(x)
    (P(s.sqrt, P(s.mul, [x, x]), name="out"),
     lambda x, out: _abs_if_float(x, out)),  # sqrt(x*x) -> abs(x)
    (P(s.sqrt, P(s.pow, x, const(2)), name="out"),
     lambda x, out: _abs_if_float(x, out)),  # sqrt(x**2) -> abs(x)
])
# fmt: on


def stabilize(fg: FunctionGraph) -> Counter:
    """Stable forms (canonical forms and constant folding kept on the way)."""
    hits = equilibrium(fg, [RULES, CROSSENTROPY], "stabilize", followup=[CANONICAL, FOLD])
    return hits
