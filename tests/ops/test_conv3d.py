"""T.nnet.conv3d (symgraph/ops/conv3d.py) against scipy's n-d convolution, with gradients."""

import numpy as np
import pytest
from scipy.signal import convolve, correlate

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.types import TensorType

rng = np.random.default_rng(0)
VOLUMES = TensorType("float64", (None,) * 5)


def _reference(a, k, mode="valid", flip=True):
    op = convolve if flip else correlate
    return np.array([[sum(op(a[b, c], k[o, c], mode) for c in range(a.shape[1]))
                      for o in range(k.shape[0])] for b in range(a.shape[0])])


@pytest.mark.parametrize("border_mode", ["valid", "full"])
@pytest.mark.parametrize("flip", [True, False])
def test_matches_scipy(border_mode, flip):
    x, w = VOLUMES("x"), TensorType("float64", (None, None, 3, None, None))("w")
    a, k = rng.standard_normal((2, 2, 6, 5, 7)), rng.standard_normal((3, 2, 3, 2, 3))
    f = sg.function([x, w], T.nnet.conv3d(x, w, border_mode=border_mode, filter_flip=flip))
    np.testing.assert_allclose(f(a, k), _reference(a, k, border_mode, flip), atol=1e-12)


def test_strides_padding_and_a_filter_shape_hint():
    x, w = VOLUMES("x"), VOLUMES("w")
    a, k = rng.standard_normal((1, 2, 7, 6, 5)), rng.standard_normal((2, 2, 3, 3, 3))
    f = sg.function([x, w], T.nnet.conv3d(x, w, filter_shape=k.shape, subsample=(2, 1, 2)))
    np.testing.assert_allclose(f(a, k), _reference(a, k)[:, :, ::2, :, ::2], atol=1e-12)
    half = sg.function([x, w], T.nnet.conv3d(x, w, filter_shape=k.shape, border_mode="half"))
    np.testing.assert_allclose(half(a, k), _reference(a, k, "same"), atol=1e-12)
    pads = sg.function([x, w], T.nnet.conv3d(x, w, filter_shape=k.shape, border_mode=(2, 0, 1)))
    padded = np.pad(a, ((0, 0), (0, 0), (2, 2), (0, 0), (1, 1)))
    np.testing.assert_allclose(pads(a, k), _reference(padded, k), atol=1e-12)


def test_gradients_match_finite_differences():
    shape = (2, 2, 3, 2, 2)
    verify_grad(lambda u, v: (T.nnet.conv3d(u, v, filter_shape=shape) ** 2).sum(),
                [rng.standard_normal((1, 2, 4, 4, 4)), rng.standard_normal(shape)])


def test_what_is_refused_says_why():
    x, w = VOLUMES("x"), VOLUMES("w")
    with pytest.raises(NotImplementedError, match="depth known"):
        T.nnet.conv3d(x, w)
    with pytest.raises(TypeError, match="must have 5 dimensions"):
        T.nnet.conv3d(T.dtensor4("x4"), w, filter_shape=(1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="border_mode"):
        T.nnet.conv3d(x, w, filter_shape=(1, 1, 1, 1, 1), border_mode="same")


@pytest.mark.parametrize("border_mode", ["valid", "full"])
def test_conv3d2d_takes_time_second_and_flips_the_filters(border_mode):
    from symgraph.tensor.nnet import conv3d2d

    movies, filters = VOLUMES("movies"), VOLUMES("filters")
    a, k = rng.standard_normal((2, 5, 2, 6, 6)), rng.standard_normal((3, 2, 2, 3, 2))
    out = conv3d2d.conv3d(movies, filters, filters_shape=k.shape, border_mode=border_mode)
    got = sg.function([movies, filters], out)(a, k)
    want = _reference(a.transpose(0, 2, 1, 3, 4), k.transpose(0, 2, 1, 3, 4), border_mode)
    np.testing.assert_allclose(got, want.transpose(0, 2, 1, 3, 4), atol=1e-12)
    with pytest.raises(NotImplementedError, match="border_mode"):
        conv3d2d.conv3d(movies, filters, filters_shape=k.shape, border_mode="half")
