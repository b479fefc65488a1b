"""merge: identical subexpressions and equal constants are computed once."""

import numpy as np

import symgraph.tensor as T
from tests.opt.rewrite_util import PY, compiled, ops, rewritten


def test_identical_subexpressions_are_computed_once():
    x, y = T.dvectors("x", "y")
    out = T.exp(x * y) + T.exp(x * y)
    fg = rewritten(out, ["merge"])
    assert ops(fg) == ["Elemwise{mul}", "Elemwise{exp}", "Elemwise{add}"]
    node = fg.outputs[0].owner
    assert node.inputs[0] is node.inputs[1]
    f = compiled([x, y], out, mode=PY.excluding("fusion"))
    np.testing.assert_allclose(f([1.0, 2.0], [0.5, 0.25]), 2 * np.exp([0.5, 0.5]))


def test_equal_constants_become_one_constant():
    x = T.dvector("x")
    out = (x + T.constant(2.0)) * (x - T.constant(2.0))
    fg = rewritten(out, ["merge"])
    add, sub = (n for n in fg.toposort() if str(n.op) in ("Elemwise{add}", "Elemwise{sub}"))
    assert add.inputs[1] is sub.inputs[1]  # the one broadcast constant 2.0
    assert fg.rewrites["merge"]["equal constants"] >= 1


def test_different_ops_and_inputs_stay_apart():
    x, y = T.dvectors("x", "y")
    fg = rewritten([T.exp(x), T.exp(y), T.log(x)], ["merge"])
    assert len(fg.apply_nodes) == 3
