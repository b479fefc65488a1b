"""Programs from Theano's tutorial, unchanged except for the imports, against numpy."""

import numpy as np

import symgraph as theano
import symgraph.tensor as T
from symgraph import function, shared


def test_logistic_function():
    x = T.dmatrix("x")
    s = 1 / (1 + T.exp(-x))
    logistic = theano.function([x], s)
    v = np.array([[0, 1], [-1, -2]])
    np.testing.assert_allclose(logistic(v), 1 / (1 + np.exp(-v)))
    s2 = (1 + T.tanh(x / 2)) / 2
    logistic2 = theano.function([x], s2)
    np.testing.assert_allclose(logistic2(v), logistic(v))


def test_logistic_regression_example():
    rng = np.random.default_rng(42)
    N, feats = 400, 784
    D = (rng.normal(size=(N, feats)), rng.integers(size=N, low=0, high=2).astype("float64"))
    training_steps = 50
    x = T.dmatrix("x")
    y = T.dvector("y")
    w = theano.shared(rng.normal(size=feats) * 0.01, name="w")  # unsaturated: see test_opt
    b = theano.shared(0.0, name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    prediction = p_1 > 0.5
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = theano.function(
        inputs=[x, y], outputs=[prediction, xent], updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb))
    )
    predict = theano.function(inputs=[x], outputs=prediction)

    # the same by hand in numpy
    wn, bn = w.get_value(), b.get_value()
    xs, ys = D
    for _ in range(training_steps):
        pred, err = train(xs, ys)
        p = 1 / (1 + np.exp(-xs @ wn - bn))
        np.testing.assert_allclose(err, -ys * np.log(p) - (1 - ys) * np.log(1 - p), rtol=1e-9)
        gwn = xs.T @ (p - ys) / N + 0.02 * wn
        gbn = np.mean(p - ys)
        wn, bn = wn - 0.1 * gwn, bn - 0.1 * gbn
    np.testing.assert_allclose(w.get_value(), wn, rtol=1e-9)
    assert abs(b.get_value() - bn) < 1e-12
    np.testing.assert_array_equal(predict(xs), 1 / (1 + np.exp(-xs @ wn - bn)) > 0.5)


def test_logistic_regression_example_as_written_saturates_without_nans():
    # The tutorial starts from w = randn(784): |x.w| reaches ~100, where 1 - sigmoid rounds to
    # 0 and a literal log(1 - p_1) is -inf. The stabilizing rewrites compute the crossentropy
    # as softplus terms, finite for every example, as Theano's do.
    rng = np.random.default_rng(7)
    N, feats = 400, 784
    xs, ys = rng.normal(size=(N, feats)), rng.integers(size=N, low=0, high=2).astype("float64")
    x, y = T.dmatrix("x"), T.dvector("y")
    w = theano.shared(rng.normal(size=feats), name="w")
    b = theano.shared(0.0, name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = theano.function([x, y], [p_1 > 0.5, xent],
                            updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))
    wn, bn = w.get_value(), b.get_value()
    for _ in range(10):
        _, err = train(xs, ys)
        z = xs @ wn + bn
        assert np.abs(z).max() > 40  # saturated: 1 - sigmoid(z) is 0 in float64
        want = ys * np.logaddexp(0, -z) + (1 - ys) * np.logaddexp(0, z)
        np.testing.assert_allclose(err, want, rtol=1e-9)
        p = 1 / (1 + np.exp(-z))
        wn, bn = wn - 0.1 * (xs.T @ (p - ys) / N + 0.02 * wn), bn - 0.1 * np.mean(p - ys)
    np.testing.assert_allclose(w.get_value(), wn, rtol=1e-9)


def test_shared_state_and_givens_example():
    state = shared(0)
    inc = T.iscalar("inc")
    accumulator = function([inc], state, updates=[(state, state + inc)])
    accumulator(1)
    accumulator(300)
    assert state.get_value() == 301
    fn_of_state = state * 2 + inc
    foo = T.scalar(dtype=state.dtype)
    skip_shared = function([inc, foo], fn_of_state, givens=[(state, foo)])
    assert skip_shared(1, 3) == 7
    assert state.get_value() == 301


def test_gradient_examples():
    x = T.dscalar("x")
    y = x**2
    gy = T.grad(y, x)
    f = theano.function([x], gy)
    assert f(4) == 8
    x = T.dmatrix("x")
    s = T.sum(1 / (1 + T.exp(-x)))
    gs = T.grad(s, x)
    dlogistic = theano.function([x], gs)
    v = np.array([[0, 1], [-1, -2]], dtype="float64")
    np.testing.assert_allclose(dlogistic(v), np.exp(-v) / (1 + np.exp(-v)) ** 2)


def test_rop_and_lop_examples():
    W = T.dmatrix("W")
    V = T.dmatrix("V")
    x = T.dvector("x")
    y = T.dot(x, W)
    JV = T.Rop(y, W, V)
    f = theano.function([W, V, x], JV)
    np.testing.assert_allclose(f([[1, 1], [1, 1]], [[2, 2], [2, 2]], [0, 1]), [2.0, 2.0])
    v = T.dvector("v")
    VJ = T.Lop(y, W, v)
    f = theano.function([v, x], VJ)
    np.testing.assert_allclose(f([2, 2], [0, 1]), [[0.0, 0.0], [2.0, 2.0]])
