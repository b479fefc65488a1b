"""cholesky, solve, solve_triangular, expm and eigvalsh against scipy.linalg, with gradients."""

import numpy as np
import pytest
import scipy.linalg as sl
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops import slinalg as S

rng = np.random.default_rng(9)
A = rng.normal(size=(4, 4))
SPD = A @ A.T + 4 * np.eye(4)
B = rng.normal(size=(4, 2))
L = np.tril(A) + 4 * np.eye(4)


@pytest.mark.parametrize("lower", [True, False])
def test_cholesky(lower):
    check_op(lambda x: S.cholesky(x, lower), [SPD], lambda x: sl.cholesky(x, lower=lower),
             grad=True)


def test_cholesky_not_positive_definite():
    x = T.dmatrix("notpd")
    with pytest.raises(np.linalg.LinAlgError, match="cholesky: notpd .*not positive definite"):
        sg.function([x], S.cholesky(x))(-np.eye(2))
    out = sg.function([x], S.cholesky(x, on_error="nan"))(-np.eye(2))
    assert np.isnan(out).all()


@pytest.mark.parametrize("b", [B, B[:, 0]])
def test_solve(b):
    check_op(S.solve, [A, b], sl.solve, grad=True)


@pytest.mark.parametrize("assume_a,lower", [("sym", False), ("sym", True), ("pos", True)])
def test_solve_structured(assume_a, lower):
    check_op(lambda a, b: S.solve(a, b, assume_a, lower), [SPD, B],
             lambda a, b: sl.solve(a, b, assume_a=assume_a, lower=lower), grad=True)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("trans", [0, 1])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular(lower, trans, unit):
    a = L if lower else L.T.copy()
    check_op(lambda x, y: S.solve_triangular(x, y, trans, lower, unit), [a, B],
             lambda x, y: sl.solve_triangular(x, y, trans=trans, lower=lower,
                                              unit_diagonal=unit), grad=True)


def test_solve_errors():
    with pytest.raises(TypeError, match="solve: b sb .*3 dimensions"):
        S.solve(T.matrix(), T.tensor3("sb"))
    with pytest.raises(ValueError, match="assume_a"):
        S.solve(T.matrix(), T.vector(), assume_a="banded")
    a, b = T.dmatrix("sa"), T.dvector("sbv")
    f = sg.function([a, b], S.solve(a, b))
    with pytest.raises(ValueError, match=r"solve: a sa has shape \(3, 3\) but b sbv"):
        f(np.eye(3), np.ones(2))


def test_expm():
    check_op(S.expm, [A * 0.3], sl.expm, grad=True)


@pytest.mark.parametrize("lower", [True, False])
def test_eigvalsh(lower):
    check_op(lambda x: S.eigvalsh(x, lower=lower), [SPD],
             lambda x: sl.eigvalsh(x, lower=lower), grad=True)


def test_facade():
    from symgraph.tensor import slinalg

    assert slinalg.cholesky is S.cholesky and T.slinalg.solve is S.solve
