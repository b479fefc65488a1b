"""Nested loops, random numbers inside a loop, empty loops, while-loop memory and pickling."""

import pickle

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.scan import until
from symgraph.tensor.shared_randomstreams import RandomStreams


def _nested(x, w):
    def outer(row, acc):
        inner, _ = sg.scan(lambda v, h: T.tanh(h * w + v), sequences=row, outputs_info=acc)
        return inner[-1]

    out, _ = sg.scan(outer, sequences=x, outputs_info=T.zeros_like(w))
    return out


def test_nested_scan_and_its_gradient(rng):
    xv, wv = rng.normal(size=(3, 4, 2)), rng.normal(size=2)
    h = np.zeros(2)
    expected = []
    for block in xv:
        for v in block:
            h = np.tanh(h * wv + v)
        expected.append(h)
    x, w = T.dtensor3("x"), T.dvector("w")
    np.testing.assert_allclose(sg.function([x, w], _nested(x, w))(xv, wv), expected)
    verify_grad(_nested, [xv, wv], rng=rng)


def test_random_numbers_inside_the_loop():
    srng = RandomStreams(seed=234)
    x = T.dvector("x")
    out, updates = sg.scan(lambda a: a + srng.uniform(()), sequences=x)
    assert len(updates) == 1  # the generator's state advances with the loop
    f = sg.function([x], out, updates=updates)
    first, second = f(np.zeros(4)), f(np.zeros(4))
    assert len(set(first.tolist())) == 4  # a new number at every step
    assert not set(first.tolist()) & set(second.tolist())  # and new ones at the next call
    assert np.all((first >= 0) & (first < 1))


def test_empty_loops_keep_the_row_shape():
    x = T.dmatrix("x")
    out, _ = sg.map(lambda r: r * 2, x)
    assert sg.function([x], out)(np.zeros((0, 3))).shape == (0, 3)
    h = T.dvector("h")
    n = T.iscalar("n")
    states, _ = sg.scan(lambda h: h + 1, outputs_info=h, n_steps=n)
    assert sg.function([h, n], states)(np.zeros(2), 0).shape == (0, 2)


def test_while_loop_with_a_huge_bound_allocates_what_it_uses():
    h = T.dscalar("h")
    out, _ = sg.scan(lambda h: (h + 1, until(h > 5)), outputs_info=h, n_steps=10**12)
    np.testing.assert_allclose(sg.function([h], out)(0.0), np.arange(1.0, 8.0))


def test_pickled_function_with_scan(rng):
    x, w = T.dtensor3("x"), T.dvector("w")
    f = sg.function([x, w], _nested(x, w))
    g = pickle.loads(pickle.dumps(f))
    xv, wv = rng.normal(size=(2, 3, 2)), rng.normal(size=2)
    np.testing.assert_allclose(g(xv, wv), f(xv, wv))


def test_check_op_on_every_backend(rng):
    from helpers import check_op

    def build(x, h0, w):
        (h, s), _ = sg.scan(
            lambda xt, hp, w: [T.tanh(hp * w + xt), (xt * hp).sum()],
            sequences=x,
            outputs_info=[h0, None],
            non_sequences=w,
        )
        return [h, s]

    def reference(x, h0, w):
        hs, ss, h = [], [], h0
        for xt in x:
            ss.append((xt * h).sum())
            h = np.tanh(h * w + xt)
            hs.append(h)
        return [np.array(hs), np.array(ss)]

    values = [rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3)]
    check_op(build, values, reference, grad=True)


def test_the_step_function_is_compiled_once():
    x = T.dvector("x")
    out, _ = sg.scan(lambda v, h: h + v, sequences=x, outputs_info=T.constant(0.0, dtype="float64"))
    f = sg.function([x], out)
    f(np.ones(3))
    op = out.owner.op
    first = op.fn()
    f(np.ones(5))
    assert op.fn() is first
