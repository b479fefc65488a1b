"""T.signal.conv.conv2d (symgraph/tensor/signal/conv.py): images and image stacks convolved
with filters and filter stacks, against scipy's convolve2d, with gradients."""

import numpy as np
import pytest
from scipy.signal import convolve2d

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.signal import conv

rng = np.random.default_rng(0)


@pytest.mark.parametrize("border_mode", ["valid", "full"])
@pytest.mark.parametrize("in_ndim,f_ndim", [(2, 2), (3, 2), (2, 3), (3, 3)])
def test_every_rank_pair_matches_scipy(in_ndim, f_ndim, border_mode):
    x = T.dmatrix("x") if in_ndim == 2 else T.dtensor3("x")
    w = T.dmatrix("w") if f_ndim == 2 else T.dtensor3("w")
    a = rng.standard_normal((2, 7, 6)[3 - in_ndim:])
    k = rng.standard_normal((3, 3, 2)[3 - f_ndim:])
    got = sg.function([x, w], conv.conv2d(x, w, border_mode=border_mode))(a, k)
    images = a if in_ndim == 3 else a[None]
    kernels = k if f_ndim == 3 else k[None]
    want = np.array([[convolve2d(i, f, border_mode) for f in kernels] for i in images])
    if in_ndim == 2:
        want = want[0]
    if f_ndim == 2:
        want = want[..., 0, :, :] if in_ndim == 3 else want[0]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_subsample_and_shapes_given():
    x, w = T.dtensor3("x"), T.dmatrix("w")
    a, k = rng.standard_normal((2, 8, 8)), rng.standard_normal((3, 3))
    f = sg.function([x, w], conv.conv2d(x, w, image_shape=(2, 8, 8), filter_shape=(3, 3),
                                         subsample=(2, 2)))
    want = np.array([convolve2d(i, k, "valid")[::2, ::2] for i in a])
    np.testing.assert_allclose(f(a, k), want, rtol=1e-12)
    with pytest.raises(ValueError, match="entries"):
        conv.conv2d(x, w, image_shape=(8, 8))


def test_gradients_match_finite_differences():
    a, k = rng.standard_normal((2, 5, 5)), rng.standard_normal((2, 3, 3))
    verify_grad(lambda x, w: conv.conv2d(x, w).sum(), [a, k])


def test_a_4d_input_is_refused_with_its_name():
    with pytest.raises(TypeError, match="input .* must be 2-d"):
        conv.conv2d(T.dtensor4("x"), T.dmatrix("w"))
