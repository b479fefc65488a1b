"""map, reduce, foldl and foldr (Theano's scan views) against Python's builtins and numpy."""

import functools

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad


def test_map(rng):
    x = T.dmatrix("x")
    w = T.dvector("w")
    out, updates = sg.map(lambda row, w: T.dot(row, w), x, non_sequences=w)
    assert not updates
    xv, wv = rng.normal(size=(4, 3)), rng.normal(size=3)
    np.testing.assert_allclose(sg.function([x, w], out)(xv, wv), xv @ wv)


def test_reduce_and_folds(rng):
    x = T.dvector("x")
    zero = T.constant(0.0, dtype="float64")
    xv = rng.normal(size=6)
    total, _ = sg.reduce(lambda v, acc: acc + v, x, zero)
    np.testing.assert_allclose(sg.function([x], total)(xv), xv.sum())
    left, _ = sg.foldl(lambda v, acc: acc * 0.5 + v, x, zero)
    right, _ = sg.foldr(lambda v, acc: acc * 0.5 + v, x, zero)
    f = sg.function([x], [left, right])
    got_left, got_right = f(xv)
    expect_left = functools.reduce(lambda acc, v: acc * 0.5 + v, xv, 0.0)
    expect_right = functools.reduce(lambda acc, v: acc * 0.5 + v, xv[::-1], 0.0)
    np.testing.assert_allclose([got_left, got_right], [expect_left, expect_right])


def test_reduce_with_two_outputs(rng):
    x = T.dvector("x")
    (mx, mn), _ = sg.reduce(lambda v, a, b: [T.maximum(a, v), T.minimum(b, v)], x, [x[0], x[0]])
    xv = rng.normal(size=5)
    np.testing.assert_allclose(sg.function([x], [mx, mn])(xv), [xv.max(), xv.min()])


def test_gradient_through_foldr(rng):
    def f(x, h0):
        out, _ = sg.foldr(lambda v, acc: T.tanh(acc * v + 0.3), x, h0)
        return out

    verify_grad(f, [rng.normal(size=(4, 2)), rng.normal(size=2)], rng=rng)


def test_top_level_names():
    assert sg.scan.map is sg.map and sg.scan.reduce is sg.reduce
    assert sg.scan.foldl is sg.foldl and sg.scan.foldr is sg.foldr
    from symgraph.scan import scan

    assert callable(sg.scan) and scan.__name__ == "scan"
