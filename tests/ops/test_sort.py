"""sort, argsort and take_along_axis against numpy, with gradients."""

import numpy as np
import pytest
from helpers import check_op

import symgraph.tensor as T
from symgraph.ops.sort import argsort, sort, take_along_axis

rng = np.random.default_rng(5)
X = rng.normal(size=(3, 4))


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_sort(axis):
    check_op(lambda a: sort(a, axis), [X], lambda a: np.sort(a, axis), grad=True)


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_argsort(axis):
    check_op(lambda a: argsort(a, axis, "stable"), [X], lambda a: np.argsort(a, axis, "stable"))


def test_sort_keeps_dtype_and_method_spelling():
    ints = np.array([[3, 1, 2], [0, -1, 5]], dtype="int32")
    check_op(lambda a: a.sort(), [ints], np.sort)
    check_op(lambda a: a.argsort(axis=0), [ints], lambda a: np.argsort(a, 0))
    assert T.sort(T.fvector()).dtype == "float32"
    assert T.argsort(T.fvector()).dtype == "int64"


def test_take_along_axis():
    idx = rng.integers(0, 3, size=(5, 4))  # repeated indices: the gradient adds
    check_op(lambda a: take_along_axis(a, T.constant(idx), 0), [X],
             lambda a: np.take_along_axis(a, idx, 0), grad=True)


def test_errors():
    with pytest.raises(ValueError, match=r"sort: axis 2 is out of range for sv"):
        sort(T.matrix("sv"), 2)
    with pytest.raises(ValueError, match="kind must be one of"):
        sort(T.vector(), kind="bogo")
    with pytest.raises(NotImplementedError, match="order="):
        argsort(T.vector(), order="f")
    with pytest.raises(TypeError, match="indices .* must be integers"):
        take_along_axis(T.matrix(), T.matrix("fi"), 0)
