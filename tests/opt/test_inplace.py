"""inplace + DestroyHandler: results written into dead buffers, never into needed ones."""

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph.graph import toposort
from symgraph.opt.destroy import DestroyHandler
from tests.opt.rewrite_util import PY, PY_NONE, compiled, ops


def _destroyers(f):
    return [n for n in f.maker.fgraph.toposort() if n.op.destroy_map]


def _logreg(mode, w0):
    x, y = T.dmatrix("x"), T.ivector("y")
    W = sg.shared(w0.copy(), name="W")
    b = sg.shared(np.zeros(w0.shape[1]), name="b")
    p = T.nnet.softmax(T.dot(x, W) + b)
    loss = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gW, gb = sg.grad(loss, [W, b])
    return (
        sg.function([x, y], loss, updates=[(W, W - 0.1 * gW), (b, b - 0.1 * gb)], mode=mode),
        W,
        b,
    )


def test_a_training_step_updates_the_weights_in_their_own_buffer():
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 3))
    xv, yv = rng.normal(size=(6, 4)), np.array([0, 1, 2, 0, 1, 2], dtype="int32")
    train, W, b = _logreg(PY, w0)
    ref, W_ref, b_ref = _logreg(PY_NONE, w0)
    w_buffer, b_buffer = W.get_value(borrow=True), b.get_value(borrow=True)
    for _ in range(3):
        np.testing.assert_allclose(train(xv, yv), ref(xv, yv), rtol=1e-12)
    assert W.get_value(borrow=True) is w_buffer and b.get_value(borrow=True) is b_buffer
    np.testing.assert_allclose(W.get_value(), W_ref.get_value(), rtol=1e-12)
    np.testing.assert_allclose(b.get_value(), b_ref.get_value(), rtol=1e-12)
    assert any(str(n.op).startswith("Gemm{inplace}") for n in _destroyers(train))


def test_an_update_waits_for_every_reader_of_the_old_value():
    # W2's old value is read by the gradient of W1, which is listed after W2's update.
    rng = np.random.default_rng(1)
    x = T.dmatrix("x")
    W1 = sg.shared(rng.normal(size=(3, 4)), name="W1")
    W2 = sg.shared(rng.normal(size=(4, 2)), name="W2")
    cost = T.sum(T.tanh(T.dot(T.tanh(T.dot(x, W1)), W2)) ** 2)
    g1, g2 = sg.grad(cost, [W1, W2])
    xv = rng.normal(size=(5, 3))
    grads = sg.function([x], [g1, g2], mode=PY_NONE)(xv)
    expected = [W1.get_value() - 0.1 * grads[0], W2.get_value() - 0.1 * grads[1]]
    buffer = W2.get_value(borrow=True)
    f = sg.function([x], cost, updates=[(W2, W2 - 0.1 * g2), (W1, W1 - 0.1 * g1)], mode=PY)
    f(xv)
    np.testing.assert_allclose(W1.get_value(), expected[0], rtol=1e-12)
    np.testing.assert_allclose(W2.get_value(), expected[1], rtol=1e-12)
    assert W2.get_value(borrow=True) is buffer
    order = f.maker.fgraph.toposort()
    (d2,) = [n for n in _destroyers(f) if n.inputs[0].name == "W2"]
    readers = [
        n
        for n in order
        if n is not d2
        and any(v.name == "W2" or (v.owner and v.owner.inputs[0].name == "W2") for v in n.inputs)
    ]
    assert readers and all(order.index(r) < order.index(d2) for r in readers)


def test_inputs_given_by_the_caller_are_never_overwritten():
    x = T.dvector("x")
    f = compiled([x], T.exp(x) * 2 + x)
    v = np.array([1.0, 2.0])
    f(v)
    np.testing.assert_array_equal(v, [1.0, 2.0])
    assert all(x.name not in [i.name for i in n.inputs] for n in _destroyers(f))


