"""Reductions (sum prod mean var std max min argmax argmin any all logsumexp) against numpy."""

import numpy as np
import pytest
import scipy.special as sps
from helpers import check_op
from hypothesis import given, settings
from hypothesis import strategies as st

import symgraph.tensor as T

rng = np.random.default_rng(5)

AXES = [None, 0, 1, -1, (0, 2), (0, 1, 2), ()]

REDUCTIONS = {
    "sum": (T.sum, np.sum, True),
    "prod": (T.prod, np.prod, True),
    "mean": (T.mean, np.mean, True),
    "max": (T.max, np.max, True),
    "min": (T.min, np.min, True),
    "var": (T.var, np.var, True),
    "std": (T.std, np.std, True),
    "logsumexp": (T.logsumexp, sps.logsumexp, True),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, axis, keepdims):
    fn, ref, differentiable = REDUCTIONS[name]
    x = rng.uniform(0.5, 1.5, size=(2, 3, 4))
    check_op(
        lambda v: fn(v, axis=axis, keepdims=keepdims),
        [x],
        lambda v: np.asarray(ref(v, axis=axis, keepdims=keepdims)),
        grad=differentiable and axis in (None, 1, (0, 2)),
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=0, max_size=3, unique=True), st.booleans())
def test_sum_and_max_any_axes(axes, keepdims):
    x = rng.normal(size=(3, 2, 4))
    axis = tuple(axes)
    check_op(
        lambda v: T.sum(v, axis=axis, keepdims=keepdims),
        [x],
        lambda v: np.sum(v, axis=axis, keepdims=keepdims),
    )
    check_op(
        lambda v: T.max(v, axis=axis, keepdims=keepdims),
        [x],
        lambda v: np.max(v, axis=axis, keepdims=keepdims),
    )


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)], ids=str)
def test_argmax_argmin(axis):
    x = rng.normal(size=(3, 4))

    def ref(v, fn):
        if axis is None or isinstance(axis, tuple):
            return np.asarray(fn(v.reshape(-1)))
        return fn(v, axis=axis)

    check_op(lambda v: T.argmax(v, axis=axis), [x], lambda v: ref(v, np.argmax))
    check_op(lambda v: T.argmin(v, axis=axis), [x], lambda v: ref(v, np.argmin))


def test_any_all_and_int_sums():
    b = rng.random((3, 4)) > 0.5
    check_op(lambda v: T.any(v, axis=1), [b], lambda v: v.any(axis=1))
    check_op(lambda v: T.all(v), [b], lambda v: np.asarray(v.all()))
    i = rng.integers(-5, 5, (3, 4)).astype("int8")
    check_op(lambda v: v.sum(axis=0), [i], lambda v: v.sum(axis=0))  # int8 sums in int64
    assert T.bmatrix().sum().dtype == "int64"
    assert T.bmatrix().mean().dtype == "float64"
    assert T.fmatrix().mean().dtype == "float32"


def test_prod_gradient_with_zeros():
    x = np.array([[1.0, 0.0, 3.0], [0.0, 0.0, 2.0], [1.0, 2.0, 3.0]])
    check_op(lambda v: T.prod(v, axis=1), [x], lambda v: v.prod(axis=1), grad=True)


def test_max_gradient_goes_to_the_maximum():
    import symgraph as sg

    x = T.dvector("x")
    g = sg.grad(T.max(x), x)
    np.testing.assert_array_equal(g.eval({x: np.array([1.0, 5.0, 2.0])}), [0, 1, 0])


def test_logsumexp_is_stable():
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0]])
    check_op(lambda v: T.logsumexp(v, axis=1), [x], lambda v: sps.logsumexp(v, axis=1))


def test_var_ddof_and_norm():
    x = rng.normal(size=(4, 5))
    check_op(lambda v: T.var(v, axis=0, ddof=1), [x], lambda v: v.var(axis=0, ddof=1), grad=True)
    check_op(lambda v: v.norm(2, axis=1), [x], lambda v: np.linalg.norm(v, axis=1), grad=True)


def test_bad_axis_is_refused():
    with pytest.raises(ValueError, match="out of range"):
        T.sum(T.dmatrix("m"), axis=2)
    with pytest.raises(ValueError, match="repeated"):
        T.sum(T.dmatrix("m"), axis=(0, 0))


def test_max_of_empty_axis_raises():
    import symgraph as sg

    x = T.dmatrix("x")
    f = sg.function([x], T.max(x, axis=1))
    with pytest.raises(ValueError, match="empty"):
        f(np.zeros((2, 0)))
