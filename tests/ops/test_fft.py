"""T.fft.rfft / irfft (symgraph/ops/fft.py) against numpy.fft, with gradients."""

import numpy as np
import pytest
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad

rng = np.random.default_rng(0)


def _spectrum(y):
    return np.stack([y.real, y.imag], axis=-1)


@pytest.mark.parametrize("shape", [(3, 8), (3, 7), (2, 4, 6), (2, 3, 5)])
def test_rfft_matches_numpy_on_every_backend(shape):
    a = rng.standard_normal(shape)
    check_op(lambda x: T.fft.rfft(x), [a],
             lambda x: _spectrum(np.fft.rfftn(x, axes=tuple(range(1, x.ndim)))), rtol=1e-10,
             atol=1e-12)


@pytest.mark.parametrize("norm", [None, "ortho", "no_norm"])
@pytest.mark.parametrize("n", [8, 7])
def test_irfft_matches_numpy_and_inverts_rfft_with_each_norm(norm, n):
    a = rng.standard_normal((3, n))
    z = np.fft.rfft(a, axis=1)
    s = T.dtensor3("s")
    got = sg.function([s], T.fft.irfft(s, norm=norm, is_odd=n % 2 == 1))(_spectrum(z))
    want = np.fft.irfft(z, n=n, axis=1, norm="ortho" if norm == "ortho" else "backward")
    np.testing.assert_allclose(got, want * (n if norm == "no_norm" else 1), atol=1e-12)
    x = T.dmatrix("x")
    there = T.fft.rfft(x, norm="ortho" if norm == "ortho" else None)
    back = sg.function([x], T.fft.irfft(there, norm=norm, is_odd=n % 2 == 1))(a)
    np.testing.assert_allclose(back, a * (n if norm == "no_norm" else 1), atol=1e-12)


def test_float32_stays_float32():
    x = T.fmatrix("x")
    y = T.fft.rfft(x)
    assert y.dtype == "float32" and T.fft.irfft(y).dtype == "float32"
    a = rng.standard_normal((2, 6)).astype("float32")
    np.testing.assert_allclose(sg.function([x], T.fft.irfft(y))(a), a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [8, 7])
def test_gradients_match_finite_differences(n):
    weights = rng.standard_normal((1, n // 2 + 1, 2))
    verify_grad(lambda v: (T.fft.rfft(v) * weights).sum(), [rng.standard_normal((2, n))])
    verify_grad(lambda v: (T.fft.irfft(v, is_odd=n % 2 == 1) ** 2).sum(),
                [rng.standard_normal((2, n // 2 + 1, 2))])
    verify_grad(lambda v: (T.fft.irfft(T.fft.rfft(v), norm="ortho") ** 3).sum(),
                [rng.standard_normal((2, 3, n))])


def test_bad_inputs_are_refused_with_their_names():
    with pytest.raises(TypeError, match="must be a float tensor"):
        T.fft.rfft(T.imatrix("labels"))
    with pytest.raises(TypeError, match="batch axis"):
        T.fft.rfft(T.dvector("signal"))
    with pytest.raises(ValueError, match="norm"):
        T.fft.irfft(T.dtensor3("s"), norm="forward")
