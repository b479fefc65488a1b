"""Crossentropy rules of the stabilize pass: softmax + crossentropy as one stable fused op.

The forward forms ``crossentropy(softmax(x), y)`` and ``log_softmax(x)[arange(n), y]``
become the nll output of CrossentropySoftmaxArgmax1HotWithBias, and their gradients
``G - sm * sum(G, 1)`` (G the one-hot gradient) become CrossentropySoftmax1HotWithBiasDx:
``(sm - onehot(y)) * dy``, finite for logits of any size.
"""

from __future__ import annotations

from symgraph.fgraph import FunctionGraph
from symgraph.graph import Variable
from symgraph.ops import scalar as s
from symgraph.ops.elemwise import DimShuffle
from symgraph.ops.reduce import CAReduce
from symgraph.opt.facts import up
from symgraph.opt.pattern import P, Rules, const, scalar_value, var

NNET = "symgraph.ops.nnet:"
SOFTMAX, LOG_SOFTMAX = NNET + "Softmax", NNET + "LogSoftmax"
XENT = NNET + "CrossentropyCategorical1Hot"
FUSED = NNET + "CrossentropySoftmaxArgmax1HotWithBias"
DX = NNET + "CrossentropySoftmax1HotWithBiasDx"
ADV_SUB = "symgraph.ops.advanced:AdvancedSubtensor"
ADV_INC = "symgraph.ops.advanced:AdvancedIncSubtensor"
ARANGE = "symgraph.ops.alloc:ARange"
x, y, b, t, g, sm = var("x"), var("y"), var("b"), var("t"), var("g"), var("sm")
m = s.m  # symgraph.ops.math, imported lazily


def _last_axis(op) -> bool:
    return op.axis in (-1, 1)


def _is_col(op: DimShuffle) -> bool:
    return op.new_order == (0, "x")


def _is_row(op: DimShuffle) -> bool:
    return op.new_order == ("x", 0)


def _row_sum(op: CAReduce) -> bool:
    return op.scalar_op.name == "add" and op.axis == (1,) and op.dtype is None


def _rows_index(op) -> bool:
    return tuple(op.idx_list) == ("array", "array")


def _inc_rows(op) -> bool:
    return _rows_index(op) and not op.set_instead_of_inc


def _is_zeros(v: Variable) -> bool:
    """A tensor of zeros: a zero constant, or fill / alloc of one."""
    if scalar_value(v) == 0:
        return True
    node = v.owner
    if node is None:
        return False
    if getattr(node.op, "scalar_op", None) is not None and node.op.scalar_op.name == "second":
        return scalar_value(node.inputs[1]) == 0
    return type(node.op).__name__ == "Alloc" and scalar_value(node.inputs[0]) == 0


def _softmaxes(x: Variable, fg: FunctionGraph) -> list[Variable]:
    """The softmax(x) variables of the graph (the fused op's softmax output replaces them)."""
    from symgraph.ops.nnet import Softmax

    return [
        c.outputs[0]
        for c, _ in fg.clients.get(x, ())
        if getattr(c, "op", None) is not None
        and isinstance(c.op, Softmax)
        and _last_axis(c.op)
        and c.outputs[0] in fg.variables
    ]


def _fused(x: Variable, y: Variable, fg: FunctionGraph, replace: dict) -> dict | None:
    """{old: new} using the nll (and softmax) outputs of one fused crossentropy op."""
    from symgraph.ops.nnet import crossentropy_softmax_1hot

    if x.ndim != 2 or y.ndim != 1:
        return None
    nll, fused_sm = crossentropy_softmax_1hot(x, y)
    out = {old: up(make(nll), old) for old, make in replace.items()}
    out.update((v, up(fused_sm, v)) for v in _softmaxes(x, fg))
    return out


def _itself(v: Variable) -> Variable:
    return v


