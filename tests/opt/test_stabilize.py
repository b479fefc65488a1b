"""stabilize: stable forms, checked by graph structure and by the numbers of the issue."""

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops import nnet
from tests.opt.rewrite_util import PY, compiled, ops, rewritten, scalar_ops

STAB = ["merge", "constant_fold", "canonicalize", "stabilize"]


def _stable_softmax(v):
    e = np.exp(v - v.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_log_sigmoid_is_minus_softplus_of_minus_x():
    x = T.dvector("x")
    out = T.log(T.nnet.sigmoid(x))
    assert scalar_ops(rewritten(out, STAB)) == ["neg", "softplus", "neg"]
    got = compiled([x], out)(np.array([-1000.0, 0.0, 30.0]))
    np.testing.assert_allclose(got, [-1000.0, -np.log(2), -np.log1p(np.exp(-30.0))])


def test_log_one_minus_sigmoid_is_minus_softplus():
    x = T.dvector("x")
    out = T.log(1 - T.nnet.sigmoid(x))
    assert scalar_ops(rewritten(out, STAB)) == ["softplus", "neg"]
    np.testing.assert_allclose(compiled([x], out)(np.array([1000.0, 0.0])), [-1000.0, -np.log(2)])


def test_the_logistic_spelled_out_becomes_sigmoid_and_its_logs_stay_finite():
    x, b = T.dvector("x"), T.dscalar("b")
    for p in [1 / (1 + T.exp(-x - b)), T.exp(x + b) / (1 + T.exp(x + b))]:
        assert "sigmoid" in scalar_ops(rewritten(p, STAB))
        f = compiled([x, b], [T.log(p), T.log(1 - p)])
        xv = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
        z = xv + 0.5
        got_log_p, got_log_q = f(xv, 0.5)
        np.testing.assert_allclose(got_log_p, -np.logaddexp(0, -z))
        np.testing.assert_allclose(got_log_q, -np.logaddexp(0, z))


def test_one_minus_sigmoid_is_sigmoid_of_minus_x():
    x = T.dvector("x")
    out = 1 - T.nnet.sigmoid(-x)
    assert scalar_ops(rewritten(out, STAB)) == ["sigmoid"]
    xv = np.array([-40.0, 0.0, 40.0])
    np.testing.assert_allclose(compiled([x], out)(xv), 1 / (1 + np.exp(-xv)))


def test_log_one_plus_exp_is_softplus():
    x = T.dvector("x")
    out = T.log(1 + T.exp(x))
    assert scalar_ops(rewritten(out, STAB)) == ["softplus"]
    np.testing.assert_allclose(compiled([x], out)(np.array([1000.0, 0.0])), [1000.0, np.log(2)])


def test_log1p_and_expm1_keep_tiny_values():
    x = T.dvector("x")
    assert scalar_ops(rewritten(T.log(1 + x), STAB)) == ["log1p"]
    assert scalar_ops(rewritten(T.exp(x) - 1, STAB)) == ["expm1"]
    f = compiled([x], [T.log(1 + x), T.exp(x) - 1])
    tiny = np.array([1e-20])
    np.testing.assert_allclose(f(tiny), [[1e-20], [1e-20]], rtol=1e-12)


def test_log_softmax_is_finite_for_huge_logits():
    x = T.dmatrix("x")
    out = T.log(nnet.softmax(x))
    assert ops(rewritten(out, STAB)) == ["LogSoftmax{1}"]
    v = np.array([[1e4, 0.0, -1e4], [1e4 + 1.0, 1e4, 1e4 - 1.0]])
    got = compiled([x], out)(v)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[0], [0.0, -1e4, -2e4])
    np.testing.assert_allclose(np.exp(got[1]), _stable_softmax(v)[1])


def test_log_sum_exp_is_logsumexp():
    x = T.dvector("x")
    out = T.log(T.sum(T.exp(x)))
    fg = rewritten(out, STAB)
    assert "exp" in scalar_ops(fg) and "Max{axis=[0]}" in ops(fg)
    np.testing.assert_allclose(compiled([x], out)(np.array([1000.0, 1000.0])), 1000 + np.log(2))


def test_sqrt_of_a_square_is_abs_for_floats_only():
    x, i = T.dvector("x"), T.ivector("i")
    assert scalar_ops(rewritten(T.sqrt(x * x), STAB)) == ["abs"]
    assert scalar_ops(rewritten(T.sqrt(T.sqr(x)), STAB)) == ["abs"]
    assert "sqrt" in scalar_ops(rewritten(T.sqrt(i * i), STAB))  # i*i may wrap around
    np.testing.assert_allclose(compiled([x], T.sqrt(x * x))(np.array([1e200, -3.0])), [1e200, 3.0])


def test_crossentropy_of_softmax_is_one_fused_op_value_and_gradient():
    x, y = T.dmatrix("x"), T.ivector("y")
    loss = nnet.categorical_crossentropy(nnet.softmax(x), y).mean()
    g = sg.grad(loss, x)
    fg = rewritten([loss, g], STAB)
    names = ops(fg)
    assert "CrossentropySoftmaxArgmax1HotWithBias" in names
    assert "CrossentropySoftmax1HotWithBiasDx" in names
    assert "Softmax{1}" not in names and "CrossentropyCategorical1Hot" not in names
    v = np.array([[1e4, 0.0, -1e4], [0.0, 1.0, 2.0]])
    labels = np.array([2, 0], dtype="int32")
    value, grad = compiled([x, y], [loss, g])(v, labels)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, np.mean([2e4, -np.log(_stable_softmax(v)[1, 0])]))
    expected = (_stable_softmax(v) - np.eye(3)[labels]) / 2
    np.testing.assert_allclose(grad, expected, atol=1e-12)


def test_indexed_log_softmax_loss_is_the_fused_op_too():
    x, y = T.dmatrix("x"), T.ivector("y")
    b = T.dvector("b")
    p = nnet.softmax(T.dot(x, T.eye(3)) + b)
    loss = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gx, gb = sg.grad(loss, [x, b])
    fg = rewritten([loss, gx, gb], STAB)
    assert "CrossentropySoftmax1HotWithBiasDx" in ops(fg)
    assert not any("AdvancedIncSubtensor" in o for o in ops(fg))
    v = np.array([[-1e4, 0.0, 1e4], [3.0, 1.0, 2.0]])
    labels = np.array([0, 1], dtype="int32")
    value, grad_x, grad_b = compiled([x, y, b], [loss, gx, gb])(v, labels, np.zeros(3))
    assert np.isfinite(value) and np.all(np.isfinite(grad_x))
    expected = (_stable_softmax(v) - np.eye(3)[labels]) / 2
    np.testing.assert_allclose(grad_x, expected, atol=1e-12)
    np.testing.assert_allclose(grad_b, expected.sum(axis=0), atol=1e-12)


def test_stabilize_can_be_excluded():
    x = T.dvector("x")
    f = sg.function([x], T.log(T.nnet.sigmoid(x)), mode=PY.excluding("stabilize"))
    assert "softplus" not in str(ops(f))
    assert compiled([x], T.log(T.nnet.sigmoid(x)))(np.array([-1000.0])) == -1000.0
