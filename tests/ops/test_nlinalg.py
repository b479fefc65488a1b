"""matrix_inverse, det and matrix_dot against numpy.linalg, with first and second derivatives."""

import numpy as np
import pytest
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.gradient import verify_grad
from symgraph.ops.nlinalg import det, matrix_dot, matrix_inverse
from symgraph.types import TensorType

rng = np.random.default_rng(2)


def _well_conditioned(n, dtype="float64"):
    return (rng.uniform(-0.5, 0.5, size=(n, n)) + 2 * np.eye(n)).astype(dtype)


def test_matrix_inverse():
    check_op(matrix_inverse, [_well_conditioned(3)], np.linalg.inv, grad=True)


def test_det():
    check_op(det, [_well_conditioned(3)], np.linalg.det, grad=True)


def test_float32_stays_float32():
    x = _well_conditioned(3, "float32")
    check_op(matrix_inverse, [x], np.linalg.inv, rtol=1e-4, atol=1e-5)
    check_op(det, [x], np.linalg.det, rtol=1e-4, atol=1e-5)


def test_integer_input_gives_float_output():
    x = np.array([[2, 1], [1, 1]], dtype="int32")
    assert matrix_inverse(T.imatrix()).dtype == "float64"
    check_op(matrix_inverse, [x], lambda v: np.linalg.inv(v.astype("float64")))
    check_op(det, [x], lambda v: np.linalg.det(v.astype("float64")))


def test_second_derivatives():
    verify_grad(lambda x: sg.grad(det(x), x), [_well_conditioned(3)])
    verify_grad(lambda x: sg.grad(matrix_inverse(x).sum(), x), [_well_conditioned(2)])


def test_inverse_r_op():
    x, ev = T.matrix("x"), T.matrix("ev")
    a, e = _well_conditioned(3), rng.uniform(size=(3, 3))
    (rop,) = matrix_inverse(x).owner.op.R_op([x], [ev])
    f = sg.function([x, ev], [rop, sg.Rop(matrix_inverse(x), x, ev)],
                    mode=Mode(backend="python", optimizer=None))
    inv = np.linalg.inv(a)
    for got in f(a, e):
        np.testing.assert_allclose(got, -inv @ e @ inv, rtol=1e-10)


def test_matrix_dot():
    check_op(lambda a, b, c: matrix_dot(a, b, c), [rng.uniform(size=s) for s in
                                                   [(2, 3), (3, 4), (4,)]],
             lambda a, b, c: a @ b @ c, grad=True)


def test_errors():
    with pytest.raises(TypeError, match=r"det: v1 .*1 dimensions.*expected a matrix"):
        det(T.vector("v1"))
    with pytest.raises(ValueError, match=r"matrix_inverse: ns .*\(2, 3\).*square"):
        matrix_inverse(TensorType("float64", (2, 3))("ns"))
    x = T.matrix("x")
    f = sg.function([x], det(x))
    with pytest.raises(ValueError, match=r"det: x has shape \(2, 3\); expected a square matrix"):
        f(np.ones((2, 3)))
    with pytest.raises(TypeError, match="at least one"):
        matrix_dot()
