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


# --- decompositions ----------------------------------------------------------------------------

from symgraph.ops.nlinalg import eig, eigh, matrix_power, pinv, qr, svd  # noqa: E402

SPD = _well_conditioned(4) @ _well_conditioned(4).T


def test_pinv():
    check_op(pinv, [rng.uniform(-1, 1, size=(4, 3))], np.linalg.pinv, grad=True)
    check_op(pinv, [rng.uniform(-1, 1, size=(2, 3))], np.linalg.pinv, grad=True)


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(uplo):
    check_op(lambda x: eigh(x, uplo), [SPD], lambda x: list(np.linalg.eigh(x, uplo)),
             rtol=1e-6, atol=1e-8)
    check_op(lambda x: eigh(x, uplo)[0], [SPD], lambda x: np.linalg.eigh(x, uplo)[0], grad=True)
    # eigenvectors have a free sign: test a function that does not see it
    w = rng.uniform(size=(4, 4))
    check_op(lambda x: (eigh(x, uplo)[1] ** 2 * w).sum(), [SPD],
             lambda x: (np.linalg.eigh(x, uplo)[1] ** 2 * w).sum(), grad=True)


def test_eig_is_complex():
    a = rng.uniform(-1, 1, size=(3, 3))
    x = T.dmatrix("x")
    w, v = sg.function([x], eig(x))(a)
    ew, ev = np.linalg.eig(a)
    assert w.dtype == v.dtype == np.complex128
    np.testing.assert_allclose(w, ew)
    np.testing.assert_allclose(a @ v, v * w, atol=1e-12)
    assert eig(T.fmatrix())[0].dtype == "complex64"


@pytest.mark.parametrize("full", [True, False])
def test_svd(full):
    m = rng.uniform(-1, 1, size=(5, 3))
    x = T.dmatrix("x")
    u, s, vh = sg.function([x], svd(x, full))(m)
    _, s_ref, _ = np.linalg.svd(m, full)
    np.testing.assert_allclose(s, s_ref)
    assert u.shape == ((5, 5) if full else (5, 3)) and vh.shape == (3, 3)
    np.testing.assert_allclose((u[:, :3] * s) @ vh, m, atol=1e-12)
    check_op(lambda a: svd(a, compute_uv=False), [m], lambda a: np.linalg.svd(a, compute_uv=False))


@pytest.mark.parametrize("mode", ["reduced", "complete", "r", "raw"])
def test_qr(mode):
    m = rng.uniform(-1, 1, size=(5, 3))
    x = T.dmatrix("x")
    got = sg.function([x], qr(x, mode))(m)
    want = np.linalg.qr(m, mode)
    got, want = (got, want) if mode != "r" else ([got], [want])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-12)


@pytest.mark.parametrize("n", [0, 1, 3, 4, -2])
def test_matrix_power(n):
    check_op(lambda x: matrix_power(x, n), [_well_conditioned(3) * 0.5],
             lambda x: np.linalg.matrix_power(x, n), grad=True, rtol=1e-5)


def test_facade_names():
    from symgraph.tensor import nlinalg

    for name in ("eigh", "svd", "trace", "pinv", "qr", "matrix_dot", "eig", "diag",
                 "alloc_diag", "extract_diag", "matrix_power"):
        assert callable(getattr(nlinalg, name))
