"""diag, diagonal and trace against numpy, with gradients."""

import numpy as np
import pytest
from helpers import check_op

import symgraph.tensor as T
from symgraph.ops.diag import diag, diagonal, trace
from symgraph.types import TensorType

rng = np.random.default_rng(6)
X = rng.normal(size=(3, 4))


@pytest.mark.parametrize("k", [0, 1, -2, 5])
def test_diag_of_matrix(k):
    check_op(lambda a: diag(a, k), [X], lambda a: np.diag(a, k), grad=k < 4)


@pytest.mark.parametrize("k", [0, 2, -1])
def test_diag_of_vector(k):
    check_op(lambda a: diag(a, k), [X[0]], lambda a: np.diag(a, k), grad=True)


def test_diagonal_of_tensor3():
    x = rng.normal(size=(3, 2, 4))
    check_op(lambda a: diagonal(a, 1, 0, 2), [x], lambda a: np.diagonal(a, 1, 0, 2), grad=True)
    check_op(lambda a: a.diagonal(0, -1, 0), [x], lambda a: np.diagonal(a, 0, -1, 0), grad=True)


def test_trace():
    check_op(trace, [X], np.trace, grad=True)


def test_static_shapes():
    assert diagonal(TensorType("float64", (3, 5))()).type.shape == (3,)
    assert diagonal(TensorType("float64", (3, 5))(), 3).type.shape == (2,)
    assert diag(TensorType("float64", (3,))(), -1).type.shape == (4, 4)


def test_errors():
    with pytest.raises(ValueError, match="diag: dt .*3 dimensions"):
        diag(T.tensor3("dt"))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        diagonal(T.matrix(), 0, 0, 2)
    with pytest.raises(TypeError, match="trace: tv .*expected a matrix"):
        trace(T.vector("tv"))
