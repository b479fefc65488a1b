"""nonzero, choose, roll, isclose / allclose, deg2rad / rad2deg, gamma, inv, mgrid / ogrid
against numpy and scipy."""

import numpy as np
import pytest
import scipy.special
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops import numeric as N

rng = np.random.default_rng(8)
X = rng.normal(size=(3, 4))
M = np.array([[0, 1], [2, 0]])


def test_nonzero():
    check_op(lambda a: N.nonzero(a, True), [M], lambda a: np.stack(np.nonzero(a)),
             check_shape=False)
    for k in range(2):
        check_op(lambda a, k=k: N.nonzero(a)[k], [M], lambda a, k=k: np.nonzero(a)[k],
                 check_shape=False)
    check_op(N.flatnonzero, [M], np.flatnonzero, check_shape=False)
    check_op(N.nonzero_values, [M * 1.5], lambda a: a[a != 0], check_shape=False)
    with pytest.raises(ValueError, match="nonzero: ns .*is a scalar"):
        N.nonzero(T.scalar("ns"))


def test_choose():
    choices = rng.normal(size=(3, 4))
    check_op(N.choose, [np.array([0, 2, 1, 1]), choices], np.choose, check_shape=False)
    check_op(lambda a, b, c: N.choose(a, [b, c]), [np.array([[0, 1, 1, 1]]), choices, choices[0]],
             lambda a, b, c: np.choose(a, [b, c]), check_shape=False)
    check_op(lambda a, c: N.choose(a, c, mode="clip"), [np.array([5, -1, 1, 0]), choices],
             lambda a, c: np.choose(a, c, mode="clip"), check_shape=False)
    with pytest.raises(TypeError, match="must be integers"):
        N.choose(T.vector("fa"), T.matrix())


@pytest.mark.parametrize("shift,axis", [(1, None), (-2, 1), (0, 0), (7, 1), (-1, -2)])
def test_roll(shift, axis):
    check_op(lambda a: N.roll(a, shift, axis), [X], lambda a: np.roll(a, shift, axis), grad=True)


def test_roll_symbolic_shift():
    x, s = T.dmatrix("x"), T.lscalar("s")
    f = sg.function([x, s], N.roll(x, s, 1))
    for shift in (0, 3, -5):
        np.testing.assert_array_equal(f(X, shift), np.roll(X, shift, 1))


def test_isclose_allclose():
    a = np.array([1.0, np.inf, -np.inf, np.nan, 1e-9, 1.0, np.inf])
    b = np.array([1.0 + 1e-7, np.inf, np.inf, np.nan, 0.0, 2.0, 5.0])
    check_op(N.isclose, [a, b], np.isclose)
    check_op(lambda p, q: N.isclose(p, q, equal_nan=True), [a, b],
             lambda p, q: np.isclose(p, q, equal_nan=True))
    check_op(lambda p, q: N.isclose(p, q, rtol=0.6), [a, b],
             lambda p, q: np.isclose(p, q, rtol=0.6))
    check_op(N.allclose, [a[:1], b[:1]], np.allclose)
    check_op(N.allclose, [a, b], np.allclose)
    check_op(N.isclose, [np.arange(3), np.array([0.0, 1.0, 2.1])], np.isclose)


def test_angles():
    check_op(N.deg2rad, [X], np.deg2rad, grad=True)
    check_op(N.rad2deg, [X.astype("float32")], np.rad2deg, rtol=1e-5)
    check_op(N.deg2rad, [np.arange(4)], np.deg2rad)


def test_gamma():
    check_op(N.gamma, [rng.uniform(0.5, 3, size=(3,))], scipy.special.gamma, grad=True)
    check_op(N.gamma, [np.array([-1.5, -0.5, 4.0])], scipy.special.gamma, grad=True)
    assert N.gamma(T.fvector()).dtype == "float32"


def test_inv_is_the_elementwise_reciprocal():
    check_op(N.inv, [X], lambda a: 1 / a, grad=True)
    check_op(N.inv, [np.array([1, 2, 4], "int32")], lambda a: 1 / a)


def test_mgrid_ogrid():
    for got, want in zip(N.mgrid[0:4, 1:3], np.mgrid[0:4, 1:3]):
        np.testing.assert_array_equal(got.eval(), want)
    for got, want in zip(N.ogrid[0:4, 1:3:0.5], np.ogrid[0:4, 1:3:0.5]):
        np.testing.assert_array_equal(got.eval(), want)
    np.testing.assert_array_equal(N.mgrid[0:5].eval(), np.mgrid[0:5])
    n = T.lscalar("n")
    grid = sg.function([n], N.mgrid[0:n, 0:2])
    for got, want in zip(grid(3), np.mgrid[0:3, 0:2]):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(NotImplementedError, match="complex step"):
        N.mgrid[0:1:5j]
