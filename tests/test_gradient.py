"""grad, Lop, Rop and verify_grad: values against numpy and finite differences; errors."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import (
    DisconnectedInputError,
    GradientError,
    disconnected_grad,
    verify_grad,
    zero_grad,
)

rng = np.random.default_rng(3)


def test_grad_of_polynomial():
    x = T.dscalar("x")
    gy = sg.grad(x**2, x)
    f = sg.function([x], gy)
    assert f(4) == 8.0
    assert f(94.2) == pytest.approx(188.4)


def test_grad_of_logistic_matches_closed_form():
    x = T.dmatrix("x")
    s = T.sum(1 / (1 + T.exp(-x)))
    gs = sg.grad(s, x)
    v = np.array([[0, 1], [-1, -2]], dtype="float64")
    expected = np.exp(-v) / (1 + np.exp(-v)) ** 2
    np.testing.assert_allclose(sg.function([x], gs)(v), expected)


def test_grad_list_and_names():
    x, y = T.dvectors("x", "y")
    cost = T.sum(x * y)
    cost.name = "cost"
    gx, gy = sg.grad(cost, [x, y])
    assert gx.name == "(dcost/dx)"
    a, b = rng.normal(size=3), rng.normal(size=3)
    ga, gb = sg.function([x, y], [gx, gy])(a, b)
    np.testing.assert_allclose(ga, b)
    np.testing.assert_allclose(gb, a)


def test_non_scalar_cost_is_refused():
    x = T.dvector("x")
    with pytest.raises(TypeError, match=r"(?s)must be a scalar.*1 dimensions.*\.sum\(\)"):
        sg.grad(x * 2, x)


def test_disconnected_inputs_policy():
    x, y = T.dvectors("x", "y")
    cost = T.sum(x)
    with pytest.raises(DisconnectedInputError, match="'y'|y"):
        sg.grad(cost, y)
    with pytest.warns(UserWarning):
        g = sg.grad(cost, y, disconnected_inputs="warn")
    np.testing.assert_array_equal(g.eval({y: np.ones(2)}), [0, 0])
    g = sg.grad(cost, [x, y], disconnected_inputs="ignore")[1]
    np.testing.assert_array_equal(g.eval({y: np.ones(3)}), [0, 0, 0])


def test_consider_constant_and_gradient_stops():
    x = T.dscalar("x")
    y = x * x
    z = y * x
    g = sg.grad(z, x, consider_constant=[y])
    assert sg.function([x], g)(3.0) == 9.0  # d(y*x)/dx with y fixed
    assert sg.function([x], sg.grad(zero_grad(x**2) * x, x))(3.0) == 9.0
    assert sg.function([x], sg.grad(disconnected_grad(x**2) + x, x))(3.0) == 1.0


def test_known_grads():
    x = T.dvector("x")
    y = T.exp(x)
    gx = sg.grad(None, x, known_grads={y: T.ones_like(y) * 2})
    v = rng.normal(size=3)
    np.testing.assert_allclose(gx.eval({x: v}), 2 * np.exp(v))


def test_lop_and_rop():
    x = T.dvector("x")
    w = T.dmatrix("w")
    y = T.tanh(T.sum(w * x, axis=1))
    v = T.dvector("v")
    u = T.dmatrix("u")
    xv, wv = rng.normal(size=3), rng.normal(size=(4, 3))
    vv, uv = rng.normal(size=4), rng.normal(size=(4, 3))
    lop = sg.function([x, w, v], sg.Lop(y, x, v))(xv, wv, vv)
    dy = 1 - np.tanh(wv @ xv) ** 2
    np.testing.assert_allclose(lop, wv.T @ (dy * vv))
    rop = sg.function([x, w, u], sg.Rop(y, w, u))(xv, wv, uv)
    np.testing.assert_allclose(rop, dy * (uv @ xv))


def test_grad_of_grad():
    x = T.dscalar("x")
    y = T.exp(2 * x) * T.sin(x)
    d2 = sg.grad(sg.grad(y, x), x)
    v = 0.7
    expected = np.exp(2 * v) * (4 * np.sin(v) + 4 * np.cos(v) - np.sin(v))
    assert sg.function([x], d2)(v) == pytest.approx(expected)


def test_integer_wrt_gets_zero_gradient():
    i = T.ivector("i")
    x = T.dvector("x")
    g = sg.grad(T.sum(x * i), i)
    assert g.dtype.startswith("float")


def test_no_gradient_op_raises_at_grad_time_with_user_line():
    from symgraph.graph import Apply, Op

    class NoGrad(Op):
        def make_node(self, x):
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs):
            return [inputs[0]]

    x = T.dvector("x")
    y = NoGrad()(x)
    with pytest.raises(NotImplementedError, match=r"(?s)NoGrad.*no gradient.*test_gradient.py"):
        sg.grad(T.sum(y), x)


def test_verify_grad_accepts_good_and_catches_bad():
    verify_grad(lambda a, b: T.sum(a * T.exp(b)), [rng.normal(size=(2, 3)), rng.normal(size=3)])
    from symgraph.graph import Apply, Op

    class WrongGrad(Op):
        def make_node(self, x):
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs):
            return [inputs[0] ** 2]

        def infer_shape(self, node, shapes):
            return shapes

        def L_op(self, inputs, outputs, grads):
            return [grads[0] * 3 * inputs[0]]  # wrong: should be 2 * x

    with pytest.raises(GradientError, match="input 0"):
        verify_grad(lambda a: WrongGrad()(a), [rng.normal(size=4)])


def test_jacobian_and_hessian():
    x = T.dvector("x")
    y = x**2
    J = sg.function([x], sg.tensor.jacobian(y, x))
    np.testing.assert_allclose(J(np.array([4.0, 4.0])), [[8, 0], [0, 8]])
    cost = T.sum(x**2)
    H = sg.function([x], sg.tensor.hessian(cost, x))
    np.testing.assert_allclose(H(np.array([4.0, 4.0])), [[2, 0], [0, 2]])
    w = T.dmatrix("w")
    J2 = sg.function([x, w], sg.tensor.jacobian(T.tanh(T.dot(w, x)), [x, w]))
    xv, wv = rng.normal(size=3), rng.normal(size=(2, 3))
    jx, jw = J2(xv, wv)
    d = 1 - np.tanh(wv @ xv) ** 2
    np.testing.assert_allclose(jx, d[:, None] * wv)
    np.testing.assert_allclose(jw, d[:, None, None] * np.eye(2)[:, :, None] * xv[None, None, :])