def _with_bias(x: Variable, b: Variable, y: Variable, out: Variable) -> dict | None:
    """fused(x + b, 0, y) -> fused(x, b, y): the bias add happens inside the op."""
    from symgraph.ops.nnet import crossentropy_softmax_argmax_1hot_with_bias as fused

    if b.ndim != 1 or b.dtype != x.dtype:
        return None
    return dict(zip(out.owner.outputs, fused(x, b, y)))


def _dx(dy: Variable, sm: Variable, y: Variable, out: Variable) -> Variable | None:
    from symgraph.ops.nnet import crossentropy_softmax_1hot_with_bias_dx as dx

    if sm.ndim != 2 or dy.ndim != 1 or y.ndim != 1:
        return None
    return up(dx(dy, sm, y), out)


def _unfilled(v: Variable) -> Variable:
    """fill(a, c) -> c when c is a broadcastable vector (the dx op broadcasts it itself)."""
    node = v.owner
    if (
        node is not None
        and getattr(node.op, "scalar_op", None) is not None
        and node.op.scalar_op.name == "second"
        and node.inputs[1].type.shape == (1,)
    ):
        return node.inputs[1]
    return v


def _dx_inc(
    zeros: Variable, vals: Variable, sm: Variable, y: Variable, out: Variable
) -> Variable | None:
    return _dx(m.neg(_unfilled(vals)), sm, y, out) if _is_zeros(zeros) else None


def _broadcast_dy(dy: Variable, sm: Variable, y: Variable, out: Variable) -> Variable | None:
    return _dx(dy, sm, y, out) if dy.type.shape == (1,) else None


ROWS = P(ARANGE, const(0), var("n"), const(1))  # arange(n)
# switch(onehot(y), (-gy)[:, None], 0): d crossentropy(p, y) / dp, times p (canonical form)
ONE_HOT_GRAD = P(
    s.switch,
    P(NNET + "OneHot", y, var("n")),
    P(DimShuffle, P(s.neg, var("gy")), where=_is_col),
    const(0),
    name="t",
)
# inc_subtensor(zeros[arange(n), y], vals): d (log p)[arange(n), y] / d log p
PICKED_GRAD = P(ADV_INC, var("zeros"), var("vals"), ROWS, y, where=_inc_rows, name="t")
SOFTMAX_GRAD_TAIL = P(s.mul, [sm, P(DimShuffle, P(CAReduce, t, where=_row_sum), where=_is_col)])

# fmt: off
RULES = Rules("crossentropy", [
    (P(XENT, P(SOFTMAX, x, where=_last_axis), y, name="out"),
     lambda x, y, out, fg: _fused(x, y, fg, {out: _itself})),  # xent(softmax(x), y) -> fused
    (P(ADV_SUB, P(LOG_SOFTMAX, x, where=_last_axis), ROWS, y, where=_rows_index, name="out"),
     lambda x, y, out, fg: _fused(x, y, fg, {out: m.neg})),  # log_softmax(x)[arange(n), y] -> -nll
    (P(FUSED, P(s.add, [x, P(DimShuffle, b, where=_is_row)]), const(0), y, name="out"),
     lambda x, b, y, out: _with_bias(x, b, y, out)),  # fused(x + b, 0, y) -> fused(x, b, y)
    (P(s.sub, ONE_HOT_GRAD, SOFTMAX_GRAD_TAIL, name="out"),
     lambda gy, sm, y, out: _dx(gy, sm, y, out)),  # T - sm*sum(T, 1) -> dx(gy, sm, y)
    (P(s.sub, PICKED_GRAD, SOFTMAX_GRAD_TAIL, name="out"),
     lambda zeros, vals, sm, y, out: _dx_inc(zeros, vals, sm, y, out)),  # G - sm*sum(G, 1) -> dx
    (P(DX, P(s.second, var("a"), var("dy")), sm, y, name="out"),
     lambda dy, sm, y, out: _broadcast_dy(dy, sm, y, out)),  # dx(fill(a, c), sm, y) -> dx(c, sm, y)
])
# fmt: on
