"""ifelse: lazy (only the taken branch runs), several outputs, gradients, type errors."""

from dataclasses import dataclass

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.graph import Apply, Op
from symgraph.ifelse import IfElse, ifelse

CALLS = {"count": 0}


@dataclass(frozen=True)
class Counted(Op):
    """x * 2, counting how often it runs."""

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        CALLS["count"] += 1
        return [inputs[0] * 2]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


def test_only_the_taken_branch_runs():
    a, b = T.dscalars("a", "b")
    x = T.dvector("x")
    broken = T.specify_shape(x, (5,)).sum()  # fails at run time for other shapes
    f = sg.function([a, b, x], ifelse(T.lt(a, b), x.sum(), broken))
    assert f(1.0, 2.0, np.ones(3)) == 3.0  # the else branch would raise
    with pytest.raises(AssertionError, match="specify_shape"):
        f(3.0, 2.0, np.ones(3))
    CALLS["count"] = 0
    g = sg.function([a, b, x], ifelse(T.lt(a, b), Counted()(x), x))
    np.testing.assert_allclose(g(2.0, 1.0, np.ones(2)), np.ones(2))
    assert CALLS["count"] == 0
    np.testing.assert_allclose(g(1.0, 2.0, np.ones(2)), 2 * np.ones(2))
    assert CALLS["count"] == 1


def test_several_outputs_and_numbers():
    c = T.iscalar("c")
    x, y = T.dvectors("x", "y")
    out = ifelse(c, [x + y, x * 2, 1.0], [x - y, y, 0.0])
    f = sg.function([c, x, y], out)
    xv, yv = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    for cv, expected in ((1, [xv + yv, xv * 2, 1.0]), (0, [xv - yv, yv, 0.0])):
        for got, exp in zip(f(cv, xv, yv), expected):
            np.testing.assert_allclose(got, exp)


def test_gradient_flows_to_the_taken_branch(rng):
    c = T.dscalar("c")
    x, y = T.dvectors("x", "y")
    out = ifelse(T.gt(c, 0), T.sin(x) * y, y**2)
    gx, gy = sg.grad(out.sum(), [x, y])
    f = sg.function([c, x, y], [gx, gy])
    xv, yv = rng.normal(size=3), rng.normal(size=3)
    gx_v, gy_v = f(1.0, xv, yv)
    np.testing.assert_allclose(gx_v, np.cos(xv) * yv)
    np.testing.assert_allclose(gy_v, np.sin(xv))
    gx_v, gy_v = f(-1.0, xv, yv)
    np.testing.assert_allclose(gx_v, np.zeros(3))
    np.testing.assert_allclose(gy_v, 2 * yv)
    for cond in (1.0, -1.0):
        verify_grad(
            lambda x, y, cond=cond: ifelse(T.gt(cond, 0), T.sin(x) * y, y**2 + x), [xv, yv], rng=rng
        )


def test_gradient_is_lazy_too():
    x = T.dvector("x")
    c = T.iscalar("c")
    out = ifelse(c, x.sum(), (T.specify_shape(x, (5,)) ** 2).sum())
    g = sg.function([c, x], sg.grad(out, x))
    np.testing.assert_allclose(g(1, np.ones(3)), np.ones(3))
    grads = [n for n in g.maker.fgraph.toposort() if isinstance(n.op, IfElse)]
    assert grads


def test_mismatched_types_name_both_branches():
    x = T.dvector("x")
    m = T.dmatrix("m")
    with pytest.raises(TypeError) as err:
        ifelse(T.iscalar("c"), x, m)
    msg = str(err.value)
    assert "'x'" in msg or "x (" in msg
    assert "vector" in msg and "matrix" in msg and "test_ifelse.py" in msg
    with pytest.raises(TypeError, match="dtype"):
        ifelse(T.iscalar("c"), x, T.fvector("f"))
    with pytest.raises(ValueError, match="same number"):
        ifelse(T.iscalar("c"), [x, x], [x])
    with pytest.raises(TypeError, match="scalar"):
        ifelse(x, x, x)
    with pytest.raises(TypeError, match="does not fit"):
        ifelse(T.iscalar("c"), 0.5, T.ivector("i"))


def test_shapes_and_static_types():
    c = T.iscalar("c")
    x = T.dmatrix("x")
    out = ifelse(c, x, x.T)
    f = sg.function([c, x], out.shape)
    assert tuple(f(1, np.ones((2, 3)))) == (2, 3)
    assert tuple(f(0, np.ones((2, 3)))) == (3, 2)
    node = out.owner
    shapes = node.op.infer_shape(node, [(), (4, 4)])
    assert shapes == [(4, 4)]


def test_ifelse_inside_scan():
    x = T.dvector("x")
    out, _ = sg.scan(
        lambda v, acc: ifelse(T.gt(v, 0), acc + v, acc),
        sequences=x,
        outputs_info=T.constant(0.0, dtype="float64"),
    )
    f = sg.function([x], out[-1])
    assert f(np.array([1.0, -2.0, 3.0])) == 4.0
