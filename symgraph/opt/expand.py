"""expand: softmax, log-softmax and the fused softmax-crossentropy ops (value and gradient)
written as elementwise ops and reductions, which the fusion pass then turns into the CPU
backends' native loops.

The fused ops stay what the stabilize pass produces (one node, by name, as in Theano), and
are what the CUDA backend runs (it has kernels of its own for them: Mode leaves this pass out
there). On the CPU they only had numpy ``perform``s: in the MLP train step of benchmarks/,
replacing the two crossentropy performs by near no-ops saved ~130 us of a 2.5 ms step, for a
few kernels' worth of work (after the GEMMs each numpy call costs microseconds). The forms
below are the same stable formulas as those ``perform``s (the maximum subtracted before the
exponential, the label's log-probability picked rather than computed from the softmax), and
OneHot checks the labels' range as the fused ops did.
"""

from __future__ import annotations

from collections import Counter

from symgraph.fgraph import FunctionGraph
from symgraph.graph import Variable
from symgraph.opt.engine import equilibrium
from symgraph.opt.pattern import P, Rules, var

NNET = "symgraph.ops.nnet:"
x, b, y, dy, sm = var("x"), var("b"), var("y"), var("dy"), var("sm")


def _shifted(x: Variable, axis) -> Variable:
    """x minus its maximum over `axis` (kept as a broadcast axis): every value <= 0."""
    from symgraph.ops import math

    return x - math.max(x, axis=axis, keepdims=True)


def _softmax(x: Variable, out: Variable) -> Variable:
    from symgraph.ops import math

    axis = out.owner.op.axis
    e = math.exp(_shifted(x, axis))
    return e / math.sum(e, axis=axis, keepdims=True)


def _log_softmax(x: Variable, out: Variable) -> Variable:
    from symgraph.ops import math

    axis = out.owner.op.axis
    z = _shifted(x, axis)
    return z - math.log(math.sum(math.exp(z), axis=axis, keepdims=True))


def _one_hot(y: Variable, like: Variable) -> Variable:
    from symgraph.ops.nnet import OneHot
    from symgraph.ops.shape import shape_i

    return OneHot(like.dtype)(y, shape_i(like, 1))


def _crossentropy(x: Variable, b: Variable, y: Variable, out: Variable) -> dict:
    """The used outputs of (nll, softmax, argmax) of x + b for labels y."""
    from symgraph.ops import math

    nll, softmax, argmax = out.owner.outputs
    logits = x + b.dimshuffle("x", 0)
    z = _shifted(logits, 1)
    e = math.exp(z)
    total = math.sum(e, axis=1, keepdims=True)
    sm = e / total
    # z at each row's label. The one-hot takes its width from `sm`, as the gradient's
    # (_crossentropy_dx, which sees this `sm`) does: the two are then one node.
    picked = math.sum(math.switch(_one_hot(y, sm), z, 0), axis=1)
    return {
        nll: math.log(total.dimshuffle(0)) - picked,
        softmax: sm,
        argmax: math.cast(math.argmax(logits, axis=1), argmax.dtype),
    }


def _crossentropy_dx(dy: Variable, sm: Variable, y: Variable) -> Variable:
    return (sm - _one_hot(y, sm)) * dy.dimshuffle(0, "x")


RULES = Rules("expand", [
    (P(NNET + "Softmax", x, name="out"), _softmax),
    (P(NNET + "LogSoftmax", x, name="out"), _log_softmax),
    (P(NNET + "CrossentropySoftmaxArgmax1HotWithBias", x, b, y, name="out"), _crossentropy),
    (P(NNET + "CrossentropySoftmax1HotWithBiasDx", dy, sm, y), _crossentropy_dx),
])


def expand(fg: FunctionGraph) -> Counter:
    return equilibrium(fg, [RULES], "expand")
