"""Gemm, Gemv and Ger against their numpy formulas, with gradients, in-place use and errors."""

import numpy as np
import pytest
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.ops.gemm import (
    Gemm,
    Gemv,
    Ger,
    gemm_inplace,
    gemm_no_inplace,
    gemv_inplace,
    gemv_no_inplace,
    ger,
    ger_destructive,
)
from symgraph.types import TensorType

rng = np.random.default_rng(1)


def _v(*shape, dtype="float64"):
    return rng.uniform(-1, 1, size=shape).astype(dtype)


def _s(value, dtype="float64"):
    return np.asarray(value, dtype=dtype)


# op, input values, numpy formula
CASES = {
    "gemm": (gemm_no_inplace, [_v(2, 4), _s(0.7), _v(2, 3), _v(3, 4), _s(-1.3)],
             lambda z, a, x, y, b: b * z + a * x @ y),
    "gemv": (gemv_no_inplace, [_v(2), _s(0.7), _v(2, 3), _v(3), _s(-1.3)],
             lambda z, a, A, x, b: b * z + a * A @ x),
    "ger": (ger, [_v(2, 3), _s(0.7), _v(2), _v(3)],
            lambda A, a, x, y: A + a * np.outer(x, y)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_numpy_with_grad(name):
    op, values, reference = CASES[name]
    check_op(op, values, reference, grad=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32(name):
    op, values, reference = CASES[name]
    values = [v.astype("float32") for v in values]
    check_op(op, values, reference, rtol=1e-5, atol=1e-6)


def test_second_derivative():
    def first_grad(z, x, y):
        return sg.grad((gemm_no_inplace(z, 0.5, x, y, 2.0) ** 2).sum(), x)

    sg.gradient.verify_grad(first_grad, [_v(2, 2), _v(2, 3), _v(3, 2)])


def test_beta_zero_does_not_read_z():
    z, x, y = T.matrix("z"), T.matrix("x"), T.matrix("y")
    f = sg.function([z, x, y], gemm_no_inplace(z, 2.0, x, y, 0.0),
                    mode=Mode(backend="python", optimizer=None))
    a, b = _v(2, 3), _v(3, 2)
    np.testing.assert_allclose(f(np.full((2, 2), np.nan), a, b), 2.0 * a @ b)


@pytest.mark.parametrize("op,destroyed", [(gemm_inplace, True), (gemv_inplace, True),
                                          (ger_destructive, True), (gemm_no_inplace, False),
                                          (Gemv(), False), (Ger(), False)])
def test_destroy_map(op, destroyed):
    assert op.destroy_map == ({0: [0]} if destroyed else {})
    assert (op == type(op)(inplace=True)) is destroyed


def test_inplace_perform_writes_into_z():
    z, x, y = T.matrix("z"), T.matrix("x"), T.matrix("y")
    node = gemm_inplace(z, 1.0, x, y, 1.0).owner
    zv, xv, yv = _v(2, 2), _v(2, 3), _v(3, 2)
    expected = zv + xv @ yv
    (out,) = node.op.perform(node, [zv, _s(1.0), xv, yv, _s(1.0)])
    assert out is zv
    np.testing.assert_allclose(zv, expected)


def test_static_shapes_merge():
    z = TensorType("float64", (None, 4))("z")
    x = TensorType("float64", (2, 3))("x")
    assert gemm_no_inplace(z, 1.0, x, T.matrix(), 1.0).type.shape == (2, 4)
    assert gemv_no_inplace(T.vector(), 1.0, x, T.vector(), 1.0).type.shape == (2,)
    assert ger(T.matrix(), 1.0, T.vector(), TensorType("float64", (5,))()).type.shape == (None, 5)


def test_static_mismatch_names_both_inputs():
    z = TensorType("float64", (2, 4))("zz")
    x = TensorType("float64", (3, 3))("xx")
    with pytest.raises(ValueError, match=r"gemm: .*zz.*\(2, 4\).*xx.*\(3, 3\)"):
        gemm_no_inplace(z, 1.0, x, T.matrix(), 1.0)


def test_runtime_mismatch():
    z, A, x = T.vector("z"), T.matrix("A"), T.vector("x")
    f = sg.function([z, A, x], gemv_no_inplace(z, 1.0, A, x, 1.0))
    with pytest.raises(ValueError, match=r"gemv: shapes \(2, 3\) and \(4,\) are not aligned"):
        f(_v(2), _v(2, 3), _v(4))


def test_dtype_and_rank_errors():
    with pytest.raises(TypeError, match=r"gemm needs all inputs of one float.*zi"):
        Gemm()(T.imatrix("zi"), 1, T.imatrix(), T.imatrix(), 1)
    with pytest.raises(TypeError, match=r"xf: float32"):
        gemm_no_inplace(T.matrix("z"), 1.0, T.fmatrix("xf"), T.matrix(), 1.0)
    with pytest.raises(TypeError, match=r"ger: al .*1 dimensions.*expected a scalar"):
        ger(T.matrix(), T.vector("al"), T.vector(), T.vector())
    with pytest.raises(TypeError, match="gemv takes 5 inputs, got 3"):
        gemv_no_inplace(T.vector(), 1.0, T.matrix())
