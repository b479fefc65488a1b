"""tensor.extra_ops against numpy: cumsum, cumprod, diff, bincount, searchsorted,
to_one_hot, unique, compress, bartlett, fill_diagonal, fill_diagonal_offset."""

import numpy as np
import pytest
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops import extra_ops as E

rng = np.random.default_rng(7)
X = rng.normal(size=(3, 4))


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_cumsum(axis):
    check_op(lambda a: E.cumsum(a, axis), [X], lambda a: np.cumsum(a, axis), grad=True)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_cumprod(axis):
    check_op(lambda a: E.cumprod(a, axis), [X], lambda a: np.cumprod(a, axis), grad=True)


def test_cum_dtypes_follow_numpy():
    check_op(E.cumsum, [np.arange(5, dtype="int32")], np.cumsum)
    check_op(E.cumprod, [np.arange(1, 5, dtype="int8")], np.cumprod)
    check_op(lambda a: a.cumsum(0), [X.astype("float32")], lambda a: np.cumsum(a, 0), rtol=1e-5)


@pytest.mark.parametrize("n,axis", [(1, -1), (2, 0), (0, 1)])
def test_diff(n, axis):
    x = rng.normal(size=(5, 4))
    check_op(lambda a: E.diff(a, n, axis), [x], lambda a: np.diff(a, n, axis), grad=n > 0)


def test_bincount():
    x = np.array([0, 1, 1, 3, 2, 1, 7], dtype="int64")
    w = rng.uniform(size=7)
    check_op(E.bincount, [x], np.bincount, check_shape=False)
    check_op(lambda a: E.bincount(a, minlength=10), [x],
             lambda a: np.bincount(a, minlength=10), check_shape=False)
    check_op(E.bincount, [x, w], np.bincount, check_shape=False, grad=True, grad_inputs=[1])


def test_bincount_rejects_negative_values():
    v = T.lvector("counted")
    f = sg.function([v], E.bincount(v))
    with pytest.raises(ValueError, match="bincount: counted has a negative entry"):
        f(np.array([1, -2]))
    with pytest.raises(TypeError, match="must be integers"):
        E.bincount(T.vector())


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted(side):
    s, v = np.sort(rng.normal(size=6)), rng.normal(size=(2, 3))
    s[2] = s[3]
    v[0, 0] = s[2]
    check_op(lambda a, b: E.searchsorted(a, b, side), [s, v],
             lambda a, b: np.searchsorted(a, b, side))
    order = rng.permutation(6)
    check_op(lambda a, b, c: E.searchsorted(a, b, side, c), [s[np.argsort(order)], v, order],
             lambda a, b, c: np.searchsorted(a, b, side, c))


def test_to_one_hot():
    y = np.array([0, 3, 1], "int32")
    check_op(lambda a: E.to_one_hot(a, 5), [y], lambda a: np.eye(5)[a], check_dtype=False)
    assert E.to_one_hot(T.ivector(), 5, dtype="int8").dtype == "int8"


def test_unique():
    u = np.array([3, 1, 3, 2, 1, 1])
    v = T.lvector("u")
    got = sg.function([v], E.unique(v, True, True, True))(u)
    for g, e in zip(got, np.unique(u, True, True, True)):
        np.testing.assert_array_equal(g, e)
    np.testing.assert_array_equal(sg.function([v], E.unique(v))(u), [1, 2, 3])
    m = np.array([[1, 2], [1, 2], [0, 5]])
    check_op(lambda a: E.unique(a, axis=0), [m], lambda a: np.unique(a, axis=0),
             check_shape=False)


def test_compress():
    cond = np.array([1, 0, 1], "int8")
    check_op(lambda c, a: E.compress(c, a, axis=0), [cond, X],
             lambda c, a: np.compress(c, a, axis=0), check_shape=False, grad=True,
             grad_inputs=[1])
    check_op(lambda c, a: E.compress(c, a), [cond, X], lambda c, a: np.compress(c, a),
             check_shape=False)