def test_a_buffer_that_is_also_returned_is_not_overwritten():
    W = sg.shared(np.ones(3), name="W")
    f = sg.function([], [W * 1, W.T], updates=[(W, W + 1)], mode=PY)
    old, view = f()
    np.testing.assert_array_equal(old, [1, 1, 1])
    np.testing.assert_array_equal(view, [1, 1, 1])
    np.testing.assert_array_equal(W.get_value(), [2, 2, 2])


def test_a_shared_variable_read_by_another_update_is_not_clobbered():
    a = sg.shared(np.array([1.0, 2.0]), name="a")
    b = sg.shared(np.array([10.0, 20.0]), name="b")
    f = sg.function([], [], updates=[(a, a * 2), (b, a + b)], mode=PY)
    f()
    np.testing.assert_array_equal(a.get_value(), [2, 4])
    np.testing.assert_array_equal(b.get_value(), [11, 22])


def test_views_count_as_readers():
    x = T.dmatrix("x")
    t = T.exp(x)  # a fresh buffer...
    out = [t.T * 2, t + 1]  # ... read through a view and directly
    f = compiled([x], out)
    v = np.array([[0.0, 1.0], [2.0, 3.0]])
    got = f(v)
    np.testing.assert_allclose(got[0], np.exp(v).T * 2)
    np.testing.assert_allclose(got[1], np.exp(v) + 1)


def test_two_in_place_ops_never_destroy_the_same_value():
    x = T.dvector("x")
    t = T.exp(x)
    f = compiled([x], [T.sin(t), T.cos(t)], mode=PY.excluding("fusion"))
    destroyed = [n.inputs[0] for n in _destroyers(f)]
    assert len(destroyed) == len(set(map(id, destroyed))) <= 1
    v = np.array([0.5, 1.0])
    np.testing.assert_allclose(f(v), [np.sin(np.exp(v)), np.cos(np.exp(v))])


def test_the_users_graph_is_never_changed():
    W = sg.shared(np.ones(2), name="W")
    new = W * 2 + 1  # reads only a shared variable: copied too when compiled
    nodes = toposort([new])
    f = sg.function([], [], updates=[(W, new)], mode=PY)
    f()
    assert all(not n.op.destroy_map for n in toposort([new])) and toposort([new]) == nodes
    np.testing.assert_array_equal(sg.function([], new, mode=PY_NONE)(), [7, 7])
    np.testing.assert_array_equal(W.get_value(), [3, 3])


def test_the_destroy_handler_is_a_feature_with_orderings():
    x = T.dvector("x")
    f = compiled([x], [T.exp(x) * 2, T.exp(x) + 1], mode=PY.excluding("fusion"))
    fg = f.maker.fgraph
    (handler,) = [h for h in fg.features if isinstance(h, DestroyHandler)]
    for destroyer, readers in fg.orderings().items():
        order = fg.toposort()
        assert all(order.index(r) < order.index(destroyer) for r in readers)
    assert "inplace" in str(ops(f))
    assert handler.before


def test_storages_never_alias_constants_or_other_inputs():
    W = sg.shared(np.ones(3), name="W")
    V = sg.shared(np.full(3, 5.0), name="V")
    reset = sg.function([], [], updates=[(W, T.zeros(3))], mode=PY)  # a folded constant
    copy = sg.function([], [], updates=[(W, V)], mode=PY_NONE)  # another shared variable
    step_w = sg.function([], [], updates=[(W, W + 1)], mode=PY)  # both write in place
    step_v = sg.function([], [], updates=[(V, V * 2)], mode=PY)
    reset()
    assert W.get_value(borrow=True).flags.writeable
    step_w()
    np.testing.assert_array_equal(W.get_value(), [1, 1, 1])
    copy()
    step_v()
    np.testing.assert_array_equal(W.get_value(), [5, 5, 5])
    np.testing.assert_array_equal(V.get_value(), [10, 10, 10])
