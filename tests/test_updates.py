"""Update rules against hand-written numpy versions of the same algorithms (Lasagne's)."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph import updates as U

TARGET = np.array([1.0, -2.0, 3.0])


def _numpy_rule(name, steps, **kw):
    """The same rule by hand on loss = sum((w - TARGET)**2), from w = 0."""
    w = np.zeros(3)
    s1, s2 = np.zeros(3), np.zeros(3)
    for t in range(1, steps + 1):
        g = 2 * (w - TARGET)
        lr = kw.get("learning_rate")
        if name == "sgd":
            w = w - lr * g
        elif name == "momentum":
            x = kw["momentum"] * s1 + (w - lr * g)
            s1, w = x - w, x
        elif name == "nesterov_momentum":
            upd = w - lr * g
            x = kw["momentum"] * s1 + upd - w
            s1, w = x, kw["momentum"] * x + upd
        elif name == "adagrad":
            s1 = s1 + g**2
            w = w - lr * g / np.sqrt(s1 + 1e-6)
        elif name == "rmsprop":
            s1 = 0.9 * s1 + 0.1 * g**2
            w = w - lr * g / np.sqrt(s1 + 1e-6)
        elif name == "adadelta":
            s1 = 0.95 * s1 + 0.05 * g**2
            upd = g * np.sqrt(s2 + 1e-6) / np.sqrt(s1 + 1e-6)
            w = w - lr * upd
            s2 = 0.95 * s2 + 0.05 * upd**2
        elif name == "adam":
            a = lr * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            s1 = 0.9 * s1 + 0.1 * g
            s2 = 0.999 * s2 + 0.001 * g**2
            w = w - a * s1 / (np.sqrt(s2) + 1e-8)
        elif name == "adamax":
            a = lr / (1 - 0.9**t)
            s1 = 0.9 * s1 + 0.1 * g
            s2 = np.maximum(0.999 * s2, np.abs(g))
            w = w - a * s1 / (s2 + 1e-8)
    return w


RULES = {
    "sgd": dict(learning_rate=0.1),
    "momentum": dict(learning_rate=0.05, momentum=0.9),
    "nesterov_momentum": dict(learning_rate=0.05, momentum=0.9),
    "adagrad": dict(learning_rate=0.5),
    "rmsprop": dict(learning_rate=0.05),
    "adadelta": dict(learning_rate=1.0),
    "adam": dict(learning_rate=0.1),
    "adamax": dict(learning_rate=0.1),
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_matches_numpy(name):
    w = sg.shared(np.zeros(3), name="w")
    loss = T.sum((w - TARGET) ** 2)
    step = sg.function([], loss, updates=getattr(U, name)(loss, [w], **RULES[name]))
    for _ in range(5):
        step()
    np.testing.assert_allclose(w.get_value(), _numpy_rule(name, 5, **RULES[name]), rtol=1e-10)


@pytest.mark.parametrize("name", sorted(RULES))
def test_float32_params_stay_float32(name):
    w = sg.shared(np.zeros(3, dtype="float32"), name="w")
    x = T.fvector("x")
    loss = T.sum((w - x) ** 2)
    ups = getattr(U, name)(loss, [w], **RULES[name])
    assert all(v.dtype == k.dtype for k, v in ups.items())
    step = sg.function([x], loss, updates=ups)
    first = step(TARGET.astype("float32"))
    for _ in range(20):
        last = step(TARGET.astype("float32"))
    assert last < first and w.get_value().dtype == np.float32


def test_gradients_can_be_given_directly():
    w = sg.shared(np.ones(2), name="w")
    ups = U.sgd([T.constant(np.array([1.0, 2.0]))], [w], learning_rate=0.5)
    sg.function([], [], updates=ups)()
    np.testing.assert_allclose(w.get_value(), [0.5, 0.0])


def test_total_norm_constraint():
    a, b = T.dvectors("a", "b")
    (sa, sb), norm = U.total_norm_constraint([a, b], max_norm=1.0, return_norm=True)
    va, vb = np.array([3.0, 0.0]), np.array([0.0, 4.0])
    out_a, out_b, n = sg.function([a, b], [sa, sb, norm])(va, vb)
    assert n == pytest.approx(5.0)
    assert np.sqrt((out_a**2).sum() + (out_b**2).sum()) == pytest.approx(1.0, rel=1e-6)


def test_bad_inputs_are_named():
    x = T.dvector("x")
    w = sg.shared(np.zeros(3), name="w")
    with pytest.raises(TypeError, match="scalar loss"):
        U.sgd(w * x, [w], 0.1)
    with pytest.raises(TypeError, match="shared variables"):
        U.sgd(T.sum(x), [x], 0.1)
