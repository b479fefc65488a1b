"""T.nnet.abstract_conv.bilinear_upsampling against Theano's definition evaluated in numpy."""

import numpy as np
import pytest
from helpers import check_op

import symgraph.tensor as T
from symgraph.tensor.nnet.abstract_conv import (
    bilinear_kernel_1D,
    bilinear_kernel_2D,
    bilinear_upsampling,
)


def upsample_axis(x: np.ndarray, r: int, axis: int) -> np.ndarray:
    """Theano's definition along one axis, evaluated directly: the input with its first and
    last entries repeated once, spread by a stride-r transposed convolution with the triangle
    kernel K[t] = (r - |t - (r - 1)|) / r, read from offset 2r - (r - 1) // 2 - 1."""
    x = np.moveaxis(x, axis, -1)
    padded = np.concatenate([x[..., :1], x, x[..., -1:]], axis=-1)
    kern = (r - np.abs(np.arange(2 * r - 1) - (r - 1))) / r
    offset = 2 * r - (r - 1) // 2 - 1
    out = np.zeros(x.shape[:-1] + (x.shape[-1] * r,))
    for j in range(out.shape[-1]):
        for p in range(padded.shape[-1]):
            t = j + offset - p * r
            if 0 <= t < len(kern):
                out[..., j] += padded[..., p] * kern[t]
    return np.moveaxis(out, -1, axis)


def reference(x: np.ndarray, r: int) -> np.ndarray:
    return upsample_axis(upsample_axis(x, r, 2), r, 3)


def test_an_even_ratio_interpolates_linearly_between_neighbours():
    """With ratio 2, input i lands on output 2 i and output 2 i + 1 is the mean of inputs i
    and i + 1 (the last input repeated)."""
    x = np.arange(4.0)
    mean_next = (x + np.append(x[1:], x[-1])) / 2
    want = np.stack([x, mean_next], axis=-1).ravel()
    np.testing.assert_allclose(upsample_axis(x[None, None, None], 2, 3)[0, 0, 0], want)


@pytest.mark.parametrize("ratio", [1, 2, 3])
@pytest.mark.parametrize("one_d", [True, False])
def test_bilinear_upsampling_is_theanos(ratio, one_d):
    x = np.random.default_rng(ratio).normal(size=(2, 3, 4, 5))
    check_op(lambda v: bilinear_upsampling(v, ratio, use_1D_kernel=one_d), [x],
             lambda v: reference(v, ratio), grad=True, rtol=1e-10, atol=1e-12)


def test_float32_and_the_kernels():
    x = T.ftensor4("x")
    v = np.arange(6, dtype="float32").reshape(1, 1, 2, 3)
    got = bilinear_upsampling(x, 2, batch_size=1, num_input_channels=1).eval({x: v})
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference(v, 2), rtol=1e-6)
    np.testing.assert_allclose(bilinear_kernel_1D(3).eval(), [1 / 3, 2 / 3, 1, 2 / 3, 1 / 3])
    k2 = bilinear_kernel_2D(2, normalize=False).eval()
    np.testing.assert_array_equal(k2, np.outer([1, 2, 1], [1, 2, 1]))


def test_bad_input_is_named():
    x = T.tensor4("images")
    with pytest.raises(ValueError, match="ratio must be a positive int"):
        bilinear_upsampling(x, 0)
    with pytest.raises(NotImplementedError, match="frac_ratio"):
        bilinear_upsampling(x, frac_ratio=((3, 2), (3, 2)))
    with pytest.raises(TypeError, match="must be 4-d"):
        bilinear_upsampling(T.matrix("m"), 2)