def test_bartlett():
    m = T.lscalar("m")
    f = sg.function([m], E.bartlett(m))
    for n in (0, 1, 5, 8):
        np.testing.assert_allclose(f(n), np.bartlett(n))


def _filled(a, v, offset=0):
    a = a.copy()
    if offset == 0:
        np.fill_diagonal(a, v)
    else:
        n = max(0, min(a.shape[0] + min(offset, 0), a.shape[1] - max(offset, 0)))
        i = np.arange(n)
        a[i + max(-offset, 0), i + max(offset, 0)] = v
    return a


@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (3, 3, 3)])
def test_fill_diagonal(shape):
    check_op(E.fill_diagonal, [rng.normal(size=shape), np.array(5.0)], _filled, grad=True)


@pytest.mark.parametrize("offset", [1, -2, 3])
def test_fill_diagonal_offset(offset):
    check_op(lambda a, v: E.fill_diagonal_offset(a, v, offset), [X, np.array(-1.5)],
             lambda a, v: _filled(a, v, offset), grad=True)


def test_fill_diagonal_errors():
    with pytest.raises(TypeError, match="fill_diagonal: fv .*at least 2"):
        E.fill_diagonal(T.vector("fv"), 1.0)
    with pytest.raises(TypeError, match="val .*must be a scalar"):
        E.fill_diagonal(T.matrix(), T.vector("vv"))
    f = sg.function([t := T.tensor3("cube")], E.fill_diagonal(t, 0.0))
    with pytest.raises(ValueError, match="cube has shape .*equal sizes"):
        f(np.ones((2, 3, 2)))


# --- unravel_index / ravel_multi_index ----------------------------------------------------------


@pytest.mark.parametrize("order", ["C", "F"])
def test_unravel_index_matches_numpy_on_every_backend(order):
    idx = np.array([[0, 5], [11, 23]], dtype="int64")
    check_op(lambda i: list(E.unravel_index(i, (2, 3, 4), order=order)), [idx],
             lambda i: [np.asarray(a) for a in np.unravel_index(i, (2, 3, 4), order=order)])


def test_unravel_index_takes_symbolic_dims_of_known_length():
    i, dims = T.lvector("i"), T.lvector("dims")
    dims_known = T.TensorType("int64", (2,))("dims2")
    f = sg.function([i, dims_known], list(E.unravel_index(i, dims_known)))
    r, c = f(np.array([0, 7]), np.array([3, 4]))
    np.testing.assert_array_equal(r, [0, 1])
    np.testing.assert_array_equal(c, [0, 3])
    with pytest.raises(TypeError, match="known length"):
        E.unravel_index(i, dims)
    with pytest.raises(ValueError, match="order"):
        E.unravel_index(i, (2, 2), order="K")


@pytest.mark.parametrize("mode", ["raise", "wrap", "clip"])
def test_ravel_multi_index_matches_numpy_on_every_backend(mode):
    a = np.array([0, 1, 2, 4], dtype="int64")
    b = np.array([[0], [3]], dtype="int64")  # broadcast against a
    if mode == "raise":
        a = a % 3
    check_op(lambda x, y: E.ravel_multi_index((x, y), (3, 4), mode=mode), [a, b],
             lambda x, y: np.ravel_multi_index((x, y), (3, 4), mode=mode))


def test_ravel_multi_index_raises_on_an_index_out_of_range():
    a, b = T.lvector("a"), T.lvector("b")
    f = sg.function([a, b], E.ravel_multi_index((a, b), (3, 4)))
    with pytest.raises(ValueError, match="invalid entry"):
        f(np.array([3]), np.array([0]))
    with pytest.raises(ValueError, match="2 dims"):
        E.ravel_multi_index((a,), (3, 4))
    with pytest.raises(TypeError, match="integers"):
        E.ravel_multi_index((T.dvector("x"), b), (3, 4))
